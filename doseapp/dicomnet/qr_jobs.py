"""Query-retrieve as jobs: start a query (web page, `doseapp qr`, the scheduler), run it, retrieve.

A query job stores the responses and stops for review (the web page's Retrieve button), or goes
straight on to the retrieve when asked to (the command line without --query-only, scheduled
queries). Scheduled queries are DicomScheduledQuery rows; the scheduler's periodic `qr_schedule`
job starts the ones that are due.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import logging

from sqlalchemy import select

from doseapp.dicomnet.qr_filter import QueryOptions
from doseapp.dicomnet.qr_manual import LEVELS, Criteria
from doseapp.models import DicomQuery, DicomScheduledQuery, Job, db
from doseapp.models.base import utcnow
from doseapp.display.timefmt import local_today, plural

log = logging.getLogger(__name__)


def new_query(remote_id: int, store_id: int | None, options: QueryOptions, *, method: str = "move",
              retrieve: bool = False, user_id: int | None = None, scheduled_id: int | None = None,
              enqueue_job: bool = True, criteria: Criteria | None = None) -> DicomQuery:
    """A DicomQuery row for `options` (a manual query at a level with `criteria`), and (by default)
    its job on the qr queue."""
    from doseapp.runtime.queues import enqueue

    parameters = dataclasses.asdict(options) | ({"manual": criteria.as_dict()} if criteria else {})
    query = DicomQuery(remote_node_id=remote_id, store_scp_id=store_id, parameters=parameters,
                       stage="Queued", scheduled_query_id=scheduled_id, retrieve_method=method)
    db.session.add(query)
    db.session.commit()
    if enqueue_job:
        title = (f"Query #{query.id} ({LEVELS[criteria.level].lower()} level)" if criteria
                 else f"Query-retrieve #{query.id}")
        job = enqueue("qr_query", queue="qr", title=title, user_id=user_id,
                      parameters={"query_id": query.id, "retrieve": retrieve, "method": method})
        query.job_id = job.id
        db.session.commit()
    return query


def run_again(query: DicomQuery, user_id: int | None) -> DicomQuery:
    """A new query with `query`'s remote, Store node, parameters and retrieve method (not its
    schedule: the copy is the user's own run)."""
    parameters = query.parameters or {}
    again = new_query(query.remote_node_id, query.store_scp_id, QueryOptions.from_dict(parameters),
                      method=query.retrieve_method or "move", user_id=user_id,
                      criteria=Criteria.from_parameters(parameters))
    log.info("Query #%s run again as query #%s by user %s", query.id, again.id, user_id)
    return again


def start_retrieve(query: DicomQuery, method: str, user_id: int | None = None,
                   studies: list[int] | None = None, series: list[int] | None = None) -> Job:
    """The retrieve job: everything the query kept, or only the ticked studies and series."""
    from doseapp.runtime.queues import enqueue

    parameters = {"query_id": query.id, "method": method}
    what = ""
    if studies is not None or series is not None:
        parameters.update(studies=sorted(studies or []), series=sorted(series or []))
        what = ", selected: " + ", ".join(p for p in (plural(len(studies or []), "study") if studies else "",
                                                       plural(len(series or []), "series") if series else "") if p)
    job = enqueue("qr_retrieve", queue="qr", title=f"Retrieve for query #{query.id} (C-{method.upper()}{what})",
                  user_id=user_id, parameters=parameters, timeout=24 * 3600)
    query.retrieve_job_id, query.retrieve_method = job.id, method
    query.stage = "Retrieve queued"
    db.session.commit()
    return job


def query_job(ctx) -> dict:
    """Run a query; with parameters["retrieve"], retrieve what it selects in the same job."""
    from doseapp.dicomnet.qr import run_query
    from doseapp.dicomnet.qr_retrieve import retrieve

    query = db.session.get(DicomQuery, ctx.parameters["query_id"])
    studies = run_query(query, ctx)
    result = {"query_id": query.id, "studies": len({s.study_instance_uid for s in studies}),
              # A manual query's counts only: its summary holds the patients' identifiers, and a job's
              # result is shown on the jobs page, which is not for the pid role only.
              "selected": (query.summary or {}).get("counts", {}) if criteria_of(query) else (query.summary or {})}
    if ctx.parameters.get("retrieve"):
        query.retrieve_job_id = ctx.row.id
        db.session.commit()
        result["retrieve"] = retrieve(query, ctx.parameters.get("method", "move"), ctx)
        result["by_modality"] = result["retrieve"]["by_modality"]
        ctx.row.message = query.message
    else:
        ctx.row.message = query.message
    return result


def criteria_of(query: DicomQuery) -> Criteria | None:
    return Criteria.from_parameters(query.parameters)


def retrieve_job(ctx) -> dict:
    from doseapp.dicomnet.qr_retrieve import Selection, retrieve

    query = db.session.get(DicomQuery, ctx.parameters["query_id"])
    result = retrieve(query, ctx.parameters.get("method", "move"), ctx, Selection.from_parameters(ctx.parameters))
    ctx.row.message = query.message
    return result


# --- scheduled queries ---------------------------------------------------------------------------

def options_for_run(saved: DicomScheduledQuery, today: dt.date) -> QueryOptions:
    """The saved options with the date range moved to the last `days_back` days up to today."""
    options = QueryOptions.from_dict(saved.parameters)
    options.date_from = (today - dt.timedelta(days=saved.days_back or 0)).strftime("%Y%m%d")
    options.date_until = today.strftime("%Y%m%d")
    return options


def start_due(now: dt.datetime | None = None, today: dt.date | None = None) -> list[DicomQuery]:
    """Start every enabled scheduled query that is due and not still running; returns the runs."""
    now = now or utcnow()
    today = today or local_today()  # the scanners' calendar day, for the date range
    started = []
    due = db.session.scalars(select(DicomScheduledQuery).where(
        DicomScheduledQuery.enabled.is_(True),
        (DicomScheduledQuery.next_run_at.is_(None)) | (DicomScheduledQuery.next_run_at <= now))).all()
    for saved in due:
        running = db.session.scalar(select(Job.id).join(DicomQuery, DicomQuery.job_id == Job.id).where(
            DicomQuery.scheduled_query_id == saved.id, Job.status.in_(("queued", "started"))).limit(1))
        if running is not None:
            continue  # the previous run is still going: never two at once
        saved.last_run_at = now
        saved.next_run_at = now + dt.timedelta(minutes=max(saved.interval_minutes or 60, 1))
        db.session.commit()
        started.append(new_query(saved.remote_node_id, saved.store_scp_id, options_for_run(saved, today),
                                 method=(saved.parameters or {}).get("method", "move"), retrieve=saved.retrieve,
                                 scheduled_id=saved.id))
        log.info("Scheduled query %s started as query #%s", saved.name, started[-1].id)
    return started


def schedule_job(ctx) -> dict:
    """The scheduler's periodic pass over scheduled queries."""
    runs = start_due()
    ctx.row.message = f"{plural(len(runs), 'scheduled query run')} started."
    return {"started": [q.id for q in runs]}
