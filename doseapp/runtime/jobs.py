"""RQ's entry point. RQ runs execute(job_id); it looks the job's kind up in runtime/kinds.py and calls
that function (in ingest/, exports/, dicomnet/...) with a JobContext."""
from __future__ import annotations

import importlib
import logging
import os
import traceback

from sqlalchemy import func, select

from doseapp.models import db, Job
from doseapp.models.base import utcnow
from doseapp.runtime.kinds import JOB_KINDS
from doseapp.runtime.queues import JobCancelled, JobContext
from doseapp.display.timefmt import plural

log = logging.getLogger(__name__)

_app = None
_app_pid = None


def _worker_app():
    """The Flask app for job code. RQ forks a work horse per job: the horse must not reuse the
    parent's database connections, so the pool is dropped (without closing them) after a fork."""
    global _app, _app_pid
    from doseapp import create_app

    if _app is None:
        _app = create_app()
        _app_pid = os.getpid()
    elif _app_pid != os.getpid():
        with _app.app_context():
            db.engine.dispose(close=False)
        _app_pid = os.getpid()
    return _app


def use_app(app) -> None:
    """Make `app` the one job code runs in (called by the worker before it forks horses)."""
    global _app, _app_pid
    _app, _app_pid = app, os.getpid()


def execute(job_id: int, rq_id: str | None = None) -> dict | None:
    """Run one recorded job: mark it started, call its function, record the outcome."""
    from flask import has_app_context

    if has_app_context():
        return _execute(job_id, rq_id)
    with _worker_app().app_context():
        return _execute(job_id, rq_id)


def _execute(job_id: int, rq_id: str | None) -> dict | None:
    row = db.session.get(Job, job_id)
    # The row must be the one this RQ job was made for: a database restored or recreated since may
    # have given its id to another job.
    if row is None or (rq_id is not None and row.rq_id != rq_id):
        log.warning("job %s (%s) has no row of its own (deleted?); nothing to do", job_id, rq_id)
        return None
    if row.cancel_requested or row.status == "cancelled":
        _finish(row, "cancelled", "Cancelled before it started.")
        return None
    row.status, row.started_at, row.message = "started", utcnow(), None
    db.session.commit()
    ctx = JobContext(row)
    try:
        result = job_function(row.kind)(ctx)
    except JobCancelled:
        db.session.rollback()
        _finish(db.session.get(Job, job_id), "cancelled", "Cancelled by a user.")
        return None
    except Exception as exc:
        db.session.rollback()
        row = db.session.get(Job, job_id)
        row.result = {"error": str(exc), "traceback": traceback.format_exc(limit=20)}
        _finish(row, "failed", f"Failed: {exc}")
        raise  # RQ records the failure too, and retries where the job was enqueued with retries
    row.result = result
    if ctx.failure is not None:
        _finish(row, "failed", ctx.failure)
    else:
        _finish(row, "finished", row.message or "Done.")
    return result


def _finish(row: Job, status: str, message: str) -> None:
    row.status, row.message, row.ended_at = status, message, utcnow()
    if status == "finished":
        row.progress = 1.0
    db.session.commit()


def job_function(kind: str):
    """The function that runs jobs of `kind` (imported on first use)."""
    module, _, name = JOB_KINDS[kind].partition(":")
    return getattr(importlib.import_module(module), name)


def system_check(ctx: JobContext) -> dict:
    """Count the rows of every table, reporting progress per table: proves the whole job path
    (web -> Redis -> worker -> database -> web) works, and shows how big the database is."""
    tables = sorted(db.metadata.tables.values(), key=lambda t: t.name)
    counts = {}
    ctx.progress(0, len(tables), "Counting rows")
    for n, table in enumerate(tables, start=1):
        counts[table.name] = db.session.scalar(select(func.count()).select_from(table))
        ctx.progress(n, len(tables), f"Counted {table.name}")
    ctx.row.message = f"{plural(sum(counts.values()), 'row')} in {plural(len(counts), 'table')}."
    return {"row_counts": counts, "worker_pid": os.getpid()}
