"""Query-retrieve (importqr): the query page with the C-ECHO status of every node (a dose query
with OpenREM's rules, or a manual query at a level), the review page of one query (progress, every
response with the reason it was dropped, ticks, Retrieve selected / Retrieve and Abort), the query
history with its filters and Run again, and the retrieve jobs. Queries and retrieves run as jobs."""
from __future__ import annotations

import datetime as dt

from flask import Blueprint, abort, flash, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from doseapp import roles
from doseapp.lazy_text import lazy_gettext as _l
from doseapp.runtime import queues
from doseapp.dicomnet.qr_manual import Criteria, CriteriaError, by_patient
from doseapp.dicomnet.qr_filter import MODALITY_CHOICES, MODALITY_LABELS, QueryOptions, terms
from doseapp.models import DicomQuery, DicomRemoteNode, DicomStoreScp, Job, User, db
from doseapp.display.timefmt import local_today

bp = Blueprint("qr", __name__, url_prefix="/qr")

HISTORY_SIZE = 100
# The query levels (qr_manual.LEVELS, English in job titles) as pages name them.
LEVEL_LABELS = {"PATIENT": _l("Patient"), "STUDY": _l("Study"), "SERIES": _l("Series"), "IMAGE": _l("Image")}


class FormError(ValueError):
    pass


def _date(value: str | None, what: str) -> str | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value).strftime("%Y%m%d")
    except ValueError:
        raise FormError(_("The from date %(value)s is not a date.", value=repr(value)) if what == "from" else
                        _("The until date %(value)s is not a date.", value=repr(value)))


def _time(value: str | None) -> str | None:
    return value.replace(":", "")[:4] if value else None


def options_from_form(form, need_modality: bool = True) -> QueryOptions:
    """The query options from the query page (or the scheduled query form). Raises FormError. A
    manual query (need_modality False) may leave the modalities out: every modality."""
    sr_only = form.get("sr_only") == "on" and need_modality
    modalities = [m for m in MODALITY_CHOICES if form.get(f"mod_{m}") == "on"]
    if need_modality and not sr_only and not modalities:
        raise FormError(_("Choose at least one modality (or SR-only studies)."))
    options = QueryOptions(modalities=[] if sr_only else modalities,
                           date_from=_date(form.get("date_from"), "from"), date_until=_date(form.get("date_until"), "until"),
                           time_from=_time(form.get("time_from")), time_until=_time(form.get("time_until")),
                           desc_include=terms(form.get("desc_include")), desc_exclude=terms(form.get("desc_exclude")),
                           station_include=terms(form.get("station_include")),
                           station_exclude=terms(form.get("station_exclude")),
                           toshiba=form.get("toshiba") == "on", sr_only=sr_only,
                           remove_duplicates=form.get("remove_duplicates") == "on")
    if options.date_from and options.date_until and options.date_from > options.date_until:
        raise FormError(_("The date range ends before it starts."))
    return options


def option_values(parameters: dict) -> dict:
    """Saved query options as the form's field values (for the options partial)."""
    def iso(value):
        return f"{value[:4]}-{value[4:6]}-{value[6:8]}" if value else ""
    values = {f"mod_{m}": "on" for m in parameters.get("modalities") or []}
    values.update({k: ", ".join(parameters.get(k) or []) for k in
                   ("desc_include", "desc_exclude", "station_include", "station_exclude")})
    values.update({k: "on" for k in ("toshiba", "sr_only", "remove_duplicates") if parameters.get(k)})
    values.update(date_from=iso(parameters.get("date_from")), date_until=iso(parameters.get("date_until")),
                  method=parameters.get("method", "move"))
    return values


def _choices():
    remotes = db.session.scalars(select(DicomRemoteNode).where(DicomRemoteNode.enabled.is_(True))
                                 .order_by(DicomRemoteNode.name)).all()
    stores = db.session.scalars(select(DicomStoreScp).order_by(DicomStoreScp.name)).all()
    return remotes, stores


