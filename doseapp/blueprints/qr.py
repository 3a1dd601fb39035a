"""Query-retrieve (importqr): the query page with the C-ECHO status of every node, the review page
of one query (progress, counts per modality, every response with the reason it was dropped, the
Retrieve and Abort buttons), and the query history. Queries and retrieves run as jobs."""
from __future__ import annotations

import datetime as dt

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from doseapp.runtime import queues
from doseapp.dicomnet.qr_filter import MODALITY_CHOICES, MODALITY_LABELS, QueryOptions, terms
from doseapp.models import DicomQuery, DicomRemoteNode, DicomStoreScp, Job, db
from doseapp.display.timefmt import local_today

bp = Blueprint("qr", __name__, url_prefix="/qr")

HISTORY_SIZE = 100


class FormError(ValueError):
    pass


def _date(value: str | None, what: str) -> str | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value).strftime("%Y%m%d")
    except ValueError:
        raise FormError(f"The {what} date {value!r} is not a date.")


def _time(value: str | None) -> str | None:
    return value.replace(":", "")[:4] if value else None


def options_from_form(form) -> QueryOptions:
    """The query options from the query page (or the scheduled query form). Raises FormError."""
    sr_only = form.get("sr_only") == "on"
    modalities = [m for m in MODALITY_CHOICES if form.get(f"mod_{m}") == "on"]
    if not sr_only and not modalities:
        raise FormError("Choose at least one modality (or SR-only studies).")
    options = QueryOptions(modalities=[] if sr_only else modalities,
                           date_from=_date(form.get("date_from"), "from"), date_until=_date(form.get("date_until"), "until"),
                           time_from=_time(form.get("time_from")), time_until=_time(form.get("time_until")),
                           desc_include=terms(form.get("desc_include")), desc_exclude=terms(form.get("desc_exclude")),
                           station_include=terms(form.get("station_include")),
                           station_exclude=terms(form.get("station_exclude")),
                           toshiba=form.get("toshiba") == "on", sr_only=sr_only,
                           remove_duplicates=form.get("remove_duplicates") == "on")
    if options.date_from and options.date_until and options.date_from > options.date_until:
        raise FormError("The date range ends before it starts.")
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


def _query_or_404(query_id: int) -> DicomQuery:
    query = db.session.get(DicomQuery, query_id)
    if query is None:
        abort(404)
    return query


@bp.route("/", methods=["GET", "POST"])
def query_page():
    from doseapp.dicomnet.qr_jobs import new_query

    remotes, stores = _choices()
    error, form = None, request.form
    if request.method == "POST":
        try:
            remote = db.session.get(DicomRemoteNode, int(form.get("remote_id") or 0))
            store = db.session.get(DicomStoreScp, int(form.get("store_id") or 0))
            if remote is None or store is None:
                raise FormError("Choose the remote node to query and the Store node to retrieve to.")
            method = form.get("method", "move")
            if method not in ("move", "get") or not (remote.supports_get if method == "get" else remote.supports_move):
                raise FormError(f"{remote.name} is not set up for that way of retrieving.")
            options = options_from_form(form)
        except (FormError, ValueError) as exc:
            error = str(exc)
        else:
            query = new_query(remote.id, store.id, options, method=method, user_id=current_user.id)
            return redirect(url_for("qr.query_detail", query_id=query.id))
    yesterday = (local_today() - dt.timedelta(days=1)).isoformat()
    values = form if request.method == "POST" else {"date_from": yesterday, "remove_duplicates": "on", "method": "move"}
    return render_template("qr/query.html", remotes=remotes, stores=stores, error=error, o=values,
                           choices=MODALITY_CHOICES, labels=MODALITY_LABELS), (400 if error else 200)


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


@bp.route("/queries/<int:query_id>")
def query_detail(query_id: int):
    query = _query_or_404(query_id)
    job, retrieve_job = _jobs(query)
    show = request.args.get("show", "all")
    return render_template("qr/detail.html", query=query, job=job, retrieve_job=retrieve_job, show=show,
                           labels=MODALITY_LABELS)


@bp.route("/queries/<int:query_id>/progress")
def query_progress(query_id: int):
    query = _query_or_404(query_id)
    job, retrieve_job = _jobs(query)
    return render_template("qr/_progress.html", query=query, job=job, retrieve_job=retrieve_job, labels=MODALITY_LABELS)


@bp.route("/queries/<int:query_id>/retrieve", methods=["POST"])
def query_retrieve(query_id: int):
    """Retrieve by the method chosen with the query (the seed: changing the form now has no effect)."""
    from doseapp.dicomnet.qr_jobs import start_retrieve

    query = _query_or_404(query_id)
    _, retrieve_job = _jobs(query)
    if not query.complete or query.failed:
        flash("The query has not completed: there is nothing to retrieve yet.")
    elif retrieve_job is not None and retrieve_job.active:
        flash("The retrieve is already running.")
    else:
        start_retrieve(query, query.retrieve_method or "move", user_id=current_user.id)
    return redirect(url_for("qr.query_detail", query_id=query.id))


@bp.route("/queries/<int:query_id>/abort", methods=["POST"])
def query_abort(query_id: int):
    query = _query_or_404(query_id)
    for job in _jobs(query):
        if job is not None and job.active:
            queues.cancel(job)
            flash(f"{job.title}: abort requested.")
    return redirect(url_for("qr.query_detail", query_id=query.id))


@bp.route("/history")
def history():
    rows = db.session.scalars(select(DicomQuery).order_by(DicomQuery.id.desc()).limit(HISTORY_SIZE)).all()
    names = dict(db.session.execute(select(DicomRemoteNode.id, DicomRemoteNode.name)).all())
    return render_template("qr/history.html", queries=rows, names=names, labels=MODALITY_LABELS)
