"""`doseapp skin-map UID` (one study's skin dose map) and `doseapp skin-maps recompute` (many)."""
from __future__ import annotations

import datetime as dt
import json
import sys

import click

from doseapp.cli.common import app_for_command, main

# Exit statuses of `skin-map`: 0 a map; NO_MAP the study has no map (the reason on standard error);
# NO_STUDY no fluoroscopy study of that UID.
NO_STUDY, NO_MAP = 2, 3

# The fields printed without --json, in this order (the JSON has these and more).
FIELDS = ("peak_skin_dose_Gy", "peak_surface", "cells_over_3Gy", "events_used", "events_skipped", "phantom",
          "patient_height_m", "patient_mass_kg", "height_source", "mass_source", "orientation", "seconds")
PHANTOMS = ("doseapp", "openskin")


@main.command("skin-map")
@click.argument("study_instance_uid")
@click.option("--json", "as_json", is_flag=True, help="The map's summary as JSON (as the API gives it).")
@click.option("--recompute", is_flag=True, help="Compute again even when the kept map is current.")
@click.option("--phantom", type=click.Choice(PHANTOMS), default="doseapp", show_default=True,
              help="openskin: OpenREM's torso-and-cylinders phantom, computed for comparison and not kept.")
def skin_map(study_instance_uid, as_json, recompute, phantom):
    """The skin dose map of one fluoroscopy study (Study Instance UID, or database id): the kept map
    when it is current, else computed now and kept. Exit 3 with the reason when the study can have
    no map; 2 when there is no such fluoroscopy study."""
    from doseapp.skin import store
    from doseapp.skin.jobs import settings_allow

    with app_for_command().app_context():
        study = store.fluoroscopy_study(study_instance_uid)
        if study is None:
            click.echo(f"There is no fluoroscopy study {study_instance_uid}.", err=True)
            sys.exit(NO_STUDY)
        if not settings_allow():
            # Asked for by name at the shell (trusted like an admin): computed, but said.
            click.echo("Note: skin dose maps are switched off in the settings (Config → Skin dose maps); "
                       "computed because asked for.", err=True)
        if phantom == "doseapp":
            data = store.as_dict(store.current(study, recompute=recompute))
        else:
            data = _compare(study, phantom)
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False))
    else:
        for key in FIELDS:
            click.echo(f"{key:<18} {_shown(data.get(key))}")
    if not data["ok"]:
        click.echo(f"No skin dose map: {data['reason']}", err=True)
        sys.exit(NO_MAP)


def _compare(study, phantom: str) -> dict:
    """A map on another phantom, for comparison with OpenREM's: computed, never kept."""
    from doseapp.skin import compute
    from doseapp.skin.store import trusted_for

    result = compute(study, list(study.xray_events), study.equipment, phantom=phantom, trusted=trusted_for(study))
    return result.summary() | {"study_id": study.id, "stored": False}


def _shown(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


@main.group("skin-maps")
def skin_maps():
    """Skin dose maps of many studies."""


@skin_maps.command("recompute")
@click.option("--all", "scope", flag_value="all", help="Every fluoroscopy study (that the filters leave).")
@click.option("--stale", "scope", flag_value="stale", default=True,
              help="Only studies without a map, or whose map is out of date (the default).")
@click.option("--system", help="Only studies of the system with this display name.")
@click.option("--since", type=click.DateTime(formats=["%Y-%m-%d"]), help="Only studies from this day (yyyy-mm-dd) on.")
def recompute_cmd(scope, system, since):
    """(Re)compute skin dose maps here, with a progress line. Exit 1 if any study failed."""
    from doseapp.skin.batch import UnknownSystem, recompute, select_ids

    with app_for_command().app_context():
        try:
            ids = select_ids(scope, system=system, since=since.date() if since else None)
        except UnknownSystem as exc:
            click.echo(f"Error: {exc}.", err=True)
            sys.exit(2)
        started = dt.datetime.now()

        def progress(done, total, outcome):
            click.echo(f"\r{done} of {total} studies: {outcome.words()}", nl=False, err=True)

        outcome = recompute(ids, progress)
        if ids:
            click.echo(err=True)
    seconds = (dt.datetime.now() - started).total_seconds()
    click.echo(f"{outcome.total} studies ({scope}) in {seconds:.1f} s: {outcome.words()}.")
    for e in outcome.errors:
        click.echo(f"study {e['study_id']} failed: {e['error']}", err=True)
    sys.exit(1 if outcome.failed else 0)
