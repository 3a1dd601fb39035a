"""Periodic repairs the scheduler asks for."""
from __future__ import annotations

import datetime as dt
import os

from rq.job import Job as RQJob
from sqlalchemy import delete, select

from doseapp.models import Job, db
from doseapp.models.base import utcnow
from doseapp.runtime.queues import (RECEIVED_IMPORT_RETRIES, RECEIVED_IMPORT_TIMEOUT, push,
                                     redis_connection)
from doseapp.display.timefmt import plural

# A queued job younger than this may not be in Redis yet (enqueue commits the row first).
GRACE = dt.timedelta(minutes=2)


RECONCILE_BATCH = 500


def reconcile_jobs(grace: dt.timedelta = GRACE) -> int:
    """Mark rows 'failed' whose RQ job failed, was stopped or vanished; an import of a received file
    that vanished from the queue while still waiting is put on it again instead. Returns how many
    changed.

    A busy receiver leaves one queued import row per object, so a backlog can be tens of thousands
    of rows: their RQ jobs are read RECONCILE_BATCH at a time in one Redis round trip each."""
    conn = redis_connection()
    changed = 0
    cutoff = utcnow() - grace
    waiting = db.session.execute(select(Job.id, Job.rq_id).where(Job.status.in_(("queued", "started")),
                                                                Job.created_at < cutoff).order_by(Job.id)).all()
    for start in range(0, len(waiting), RECONCILE_BATCH):
        chunk = waiting[start:start + RECONCILE_BATCH]
        found = RQJob.fetch_many([rq_id or "" for _, rq_id in chunk], connection=conn)
        for (job_id, _), rq_job in zip(chunk, found):
            status = rq_job.get_status(refresh=False) if rq_job is not None else None
            status = getattr(status, "value", status)
            if status in ("queued", "started", "deferred", "scheduled", "finished"):
                continue  # alive, or finished: the job itself records its outcome
            row = db.session.get(Job, job_id)
            if row is None or row.status not in ("queued", "started"):
                continue  # it moved on meanwhile
            if status is None and _requeue_received_import(row):
                changed += 1
                continue
            row.status = "cancelled" if row.cancel_requested else "failed"
            row.message = ("The worker running this job stopped before it finished." if status
                           else "The job was lost from the queue (Redis restarted?).")
            row.ended_at = utcnow()
            changed += 1
        db.session.commit()
    return changed


REQUEUED_MESSAGE = "Put on the queue again: it was lost from the queue before it ran."


def _requeue_received_import(row: Job) -> bool:
    """An import of a received object whose job never reached RQ (the receiver died between the
    commit and the push, after answering Success) or that Redis lost before it ran: the object is
    owed, so its job goes on the queue again rather than showing a failure. Once only."""
    path = (row.parameters or {}).get("path")
    if (row.kind != "import_file" or row.status != "queued" or row.cancel_requested
            or row.message == REQUEUED_MESSAGE or not path or not os.path.isfile(path)):
        return False
    row.rq_spec = (row.queue, row.id, row.rq_id, row.kind, RECEIVED_IMPORT_TIMEOUT, RECEIVED_IMPORT_RETRIES)
    push([row])
    row.message = REQUEUED_MESSAGE
    return True


# Periodic jobs that did nothing are not worth a day of history each (one every minute or five).
QUIET_PERIODIC_KEEP = dt.timedelta(days=1)


def prune_jobs(keep_days: int) -> int:
    """Delete finished and cancelled job rows that ended more than `keep_days` ago, and the scheduler's
    own finished rows after a day; failed jobs stay until someone deletes them. Returns how many."""
    from doseapp.runtime.scheduler import PERIODIC

    now = utcnow()
    gone = db.session.execute(delete(Job).where(Job.status.in_(("finished", "cancelled")),
                                                Job.ended_at < now - dt.timedelta(days=keep_days))).rowcount
    gone += db.session.execute(delete(Job).where(Job.status == "finished", Job.kind.in_([k for k, _, _ in PERIODIC]),
                                                 Job.ended_at < now - QUIET_PERIODIC_KEEP)).rowcount
    db.session.commit()
    return gone


def run_job(ctx) -> dict:
    """The periodic housekeeping job: reconcile job rows with RQ (a job whose worker died leaves its
    row 'started' for ever), and forget old finished jobs."""
    from flask import current_app

    fixed = reconcile_jobs()
    pruned = prune_jobs(current_app.config["JOB_HISTORY_DAYS"])
    ctx.row.message = (f"{plural(fixed, 'stale job')} marked failed or queued again; "
                       f"{plural(pruned, 'old job')} removed from the list.")
    return {"stale_jobs_marked": fixed, "old_jobs_removed": pruned}
