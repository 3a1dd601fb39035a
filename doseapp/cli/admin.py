"""`doseapp db ...` and `doseapp user ...`: the schema, users and roles."""
from __future__ import annotations

import json
import sys

import click
from sqlalchemy import select

from doseapp import roles
from doseapp.cli.common import app_for_command, main

@main.group()
def db():
    """Database schema."""


@db.command("upgrade")
def db_upgrade():
    """Apply every migration not yet applied."""
    from doseapp.database import current_revision, upgrade

    app = app_for_command(migrate=False)
    upgrade(app)
    click.echo(f"Database is at revision {current_revision(app)}.")


@db.command("current")
def db_current():
    """Show the applied and the newest revision."""
    from doseapp.database import current_revision, head_revision

    app = app_for_command(migrate=False)
    click.echo(f"applied: {current_revision(app) or 'none'}\nnewest:  {head_revision(app)}")


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return click.prompt("Password", hide_input=True, confirmation_prompt=True)


def _role_option(fn):
    return click.option("--role", "role_names", multiple=True, type=click.Choice(list(roles.ROLES)),
                        help="A role to give (repeat for several).")(fn)


@main.group()
def user():
    """Users and roles."""


@user.command("create")
@click.argument("username")
@_role_option
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def user_create(username, role_names, password_stdin):
    """Create a user with the given roles."""
    from doseapp.users import UserError, create_user

    with app_for_command().app_context():
        try:
            created = create_user(username, _password(password_stdin), role_names)
        except UserError as exc:
            raise click.ClickException(str(exc))
        click.echo(f"Created {created.username} with role(s): {', '.join(sorted(created.roles)) or 'none'}.")


@user.command("list")
@click.option("--json", "as_json", is_flag=True)
def user_list(as_json):
    """List users and their roles."""
    from doseapp.models import User, db as database

    with app_for_command().app_context():
        rows = database.session.scalars(select(User).order_by(User.username)).all()
        data = [{"username": u.username, "roles": sorted(u.roles), "active": u.active} for u in rows]
    if as_json:
        click.echo(json.dumps(data))
        return
    for d in data:
        click.echo(f"{d['username']:<24} {'active' if d['active'] else 'inactive':<9} {', '.join(d['roles'])}")


@user.command("set-roles")
@click.argument("username")
@_role_option
def user_set_roles(username, role_names):
    """Replace a user's roles with the given ones (none given: no roles)."""
    from doseapp.models import db as database
    from doseapp.users import UserError, change_roles, find_user

    with app_for_command().app_context():
        try:
            target = find_user(username)
            change_roles(target, role_names)  # audited
        except UserError as exc:
            raise click.ClickException(str(exc))
        database.session.commit()
        click.echo(f"{username}: {', '.join(sorted(target.roles)) or 'no roles'}.")


@user.command("set-password")
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def user_set_password(username, password_stdin):
    """Set a user's password."""
    from doseapp.models import db as database
    from doseapp.users import UserError, find_user, reset_password

    with app_for_command().app_context():
        try:
            target = find_user(username)
            reset_password(target, _password(password_stdin))  # audited
        except UserError as exc:
            raise click.ClickException(str(exc))
        database.session.commit()
        click.echo(f"Password of {username} changed.")
