"""RQ plumbing: the Redis connection, the queues, and the job table that mirrors each RQ job.

Every background task is enqueued through enqueue(): it writes a Job row first (so the UI can show
it at once), then puts `doseapp.runtime.jobs.execute(job_id)` on RQ. The job functions are named in
runtime/kinds.py, live with the code they drive, and report progress through a JobContext.
"""
from __future__ import annotations

import functools
import logging
import os
import uuid

import redis
from flask import current_app
from rq import Queue, Retry
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job as RQJob

from doseapp.models import Job, db
from doseapp.models.base import utcnow
from doseapp.runtime import embedded_redis
from doseapp.runtime.kinds import JOB_KINDS

log = logging.getLogger(__name__)

QUEUE_NAMES = ("import", "export", "qr", "default")


class JobCancelled(Exception):
    """Raised inside a job when a user asked to cancel it."""


def redis_url(app=None) -> str:
    app = app or current_app
    return app.config["REDIS_URL"] or embedded_redis.ensure_running(app.config["INSTANCE"])


@functools.lru_cache(maxsize=8)
def _connection_for(url: str, pid: int) -> redis.Redis:
    return redis.Redis.from_url(url)


def redis_connection(app=None) -> redis.Redis:
    """This process's connection to the instance's Redis (a new one after a fork)."""
    return _connection_for(redis_url(app), os.getpid())


def queue_name(name: str, app=None) -> str:
    if name not in QUEUE_NAMES:
        raise ValueError(f"unknown queue {name!r}")
    return (app or current_app).config["QUEUE_PREFIX"] + name


def get_queue(name: str, app=None) -> Queue:
    return Queue(queue_name(name, app), connection=redis_connection(app))


# An import of a received object: retried (the file is on disk, the import is idempotent), and
# put on RQ again by housekeeping if it is lost from the queue before it runs.
RECEIVED_IMPORT_RETRIES = 3
RECEIVED_IMPORT_TIMEOUT = 3600


def add_job(kind: str, *, queue: str = "default", title: str | None = None, user_id: int | None = None,
            parameters: dict | None = None, modality: str | None = None, retries: int = 0,
            timeout: int = 3600) -> Job:
    """Add a job's row to the session (flushed for its id, not committed); `push` then puts it on
    RQ once the caller has committed. `kind` is one of runtime/kinds.py."""
    if kind not in JOB_KINDS:
        raise ValueError(f"unknown job kind {kind!r}")
    # RQ job keys are global in Redis: a row id alone would collide between instances sharing one
    # Redis, or with an earlier database whose ids started again at 1. Made before the INSERT, so the
    # row is written once (an id-based key would need an UPDATE after the flush).
    row = Job(kind=kind, queue=queue, title=title or kind, user_id=user_id, parameters=parameters or {},
              modality=modality, status="queued", rq_id=f"doseapp-{uuid.uuid4().hex}")
    db.session.add(row)
    db.session.flush()
    # What push() needs, kept as a plain attribute: the commit expires the mapped ones, and reading
    # them back would cost a SELECT per job.
    row.rq_spec = (queue, row.id, row.rq_id, kind, timeout, retries)
    return row


def push(rows: list[Job]) -> None:
    """Put committed job rows (from add_job) on their RQ queues: one Redis round trip per queue."""
    by_queue: dict[str, list] = {}
    for row in rows:
        by_queue.setdefault(row.rq_spec[0], []).append(row.rq_spec)
    for name, specs in by_queue.items():
        datas = [Queue.prepare_data(
            "doseapp.runtime.jobs.execute", (job_id, rq_id), job_id=rq_id, timeout=timeout,
            retry=Retry(max=retries, interval=[10, 30, 60][:retries] or None) if retries else None,
            description=f"{kind} #{job_id}") for _, job_id, rq_id, kind, timeout, retries in specs]
        get_queue(name).enqueue_many(datas)


QUEUE_DOWN_MESSAGE = "Not started: the job queue (Redis) was not answering."


def enqueue(kind: str, **options) -> Job:
    """Record a job and put it on RQ (one commit). Options as add_job. Raises redis.RedisError when
    Redis is down, after marking the row failed (it would never run)."""
    row = add_job(kind, **options)
    db.session.commit()
    try:
        push([row])
    except redis.RedisError:
        row.status, row.message, row.ended_at = "failed", QUEUE_DOWN_MESSAGE, utcnow()
        db.session.commit()
        raise
    return row


def cancel(row: Job) -> None:
    """Cancel a queued job outright; ask a running one to stop at its next progress report."""
    if not row.active:
        return
    row.cancel_requested = True
    if row.status == "queued":
        try:
            RQJob.fetch(row.rq_id, connection=redis_connection()).cancel()
            row.status, row.ended_at, row.message = "cancelled", utcnow(), "Cancelled before it started."
        except (NoSuchJobError, InvalidJobOperation):
            pass  # already picked up by a worker: it will see cancel_requested
    db.session.commit()


class JobContext:
    """Handed to every job function: report progress, learn of cancellation."""

    def __init__(self, row: Job):
        self.row = row
        self.failure: str | None = None

    def fail(self, message: str) -> None:
        """Record the job as failed, with `message`, once the function returns. For an outcome the job
        has dealt with (a bad file is in quarantine): raising instead would have RQ retry it."""
        self.failure = message

    @property
    def parameters(self) -> dict:
        return self.row.parameters or {}

    def progress(self, done: int, total: int | None = None, message: str | None = None) -> None:
        """Record progress (committed at once, so the UI sees it) and stop if cancelled."""
        row = self.row
        row.progress_done = done
        if total is not None:
            row.progress_total = total
        if row.progress_total:
            row.progress = min(1.0, done / row.progress_total)
        if message is not None:
            row.message = message
        db.session.commit()
        db.session.refresh(row, ["cancel_requested"])
        if row.cancel_requested:
            raise JobCancelled()
