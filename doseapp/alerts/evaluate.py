"""Evaluating the switched-on rules: for the study an import just wrote (`evaluate_study`, in the
worker, never in a page request), and for every study when a rule changes (`evaluate_all`, the
re-evaluation job and `doseapp alerts rule set`).

Each rule is one set-based statement or one streamed pass: per-study thresholds are
INSERT ... SELECT over the study table; cumulative rules read each patient's studies of the rule's
modality (fluoroscopy, CT) in date order once and slide the period's window over them; Dose Check and mammography repeats read
only the events that qualify. Every insert is ON CONFLICT DO NOTHING on UNIQUE(rule_key, study_id):
an alert is raised once per rule and study, existing alerts (and their review state) are never
touched, and an import racing the job cannot duplicate one.
"""
from __future__ import annotations

import datetime as dt
import logging
from collections import deque

from sqlalchemy import and_, func, literal, or_, select

from doseapp.alerts.rules import BY_KEY, CUMULATIVE, enabled_rows
from doseapp.models import Study, db
from doseapp.models.alerts import Alert
from doseapp.models.base import utcnow
from doseapp.models.ct import CtEvent
from doseapp.models.projection import XrayEvent

log = logging.getLogger(__name__)
CHUNK = 1000


# === where the e-mail notifier plugs in ==========================================================
# Who is told of new alerts: callables taking the alert ids. The app factory (doseapp.create_app)
# plugs the e-mail notifier (doseapp.notify.alerts.alerts_raised) in, so this package never imports
# the notifier, which reads the rule catalogue from here.
NOTIFIERS: list = []


def alerts_raised_hook(alert_ids: list[int], *, source: str = "import") -> None:
    """Called with the ids of newly raised (committed) alerts; `source` is "import", "skin_map" or
    "reevaluation". A notifier that fails is logged: the alert is raised whether or not anyone is
    told at once (the alerts list shows what was not sent). Alerts a rule change raised over stored
    studies (possibly thousands, about old procedures) are not e-mailed one by one: they are in the
    alerts list and in the daily digests."""
    if source == "reevaluation":
        return
    for notify in NOTIFIERS:
        try:
            notify(alert_ids)
        except Exception:  # noqa: BLE001 - see the docstring; the failure is logged with its trace
            db.session.rollback()
            log.exception("alerts %s (%s): the notifier %s failed", alert_ids, source, notify)
# =================================================================================================


def _insert():
    if db.engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(Alert.__table__)


ALERT_COLUMNS = ["rule_key", "study_id", "modality", "value", "threshold", "unit", "detail", "state", "created_at"]


def _insert_rows(rows: list[dict]) -> list[int]:
    """Insert alert rows, skipping any (rule, study) already alerted; the new ids."""
    ids: list[int] = []
    for start in range(0, len(rows), CHUNK):
        part = rows[start:start + CHUNK]
        stmt = _insert().values(part).on_conflict_do_nothing(index_elements=["rule_key", "study_id"]) \
            .returning(Alert.__table__.c.id)
        ids += db.session.scalars(stmt).all()
    return ids


def _row(rule, study_id, modality, value, detail=None) -> dict:
    s = BY_KEY[rule.key]
    return {"rule_key": rule.key, "study_id": study_id, "modality": modality, "value": value,
            "threshold": rule.threshold if s.has_threshold else None, "unit": s.stored_unit, "detail": detail,
            "state": "new", "created_at": utcnow()}


# --- per-study thresholds: one INSERT ... SELECT -------------------------------------------------

def _per_study(rule, study_ids) -> list[int]:
    s = BY_KEY[rule.key]
    if rule.threshold is None:
        return []
    column = getattr(Study, s.quantity)
    where = [column.isnot(None), column >= rule.threshold]
    if s.modality:
        where.append(Study.modality == s.modality)
    if study_ids is not None:
        where.append(Study.id.in_(study_ids))
    source = select(literal(rule.key), Study.id, Study.modality, column, literal(rule.threshold),
                    literal(s.stored_unit), literal("new"), literal(utcnow())).where(*where)
    stmt = _insert().from_select(["rule_key", "study_id", "modality", "value", "threshold", "unit", "state",
                                  "created_at"], source) \
        .on_conflict_do_nothing(index_elements=["rule_key", "study_id"]).returning(Alert.__table__.c.id)
    return list(db.session.scalars(stmt).all())


