"""The scheduler process: enqueues periodic jobs. Several may run (one per machine); a lease in
Redis makes exactly one of them act at a time."""
from __future__ import annotations

import logging
import os
import socket
import threading
import time

from flask import Flask
from sqlalchemy import exists, select

from doseapp.models import Job, db
from doseapp.runtime.queues import enqueue, redis_connection

log = logging.getLogger(__name__)

# (job kind, queue, seconds between runs)
PERIODIC = (
    ("housekeeping", "default", 300),
    ("scp_storage_cleanup", "default", 3600),
    ("qr_schedule", "qr", 60),  # starts the scheduled queries that are due
    ("email_outbox", "default", 60),
    ("toshiba_settle", "import", 30),  # builds held Toshiba CT studies whose objects have all arrived  # sends due e-mails, retries failed ones, queues the daily digests
)
LEASE_SECONDS = 30
TICK_SECONDS = 5


def _key(app: Flask, name: str) -> str:
    return f"{app.config['QUEUE_PREFIX']}doseapp:scheduler:{name}"


def tick(app: Flask, token: str) -> list[str]:
    """One pass: renew or take the lease; if ours, enqueue what is due. Returns kinds enqueued."""
    conn = redis_connection(app)
    lease = _key(app, "leader")
    if not conn.set(lease, token, nx=True, ex=LEASE_SECONDS):
        if conn.get(lease) != token.encode():
            return []
        conn.expire(lease, LEASE_SECONDS)
    enqueued = []
    now = time.time()
    for kind, queue, every in PERIODIC:
        last_key = _key(app, f"last:{kind}")
        last = float(conn.get(last_key) or 0)
        if now - last < every:
            continue
        conn.set(last_key, now)
        busy = db.session.scalar(select(exists().where(Job.kind == kind, Job.status.in_(("queued", "started")))))
        if not busy:
            enqueue(kind, queue=queue, title=f"Periodic {kind}")
            enqueued.append(kind)
    return enqueued


def run(app: Flask, stop: threading.Event | None = None) -> None:
    stop = stop or threading.Event()
    token = f"{socket.gethostname()}:{os.getpid()}"
    log.info("Scheduler started (%s)", token)
    with app.app_context():
        while not stop.is_set():
            try:
                for kind in tick(app, token):
                    log.info("Enqueued periodic job %s", kind)
            except Exception:  # keep scheduling: one bad pass must not end the process
                log.exception("Scheduler pass failed; trying again in %s s", TICK_SECONDS)
                db.session.rollback()
            finally:
                db.session.remove()
            stop.wait(TICK_SECONDS)
    log.info("Scheduler stopped")
