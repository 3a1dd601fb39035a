"""`doseapp quarantine list|retry|delete|export`: objects that could not be imported."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from doseapp.cli.common import app_for_command, main
from doseapp.cli.imports import report


def _selection_options(fn):
    """--source, --reason, --from, --to: which objects, as on the web page."""
    for opt in reversed((
            click.option("--source", default="", help='Where they came from: "cli", "scp:<AE title>", "qr:<remote>".'),
            click.option("--reason", default="", help="Words the reason contains (any case)."),
            click.option("--from", "date_from", default="", help="Quarantined on or after this day (YYYY-MM-DD)."),
            click.option("--to", "date_to", default="", help="Quarantined on or before this day (YYYY-MM-DD)."))):
        fn = opt(fn)
    return fn


def _selection(ids=(), source="", reason="", date_from="", date_to=""):
    from doseapp.ingest.quarantine import Selection

    selection, errors = Selection.parse({"source": source, "reason": reason, "from": date_from, "to": date_to,
                                         "id": [str(i) for i in ids]})
    if errors:
        raise click.UsageError("; ".join(errors))
    return selection


def _chosen(ids, everything, **filters):
    """IDs, or --all (with the filter): one of them, never neither."""
    if bool(ids) == bool(everything):
        raise click.UsageError("name object IDs, or --all (with --source, --reason, --from, --to to narrow it)")
    return _selection(ids, **filters)


@main.group()
def quarantine():
    """Objects that could not be imported, kept with their reason."""


@quarantine.command("list")
@_selection_options
@click.option("--json", "as_json", is_flag=True, help="One JSON object per object.")
def list_(source, reason, date_from, date_to, as_json):
    """List quarantined objects, oldest first."""
    from doseapp.ingest.quarantine import describe
    from doseapp.models import QuarantinedObject, db

    with app_for_command().app_context():
        selection = _selection(source=source, reason=reason, date_from=date_from, date_to=date_to)
        rows = db.session.scalars(selection.query().order_by(QuarantinedObject.id)).all()
        for row in rows:
            if as_json:
                click.echo(json.dumps(describe(row), ensure_ascii=False))
            else:
                click.echo(f"{row.id:>6}  {row.received_at:%Y-%m-%d %H:%M}  {row.source or '—':<20} "
                           f"{row.calling_ae or '—':<16} {Path(row.original_name or row.path).name}  ({row.reason})")
        if not as_json:
            click.echo(f"{len(rows)} object(s) in quarantine" + ("" if selection.everything else " match"), err=True)


@quarantine.command("retry")
@click.argument("ids", nargs=-1, type=int)
@click.option("--all", "everything", is_flag=True, help="Every object (that matches the filter).")
@_selection_options
@click.option("--json", "as_json", is_flag=True, help="One JSON object per object.")
def retry(ids, everything, source, reason, date_from, date_to, as_json):
    """Import objects again; those that now import leave the quarantine. Exit status 1 when any
    failed again (they stay, with the new reason)."""
    from doseapp.ingest.quarantine import ids_of, retry_many

    with app_for_command().app_context():
        selection = _chosen(ids, everything, source=source, reason=reason, date_from=date_from, date_to=date_to)
        chosen = ids_of(selection)
        missing = sorted(set(ids) - set(chosen))
        for object_id in missing:
            click.echo(f"There is no object {object_id} in quarantine.", err=True)
        results = retry_many(chosen)
        for r in results:
            report(r, as_json)
    sys.exit(1 if missing or any(r.status == "failed" for r in results) else 0)


@quarantine.command("delete")
@click.argument("ids", nargs=-1, type=int)
@click.option("--all", "everything", is_flag=True, help="Every object (that matches the filter).")
@_selection_options
@click.option("--yes", is_flag=True, help="Do not ask before deleting with --all.")
def delete(ids, everything, source, reason, date_from, date_to, yes):
    """Delete objects (file and row) from the quarantine; recorded in the audit log."""
    from doseapp.ingest import quarantine as q

    with app_for_command().app_context():
        selection = _chosen(ids, everything, source=source, reason=reason, date_from=date_from, date_to=date_to)
        chosen = q.ids_of(selection)
        missing = sorted(set(ids) - set(chosen))
        for object_id in missing:
            click.echo(f"There is no object {object_id} in quarantine.", err=True)
        if everything and chosen and not yes:
            click.confirm(f"Delete {len(chosen)} object(s) from the quarantine for good?", abort=True)
        click.echo(f"Deleted {q.delete(chosen)} object(s).")
    sys.exit(1 if missing else 0)


@quarantine.command("export")
@click.argument("object_id", type=int)
@click.option("--out", required=True, type=click.Path(dir_okay=False, writable=True),
              help="The file to write (the object as it was received).")
def export(object_id, out):
    """Copy one object's file out of the quarantine."""
    from doseapp.ingest.quarantine import export as export_file
    from doseapp.models import QuarantinedObject, db

    with app_for_command().app_context():
        row = db.session.get(QuarantinedObject, object_id)
        if row is None:
            raise click.ClickException(f"There is no object {object_id} in quarantine.")
        try:
            export_file(row, Path(out))
        except FileNotFoundError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"Wrote {out} ({Path(out).stat().st_size} bytes): {row.reason}")
