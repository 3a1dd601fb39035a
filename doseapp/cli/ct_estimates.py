"""`doseapp ct-estimates recompute`: the CT SSDE and effective dose estimates of stored studies."""
from __future__ import annotations

import datetime as dt
import sys

import click

from doseapp.cli.common import app_for_command, main


@main.group("ct-estimates")
def ct_estimates():
    """CT size-specific dose estimates (SSDE) and effective dose estimates of stored studies."""


@ct_estimates.command("recompute")
@click.option("--since", type=click.DateTime(formats=["%Y-%m-%d"]), help="Only studies from this day (yyyy-mm-dd) on.")
@click.option("--queue", "queued", is_flag=True, help="Run it as a background job (with progress on the Jobs page).")
def recompute_cmd(since, queued):
    """Recompute here (in batches, with a progress line), or queue the job with --queue."""
    from doseapp.ingest import ct_estimates as ce

    with app_for_command().app_context():
        if queued:
            job = ce.enqueue_recompute(since=since.date().isoformat() if since else None)
            click.echo(f"Queued job {job.id}.")
            return
        started = dt.datetime.now()

        def progress(o):
            click.echo(f"\r{o.words()}", nl=False, err=True)

        outcome = ce.recompute(since.date() if since else None, progress)
        click.echo(err=True)
    seconds = (dt.datetime.now() - started).total_seconds()
    click.echo(f"{outcome.words()}, in {seconds:.1f} s.")
    sys.exit(0)
