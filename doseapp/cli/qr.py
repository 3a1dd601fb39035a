"""`doseapp qr REMOTE STORE`: query a remote node and retrieve to a Store node, with OpenREM's
openrem_qr.py options. Runs in this process with progress on the terminal; exit status 0 only when
everything the query selected was retrieved."""
from __future__ import annotations

import datetime as dt
import sys

import click


def _app():
    from doseapp.cli.common import app_for_command as app

    return app()


def _date(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return dt.datetime.strptime(value, "%Y-%m-%d").strftime("%Y%m%d")
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date in the form yyyy-mm-dd")


class TerminalProgress:
    """What a job's context offers the query and retrieve code, printed instead of recorded."""

    def progress(self, done: int, total: int | None = None, message: str | None = None) -> None:
        if message:
            click.echo(f"  {message}" + (f" [{done}/{total}]" if total else ""), err=True)


@click.command("qr", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("remote")
@click.argument("store")
@click.option("-ct", "--ct", "ct", is_flag=True, help="Query for CT studies. Do not use with -sr.")
@click.option("-mg", "--mg", "mg", is_flag=True, help="Query for mammography studies. Do not use with -sr.")
@click.option("-fl", "--fl", "fl", is_flag=True, help="Query for fluoroscopy studies. Do not use with -sr.")
@click.option("-dx", "--dx", "dx", is_flag=True,
              help="Query for planar X-ray studies (DX and CR). Do not use with -sr.")
@click.option("-nm", "--nm", "nm", is_flag=True,
              help="Query for nuclear medicine and PET studies (NM and PT). Do not use with -sr.")
@click.option("-f", "--dfrom", metavar="yyyy-mm-dd", help="Date from.")
@click.option("-t", "--duntil", metavar="yyyy-mm-dd", help="Date until.")
@click.option("-e", "--desc_exclude", metavar="string",
              help="Terms to exclude in study description, comma separated.")
@click.option("-i", "--desc_include", metavar="string",
              help="Terms that must be in the study description, comma separated.")
@click.option("-sne", "--stationname_exclude", metavar="string",
              help="Terms to exclude in station name, comma separated.")
@click.option("-sni", "--stationname_include", metavar="string",
              help="Terms to include in station name, comma separated.")
@click.option("-toshiba", "--toshiba", "toshiba", is_flag=True,
              help="Advanced: retrieve CT dose summary objects and one image from each series.")
@click.option("-sr", "--sr", "sr", is_flag=True,
              help="Advanced: structured report only studies. Not with -ct, -mg, -fl, -dx.")
@click.option("-dup", "--dup", "dup", is_flag=True, help="Advanced: retrieve objects that have been imported before.")
@click.option("--get", "use_get", is_flag=True, help="Retrieve by C-GET into the ingest instead of C-MOVE to STORE.")
@click.option("--query-only", is_flag=True, help="Query and show what would be retrieved; retrieve nothing.")
def qr_command(remote, store, ct, mg, fl, dx, nm, dfrom, duntil, desc_exclude, desc_include, stationname_exclude,
               stationname_include, toshiba, sr, dup, use_get, query_only):
    """Query remote node REMOTE and retrieve to Store node STORE (each by name, AE title or id)."""
    from doseapp.dicomnet.nodes import find_node
    from doseapp.dicomnet.qr import QrError, run_query
    from doseapp.dicomnet.qr_filter import MODALITY_LABELS, QueryOptions, terms
    from doseapp.dicomnet.qr_jobs import new_query
    from doseapp.dicomnet.qr_retrieve import retrieve
    from doseapp.dicomnet.remotes import find_remote

    modalities = [m for m, on in (("CT", ct), ("MG", mg), ("FL", fl), ("DX", dx), ("NM", nm)) if on]
    if sr and modalities:
        raise click.UsageError("-sr cannot be used with -ct, -mg, -fl, -dx or -nm.")
    if not sr and not modalities:
        raise click.UsageError("choose at least one of -ct, -mg, -fl, -dx, -nm (or -sr).")
    options = QueryOptions(modalities=modalities, date_from=_date(dfrom), date_until=_date(duntil),
                           desc_include=terms(desc_include), desc_exclude=terms(desc_exclude),
                           station_include=terms(stationname_include), station_exclude=terms(stationname_exclude),
                           toshiba=toshiba, sr_only=sr, remove_duplicates=not dup)
    method = "get" if use_get else "move"
    with _app().app_context():
        remote_row, store_row = find_remote(remote), find_node(store)
        if remote_row is None:
            raise click.ClickException(f"There is no remote node {remote}.")
        if store_row is None:
            raise click.ClickException(f"There is no Store node {store}.")
        query = new_query(remote_row.id, store_row.id, options, method=method, enqueue_job=False)
        click.echo(f"Query #{query.id}: {remote_row.name} for {', '.join(options.dicom_modalities())}", err=True)
        try:
            run_query(query, TerminalProgress())
        except QrError as exc:
            click.echo(f"Query failed: {exc}", err=True)
            sys.exit(1)
        click.echo(query.message)
        for key, count in (query.summary or {}).items():
            click.echo(f"  {MODALITY_LABELS.get(key, key)}: {count} stud{'y' if count == 1 else 'ies'}")
        if query_only:
            sys.exit(0)
        try:
            result = retrieve(query, method, TerminalProgress())
        except QrError as exc:
            click.echo(f"Retrieve failed: {exc}", err=True)
            sys.exit(1)
        click.echo(query.message)
        complete = not result["failed"] and not result["failures"] and result["received"] >= result["requested"]
    sys.exit(0 if complete else 1)
