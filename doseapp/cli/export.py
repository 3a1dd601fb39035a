"""`doseapp export`: the same exports as the web page, for scripts (no job, no Redis needed)."""
from __future__ import annotations

import sys

import click

from doseapp.exports.run import FORMATS
from doseapp.display.timefmt import plural


@click.command("export")
@click.option("--modality", required=True, type=click.Choice(["ct", "rf", "dx", "mg", "nm"], case_sensitive=False))
@click.option("--format", "fmt", required=True, type=click.Choice(FORMATS, case_sensitive=False),
              help="csv: one row per study (mammography: one row per exposure, OpenREM's layout); "
                   "csv-wide: mammography, one row per study; xlsx; nhsbsp: mammography dose audit.")
@click.option("--with-names", is_flag=True, help="Add patient names (and date of birth).")
@click.option("--with-id", is_flag=True, help="Add patient IDs (and date of birth).")
@click.option("--date-from", help="First study date, yyyy-mm-dd.")
@click.option("--date-until", help="Last study date, yyyy-mm-dd.")
@click.option("--filter", "extra", multiple=True, metavar="NAME=VALUE",
              help="Any other list filter, as in the list's URL, e.g. --filter station_name=CT1 "
                   "--filter dlp_min=100 --filter o=-dlp. Repeat for several.")
@click.option("--bom", is_flag=True, help="Start CSV files with a UTF-8 byte order mark (for Excel).")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False), help="File to write.")
def export_command(modality, fmt, with_names, with_id, date_from, date_until, extra, bom, out):
    """Export the studies of one modality that the filters select, to CSV, XLSX or NHSBSP CSV.

    The command line is trusted like an administrator's shell: identifiers are included when asked."""
    from doseapp import filters
    from doseapp.cli.common import app_for_command as _app
    from doseapp.exports.run import ExportError, run_export

    args = {}
    for item in extra:
        if "=" not in item:
            raise click.BadParameter(f"{item!r} is not NAME=VALUE", param_hint="--filter")
        k, v = item.split("=", 1)
        args[k.strip()] = v
    if date_from:
        args["date_from"] = date_from
    if date_until:
        args["date_until"] = date_until
    mod = modality.upper()
    unknown = set(args) - filters.param_names(mod) - {"o"}
    if unknown:
        raise click.BadParameter(f"no such {mod} filter(s): {', '.join(sorted(unknown))}; known: "
                                 f"{', '.join(sorted(filters.param_names(mod)))}", param_hint="--filter")
    app = _app()
    with app.app_context():
        if with_names or with_id:
            from doseapp.exports.jobs import record_identifier_export
            from doseapp.models import db

            record_identifier_export(f"{mod} {fmt.lower()} export from the command line ({out})", mod, fmt.lower(),
                                     with_names, with_id, args)
            db.session.commit()

        def report(done, total):
            if total:
                click.echo(f"\r{done}/{total} studies", nl=False, err=True)
        try:
            result = run_export(mod, fmt.lower(), args, out=out, name=with_names, pat_id=with_id, bom=bom,
                                date_format=app.config.get("XLSX_DATE_FORMAT", "dd/mm/yyyy"), progress=report)
        except ExportError as exc:
            click.echo(f"Error: {exc}", err=True)
            sys.exit(2)
    click.echo("", err=True)
    click.echo(f"{plural(result['records'], 'study')} written to {result['path']} in {result['seconds']:.1f} s.")
