"""`doseapp alerts list`, `doseapp alerts rule list` and `doseapp alerts rule set` (issue 18)."""
from __future__ import annotations

import json
import sys

import click

from doseapp.cli.common import app_for_command, main


@main.group("alerts")
def alerts_group():
    """High-dose alerts and their rules."""


@alerts_group.command("list")
@click.option("--state", type=click.Choice(["new", "reviewed", "reported"]), help="Only alerts in this state.")
@click.option("--modality", type=click.Choice(["CT", "RF", "DX", "MG", "NM"], case_sensitive=False))
@click.option("--rule", "rule_key", help="Only this rule's alerts (its key).")
@click.option("--json", "as_json", is_flag=True, help="A JSON list, one object per alert (as GET /api/v1/alerts).")
def list_alerts(state, modality, rule_key, as_json):
    """The alerts, newest first."""
    from doseapp.alerts.review import BadFilter, alert_query, as_dict
    from doseapp.models import db

    with app_for_command().app_context():
        try:
            rows = [as_dict(a, s) for a, s in db.session.execute(
                alert_query({"state": state, "modality": modality, "rule": rule_key})).all()]
        except BadFilter as exc:
            raise click.UsageError(str(exc)) from None
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False))
        return
    for r in rows:
        click.echo(f"{r['id']:>6}  {r['state']:<8}  {r['rule']:<18}  {r['modality']:<2}  {r['study_date'] or '':<10}  "
                   f"{_num(r['value'])} (threshold {_num(r['threshold'])}) {r['unit'] or ''}  {r['study_instance_uid']}")
    click.echo(f"{len(rows)} alert(s).")


def _num(v) -> str:
    return "-" if v is None else f"{v:.4g}"


def _rule_dict(row) -> dict:
    from doseapp.alerts.rules import BY_KEY, cannot_work

    s = BY_KEY[row.key]
    return {"rule": row.key, "label": s.label, "modality": s.modality, "kind": s.kind, "enabled": bool(row.enabled),
            "threshold": s.to_display(row.threshold) if s.has_threshold else None,
            "unit": s.unit if s.has_threshold else None,
            "default_threshold": s.default, "period_weeks": row.period_weeks if s.kind == "cumulative" else None,
            "cannot_work": cannot_work(row.key) if row.enabled else None}


@alerts_group.group("rule")
def rule_group():
    """The alert rules: list them, or change one."""


@rule_group.command("list")
@click.option("--json", "as_json", is_flag=True)
def rule_list(as_json):
    """Every rule: on or off, its threshold (display unit), its period (cumulative rules)."""
    from doseapp.alerts.rules import RULES, rule_rows
    from doseapp.models import db

    with app_for_command().app_context():
        rows = rule_rows()
        db.session.commit()
        out = [_rule_dict(rows[s.key]) for s in RULES]
    if as_json:
        click.echo(json.dumps(out, ensure_ascii=False))
        return
    width = max(len(r["rule"]) for r in out)
    for r in out:
        thr = f"{r['threshold']:g} {r['unit']}" if r["threshold"] is not None else \
            "no threshold set" if r["unit"] else "what the scanner recorded"
        period = f", {r['period_weeks']} weeks" if r["period_weeks"] else ""
        click.echo(f"{r['rule']:<{width}} {'on ' if r['enabled'] else 'off'}  {thr}{period}  {r['label']}")
        if r["cannot_work"] and r["enabled"]:
            click.echo(f"{'':<{width}} cannot work: {r['cannot_work']}")


@rule_group.command("set")
@click.argument("rule_key")
@click.option("--threshold", type=float, help="In the rule's display unit (`doseapp alerts rule list` shows it).")
@click.option("--weeks", type=int, help="The period of a cumulative rule.")
@click.option("--on/--off", "enabled", default=None, help="Switch the rule on or off.")
def rule_set(rule_key, threshold, weeks, enabled):
    """Change one rule, then evaluate the switched-on rules over every study (existing alerts are
    kept as they are) and say how many alerts that raised."""
    from doseapp.alerts.jobs import reevaluate
    from doseapp.alerts.rules import BY_KEY, cannot_work
    from doseapp.alerts.settings import set_rule

    if rule_key not in BY_KEY:
        raise click.BadParameter(f"no rule {rule_key!r}; the rules are: {', '.join(BY_KEY)}", param_hint="RULE")
    with app_for_command().app_context():
        try:
            row, changed = set_rule(rule_key, threshold=threshold, weeks=weeks, enabled=enabled)
        except ValueError as exc:
            raise click.UsageError(str(exc)) from None
        d = _rule_dict(row)
        thr = "no threshold" if d["threshold"] is None else f"threshold {d['threshold']:g} {d['unit']}"
        period = f", period {d['period_weeks']} weeks" if d["period_weeks"] else ""
        click.echo(f"{rule_key}: {'on' if row.enabled else 'off'}, {thr}{period}"
                   + ("" if changed else " (unchanged)"))
        why = cannot_work(rule_key)
        if why:
            click.echo(f"Warning: {rule_key} cannot work: {why}.")
        if not row.enabled:
            return
        result = reevaluate([rule_key])
    click.echo(f"Evaluated over {result['studies']} studies in {result['seconds']} s: "
               f"{result['total_raised']} new alert(s).")
    sys.exit(0)
