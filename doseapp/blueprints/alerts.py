"""High-dose alerts on the web (issue 18): the alerts list with its review (acknowledge with a
comment, or mark reported to the regulator; audited), the rules page (admin; saving queues the
re-evaluation job), and the new-alert count for the top bar and the home page."""
from __future__ import annotations

import redis
from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func, select

from doseapp import roles
from doseapp.alerts import review
from doseapp.alerts.rules import BY_KEY, CUMULATIVE, RULES, cannot_work, rule_rows
from doseapp.notify.alerts import alert_email_status
from doseapp.models import Job, db
from doseapp.models.alerts import Alert
from doseapp.models.equipment import Equipment
from doseapp.security.safe_urls import same_site_or

bp = Blueprint("alerts", __name__)
PER_PAGE = 50
FILTER_ARGS = ("state", "modality", "rule", "system", "date_from", "date_until", "study_id")
# The patient dose history page (issue 18 item 4): /patients/history?study=<id> opens the history of
# that study's patient.
HISTORY_ENDPOINT = "patients.history_page"


def new_alert_count() -> int | None:
    """New alerts, for users who may see the alerts list (None for others); once per request."""
    if not roles.allowed(current_user, roles.ACCESS["alerts.index"]):
        return None
    if "new_alert_count" not in g:
        g.new_alert_count = review.new_count()
    return g.new_alert_count


@bp.app_context_processor
def _alerts_in_templates():
    return {"new_alert_count": new_alert_count, "study_alerts": study_alerts,
            "alert_state_labels": review.STATE_LABELS}


def study_alerts(study_id: int) -> list:
    """A study's alerts with their rule (the study page)."""
    rows = db.session.scalars(select(Alert).where(Alert.study_id == study_id).order_by(Alert.id)).all()
    return [(a, BY_KEY.get(a.rule_key)) for a in rows]


def _history_link(study):
    """The patient's dose history page (issue 18 item 4), for pid users, when that page exists."""
    if not study.patient_id or not roles.allowed(current_user, roles.any_of("pid")):
        return None
    if HISTORY_ENDPOINT in current_app.view_functions:
        return url_for(HISTORY_ENDPOINT, study=study.id)
    return None


@bp.route("/alerts")
def index():
    args = {k: (request.args.get(k) or "").strip() for k in FILTER_ARGS}
    if "state" not in request.args:
        args["state"] = "new"
    if args["state"] == "all":
        args["state"] = ""
    try:
        stmt = review.alert_query(args)
    except review.BadFilter as exc:
        flash(_("Filter ignored: %(reason)s", reason=exc))
        args = {k: "" for k in FILTER_ARGS}
        stmt = review.alert_query(args)
    try:
        page = max(1, int(request.args.get("page") or 1))
    except ValueError:
        page = 1
    count = db.session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    rows = db.session.execute(stmt.limit(PER_PAGE).offset((page - 1) * PER_PAGE)).all()
    counts = dict(db.session.execute(select(Alert.state, func.count()).group_by(Alert.state)).all())
    systems = db.session.scalars(select(Equipment.display_name).where(Equipment.display_name.isnot(None))
                                 .distinct().order_by(Equipment.display_name)).all()
    keep = {k: v for k, v in args.items() if v}
    keep["state"] = args["state"] or "all"
    emailed = alert_email_status([row[0].id for row in rows])
    return render_template("alerts/index.html", rows=rows, count=count, page=page, emailed=emailed,
                           pages=max(1, -(-count // PER_PAGE)), keep=keep, args=args, counts=counts,
                           rules=RULES, by_key=BY_KEY, systems=systems, labels=review.STATE_LABELS,
                           may_review=roles.allowed(current_user, roles.ACCESS["alerts.review_alert"]),
                           history_link=_history_link, endpoint="alerts.index")


@bp.route("/alerts/<int:alert_id>/review", methods=["POST"])
def review_alert(alert_id: int):
    alert = db.session.get(Alert, alert_id)
    if alert is None:
        abort(404)
    state = request.form.get("state", "reviewed")
    if state not in ("reviewed", "reported"):
        abort(400)
    review.change_state(alert, state, request.form.get("comment"))
    flash(_("Alert %(id)s: reviewed.", id=alert_id) if state == "reviewed" else
          _("Alert %(id)s: reported to the regulator.", id=alert_id))
    return redirect(same_site_or(request.form.get("next"), url_for("alerts.index")))


@bp.route("/config/alerts", methods=["GET", "POST"])
def rules():
    from doseapp.alerts.jobs import KIND, enqueue_reevaluation
    from doseapp.alerts.settings import set_rule

    rows = rule_rows()
    db.session.commit()
    if request.method == "POST":
        changed_any, errors = False, []
        for s in RULES:
            try:
                threshold = float(request.form[f"{s.key}-threshold"]) if s.has_threshold and \
                    request.form.get(f"{s.key}-threshold") else None
                weeks = int(request.form[f"{s.key}-weeks"]) if s.kind == CUMULATIVE and \
                    request.form.get(f"{s.key}-weeks") else None
                changed = set_rule(s.key, threshold=threshold, weeks=weeks,
                                   enabled=request.form.get(f"{s.key}-enabled") == "on")[1]
                changed_any = changed_any or bool(changed)
            except ValueError as exc:
                db.session.rollback()
                errors.append(_("%(rule)s: %(reason)s", rule=s.title, reason=exc))
        for e in errors:
            flash(e)
        if changed_any:
            try:
                job = enqueue_reevaluation(user_id=current_user.id)
                flash(_("Alert rules saved; every study is being evaluated again (existing alerts are kept)."))
                return redirect(url_for("jobs.status", job_id=job.id))
            except redis.RedisError as exc:
                flash(_("Alert rules saved, but the re-evaluation could not be queued (%(reason)s); "
                        "`doseapp alerts rule set` runs it.", reason=exc))
        elif not errors:
            flash(_("Nothing changed."))
        return redirect(url_for("alerts.rules"))
    jobs = db.session.scalars(select(Job).where(Job.kind == KIND).order_by(Job.id.desc()).limit(5)).all()
    return render_template("alerts/rules.html", specs=RULES, rows=rows, jobs=jobs,
                           cannot={s.key: cannot_work(s.key) for s in RULES})
