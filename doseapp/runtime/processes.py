"""The long-running processes: web server, RQ worker, and `doseapp run`, which starts them all (plus
the scheduler, the SCP supervisor and, by default, the embedded Redis) as one supervised tree, each
restarted if it dies."""
from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Callable

from flask import Flask

log = logging.getLogger(__name__)

RESTART_BACKOFF_MAX = 30.0
STOP_GRACE_SECONDS = 10.0
ELSEWHERE_RECHECK_SECONDS = 5.0


def _die_with_parent() -> None:
    """In the child before exec: a SIGKILLed parent must not leave orphans behind (Linux)."""
    os.setsid()
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        PR_SET_PDEATHSIG = 1
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass


def spawn(args: list[str], env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(args, env=env, stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)


def serve_web(app: Flask, host: str, port: int) -> None:
    from doseapp.security.request_limits import serve

    log.info("Web server on http://%s:%s/", host, port)
    serve(app, host, port, app.config["WEB_THREADS"])


def run_worker(app: Flask, burst: bool = False, queue_names: list[str] | None = None, fork: bool = True) -> bool:
    """An RQ worker on the given queues (default all, in priority order), with RQ's scheduler for
    retries. A forking worker runs each job in a child process (isolation, hard stop); a non-forking
    one runs it in place, which saves the fork and reconnect that dominate short jobs like imports.
    The job of a worker that dies mid-job is retried (when retries are left) within minutes:
    runtime/workers.py."""
    import socket

    from doseapp.runtime import jobs
    from doseapp.runtime.queues import QUEUE_NAMES, get_queue, redis_connection
    from doseapp.runtime.workers import make_worker

    jobs.use_app(app)
    _preload_job_modules()
    name = f"doseapp-{socket.gethostname()}-{os.getpid()}"
    queues = [get_queue(n, app) for n in (queue_names or QUEUE_NAMES)]
    worker = make_worker(queues, redis_connection(app), name, fork, app.config["JOB_HEARTBEAT_SECONDS"])
    return worker.work(burst=burst, with_scheduler=True, logging_level=app.config["LOG_LEVEL"])


def _preload_job_modules() -> None:
    """Import what jobs use once, in the worker: RQ forks a work horse per job, and a horse that had
    to import pydicom, the extractors and the exporters itself would spend most of a short job on it
    (importing the importer costs more than importing one dose report). By name: the runtime runs
    this code, it does not depend on it."""
    import importlib

    from sqlalchemy.orm import configure_mappers

    for name in ("pydicom", "doseapp.extract", "doseapp.ingest", "doseapp.ingest.jobs", "doseapp.studies",
                 "doseapp.exports", "doseapp.runtime.housekeeping"):
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:  # only a package this build lacks is optional; a broken import is not
                raise
    configure_mappers()


@dataclass
class Child:
    name: str
    args: list[str]
    proc: subprocess.Popen | None = None
    restarts: int = 0
    next_start: float = 0.0
    started_at: float = field(default=0.0)
    # A child with a starter of its own (the embedded Redis: started once it is sure no other server
    # holds its socket, and ready when started); None from it means "not now, look again later".
    starter: Callable[[], subprocess.Popen | None] | None = None
    # What the others use (the embedded Redis) starts first and stops after them.
    infrastructure: bool = False


def _backoff(restarts: int) -> float:
    return min(RESTART_BACKOFF_MAX, 2 ** restarts - 1)


class Supervisor:
    """Starts children, restarts any that die (with back-off), stops them all on SIGINT/SIGTERM."""

    def __init__(self, children: list[Child], env: dict):
        self.children = children
        self.env = env
        self.stopping = False

    def _start(self, child: Child) -> None:
        first = child.started_at == 0.0
        child.started_at = time.monotonic()
        try:
            child.proc = child.starter() if child.starter else spawn(child.args, self.env)
        except (OSError, RuntimeError) as exc:  # tried again, as if it had died at once
            child.proc = None
            child.restarts += 1
            child.next_start = child.started_at + _backoff(child.restarts)
            log.error("Could not start %s (%s); trying again in %.0f s", child.name, exc, _backoff(child.restarts))
            return
        if child.proc is None:
            child.next_start = child.started_at + ELSEWHERE_RECHECK_SECONDS
            (log.info if first else log.debug)("%s is running outside this tree; looking again every %.0f s",
                                               child.name, ELSEWHERE_RECHECK_SECONDS)
            return
        log.info("Started %s (pid %s)", child.name, child.proc.pid)

    @staticmethod
    def _reap_group(child: Child, pid: int) -> None:
        """A child leads a process group of its own: what it left running (an RQ worker's scheduler
        process, say) ends with it rather than living on as an orphan."""
        try:
            os.killpg(pid, signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            return
        log.info("Stopped what %s left running", child.name)

    def _on_signal(self, signum, _frame) -> None:
        log.info("Received %s: stopping", signal.Signals(signum).name)
        self.stopping = True

    def run(self) -> int:
        signal.signal(signal.SIGINT, self._on_signal)
        signal.signal(signal.SIGTERM, self._on_signal)
        for child in sorted(self.children, key=lambda c: not c.infrastructure):
            self._start(child)
        while not self.stopping:
            now = time.monotonic()
            for child in self.children:
                if child.proc is not None and child.proc.poll() is not None:
                    code, pid = child.proc.returncode, child.proc.pid
                    child.proc = None
                    self._reap_group(child, pid)
                    # A child that ran a while gets a fresh back-off; one that crashes at once waits longer each time.
                    child.restarts = 0 if now - child.started_at > 60 else child.restarts + 1
                    delay = _backoff(child.restarts)
                    child.next_start = now + delay
                    log.warning("%s exited with status %s; restarting in %.0f s", child.name, code, delay)
                if child.proc is None and now >= child.next_start and not self.stopping:
                    self._start(child)
            time.sleep(0.2)
        self.stop_all()
        return 0

    def stop_all(self) -> None:
        # The others first: a worker finishing its job still needs Redis.
        for infrastructure in (False, True):
            running = [c for c in self.children if c.infrastructure == infrastructure
                       and c.proc is not None and c.proc.poll() is None]
            for child in running:
                child.proc.terminate()
            deadline = time.monotonic() + STOP_GRACE_SECONDS
            for child in running:
                try:
                    child.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    log.warning("%s did not stop in %.0f s: killing it", child.name, STOP_GRACE_SECONDS)
                    child.proc.kill()
                    child.proc.wait()
        log.info("All processes stopped")


def run_all(app: Flask, host: str, port: int, workers: int) -> int:
    """`doseapp run`: everything for one machine, stopped together on Ctrl-C."""
    from doseapp.runtime import embedded_redis

    env = dict(os.environ)
    instance = app.config["INSTANCE"]
    env["DOSEAPP_INSTANCE"] = str(instance)
    children = []
    if not app.config["REDIS_URL"]:
        # Supervised like the rest: a Redis that dies is started again (on its append-only file), and
        # the others reconnect; none of them starts a server of its own, as they are given its URL.
        children.append(Child("redis", [], starter=lambda: embedded_redis.start_child(instance, popen=spawn),
                              infrastructure=True))
        env["DOSEAPP_REDIS_URL"] = embedded_redis.url_for(instance)
    me = [sys.executable, "-m", "doseapp.cli"]
    children += [Child("web", me + ["web", "--host", host, "--port", str(port)])]
    # One in-process worker keeps imports fast; the others take every queue in forked work horses,
    # except imports on SQLite: it has one writer at a time, and a second importer waits for the
    # lock in SQLite's sleep-and-retry busy handler (measured: 2 import workers 15.6 files/s,
    # 1 worker 24.7; bench/import_rate.py).
    children += [Child("worker-import", me + ["worker", "--queues", "import", "--no-fork"])]
    from doseapp.runtime.queues import QUEUE_NAMES

    sqlite = app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite")
    others = ["--queues", ",".join(q for q in QUEUE_NAMES if q != "import")] if sqlite else []
    children += [Child(f"worker-{n + 1}", me + ["worker", *others]) for n in range(max(1, workers - 1))]
    children += [Child("scheduler", me + ["scheduler"]), Child("scp-supervisor", me + ["scp"])]
    print(f"doseapp is starting: http://{host}:{port}/  (Ctrl-C stops everything)", flush=True)
    return Supervisor(children, env).run()
