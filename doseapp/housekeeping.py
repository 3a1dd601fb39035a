"""Periodic repairs the scheduler asks for."""
from __future__ import annotations

import datetime as dt

from rq.exceptions import NoSuchJobError
from rq.job import Job as RQJob
from sqlalchemy import select

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
