"""Keeps one SCP process per Store SCP node that should run, and records each node's state.

Each node runs in its own process (`doseapp scp --node ID`): a crash or a stuck association in one
node cannot take the others, or the supervisor, down. A node runs while it is enabled and its desired
state is "running" (the web's Start and Stop buttons set it; at supervisor start-up a node's auto-start
setting decides). Network changes, and switching C-FIND / C-MOVE / C-GET on or off (the contexts it
offers), restart the node within a poll interval; security and storage
settings the node re-reads itself. The supervisor also checks every node with a C-ECHO each
`echo_interval` seconds (the keep-alive), queues objects received while Redis was down, and
recovers spool files a killed receiver never queued.

A node just started is "starting" until its first echo answers: it is echoed as soon as it has
written to its row after the start (it does once it listens: within seconds), every second or so
until it answers; only if it has not answered STARTUP_GRACE seconds after its start is it "not
responding". An error stays on the node with its time; once a
later echo answers, pages show it as past.
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
FIRST_ECHO_SECONDS = 1.0  # a starting node is echoed this often (at most: one pass every POLL_SECONDS)
STARTUP_GRACE = 30.0
ORPHAN_SWEEP_SECONDS = 60.0


def _signature(node: DicomStoreScp) -> tuple:
    """The settings a running node process was built with; a change means a restart."""
    return (node.aetitle, node.port, node.bind_address, node.max_associations, node.acse_timeout,
            node.dimse_timeout, node.network_timeout, node.max_pdu, tuple(node.sop_classes or ()),
            tuple(node.transfer_syntaxes or ()), node.find_enabled, node.move_enabled, node.get_enabled)


def _should_run(node: DicomStoreScp) -> bool:
    return bool(node.enabled) and node.desired_state == "running"


class _Running:
    def __init__(self, proc: subprocess.Popen, signature: tuple):
        self.proc, self.signature, self.started = proc, signature, time.monotonic()
        self.next_echo = self.started + FIRST_ECHO_SECONDS
        self.answered = False  # an echo has answered since this process started
        self.checking = False  # an echo is on its way
        self.gone = False  # stopped or replaced: a late echo result must not touch the node row


def run(app: Flask, stop: threading.Event | None = None, echo_interval: float = ECHO_SECONDS) -> None:
    stop = stop or threading.Event()
    running: dict[int, _Running] = {}
    failures: dict[int, tuple[int, float]] = {}  # node id -> (consecutive crashes, next start time)
    me = [sys.executable, "-m", "doseapp.cli", "scp", "--node"]
    last_orphans = 0.0
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
                    for node_id, r in running.items():
                        if not r.checking and now >= r.next_echo:
                            _keepalive(app, node_id, r, echo_interval)
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
            r.gone = True
            del running[node_id]
            if node is not None:
                stopped = not _should_run(node)
                _set_status(node_id, "stopped" if stopped else "restarting",
                            "Stopped by an administrator." if stopped else "Settings changed; restarting.", None)
            continue
        code = r.proc.poll()
        if code is not None:
            r.gone = True
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


def _keepalive(app: Flask, node_id: int, r: _Running, interval: float) -> None:
    """C-ECHO one node in a thread of its own, so a hung node cannot stall supervision."""
    node = db.session.get(DicomStoreScp, node_id)
    if node is None:
        return
    listening = bool(node.last_seen and node.started_at and node.last_seen > node.started_at)
    if not (r.answered or listening or time.monotonic() - r.started >= STARTUP_GRACE):
        r.next_echo = time.monotonic() + FIRST_ECHO_SECONDS  # an echo now would only meet a closed port
        return
    address, port, aetitle = node_settings.echo_address(node), node.port, node.aetitle
    r.checking = True

    def check():
        try:
            try:
                alive, words = node_settings.echo(address, port, aetitle, timeout=10)
            except Exception as exc:  # reported as the node's last error
                alive, words = False, f"{type(exc).__name__}: {exc}"
            now = time.monotonic()
            starting = not alive and not r.answered and now - r.started < STARTUP_GRACE
            r.answered = r.answered or alive
            r.next_echo = now + (FIRST_ECHO_SECONDS if starting else interval)
            if starting or r.gone:  # not listening yet: still "starting", nothing to record
                return
            with app.app_context():
                row = db.session.get(DicomStoreScp, node_id)
                if row is None:
                    return
                row.echo_status = "alive" if alive else "not responding"
                row.last_echo_at = utcnow()
                if not alive:
                    row.last_error, row.last_error_at = words, row.last_echo_at
                    log.warning("Keep-alive: %s did not answer: %s", aetitle, words)
                db.session.commit()
                db.session.remove()
        finally:
            r.checking = False

    threading.Thread(target=check, daemon=True, name=f"scp-keepalive-{node_id}").start()


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
            node.started_at, node.echo_status = utcnow(), "starting"
        if status != "running":
            node.echo_status, node.active_associations = None, 0
            node.started_at = None
        if error:
            node.last_error, node.last_error_at = error, utcnow()
        db.session.commit()
