"""System configuration pages. Users and roles, the config index and the audit log here; display
names and sources in config_equipment, privacy and DICOM object settings in config_privacy (both
attach their routes to this blueprint)."""
from __future__ import annotations

import json

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user
from sqlalchemy import func, select

from doseapp import roles
from doseapp.models import AuditEntry, User, db
from doseapp.users import UserError, change_roles, create_user, reset_password

bp = Blueprint("config", __name__, url_prefix="/config")

AUDIT_PAGE_SIZE = 50


def _user_or_404(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        abort(404)
    return user


@bp.route("/")
def index():
    return render_template("config/index.html")


@bp.route("/users")
def users():
    rows = db.session.scalars(select(User).order_by(User.username)).all()
    return render_template("config/users.html", users=rows, roles=roles.ROLES)


@bp.route("/users/new", methods=["GET", "POST"])
def user_new():
    error = None
    if request.method == "POST":
        try:
            user = create_user(request.form.get("username", ""), request.form.get("password", ""),
                               request.form.getlist("roles"))
            flash(_("User %(name)s created.", name=user.username))
            return redirect(url_for("config.users"))
        except UserError as exc:
            error = str(exc)
    return render_template("config/user_new.html", roles=roles.ROLES, error=error), (400 if error else 200)


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
def user_edit(user_id: int):
    user = _user_or_404(user_id)
    error = None
    if request.method == "POST":
        email = request.form.get("email")
        error = _set_email(user, email.strip()) if email is not None else None
        if error is None:
            chosen = [r for r in request.form.getlist("roles") if r in roles.ROLES]
            change_roles(user, chosen, active=request.form.get("active") == "on")
            flash(_("Roles of %(name)s: %(roles)s.", name=user.username, roles=", ".join(sorted(chosen)) or _("none")))
            return redirect(url_for("config.users"))
    return render_template("config/user_edit.html", user=user, roles=roles.ROLES, error=error), (400 if error else 200)


def _set_email(user: User, email: str) -> str | None:
    """The address alert e-mails go to (the user can change it on their alert e-mail page), audited;
    the reason when it is not an address."""
    from doseapp import audit
    from doseapp.notify.smtp import address_problem

    if email and address_problem(email):
        return address_problem(email)
    if (email or None) != user.email:
        audit.record("user.email", user.username, {"email": [user.email, email or None]})
        user.email = email or None
    return None


@bp.route("/users/<int:user_id>/password", methods=["GET", "POST"])
def user_password(user_id: int):
    user = _user_or_404(user_id)
    error = None
    if request.method == "POST":
        password = request.form.get("password", "")
        if password != request.form.get("password2", ""):
            error = _("The two passwords differ.")
        else:
            try:
                reset_password(user, password)  # ends the user's sessions...
                if user.id == current_user.id:
                    login_user(user)  # ...but not the one an admin resets their own password in
                flash(_("Password of %(name)s changed. Tell them to change it when they next log in.",
                        name=user.username))
                return redirect(url_for("config.user_edit", user_id=user.id))
            except UserError as exc:
                error = str(exc)
    return render_template("config/user_password.html", user=user, error=error), (400 if error else 200)


def _shown(value) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(_shown(v) for v in value) or "—"
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


@bp.app_template_filter("audit_changes")
def audit_changes(details) -> list[tuple[str, str, str]] | None:
    """Details in the {field: [before, after]} form as (field, before, after) lines in words; None
    for details of another form (shown as they are)."""
    if not isinstance(details, dict) or not details:
        return None
    if not all(isinstance(v, list) and len(v) == 2 for v in details.values()):
        return None
    return [(field.replace("_", " "), _shown(old), _shown(new)) for field, (old, new) in details.items()]


@bp.route("/audit")
def audit_log():
    action = request.args.get("action", "").strip()
    username = request.args.get("user", "").strip()
    q = select(AuditEntry)
    if action:
        # "pattern" finds pattern.add, pattern.delete ...: prefix match on the dotted action name.
        q = q.where(AuditEntry.action.startswith(action, autoescape=True))
    if username:
        q = q.where(AuditEntry.username == username)
    total = db.session.scalar(select(func.count()).select_from(q.subquery()))
    pages = max(1, -(-total // AUDIT_PAGE_SIZE))
    page = min(max(1, request.args.get("page", 1, type=int) or 1), pages)
    rows = db.session.scalars(q.order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
                              .offset((page - 1) * AUDIT_PAGE_SIZE).limit(AUDIT_PAGE_SIZE)).all()
    actions = db.session.scalars(select(AuditEntry.action).distinct().order_by(AuditEntry.action)).all()
    users = db.session.scalars(select(AuditEntry.username).distinct().order_by(AuditEntry.username)).all()
    return render_template("config/audit.html", rows=rows, total=total, page=page, pages=pages,
                           action=action, user=username, actions=actions, users=users)


# The other config pages attach their routes to `bp` when imported.
from doseapp.blueprints import (config_drl, config_email, config_equipment, config_privacy,  # noqa: E402,F401
                                config_skin, config_standard_names)
