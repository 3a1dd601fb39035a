"""`doseapp drl list` (the reference levels in use, national and local, each with its source),
`doseapp drl compare` (the comparison, as the DRL page and the API give it) and `doseapp drl refresh`
(every study's DRL ratio again)."""
from __future__ import annotations

import datetime as dt
import json
import sys

import click

from doseapp.cli.common import app_for_command, main
from doseapp.standards.drl import MODALITIES, UNITS


@main.group("drl")
def drl_group():
    """Diagnostic reference levels: list them, compare doses with them."""


@drl_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="A JSON list, one object per level.")
@click.option("--modality", type=click.Choice(MODALITIES, case_sensitive=False), help="Only this modality.")
def drl_list(as_json, modality):
    """The reference levels loaded: the enabled national sets and the local DRLs."""
    from doseapp.models import db
    from doseapp.standards.drl import all_levels

    with app_for_command().app_context():
        levels = [lv.as_dict() for lv in all_levels(modality.upper() if modality else None)]
        db.session.commit()
    if as_json:
        click.echo(json.dumps(levels, indent=1, ensure_ascii=False))
        return
    for lv in levels:
        where = f" ({lv['system']})" if lv["system"] else ""
        click.echo(f"{lv['origin']:8} {lv['modality']:2} {lv['standard_name']:32} {UNITS[lv['quantity']][3]:10} "
                   f"{lv['display_value']:>8.4g} {lv['display_unit']:7} {lv['patient_group']}{where} — {lv['source']}")


@drl_group.command("compare")
@click.option("--modality", required=True, type=click.Choice(MODALITIES, case_sensitive=False))
@click.option("--quantity", help="dlp, ctdivol, ssde (CT); dap, dose_rp (RF); dap (DX); agd (MG); activity, "
              "activity_per_kg (NM). Default: the first.")
@click.option("--standard-name", help="Only this standard name (case does not matter).")
@click.option("--date-from", help="yyyy-mm-dd; default: the settings' period back from today.")
@click.option("--date-until", help="yyyy-mm-dd; default: today.")
@click.option("--json", "as_json", is_flag=True, help="A JSON list, as GET /api/v1/drl-comparison gives it.")
def drl_compare(modality, quantity, standard_name, date_from, date_until, as_json):
    """Per standard name and system: n, median, 75th percentile, the DRL, median / DRL."""
    from doseapp.standards.comparison import BadArgs, read_args
    from doseapp.models import SystemSettings, db
    from doseapp.standards.comparison import compare

    args = {"modality": modality, "quantity": quantity, "standard_name": standard_name, "date_from": date_from,
            "date_until": date_until}
    with app_for_command().app_context():
        settings = SystemSettings.get()
        try:
            mod, qty, name, period = read_args({k: v for k, v in args.items() if v}, settings)
        except BadArgs as exc:
            click.echo(str(exc), err=True)
            sys.exit(2)
        rows = compare(mod, qty, standard_name=name, period=period, settings=settings)
        out = [r.as_dict() for r in rows]
        db.session.commit()
    if as_json:
        click.echo(json.dumps(out, indent=1, ensure_ascii=False))
        return
    factor, unit = UNITS[qty][2], UNITS[qty][1]
    click.echo(f"{mod} {UNITS[qty][3]} ({unit}), {period.words()}")

    def show(v):
        return "—" if v is None else f"{v * factor:.4g}"
    for r in out:
        result = "ABOVE" if r["exceeds"] else "too few" if r["too_few"] else "within" if r["ratio"] is not None else "no DRL"
        ratio = "—" if r["ratio"] is None else f"{r['ratio']:.2f}"
        click.echo(f"{r['standard_name']:28} {r['patient_group']:16} {r['system']:24} n={r['n']:<6} "
                   f"median={show(r['median'])} p75={show(r['p75'])} DRL={show(r['drl'])} ratio={ratio} {result}")


@drl_group.command("refresh")
def drl_refresh():
    """Work out every study's DRL ratio again (after changing DRLs outside the web page)."""
    from doseapp.standards.flags import refresh_all

    started = dt.datetime.now()
    with app_for_command().app_context():
        n = refresh_all()
    click.echo(f"DRL ratios refreshed for {n} standard names in {(dt.datetime.now() - started).total_seconds():.1f} s.")
