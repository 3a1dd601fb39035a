"""`doseapp run|web|worker|scheduler|scp` and `doseapp redis stop`: the long-running processes."""
from __future__ import annotations

import sys

import click

from doseapp.cli.common import app_for_command, main, stop_on_signals

def _host_port(fn):
    fn = click.option("--port", type=int, envvar="DOSEAPP_PORT", default=8000, show_default=True)(fn)
    return click.option("--host", envvar="DOSEAPP_HOST", default="127.0.0.1", show_default=True)(fn)


@main.command()
@_host_port
@click.option("--workers", type=int, default=None, help="RQ workers (default DOSEAPP_WORKERS or 2).")
def run(host, port, workers):
    """Start everything: web, workers, scheduler, SCP supervisor (and the embedded Redis)."""
    from doseapp.runtime.processes import run_all

    app = app_for_command()
    sys.exit(run_all(app, host, port, workers if workers is not None else app.config["WORKERS"]))


@main.command()
@_host_port
def web(host, port):
    """Start the web server only."""
    from doseapp.runtime.processes import serve_web

    serve_web(app_for_command(), host, port)


@main.command()
@click.option("--burst", is_flag=True, help="Run the jobs waiting now, then exit.")
@click.option("--queues", default=None, help="Comma-separated queues, in priority order (default: all).")
@click.option("--no-fork", is_flag=True, help="Run jobs in the worker process itself (fast for short jobs).")
def worker(burst, queues, no_fork):
    """Start one RQ worker (default: every queue, import, export, qr, default)."""
    from doseapp.runtime.processes import run_worker

    names = [q.strip() for q in queues.split(",") if q.strip()] if queues else None
    run_worker(app_for_command(), burst=burst, queue_names=names, fork=not no_fork)


@main.command()
def scheduler():
    """Start the scheduler (periodic jobs)."""
    from doseapp.runtime import scheduler as sched

    sched.run(app_for_command(), stop_on_signals())


@main.command()
@click.option("--node", type=int, default=None, help="Run this one Store SCP node (used by the supervisor).")
@click.option("--echo-interval", type=float, default=60.0, show_default=True,
              help="Seconds between keep-alive C-ECHOs to each node.")
def scp(node, echo_interval):
    """Start the SCP supervisor, which runs every enabled Store SCP node."""
    if node is None:
        from doseapp.dicomnet import supervisor

        supervisor.run(app_for_command(), stop_on_signals(), echo_interval=echo_interval)
    else:
        from doseapp.dicomnet import scp as scp_node

        scp_node.serve(app_for_command(), node)




@main.group()
def redis():
    """The embedded Redis (used when DOSEAPP_REDIS_URL is not set)."""


@redis.command("stop")
def redis_stop():
    """Stop the instance's embedded Redis, e.g. after running processes one by one."""
    from doseapp.runtime import embedded_redis

    app = app_for_command(migrate=False)
    click.echo("Stopped." if embedded_redis.stop(app.config["INSTANCE"]) else "It was not running.")
