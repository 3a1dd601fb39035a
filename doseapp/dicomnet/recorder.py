"""Group commit for received objects: what makes an object certain after its bytes are on disk.

Each C-STORE handler (one thread per association) writes and fsyncs its file, then hands it here
and waits. One recorder thread takes whatever has arrived meanwhile, from every association, and
for the whole group: fsyncs the spool folder once (the renames survive a power cut) and commits the
import job rows and transaction-log rows in one transaction. Then the handlers answer Success, and
while the answers travel the recorder puts the group's jobs on RQ in one Redis round trip. With one
association a group is one object and nothing is shared; with several, the folder fsync, the commit
and the Redis round trip are, which is where a busy receiver's time went.

An object is acknowledged once it is on disk and its import job row is committed: that row is the
durable record that the import is owed (the Redis queue keeps nothing on disk anyway). With Redis
down, the group's job rows are replaced by pending rows, which the supervisor's sweeper queues once
Redis is back. If the process dies between the commit and the push, housekeeping finds the job rows
missing from RQ and puts them on it again (the files are in the spool); the spool-orphan sweep
(upkeep.py) queues any file that has no job at all.
With the database down, the handlers get the error and answer a failure; the files are removed.
"""
from __future__ import annotations

import logging
import os
import queue
import threading
from dataclasses import dataclass, field
from pathlib import Path

import redis
from flask import Flask
from sqlalchemy import delete

from doseapp.runtime import queues
from doseapp.models import DicomPendingObject, DicomTransaction, Job, db

log = logging.getLogger(__name__)

MAX_GROUP = 64
IDLE_SECONDS = 30.0  # the thread ends when nothing arrives for this long (and starts again on demand)
PENDING_MESSAGE = "Received; import queued later (the job queue was unavailable)."


@dataclass
class Received:
    """One object on disk, waiting to be recorded; `done` is set once it is (or it failed)."""
    path: Path
    parameters: dict
    title: str
    log_row: DicomTransaction  # its transaction-log row, not yet in any session
    done: threading.Event = field(default_factory=threading.Event)  # recorded (or failed): answer now
    pushed: threading.Event = field(default_factory=threading.Event)  # then queued on RQ, or made pending
    queued: bool = False  # set before `pushed`: on RQ (False: a pending row instead)
    error: BaseException | None = None


def fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Recorder:
    """The recorder thread of one node (see the module docstring)."""

    def __init__(self, app: Flask, node_id: int, spool: Path):
        self.app = app
        self.node_id = node_id
        self.spool = spool
        self._inbox: queue.SimpleQueue[Received] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._running = False

    def record(self, item: Received) -> None:
        """Block until `item` is recorded (its import job row committed); `item.pushed` is set once
        the job is on RQ or, with Redis down, pending. Raises what recording raised (the database
        could not be written)."""
        with self._lock:
            self._inbox.put(item)
            if not self._running:
                self._running = True
                threading.Thread(target=self._run, daemon=True, name="recorder").start()
        item.done.wait()
        if item.error is not None:
            raise item.error

    def _run(self) -> None:
        while True:
            try:
                first = self._inbox.get(timeout=IDLE_SECONDS)
            except queue.Empty:
                with self._lock:
                    if self._inbox.empty():
                        self._running = False
                        return
                continue
            group = [first]
            while len(group) < MAX_GROUP:
                try:
                    group.append(self._inbox.get_nowait())
                except queue.Empty:
                    break
            with self.app.app_context():
                try:
                    jobs = self._commit(group)
                except BaseException as exc:  # handed to each waiting handler, which answers a failure
                    log.exception("Could not record %d received object(s)", len(group))
                    for item in group:
                        item.error = exc
                    jobs = None
                for item in group:
                    item.done.set()
                if jobs is not None:
                    self._push(group, jobs)
                for item in group:
                    item.pushed.set()

    def _commit(self, group: list[Received]) -> list[Job]:
        fsync_folder(self.spool)
        try:
            jobs = [queues.add_job("import_file", queue="import", title=item.title,
                                   retries=queues.RECEIVED_IMPORT_RETRIES, timeout=queues.RECEIVED_IMPORT_TIMEOUT,
                                   parameters=item.parameters) for item in group]
            db.session.add_all([item.log_row for item in group])
            db.session.commit()
        except BaseException:
            db.session.rollback()
            raise
        return jobs

    def _push(self, group: list[Received], jobs: list[Job]) -> None:
        try:
            queues.push(jobs)
        except redis.RedisError as exc:
            try:
                self._pending(group, [j.rq_spec[1] for j in jobs], [item.log_row for item in group], exc)
            except Exception:  # the job rows stay 'queued': housekeeping and the orphan sweep recover them
                db.session.rollback()
                log.exception("Could not record %d object(s) as pending", len(group))
            return
        except Exception:
            log.exception("Could not queue %d received object(s); housekeeping will recover them", len(group))
            return
        for item in group:
            item.queued = True

    def _pending(self, group: list[Received], job_ids: list[int], rows: list[DicomTransaction],
                 exc: Exception) -> None:
        """Redis refused the group: its committed job rows are replaced by pending rows."""
        log.warning("Job queue unavailable (%s): %d object(s) recorded as pending", exc, len(group))
        db.session.execute(delete(Job).where(Job.id.in_(job_ids), Job.status == "queued"))
        for item, row in zip(group, rows):
            row.message = PENDING_MESSAGE
            db.session.add(DicomPendingObject(scp_id=self.node_id, path=str(item.path),
                                              parameters=item.parameters,
                                              last_error=f"{type(exc).__name__}: {exc}"))
        db.session.commit()
