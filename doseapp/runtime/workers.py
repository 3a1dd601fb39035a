"""The RQ worker classes doseapp runs, and how the job of a worker that died is found in minutes.

RQ keeps each running job in its queue's started-job registry until a deadline that the worker pushes
forward while the job runs (its heartbeat). A job past its deadline is abandoned: the registry cleanup
that workers run as maintenance retries it (if it has retries left) or fails it. A forking worker
beats while its work horse runs; RQ's non-forking SimpleWorker does not beat during a job at all, so
RQ gives it the job's whole timeout plus a minute: the import of a SIGKILLed import worker waited an
hour. Here every worker beats each `heartbeat` seconds while a job runs, a job silent for
HEARTBEATS_MISSED beats is abandoned, and the maintenance runs every MAINTENANCE_BEATS beats (also
when idle), so such a job is queued again within a few beats (plus RQ's 10 s retry delay).
"""
from __future__ import annotations

import threading

import redis
from rq import SimpleWorker, Worker

HEARTBEATS_MISSED = 3
MAINTENANCE_BEATS = 2


class _Beating:
    """The deadline a running job's heartbeat sets: a few beats ahead."""

    def get_heartbeat_ttl(self, job) -> int:
        return HEARTBEATS_MISSED * self.job_monitoring_interval


class ForkingWorker(_Beating, Worker):
    """Each job in a work horse of its own; the worker beats while the horse runs (RQ does that)."""


class InPlaceWorker(_Beating, SimpleWorker):
    """Each job in the worker itself (the import worker: no fork per short job), with a thread that
    beats while the job runs."""

    def perform_job(self, job, queue) -> bool:
        stop = threading.Event()
        beat = threading.Thread(target=self._beat, args=(job, stop), daemon=True, name="job-heartbeat")
        beat.start()
        try:
            return super().perform_job(job, queue)
        finally:
            stop.set()
            beat.join()

    def _beat(self, job, stop: threading.Event) -> None:
        while not stop.wait(self.job_monitoring_interval):
            try:
                self.maintain_heartbeats(job)
            except redis.RedisError as exc:  # Redis away: the next beat tries again; the job goes on
                self.log.warning("Worker %s: heartbeat for job %s failed: %s", self.name, job.id, exc)


def make_worker(queues, connection, name: str, fork: bool, heartbeat: int):
    """A worker on `queues` that beats every `heartbeat` seconds (see the module's docstring)."""
    cls = ForkingWorker if fork else InPlaceWorker
    # An idle worker wakes from its blocking wait every worker_ttl - 15 s: that bounds how late the
    # maintenance can be.
    return cls(queues, connection=connection, name=name, job_monitoring_interval=heartbeat,
               maintenance_interval=MAINTENANCE_BEATS * heartbeat, worker_ttl=MAINTENANCE_BEATS * heartbeat + 15)
