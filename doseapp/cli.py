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
@click.option("--queues", default=None, help="Comma-separated queues, in priority order (default: all).")
@click.option("--no-fork", is_flag=True, help="Run jobs in the worker process itself (fast for short jobs).")
def worker(burst, queues, no_fork):
    """Start one RQ worker (default: every queue, import, export, qr, default)."""
    from doseapp.processes import run_worker

    names = [q.strip() for q in queues.split(",") if q.strip()] if queues else None
    run_worker(_app(), burst=burst, queue_names=names, fork=not no_fork)


@main.command()
def scheduler():
    """Start the scheduler (periodic jobs)."""
    from doseapp import scheduler as sched

    sched.run(_app(), _stop_on_signals())


@main.command()
@click.option("--node", type=int, default=None, help="Run this one Store SCP node (used by the supervisor).")
@click.option("--echo-interval", type=float, default=60.0, show_default=True,
              help="Seconds between keep-alive C-ECHOs to each node.")
def scp(node, echo_interval):
    """Start the SCP supervisor, which runs every enabled Store SCP node."""
    if node is None:
        from doseapp.dicomnet import supervisor

        supervisor.run(_app(), _stop_on_signals(), echo_interval=echo_interval)
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
    from doseapp.users import UserError, change_roles, find_user

    with _app().app_context():
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

    with _app().app_context():
        try:
            target = find_user(username)
            reset_password(target, _password(password_stdin))  # audited
        except UserError as exc:
            raise click.ClickException(str(exc))
        database.session.commit()
        click.echo(f"Password of {username} changed.")


# --- import and studies ---------------------------------------------------------------------------

def _expand(paths) -> list[str]:
    """Files and folders (recursively, in name order) to a list of files."""
    from pathlib import Path

    files = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            files.extend(str(f) for f in sorted(p.rglob("*")) if f.is_file())
        else:
            files.append(str(p))
    return files


@main.command("import")
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="One JSON object per file on standard output.")
@click.option("--queue", "use_queue", is_flag=True, help="Enqueue an import job per file instead.")
@click.option("--retry-quarantine", is_flag=True, help="Import again what is in quarantine.")
def import_(paths, as_json, use_queue, retry_quarantine):
    """Import dose objects from files and folders. Exit status 1 when any file failed."""
    from doseapp.ingest import import_file, retry_quarantine as retry

    if not paths and not retry_quarantine:
        raise click.UsageError("name files or folders to import, or --retry-quarantine")
    with _app().app_context():
        if use_queue:
            from doseapp.queues import enqueue

            for f in _expand(paths):
                job = enqueue("import_file", queue="import", title=f"Import {f}", retries=3,
                              parameters={"path": os.path.abspath(f), "source": "cli"})
                click.echo(json.dumps({"file": f, "job": job.id}) if as_json else f"queued {f} as job {job.id}")
            return
        failed = 0
        if retry_quarantine:
            results = retry()
        else:
            files = _expand(paths)
            results = []
            show_bar = not as_json and sys.stderr.isatty() and len(files) > 1
            with click.progressbar(files, label="Importing", file=sys.stderr) if show_bar else _nullbar(files) as bar:
                for f in bar:
                    results.append(import_file(f, source="cli"))
                    if as_json:
                        click.echo(json.dumps(results[-1].as_dict(), ensure_ascii=False))
        for r in results:
            failed += r.status == "failed"
            if retry_quarantine and as_json:
                click.echo(json.dumps(r.as_dict(), ensure_ascii=False))
            elif not as_json:
                click.echo(f"{r.status:<9} {r.file}" + (f"  ({r.reason})" if r.reason else ""))
                for w in r.warnings:
                    click.echo(f"          warning: {w}")
    sys.exit(1 if failed else 0)


class _nullbar:
    def __init__(self, items):
        self.items = items

    def __enter__(self):
        return self.items

    def __exit__(self, *exc):
        return False


@main.command("studies")
@click.option("--modality", type=click.Choice(["CT", "RF", "DX", "MG"]))
@click.option("--json", "as_json", is_flag=True)
def studies_cmd(modality, as_json):
    """List studies (summaries), newest first."""
    from doseapp.models import Study, db as database
    from doseapp.studies import study_summary

    with _app().app_context():
        q = select(Study).order_by(Study.study_datetime.desc(), Study.id.desc())
        if modality:
            q = q.where(Study.modality == modality)
        for study in database.session.scalars(q):
            s = study_summary(study)
            if as_json:
                click.echo(json.dumps(s, ensure_ascii=False))
            else:
                click.echo(f"{s['modality']:<3} {s['study_date'] or '':<10} {s['display_name'] or '':<30} "
                           f"{s['number_of_events']:>3} events  {s['study_instance_uid']}")


@main.group("study")
def study_group():
    """One study."""


@study_group.command("show")
@click.argument("study_instance_uid")
@click.option("--json", "as_json", is_flag=True)
def study_show(study_instance_uid, as_json):
    """A study's summary and events (several studies may share a UID: continued studies)."""
    from doseapp.models import Study, db as database
    from doseapp.studies import study_detail

    with _app().app_context():
        rows = database.session.scalars(select(Study).where(Study.study_instance_uid == study_instance_uid)
                                        .order_by(Study.id)).all()
        if not rows:
            raise click.ClickException(f"There is no study {study_instance_uid}.")
        details = [study_detail(s) for s in rows]
    if as_json:
        click.echo(json.dumps(details if len(details) > 1 else details[0], ensure_ascii=False, default=str))
        return
    for d in details:
        for key, value in d.items():
            if key not in ("ct_events", "xray_events", "planes", "breast_doses") and value is not None:
                click.echo(f"{key:<24} {value}")
        for n, e in enumerate(d["ct_events"] or d["xray_events"], start=1):
            keep = {k: v for k, v in e.items() if v not in (None, [], {})}
            click.echo(f"event {n}: " + ", ".join(f"{k}={v}" for k, v in keep.items()))


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


from doseapp.cli_tokens import token  # noqa: E402  (own module, registered here)
main.add_command(token)

from doseapp.cli_nodes import echo, node  # noqa: E402  (own module, registered here)
main.add_command(node)
main.add_command(echo)

from doseapp.cli_size import size_import  # noqa: E402  (own module, registered here)
main.add_command(size_import)

from doseapp.cli_export import export_command  # noqa: E402  (own module, registered here)
main.add_command(export_command)

from doseapp.cli_qr import qr_command  # noqa: E402  (own module, registered here)
main.add_command(qr_command)


if __name__ == "__main__":
    main()
