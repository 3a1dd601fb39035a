"""The `doseapp` command."""
from __future__ import annotations

import json
import os
import sys

import click
from sqlalchemy import select

from doseapp import roles


def _app(migrate: bool = True):
    """The app for this command; any command on an instance without a database creates it first."""
    from doseapp import create_app
    from doseapp.database import ensure_current

    app = create_app()
    if migrate:
        ensure_current(app)
    return app


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--instance", envvar="DOSEAPP_INSTANCE", type=click.Path(file_okay=False),
              help="Instance folder (default ./instance, or DOSEAPP_INSTANCE).")
@click.version_option(package_name="doseapp")
def main(instance):
    """doseapp: patient radiation dose monitoring."""
    if instance:
        os.environ["DOSEAPP_INSTANCE"] = os.path.abspath(instance)


# --- processes -----------------------------------------------------------------------------------

def _host_port(fn):
    fn = click.option("--port", type=int, envvar="DOSEAPP_PORT", default=8000, show_default=True)(fn)
    return click.option("--host", envvar="DOSEAPP_HOST", default="127.0.0.1", show_default=True)(fn)


@main.command()
@_host_port
@click.option("--workers", type=int, default=None, help="RQ workers (default DOSEAPP_WORKERS or 2).")
def run(host, port, workers):
    """Start everything: web, workers, scheduler, SCP supervisor (and the embedded Redis)."""
    from doseapp.processes import run_all

    app = _app()
    sys.exit(run_all(app, host, port, workers if workers is not None else app.config["WORKERS"]))


@main.command()
@_host_port
def web(host, port):
    """Start the web server only."""
    from doseapp.processes import serve_web

    serve_web(_app(), host, port)


@main.command()
@click.option("--burst", is_flag=True, help="Run the jobs waiting now, then exit.")
def worker(burst):
    """Start one RQ worker on every queue (import, export, qr, default)."""
    from doseapp.processes import run_worker

    run_worker(_app(), burst=burst)


@main.command()
def scheduler():
    """Start the scheduler (periodic jobs)."""
    from doseapp import scheduler as sched

    sched.run(_app(), _stop_on_signals())


@main.command()
@click.option("--node", type=int, default=None, help="Run this one Store SCP node (used by the supervisor).")
def scp(node):
    """Start the SCP supervisor, which runs every enabled Store SCP node."""
    if node is None:
        from doseapp.dicomnet import supervisor

        supervisor.run(_app(), _stop_on_signals())
    else:
        from doseapp.dicomnet import scp as scp_node

        scp_node.serve(_app(), node)


def _stop_on_signals():
    import signal
    import threading

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    return stop


# --- database ------------------------------------------------------------------------------------

@main.group()
def db():
    """Database schema."""


@db.command("upgrade")
def db_upgrade():
    """Apply every migration not yet applied."""
    from doseapp.database import current_revision, upgrade

    app = _app(migrate=False)
    upgrade(app)
    click.echo(f"Database is at revision {current_revision(app)}.")


@db.command("current")
def db_current():
    """Show the applied and the newest revision."""
    from doseapp.database import current_revision, head_revision

    app = _app(migrate=False)
    click.echo(f"applied: {current_revision(app) or 'none'}\nnewest:  {head_revision(app)}")


# --- users ---------------------------------------------------------------------------------------

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

    with _app().app_context():
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

    with _app().app_context():
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
    from doseapp.users import UserError, check_roles, find_user

    with _app().app_context():
        try:
            target = find_user(username)
            target.set_roles(check_roles(role_names))
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
    from doseapp.users import UserError, check_password, find_user

    with _app().app_context():
        try:
            target = find_user(username)
            target.set_password(check_password(_password(password_stdin)))
        except UserError as exc:
            raise click.ClickException(str(exc))
        database.session.commit()
        click.echo(f"Password of {username} changed.")


# --- embedded redis ------------------------------------------------------------------------------

@main.group()
def redis():
    """The embedded Redis (used when DOSEAPP_REDIS_URL is not set)."""


@redis.command("stop")
def redis_stop():
    """Stop the instance's embedded Redis, e.g. after running processes one by one."""
    from doseapp import embedded_redis

    app = _app(migrate=False)
    click.echo("Stopped." if embedded_redis.stop(app.config["INSTANCE"]) else "It was not running.")


if __name__ == "__main__":
    main()
