"""`doseapp size-import`: patient height and weight from a CSV file (registered in cli.py)."""
from __future__ import annotations

import click


@click.command("size-import")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False))
@click.option("--id-col", required=True, help="Column holding the accession number (or Study Instance UID).")
@click.option("--height-col", default=None, help="Column holding the height in cm.")
@click.option("--weight-col", default=None, help="Column holding the weight in kg.")
@click.option("--si-uid", "-u", is_flag=True, help="The identifier column holds Study Instance UIDs.")
@click.option("--overwrite", is_flag=True, help="Replace heights and weights already in the database.")
@click.option("--verbose", "-v", is_flag=True, help="Print the outcome of every row.")
def size_import(csv_file, id_col, height_col, weight_col, si_uid, overwrite, verbose):
    """Fill in patients' height (cm) and weight (kg) of stored studies from CSV_FILE.

    Existing values are kept unless --overwrite; an identifier repeated in the file uses its first
    row. Every outcome is written to a log in the instance's size_imports folder."""
    from doseapp.cli.common import app_for_command as _app
    from doseapp.ingest.size_csv import SizeCsvError, import_sizes

    if not height_col and not weight_col:
        raise click.UsageError("give --height-col, --weight-col or both")
    with _app().app_context():
        try:
            result = import_sizes(csv_file, id_col=id_col, height_col=height_col, weight_col=weight_col,
                                  si_uid=si_uid, overwrite=overwrite, echo=click.echo if verbose else None)
        except SizeCsvError as exc:
            raise click.ClickException(str(exc))
        maps = _recompute_maps(result.resized_study_ids)
    click.echo(f"{result.rows} rows: {result.matched_rows} matched a study; {result.heights_inserted} heights and "
               f"{result.weights_inserted} weights inserted; {result.kept_existing} existing values kept; "
               f"{result.unmatched_rows} unmatched, {result.bad_rows} bad, {result.repeated_rows} repeated rows.")
    click.echo(f"Log: {result.log_path}")
    if maps is not None:
        click.echo(f"Skin dose maps of {maps.total} studies with a new size recomputed: {maps.words()}.")


def _recompute_maps(study_ids):
    """The command runs in-process, as `doseapp import` does: maps the new sizes made out of date are
    computed now, not queued."""
    from doseapp.skin.batch import recompute
    from doseapp.skin.jobs import settings_allow, sized_ids_with_maps

    ids = sized_ids_with_maps(study_ids)
    return recompute(ids) if ids and settings_allow() else None
