"""Keeps one SCP process per Store SCP node that should run, and records each node's state.

Each node runs in its own process (`doseapp scp --node ID`): a crash or a stuck association in one
node cannot take the others, or the supervisor, down. A node runs while it is enabled and its desired
state is "running" (the web's Start and Stop buttons set it; at supervisor start-up a node's auto-start
setting decides). Network changes restart the node within a poll interval; security and storage
settings the node re-reads itself. The supervisor also checks every node with a C-ECHO each
`echo_interval` seconds (the keep-alive), queues objects received while Redis was down, and
recovers spool files a killed receiver never queued.
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

from doseapp.dicomnet import nodes as node_settings, upkeep
from doseapp.models import DicomStoreScp, db
from doseapp.models.base import utcnow
from doseapp.runtime.processes import spawn

log = logging.getLogger(__name__)

POLL_SECONDS = 2.0
BACKOFF_MAX = 60.0
ECHO_SECONDS = 60.0
ORPHAN_SWEEP_SECONDS = 60.0


def _signature(node: DicomStoreScp) -> tuple:
    """The settings a running node process was built with; a change means a restart."""
    return (node.aetitle, node.port, node.bind_address, node.max_associations, node.acse_timeout,
            node.dimse_timeout, node.network_timeout, node.max_pdu, tuple(node.sop_classes or ()),
            tuple(node.transfer_syntaxes or ()))


def _should_run(node: DicomStoreScp) -> bool:
    return bool(node.enabled) and node.desired_state == "running"


class _Running:
    def __init__(self, proc: subprocess.Popen, signature: tuple):
        self.proc, self.signature, self.started = proc, signature, time.monotonic()
        self.first_echo_done = False


def run(app: Flask, stop: threading.Event | None = None, echo_interval: float = ECHO_SECONDS) -> None:
    stop = stop or threading.Event()
    running: dict[int, _Running] = {}
    failures: dict[int, tuple[int, float]] = {}  # node id -> (consecutive crashes, next start time)
    me = [sys.executable, "-m", "doseapp.cli", "scp", "--node"]
    last_echo = last_orphans = 0.0
    log.info("SCP supervisor started")
    with app.app_context():
        _apply_auto_start()
        try:
            while not stop.is_set():
                try:
                    _pass(running, failures, me)
                    upkeep.sweep_pending()
                    now = time.monotonic()
                    if now - last_orphans >= ORPHAN_SWEEP_SECONDS:
                        last_orphans = now
                        upkeep.recover_orphans()
                    # The first echo comes soon after a start, then every echo_interval.
                    due = now - last_echo >= echo_interval
                    fresh = [i for i, r in running.items() if not r.first_echo_done and now - r.started > 5.0]
                    if due or fresh:
                        last_echo = now if due else last_echo
                        for node_id in (list(running) if due else fresh):
                            running[node_id].first_echo_done = True
                        _keepalive(app, list(running) if due else fresh)
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


def _apply_auto_start() -> None:
    """At start-up, each node's desired state is its auto-start setting."""
    for node in db.session.scalars(select(DicomStoreScp)):
        node.desired_state = "running" if node.auto_start else "stopped"
    db.session.commit()


def _pass(running: dict, failures: dict, me: list[str]) -> None:
    nodes = {n.id: n for n in db.session.scalars(select(DicomStoreScp))}
    now = time.monotonic()
    for node_id in list(running):
        r, node = running[node_id], nodes.get(node_id)
        if node is None or not _should_run(node) or _signature(node) != r.signature:
            _stop(r.proc)
            del running[node_id]
            if node is not None:
                stopped = not _should_run(node)
                _set_status(node_id, "stopped" if stopped else "restarting",
                            "Stopped by an administrator." if stopped else "Settings changed; restarting.", None)
            continue
        code = r.proc.poll()
        if code is not None:
            del running[node_id]
            crashes = failures.get(node_id, (0, 0))[0] + 1 if now - r.started < 60 else 1
            delay = min(BACKOFF_MAX, 2 ** crashes)
            failures[node_id] = (crashes, now + delay)
            log.warning("SCP node %s exited with status %s; restarting in %.0f s", node_id, code, delay)
            _set_status(node_id, "error", f"Stopped unexpectedly (exit status {code}); restarting in {delay:.0f} s.",
                        None, error=f"exit status {code}")
    for node_id, node in nodes.items():
        if not _should_run(node) or node_id in running:
            continue
        if failures.get(node_id, (0, 0))[1] > now:
            continue
        proc = spawn(me + [str(node_id)], dict(os.environ))
        running[node_id] = _Running(proc, _signature(node))
        _set_status(node_id, "running", f"Listening as {node.aetitle} on port {node.port}.", proc.pid,
                    started=True)


def _keepalive(app: Flask, node_ids: list[int]) -> None:
    """C-ECHO each node in a thread of its own, so a hung node cannot stall supervision."""
    targets = []
    for node_id in node_ids:
        node = db.session.get(DicomStoreScp, node_id)
        if node is not None:
            targets.append((node_id, node_settings.echo_address(node), node.port, node.aetitle))

    def check():
        for node_id, address, port, aetitle in targets:
            try:
                alive, words = node_settings.echo(address, port, aetitle, timeout=10)
            except Exception as exc:  # reported as the node's last error
                alive, words = False, f"{type(exc).__name__}: {exc}"
            with app.app_context():
                node = db.session.get(DicomStoreScp, node_id)
                if node is None:
                    continue
                node.echo_status = "alive" if alive else "not responding"
                node.last_echo_at = utcnow()
                if not alive:
                    node.last_error = words
                    log.warning("Keep-alive: %s did not answer: %s", aetitle, words)
                db.session.commit()
                db.session.remove()

    threading.Thread(target=check, daemon=True, name="scp-keepalive").start()


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _set_status(node_id: int, status: str, message: str | None, pid: int | None, *, started: bool = False,
                error: str | None = None) -> None:
    node = db.session.get(DicomStoreScp, node_id)
    if node is not None:
        node.status, node.status_message, node.pid, node.last_seen = status, message, pid, utcnow()
        if started:
            node.started_at = utcnow()
        if status != "running":
            node.echo_status, node.active_associations = None, 0
            node.started_at = None
        if error:
            node.last_error = error
        db.session.commit()
