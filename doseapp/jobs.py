"""RQ entry points. RQ runs execute(job_id); it looks the job's kind up in JOB_KINDS and calls that
thin function with a JobContext. Heavy work lives in ingest/, exports/ and dicomnet/."""
from __future__ import annotations

import logging
import os
import traceback

from sqlalchemy import func, select

from doseapp.models import db, Job
from doseapp.models.base import utcnow
from doseapp.queues import JobCancelled, JobContext

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
    # RQ forks a work horse per job: what is imported here is imported once, not in every horse
    # (importing the importer costs more than importing one dose report).
    import doseapp.ingest  # noqa: F401
    import doseapp.studies  # noqa: F401


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
        result = JOB_KINDS[row.kind](ctx)
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
    _finish(row, "finished", row.message or "Done.")
    return result


def _finish(row: Job, status: str, message: str) -> None:
    row.status, row.message, row.ended_at = status, message, utcnow()
    if status == "finished":
        row.progress = 1.0
    db.session.commit()


# --- job functions -------------------------------------------------------------------------------

def system_check(ctx: JobContext) -> dict:
    """Count the rows of every table, reporting progress per table: proves the whole job path
    (web -> Redis -> worker -> database -> web) works, and shows how big the database is."""
    tables = sorted(db.metadata.tables.values(), key=lambda t: t.name)
    counts = {}
    ctx.progress(0, len(tables), "Counting rows")
    for n, table in enumerate(tables, start=1):
        counts[table.name] = db.session.scalar(select(func.count()).select_from(table))
        ctx.progress(n, len(tables), f"Counted {table.name}")
    ctx.row.message = f"{sum(counts.values())} rows in {len(counts)} tables."
    return {"row_counts": counts, "worker_pid": os.getpid()}


def housekeeping(ctx: JobContext) -> dict:
    """Reconcile job rows with RQ (a job whose worker died leaves its row 'started' for ever), and
    forget old finished jobs."""
    from flask import current_app

    from doseapp.housekeeping import prune_jobs, reconcile_jobs

    fixed = reconcile_jobs()
    pruned = prune_jobs(current_app.config["JOB_HISTORY_DAYS"])
    ctx.row.message = f"{fixed} stale job(s) marked failed; {pruned} old job(s) removed from the list."
    return {"stale_jobs_marked": fixed, "old_jobs_removed": pruned}


def import_file(ctx: JobContext) -> dict:
    """Import one file; the same function serves `doseapp import --queue` and the DICOM receiver."""
    from doseapp.ingest import import_file as do_import

    p = ctx.parameters
    result = do_import(p["path"], source=p.get("source", "cli"), owned=p.get("owned", False),
                       layout=p.get("layout"))
    ctx.row.message = f"{result.status}: {result.reason}" if result.reason else result.status
    # One object: done is done. Written by the finishing commit, not a progress commit of its own
    # (a busy receiver queues tens of these a second).
    ctx.row.progress_done = ctx.row.progress_total = 1
    return result.as_dict()


def reprocess_dual(ctx: JobContext) -> dict:
    """Re-sort the DX/RF studies of the chosen systems (Dual or automatic modality)."""
    from doseapp.config_modality import resort

    return resort(ctx)



def scp_storage_cleanup(ctx: JobContext) -> dict:
    """Delete objects kept by Store SCP nodes that are older than each node's retention period."""
    from doseapp.dicomnet.upkeep import cleanup_kept

    report = cleanup_kept()
    removed = sum(r["files_removed"] for r in report.values())
    ctx.row.message = f"{removed} kept object(s) past retention removed."
    return report


def size_import(ctx: JobContext) -> dict:
    """Import patient heights and weights from an uploaded CSV (progress, abort, log file)."""
    from doseapp.ingest.size_csv import run_job

    return run_job(ctx)


def export(ctx: JobContext) -> dict:
    """Write one export file (CSV, XLSX or NHSBSP) from the list filters it was started with; progress
    per batch; an aborted or failed export leaves no file."""
    from doseapp.exports.jobs import run_job

    return run_job(ctx)


def qr_query(ctx: JobContext) -> dict:
    """Query a remote node, filter by OpenREM's rules, store the responses (and retrieve if asked)."""
    from doseapp.dicomnet.qr_jobs import query_job

    return query_job(ctx)


def qr_retrieve(ctx: JobContext) -> dict:
    """Retrieve what a reviewed query selected, by C-MOVE or C-GET."""
    from doseapp.dicomnet.qr_jobs import retrieve_job

    return retrieve_job(ctx)


def qr_schedule(ctx: JobContext) -> dict:
    """Start the scheduled queries that are due."""
    from doseapp.dicomnet.qr_jobs import schedule_job

    return schedule_job(ctx)


JOB_KINDS = {
    "export": export,
    "size_import": size_import,
    "system_check": system_check,
    "housekeeping": housekeeping,
    "import_file": import_file,
    "scp_storage_cleanup": scp_storage_cleanup,
    "reprocess_dual": reprocess_dual,
    "qr_query": qr_query,
    "qr_retrieve": qr_retrieve,
    "qr_schedule": qr_schedule,
}