def may_see_patients() -> bool:
    """Patient identifiers, and searching by them, are for the pid role only."""
    return roles.allowed(current_user, roles.any_of("pid"))


def _criteria_from_form(form) -> Criteria | None:
    """A manual query's criteria (None: the dose query). A user without the pid role who sends
    patient criteria, or asks for the patient level, is refused (403), not silently ignored: the
    page never offers them those fields, so such a request is not the page's."""
    level = form.get("level") or ""
    if not level:
        if (form.get("patient_id") or form.get("patient_name")) and not may_see_patients():
            abort(403)
        if form.get("patient_id") or form.get("patient_name") or form.get("accession_number"):
            raise FormError(_("Patient and accession criteria are for a query at a level: choose the level."))
        return None
    try:
        criteria = Criteria.read(level, patient_id=form.get("patient_id"), patient_name=form.get("patient_name"),
                                 accession_number=form.get("accession_number"))
    except CriteriaError as exc:
        raise FormError(str(exc))
    if criteria.needs_pid and not may_see_patients():
        abort(403)
    return criteria


def _query_or_404(query_id: int) -> DicomQuery:
    query = db.session.get(DicomQuery, query_id)
    if query is None:
        abort(404)
    return query


@bp.route("/", methods=["GET", "POST"])
def query_page():
    from doseapp.dicomnet.qr_jobs import new_query

    remotes, stores = _choices()
    queryable = [r for r in remotes if r.supports_find]
    error, form = None, request.form
    if request.method == "POST":
        criteria = None
        try:
            criteria = _criteria_from_form(form)
            remote = db.session.get(DicomRemoteNode, int(form.get("remote_id") or 0))
            store = db.session.get(DicomStoreScp, int(form.get("store_id") or 0))
            if remote is None or store is None:
                raise FormError(_("Choose the remote node to query and the Store node to retrieve to."))
            if not remote.supports_find:
                raise FormError(_("%(name)s is set up without C-FIND: it cannot be queried.", name=remote.name))
            method = form.get("method", "move")
            if method not in ("move", "get") or not (remote.supports_get if method == "get" else remote.supports_move):
                raise FormError(_("%(name)s is not set up for that way of retrieving.", name=remote.name))
            options = options_from_form(form, need_modality=criteria is None)
        except (FormError, ValueError) as exc:
            error = str(exc)
        else:
            query = new_query(remote.id, store.id, options, method=method, user_id=current_user.id, criteria=criteria)
            return redirect(url_for("qr.query_detail", query_id=query.id))
    yesterday = (local_today() - dt.timedelta(days=1)).isoformat()
    values = form if request.method == "POST" else {"date_from": yesterday, "remove_duplicates": "on", "method": "move"}
    return render_template("qr/query.html", remotes=queryable, no_find=[r for r in remotes if not r.supports_find],
                           stores=stores, error=error, o=values, choices=MODALITY_CHOICES, labels=MODALITY_LABELS,
                           levels=LEVEL_LABELS, show_pid=may_see_patients()), (400 if error else 200)


@bp.route("/echo")
def echo_status():
    """C-ECHO every enabled remote node and every Store node (loaded by the query page)."""
    from doseapp.dicomnet.nodes import echo, echo_address
    from doseapp.dicomnet.qr import echo_remote

    remotes, stores = _choices()
    remote_rows = [(r, echo_remote(r)[0]) for r in remotes]
    store_rows = [(s, echo(echo_address(s), s.port, s.aetitle, timeout=5)[0]) for s in stores]
    db.session.commit()
    return render_template("qr/_echo.html", remote_rows=remote_rows, store_rows=store_rows)


def _jobs(query: DicomQuery) -> tuple[Job | None, Job | None]:
    return (db.session.get(Job, query.job_id) if query.job_id else None,
            db.session.get(Job, query.retrieve_job_id) if query.retrieve_job_id else None)


def _busy(query: DicomQuery) -> bool:
    return any(job is not None and job.active for job in _jobs(query))


