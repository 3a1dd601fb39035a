"""Periodic repairs the scheduler asks for."""
from __future__ import annotations

import datetime as dt

from rq.exceptions import NoSuchJobError
from rq.job import Job as RQJob
from sqlalchemy import delete, select

from doseapp.models import Job, db
from doseapp.models.base import utcnow
from doseapp.queues import redis_connection

# A queued job younger than this may not be in Redis yet (enqueue commits the row first).
GRACE = dt.timedelta(minutes=2)


def reconcile_jobs() -> int:
    """Mark rows 'failed' whose RQ job failed, was stopped or vanished. Returns how many changed."""
    conn = redis_connection()
    changed = 0
    cutoff = utcnow() - GRACE
    rows = db.session.scalars(select(Job).where(Job.status.in_(("queued", "started")), Job.created_at < cutoff))
    for row in rows:
        try:
            status = RQJob.fetch(row.rq_id, connection=conn).get_status(refresh=True)
        except NoSuchJobError:
            status = None
        status = getattr(status, "value", status)
        if status in ("queued", "started", "deferred", "scheduled"):
            continue
        if status == "finished":
            continue  # the job itself records its outcome; nothing to repair
        row.status = "cancelled" if row.cancel_requested else "failed"
        row.message = ("The worker running this job stopped before it finished." if status
                       else "The job was lost from the queue (Redis restarted?).")
        row.ended_at = utcnow()
        changed += 1
    db.session.commit()
    return changed


# Periodic jobs that did nothing are not worth a day of history each (one every minute or five).
QUIET_PERIODIC_KEEP = dt.timedelta(days=1)


def prune_jobs(keep_days: int) -> int:
    """Delete finished and cancelled job rows that ended more than `keep_days` ago, and the scheduler's
    own finished rows after a day; failed jobs stay until someone deletes them. Returns how many."""
    from doseapp.scheduler import PERIODIC

    now = utcnow()
    gone = db.session.execute(delete(Job).where(Job.status.in_(("finished", "cancelled")),
                                                Job.ended_at < now - dt.timedelta(days=keep_days))).rowcount
    gone += db.session.execute(delete(Job).where(Job.status == "finished", Job.kind.in_([k for k, _, _ in PERIODIC]),
                                                 Job.ended_at < now - QUIET_PERIODIC_KEEP)).rowcount
    db.session.commit()
    return gone