# --- cumulative: one patient's studies of the rule's modality over the period ------------------------------

def _period(rule) -> dt.timedelta:
    """A cumulative rule's period: its own, else the one its catalogue entry starts with."""
    return dt.timedelta(weeks=rule.period_weeks or BY_KEY[rule.key].default_weeks)


def _when(date: dt.date, when: dt.datetime | None) -> dt.datetime:
    return when or dt.datetime.combine(date, dt.time())


def _windows(rule, rows, only_from: dt.datetime | None = None, skip: frozenset | set = frozenset()) -> list[dict]:
    """Alert rows for one patient's studies `rows` (id, modality, date, datetime, value; in date
    order): a study whose period (its date back `period_weeks`) holds two or more studies summing to
    the threshold or over gets the alert, with the contributing studies in its detail. Studies in
    `skip` (already alerted for this rule) get no row: the insert would do nothing with it."""
    period = _period(rule)
    window: deque = deque()
    total = 0.0
    out = []
    for row in rows:
        sid, modality, date, when, value = row
        window.append(row)
        total += value
        while window and window[0][2] < date - period:
            total -= window.popleft()[4]
        if len(window) >= 2 and total >= rule.threshold and sid not in skip \
                and (only_from is None or _when(date, when) >= only_from):
            detail = {"period_weeks": rule.period_weeks,
                      "studies": [{"id": w[0], "date": w[2].isoformat(), "value": w[4]} for w in window]}
            out.append(_row(rule, sid, modality, total, detail))
    return out


def _cumulative_query(modality, column, where):
    return select(Study.id, Study.modality, Study.study_date, Study.study_datetime, column).where(
        Study.modality == modality, Study.patient_id.isnot(None), Study.study_date.isnot(None), column.isnot(None),
        *where)


def _cumulative(rule, study_ids) -> list[int]:
    from doseapp.alerts.rules import cannot_work

    if rule.threshold is None or cannot_work(rule.key):
        return []
    spec = BY_KEY[rule.key]
    column = getattr(Study, spec.quantity)
    order = (Study.study_datetime, Study.id)
    if study_ids is None:  # every patient: one streamed pass in patient, date order
        # A re-evaluation finds most alerts already raised: not building their rows (and detail) again
        # keeps the pass's cost to the reading.
        done = set(db.session.scalars(select(Alert.study_id).where(Alert.rule_key == rule.key)))
        rows, current, patient = [], None, object()
        stmt = _cumulative_query(spec.modality, column, []).add_columns(Study.patient_id).order_by(Study.patient_id, *order)
        for r in db.session.execute(stmt.execution_options(yield_per=5000)):
            if r[5] != patient:
                if current:
                    rows += _windows(rule, current, skip=done)
                current, patient = [], r[5]
            current.append(tuple(r[:5]))
        if current:
            rows += _windows(rule, current, skip=done)
        return _insert_rows(rows)
    rows = []
    period = _period(rule)
    for study in db.session.scalars(select(Study).where(Study.id.in_(study_ids))):
        if study.modality != spec.modality or not study.patient_id or study.study_date is None:
            continue
        # A study imported late may complete the period of this patient's later studies too.
        near = db.session.execute(_cumulative_query(spec.modality, column, [
            Study.patient_id == study.patient_id, Study.study_date >= study.study_date - 2 * period,
            Study.study_date <= study.study_date + period]).order_by(*order)).all()
        rows += _windows(rule, [tuple(r) for r in near], only_from=_when(study.study_date, study.study_datetime))
    return _insert_rows(rows)


# --- CT Dose Check: what the scanner recorded -----------------------------------------------------