@bp.route("/queries/<int:query_id>")
def query_detail(query_id: int):
    query = _query_or_404(query_id)
    job, retrieve_job = _jobs(query)
    return render_template("qr/detail.html", query=query, job=job, retrieve_job=retrieve_job, labels=MODALITY_LABELS,
                           criteria=Criteria.from_parameters(query.parameters), levels=LEVEL_LABELS,
                           show_pid=may_see_patients(), busy=_busy(query), patient_groups=by_patient(query))


@bp.route("/queries/<int:query_id>/progress")
def query_progress(query_id: int):
    query = _query_or_404(query_id)
    job, retrieve_job = _jobs(query)
    resp = make_response(render_template("qr/_progress.html", query=query, job=job, retrieve_job=retrieve_job,
                                         labels=MODALITY_LABELS))
    if request.args.get("polling") and not _busy(query):
        # The page was drawn while a job ran: draw it again, with the responses to tick.
        resp.headers["HX-Refresh"] = "true"
    return resp


def _ticked(query: DicomQuery) -> tuple[list[int], list[int]]:
    """The ticked study and series rows that belong to this query (other ids are ignored)."""
    def ids(name):
        return {int(v) for v in request.form.getlist(name) if v.isdigit()}
    studies, series = ids("study"), ids("series")
    mine_studies = [s.id for s in query.studies if s.id in studies]
    mine_series = [se.id for s in query.studies for se in s.series if se.id in series]
    return mine_studies, mine_series


@bp.route("/queries/<int:query_id>/retrieve", methods=["POST"])
def query_retrieve(query_id: int):
    """Retrieve by the method chosen with the query (the seed: changing the form now has no effect):
    everything it kept, or ("selected") only the ticked studies and series."""
    from doseapp.dicomnet.qr_jobs import start_retrieve

    query = _query_or_404(query_id)
    retrieve_job = _jobs(query)[1]
    selected = request.form.get("selected") is not None
    studies, series = _ticked(query) if selected else (None, None)
    if not query.complete or query.failed:
        flash(_("The query has not completed: there is nothing to retrieve yet."))
    elif retrieve_job is not None and retrieve_job.active:
        flash(_("The retrieve is already running."))
    elif selected and not (studies or series):
        flash(_("Tick the studies or series to retrieve first."))
    else:
        start_retrieve(query, query.retrieve_method or "move", user_id=current_user.id, studies=studies, series=series)
    return redirect(url_for("qr.query_detail", query_id=query.id))


@bp.route("/queries/<int:query_id>/again", methods=["POST"])
def query_again(query_id: int):
    """Run a past query again: the same remote, Store node and parameters, as a new query."""
    from doseapp.dicomnet.qr_jobs import run_again

    query = _query_or_404(query_id)
    criteria = Criteria.from_parameters(query.parameters)
    if criteria is not None and criteria.needs_pid and not may_see_patients():
        abort(403)
    if criteria is not None and criteria.removed:
        flash(_("Query #%(id)s cannot run again: its %(criteria)s. Start a new query with them.", id=query.id,
                criteria=criteria.describe(True)))
        return redirect(url_for("qr.query_detail", query_id=query.id))
    remote = db.session.get(DicomRemoteNode, query.remote_node_id) if query.remote_node_id else None
    if remote is None or not remote.enabled or not remote.supports_find:
        flash(_("The remote node of this query no longer exists, is disabled or is set up without C-FIND."))
        return redirect(url_for("qr.history"))
    again = run_again(query, current_user.id)
    flash(_("Query #%(id)s is running again as query #%(new)s.", id=query.id, new=again.id))
    return redirect(url_for("qr.query_detail", query_id=again.id))


@bp.route("/queries/<int:query_id>/abort", methods=["POST"])
def query_abort(query_id: int):
    query = _query_or_404(query_id)
    for job in _jobs(query):
        if job is not None and job.active:
            queues.cancel(job)
            flash(_("%(job)s: abort requested.", job=job.title))
    return redirect(url_for("qr.query_detail", query_id=query.id))


HISTORY_STATUSES = {"running": _l("Running"), "complete": _l("Complete"), "failed": _l("Failed")}


