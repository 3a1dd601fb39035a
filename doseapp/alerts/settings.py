"""Changing a rule (the rules page, `doseapp alerts rule set`): validated, audited with before and
after, committed. The caller then re-evaluates (a job from the web, synchronously in the CLI)."""
from __future__ import annotations

from flask_babel import gettext as _

from doseapp import audit
from doseapp.alerts.rules import BY_KEY, CUMULATIVE, rule_rows, spec
from doseapp.models import db


def snapshot(row) -> dict:
    s = BY_KEY[row.key]
    out = {"enabled": bool(row.enabled), "threshold": s.to_display(row.threshold) if s.has_threshold else None,
           "unit": s.unit if s.has_threshold else None}
    if s.kind == CUMULATIVE:
        out["period_weeks"] = row.period_weeks
    return out


def set_rule(key: str, *, threshold: float | None = None, weeks: int | None = None,
             enabled: bool | None = None) -> tuple[object, dict]:
    """Change rule `key` (threshold in its display unit). Returns (row, {field: [old, new]}); commits.
    ValueError for a value that makes no sense."""
    s = spec(key)
    if threshold is not None:
        if not s.has_threshold:
            raise ValueError(_("%(rule)s has no threshold: it alerts on what the scanner recorded", rule=key))
        if not threshold > 0:
            raise ValueError(_("the threshold must be above zero"))
    if weeks is not None:
        if s.kind != CUMULATIVE:
            raise ValueError(_("%(rule)s is not a cumulative rule: it has no period", rule=key))
        if not 1 <= weeks <= 520:
            raise ValueError(_("the period must be 1 to 520 weeks"))
    row = rule_rows()[key]
    before = snapshot(row)
    if threshold is not None:
        row.threshold = s.to_stored(threshold)
    if weeks is not None:
        row.period_weeks = weeks
    if enabled is not None:
        row.enabled = enabled
    if row.enabled and s.has_threshold and row.threshold is None:
        db.session.rollback()
        raise ValueError(_("%(rule)s has no threshold: set one to switch it on", rule=key))
    after = snapshot(row)
    audit.record_change("alerts.rule", f"Alert rule {key}", before, after)
    db.session.commit()
    return row, audit.changes(before, after)