DOSE_CHECK_FIELDS = ("dlp_alert_value_mgycm", "ctdivol_alert_value_mgy", "accumulated_dlp_forward_estimate_mgycm",
                     "accumulated_ctdivol_forward_estimate_mgy", "alert_reason", "alert_person",
                     "dlp_notification_value_mgycm", "ctdivol_notification_value_mgy",
                     "dlp_forward_estimate_mgycm", "ctdivol_forward_estimate_mgy", "notification_reason",
                     "notification_person")
# An alert (or notification) happened when the scanner recorded its forward estimate, or the reason
# for proceeding or the person who allowed it: "configured" alone only says a value was set.
ALERT_MARKS = ("accumulated_dlp_forward_estimate_mgycm", "accumulated_ctdivol_forward_estimate_mgy",
               "alert_reason", "alert_person")
NOTIFICATION_MARKS = ("dlp_forward_estimate_mgycm", "ctdivol_forward_estimate_mgy", "notification_reason",
                      "notification_person")


def _dose_check(rule, study_ids) -> list[int]:
    marks = [getattr(CtEvent, f"dose_check_{f}").isnot(None) for f in ALERT_MARKS + NOTIFICATION_MARKS]
    stmt = select(CtEvent, Study.modality).join(Study, Study.id == CtEvent.study_id).where(
        Study.modality == "CT", or_(*marks))
    if study_ids is not None:
        stmt = stmt.where(CtEvent.study_id.in_(study_ids))
    by_study: dict[int, list] = {}
    for event, _ in db.session.execute(stmt.order_by(CtEvent.study_id, CtEvent.id)):
        values = {f: getattr(event, f"dose_check_{f}") for f in DOSE_CHECK_FIELDS}
        kinds = [k for k, m in (("alert", ALERT_MARKS), ("notification", NOTIFICATION_MARKS))
                 if any(values[f] is not None for f in m)]
        by_study.setdefault(event.study_id, []).append(
            {"event_id": event.id, "protocol": event.acquisition_protocol, "kinds": kinds,
             **{k: v for k, v in values.items() if v is not None}})
    rows = [_row(rule, sid, "CT", float(len(events)), {"events": events}) for sid, events in by_study.items()]
    return _insert_rows(rows)


# --- mammography repeats --------------------------------------------------------------------------

def _mg_repeat(rule, study_ids) -> list[int]:
    if rule.threshold is None:
        return []
    n = func.count(XrayEvent.id)
    stmt = select(XrayEvent.study_id, XrayEvent.image_view, XrayEvent.laterality, n).join(
        Study, Study.id == XrayEvent.study_id).where(Study.modality == "MG", XrayEvent.image_view.isnot(None)) \
        .group_by(XrayEvent.study_id, XrayEvent.image_view, XrayEvent.laterality).having(n > 1)
    if study_ids is not None:
        stmt = stmt.where(XrayEvent.study_id.in_(study_ids))
    by_study: dict[int, list] = {}
    for sid, view, side, count in db.session.execute(stmt.order_by(XrayEvent.study_id)):
        by_study.setdefault(sid, []).append({"view": view, "laterality": side, "exposures": int(count)})
    rows = []
    for sid, groups in by_study.items():
        repeats = sum(g["exposures"] - 1 for g in groups)
        if repeats >= rule.threshold:
            rows.append(_row(rule, sid, "MG", float(repeats), {"repeated": groups}))
    return _insert_rows(rows)


def _evaluator(key: str):
    s = BY_KEY[key]
    if s.kind == CUMULATIVE:
        return _cumulative
    return {"ct_dose_check": _dose_check, "mg_repeat": _mg_repeat}.get(key, _per_study)


# --- entry points ---------------------------------------------------------------------------------

def evaluate(keys=None, study_ids=None, progress=None, *, modality: str | None = None) -> dict[str, list[int]]:
    """Run the switched-on rules (`keys`: only these; `modality`: only those for it) over `study_ids`
    (None: every study, committing after each rule; else one commit at the end). {rule key: new
    alert ids}. `progress(done, total, key)` after each rule."""
    rules = enabled_rows()
    keys = [k for k in (keys or BY_KEY) if k in rules
            and (modality is None or BY_KEY[k].modality in (None, modality))]
    raised: dict[str, list[int]] = {}
    for n, key in enumerate(keys, start=1):
        raised[key] = _evaluator(key)(rules[key], study_ids)
        if study_ids is None:
            db.session.commit()
        if progress:
            progress(n, len(keys), key)
    db.session.commit()
    return raised


