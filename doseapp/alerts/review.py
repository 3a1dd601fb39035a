"""Reading and reviewing alerts: the one query behind the alerts page, `doseapp alerts list` and
`GET /api/v1/alerts`; the JSON shape they share; the state change (audited)."""
from __future__ import annotations

import datetime as dt

from flask_babel import gettext as _
from sqlalchemy import func, select

from doseapp import audit
from doseapp.alerts.rules import BY_KEY
from doseapp.lazy_text import lazy_gettext as _l
from doseapp.models import Study, db
from doseapp.models.alerts import ALERT_STATES, Alert
from doseapp.models.base import utcnow
from doseapp.models.equipment import Equipment

# In the language of the page showing them.
STATE_LABELS = {"new": _l("New"), "reviewed": _l("Reviewed"), "reported": _l("Reported to the regulator")}


class BadFilter(ValueError):
    pass


def _date(value: str | None, name: str) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise BadFilter(_("%(field)s: a date as yyyy-mm-dd, not %(value)s", field=name, value=repr(value))) from None


def alert_query(args: dict):
    """SELECT (Alert, Study) filtered by args: state, modality, rule, system (display name contains),
    date_from / date_until (the study date), newest first. BadFilter for a value that cannot be."""
    stmt = select(Alert, Study).join(Study, Study.id == Alert.study_id)
    state = args.get("state")
    if state:
        if state not in ALERT_STATES:
            raise BadFilter(_("state: one of %(choices)s", choices=", ".join(ALERT_STATES)))
        stmt = stmt.where(Alert.state == state)
    if args.get("modality"):
        stmt = stmt.where(Alert.modality == args["modality"].upper())
    if args.get("rule"):
        if args["rule"] not in BY_KEY:
            raise BadFilter(_("rule: one of %(choices)s", choices=", ".join(BY_KEY)))
        stmt = stmt.where(Alert.rule_key == args["rule"])
    if args.get("system"):
        # Contains, ignoring case (the equipment table is tiny).
        term = args["system"].lower()
        stmt = stmt.where(Study.equipment_id.in_(select(Equipment.id).where(
            func.lower(Equipment.display_name).contains(term, autoescape=True))))
    if args.get("study_id"):
        try:
            stmt = stmt.where(Alert.study_id == int(args["study_id"]))
        except ValueError:
            raise BadFilter(_("study_id: a whole number")) from None
    since, until = _date(args.get("date_from"), "date_from"), _date(args.get("date_until"), "date_until")
    if since:
        stmt = stmt.where(Study.study_date >= since)
    if until:
        stmt = stmt.where(Study.study_date <= until)
    return stmt.order_by(Alert.created_at.desc(), Alert.id.desc())


def as_dict(alert: Alert, study: Study) -> dict:
    """One alert as the CLI and the API give it (values in stored units, named by `unit`)."""
    return {"id": alert.id, "rule": alert.rule_key, "modality": alert.modality,
            "study_instance_uid": study.study_instance_uid, "study_id": alert.study_id,
            "study_date": study.study_date.isoformat() if study.study_date else None,
            "system": study.equipment.display_name if study.equipment else None,
            "value": alert.value, "threshold": alert.threshold, "unit": alert.unit, "state": alert.state,
            "comment": alert.comment, "detail": alert.detail,
            "created_at": alert.created_at.isoformat() if alert.created_at else None,
            "state_changed_at": alert.state_changed_at.isoformat() if alert.state_changed_at else None}


def new_count() -> int:
    """New alerts, counted from ix_alert_state_created alone (the top bar and home page)."""
    return db.session.scalar(select(func.count()).select_from(Alert).where(Alert.state == "new")) or 0


def studies_with_alerts(study_ids) -> set[int]:
    """Of these (one page's) study ids, those with an alert: one query for the page."""
    ids = list(study_ids)
    if not ids:
        return set()
    return set(db.session.scalars(select(Alert.study_id).where(Alert.study_id.in_(ids)).distinct()))


def change_state(alert: Alert, state: str, comment: str | None, user=None) -> None:
    """Acknowledge (reviewed) or mark reported to the regulator, with a comment; audited; commits."""
    if state not in ("reviewed", "reported"):
        raise ValueError("the state is reviewed or reported")
    comment = (comment or "").strip() or None
    before = {"state": alert.state, "comment": alert.comment}
    alert.state, alert.comment = state, comment if comment is not None else alert.comment
    alert.state_changed_at = utcnow()
    if user is not None:
        alert.state_changed_by = user.id
    else:
        from flask import has_request_context

        if has_request_context():
            from flask_login import current_user

            alert.state_changed_by = getattr(current_user, "id", None)
    audit.record("alerts.state", f"Alert {alert.id} ({alert.rule_key}, study {alert.study_id})",
                 audit.changes(before, {"state": alert.state, "comment": alert.comment}))
    db.session.commit()
