"""Keeps one SCP process per enabled Store SCP node alive, and records each node's state.

Each node runs in its own process (`doseapp scp --node ID`): a crash or a stuck association in one
node cannot take the others, or the supervisor, down. Configuration changes are picked up within a
poll interval: a changed node is restarted, a disabled or deleted one stopped.
"""
from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time

from flask import Flask
from sqlalchemy import select

from doseapp.models import DicomStoreScp, db
from doseapp.models.base import utcnow
from doseapp.processes import spawn

log = logging.getLogger(__name__)

POLL_SECONDS = 2.0
BACKOFF_MAX = 60.0


def _signature(node: DicomStoreScp) -> tuple:
    return (node.aetitle, node.port, node.bind_address, node.allowed_aetitles, node.allowed_addresses)


class _Running:
    def __init__(self, proc: subprocess.Popen, signature: tuple):
        self.proc, self.signature, self.started = proc, signature, time.monotonic()


def run(app: Flask, stop: threading.Event | None = None) -> None:
    stop = stop or threading.Event()
    running: dict[int, _Running] = {}
    failures: dict[int, tuple[int, float]] = {}  # node id -> (consecutive crashes, next start time)
    me = [sys.executable, "-m", "doseapp.cli", "scp", "--node"]
    log.info("SCP supervisor started")
    with app.app_context():
        try:
            while not stop.is_set():
                try:
                    _pass(running, failures, me)
                except Exception:  # a database hiccup must not end supervision
                    log.exception("SCP supervisor pass failed")
                    db.session.rollback()
                finally:
                    db.session.remove()
                stop.wait(POLL_SECONDS)
        finally:
            for node_id, r in running.items():
                _stop(r.proc)
                _set_status(node_id, "stopped", "Supervisor stopped.", None)
    log.info("SCP supervisor stopped")


def _pass(running: dict, failures: dict, me: list[str]) -> None:
    nodes = {n.id: n for n in db.session.scalars(select(DicomStoreScp))}
    now = time.monotonic()
    for node_id in list(running):
        r, node = running[node_id], nodes.get(node_id)
        if node is None or not node.enabled or _signature(node) != r.signature:
            _stop(r.proc)
            del running[node_id]
            if node is not None:
                _set_status(node_id, "stopped" if not node.enabled else "restarting", None, None)
            continue
        code = r.proc.poll()
        if code is not None:
            del running[node_id]
            crashes = failures.get(node_id, (0, 0))[0] + 1 if now - r.started < 60 else 1
            delay = min(BACKOFF_MAX, 2 ** crashes)
            failures[node_id] = (crashes, now + delay)
            log.warning("SCP node %s exited with status %s; restarting in %.0f s", node_id, code, delay)
            _set_status(node_id, "error", f"Stopped unexpectedly (exit status {code}); restarting.", None)
    for node_id, node in nodes.items():
        if not node.enabled or node_id in running:
            continue
        if failures.get(node_id, (0, 0))[1] > now:
            continue
        proc = spawn(me + [str(node_id)], dict(os.environ))
        running[node_id] = _Running(proc, _signature(node))
        _set_status(node_id, "running", f"Listening as {node.aetitle} on port {node.port}.", proc.pid)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _set_status(node_id: int, status: str, message: str | None, pid: int | None) -> None:
    node = db.session.get(DicomStoreScp, node_id)
    if node is not None:
        node.status, node.status_message, node.pid, node.last_seen = status, message, pid, utcnow()
        db.session.commit()
