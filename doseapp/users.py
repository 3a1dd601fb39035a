"""Creating and changing users: one set of rules for the command line and the web."""
from __future__ import annotations

import re

from flask_babel import gettext as _
from sqlalchemy import select

from doseapp import audit, roles
from doseapp.models import User, db
from doseapp.models.users import spend_password_check

USERNAME = re.compile(r"^[A-Za-z0-9_.@+-]{1,150}$")
MIN_PASSWORD_LENGTH = 8


class UserError(ValueError):
    """A request about users that cannot be carried out, in plain words."""


def check_roles(names) -> list[str]:
    unknown = sorted(set(names) - set(roles.ROLES))
    if unknown:
        raise UserError(_("Unknown role(s): %(unknown)s. Roles are: %(roles)s.", unknown=", ".join(unknown),
                          roles=", ".join(roles.ROLES)))
    return sorted(set(names))


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(_("A password needs at least %(count)s characters.", count=MIN_PASSWORD_LENGTH))
    return password


def create_user(username: str, password: str, role_names) -> User:
    username = username.strip()
    if not USERNAME.match(username):
        raise UserError(_("A user name is 1 to 150 letters, digits or . _ @ + -, without spaces."))
    if db.session.scalar(select(User).where(User.username == username)) is not None:
        raise UserError(_("There is already a user called %(name)s.", name=username))
    user = User(username=username)
    user.set_password(check_password(password))
    user.set_roles(check_roles(role_names))
    db.session.add(user)
    audit.record("user.create", username, {"roles": sorted(user.roles)})
    db.session.commit()
    return user


def change_roles(user: User, role_names, active: bool | None = None) -> None:
    """Give `user` exactly these roles (and set active if given), recorded in the audit log. Commits."""
    before = {"roles": sorted(user.roles), "active": user.active}
    user.set_roles(check_roles(role_names))
    if active is not None:
        if user.active and not active:
            user.end_sessions()  # so that reactivating the account does not bring old sessions back
        user.active = active
    after = {"roles": sorted(user.roles), "active": user.active}
    if after != before:
        audit.record("user.roles", user.username, audit.changes(before, after))
    db.session.commit()


def reset_password(user: User, password: str) -> None:
    """Set another user's password (admin or command line), recorded in the audit log. Commits."""
    user.set_password(check_password(password))
    audit.record("user.password_reset", user.username)
    db.session.commit()


def authenticate(username: str, password: str) -> tuple[User | None, str]:
    """(the user, "") if the name and password are right and the account active, else (None, why).
    Always exactly one password check, whatever the outcome, so the time taken tells nothing."""
    user = db.session.scalar(select(User).where(User.username == username))
    if user is None:
        spend_password_check(password)
        return None, "unknown user name"
    if not user.check_password(password):
        return None, "wrong password"
    if not user.active:
        return None, "account deactivated"
    return user, ""


def find_user(username: str) -> User:
    user = db.session.scalar(select(User).where(User.username == username))
    if user is None:
        raise UserError(_("There is no user called %(name)s.", name=username))
    return user