def evaluate_study(study_id: int, *, keys=None, source: str = "import") -> list[int]:
    """Evaluate the switched-on rules for one study just stored (the import worker; the skin map store
    for the peak skin dose rules). Never raises: the import stands whatever happens here."""
    try:
        raised = _evaluate_one(study_id, keys)
    except Exception:  # the study is stored; a rule change's re-evaluation will catch it up
        db.session.rollback()
        log.exception("alert rules for study %s could not be evaluated", study_id)
        return []
    ids = [i for v in raised.values() for i in v]
    if ids:
        alerts_raised_hook(ids, source=source)
    return ids


def _evaluate_one(study_id: int, keys=None) -> dict[str, list[int]]:
    """The import's fast path, same results as evaluate(keys, [study_id]): the study's row read once,
    per-study thresholds compared here, one read of the patient's nearby studies for all cumulative
    rules, one INSERT for all; event rules (Dose Check, repeats) as in the set-based pass."""
    rules = enabled_rows()
    if not rules:
        return {}
    study = db.session.get(Study, study_id)
    if study is None:
        return {}
    keys = [k for k in (keys or BY_KEY) if k in rules and BY_KEY[k].modality in (None, study.modality)]
    rows: list[dict] = []
    raised: dict[str, list[int]] = {}
    cumulative = []
    for key in keys:
        rule, spec = rules[key], BY_KEY[key]
        if spec.kind == CUMULATIVE:
            cumulative.append(rule)
        elif key in ("ct_dose_check", "mg_repeat"):
            raised[key] = _evaluator(key)(rule, [study_id])
        elif rule.threshold is not None:
            value = getattr(study, spec.quantity)
            if value is not None and value >= rule.threshold:
                rows.append(_row(rule, study.id, study.modality, value))
    if cumulative:
        from doseapp.alerts.rules import cannot_work

        cumulative = [r for r in cumulative if r.threshold is not None and not cannot_work(r.key)]
    if cumulative and study.patient_id and study.study_date is not None:
        widest = max(_period(r) for r in cumulative)
        columns = [getattr(Study, BY_KEY[r.key].quantity) for r in cumulative]
        near = db.session.execute(select(Study.id, Study.modality, Study.study_date, Study.study_datetime, *columns)
                                  .where(Study.modality == study.modality, Study.patient_id == study.patient_id,
                                         Study.study_date.isnot(None), Study.study_date >= study.study_date - 2 * widest,
                                         Study.study_date <= study.study_date + widest)
                                  .order_by(Study.study_datetime, Study.id)).all()
        since = _when(study.study_date, study.study_datetime)
        for n, rule in enumerate(cumulative):
            mine = [(r[0], r[1], r[2], r[3], r[4 + n]) for r in near if r[4 + n] is not None]
            rows += _windows(rule, mine, only_from=since)
    for key, ids in _insert_grouped(rows).items():
        raised[key] = ids
    db.session.commit()
    return raised


def _insert_grouped(rows: list[dict]) -> dict[str, list[int]]:
    if not rows:
        return {}
    stmt = _insert().values(rows).on_conflict_do_nothing(index_elements=["rule_key", "study_id"]) \
        .returning(Alert.__table__.c.id, Alert.__table__.c.rule_key)
    out: dict[str, list[int]] = {}
    for alert_id, key in db.session.execute(stmt).all():
        out.setdefault(key, []).append(alert_id)
    return out


PSD_RULES = ("rf_psd_study", "rf_psd_cumulative")


def after_skin_map(study_id: int) -> list[int]:
    """A study's skin dose map (its peak skin dose) was committed: the peak skin dose rules."""
    return evaluate_study(study_id, keys=PSD_RULES, source="skin_map")