def _history_filters(args) -> tuple[dict, list]:
    """The history's filters from the request (remote, dates, status, user) and their SQL conditions."""
    values = {k: (args.get(k) or "").strip() for k in ("remote", "date_from", "date_until", "status", "user")}
    conditions = []
    if values["remote"].isdigit():
        conditions.append(DicomQuery.remote_node_id == int(values["remote"]))
    for key, compare in (("date_from", lambda d: DicomQuery.created_at >= d),
                         ("date_until", lambda d: DicomQuery.created_at < d + dt.timedelta(days=1))):
        try:
            day = dt.date.fromisoformat(values[key]) if values[key] else None
        except ValueError:
            values[key] = ""  # not a date: no filter, and the field shows empty
            continue
        if day is not None:
            conditions.append(compare(dt.datetime.combine(day, dt.time())))
    if values["status"] == "running":
        conditions.append(Job.status.in_(("queued", "started")))
    elif values["status"] == "failed":
        conditions.append(DicomQuery.failed.is_(True) | (Job.status == "failed"))
    elif values["status"] == "complete":
        conditions.append(DicomQuery.complete.is_(True) & DicomQuery.failed.is_(False))
    if values["user"] == "scheduler":
        conditions.append(DicomQuery.scheduled_query_id.is_not(None))
    elif values["user"].isdigit():
        conditions.append(Job.user_id == int(values["user"]))
    return values, conditions


@bp.route("/history")
def history():
    values, conditions = _history_filters(request.args)
    rows = db.session.execute(select(DicomQuery, Job.user_id).outerjoin(Job, Job.id == DicomQuery.job_id)
                              .where(*conditions).order_by(DicomQuery.id.desc()).limit(HISTORY_SIZE)).all()
    names = dict(db.session.execute(select(DicomRemoteNode.id, DicomRemoteNode.name)).all())
    users = dict(db.session.execute(select(User.id, User.username).where(
        User.id.in_(select(Job.user_id).where(Job.kind == "qr_query")))).all())
    return render_template("qr/history.html", rows=rows, names=names, users=users, f=values,
                           statuses=HISTORY_STATUSES, labels=MODALITY_LABELS, levels=LEVEL_LABELS,
                           show_pid=may_see_patients(), criteria_words=_criteria_words, needs_pid=_needs_pid,
                           can_run_again=_can_run_again)


def _criteria_words(parameters: dict, show_pid: bool) -> str:
    criteria = Criteria.from_parameters(parameters)
    return criteria.describe(show_pid) if criteria else ""


def _needs_pid(parameters: dict) -> bool:
    criteria = Criteria.from_parameters(parameters)
    return bool(criteria and criteria.needs_pid)


def _can_run_again(parameters: dict) -> bool:
    criteria = Criteria.from_parameters(parameters)
    return not (criteria and criteria.removed)


RETRIEVE_JOBS_SIZE = 100


def retrieve_counts(job: Job) -> dict:
    """A retrieve job's counts (requested, received, failed...): a query job that went on to
    retrieve keeps them under "retrieve" once finished."""
    result = job.result or {}
    return result.get("retrieve") or result


def _retrieve_rows() -> list[tuple[Job, int | None, dict]]:
    jobs = db.session.scalars(select(Job).where(Job.kind.in_(("qr_retrieve", "qr_query")))
                              .order_by(Job.id.desc()).limit(RETRIEVE_JOBS_SIZE * 2)).all()
    rows = [(job, (job.parameters or {}).get("query_id"), retrieve_counts(job)) for job in jobs
            if job.kind == "qr_retrieve" or (job.parameters or {}).get("retrieve")]
    return rows[:RETRIEVE_JOBS_SIZE]


@bp.route("/retrieves")
def retrieve_jobs():
    """Retrieves running and done: objects received of those expected, status, errors, the query."""
    return render_template("qr/retrieves.html", rows=_retrieve_rows())


@bp.route("/retrieves/table")
def retrieve_jobs_table():
    return render_template("qr/_retrieves_table.html", rows=_retrieve_rows())
