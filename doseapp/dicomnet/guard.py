"""A Store SCP node's guard against connections that hold a place without sending anything.

pynetdicom counts a connection as an association from the moment it is accepted, and gives it the
ACSE timeout to send its association request: ten idle TCP connections (a port scanner, a broken
device, a stuck load balancer) held every place of a node for 30 s, and allowed modalities were
refused, unlogged. With the guard:

- a connection from an address that already holds `per_address` open connections is closed at once,
  before any thread is started for it (GuardedServer.verify_request);
- a connection has `request_timeout` seconds to send its A-ASSOCIATE-RQ: pynetdicom's acceptor
  waits the association's acse_timeout for it (and its ARTIM timer, which closes the connection,
  runs for as long), so the guard sets that per connection as it opens; the Receiver puts the
  node's ACSE timeout back once the request is in;
- the node's maximum associations counts connections that have sent a request (`asked`), which
  the Receiver checks; connections that never ask cannot fill it.

Refusals and timeouts are written to the transaction log (operation CONNECT) and the node's log.
An address's first refusal is written at once and the ones that follow within REFUSAL_WINDOW
seconds as one row, so a flood of connections cannot become a flood of database writes; rows are
written by the guard's own thread, never in the accept loop.
"""
from __future__ import annotations

import logging
import socketserver
import threading
import time
from dataclasses import dataclass
from typing import Callable

from pynetdicom.transport import ThreadedAssociationServer

log = logging.getLogger(__name__)

TICK_SECONDS = 1.0
REFUSAL_WINDOW = 10.0
UNSTARTED_SECONDS = 30.0  # an admitted connection whose handler never started is forgotten after this


@dataclass
class _Connection:
    address: str
    port: int
    opened: float
    assoc: object | None = None  # the pynetdicom Association, once its handler has started
    asked: bool = False  # its A-ASSOCIATE-RQ arrived


@dataclass
class _Refusals:
    first: float  # when the window began: its first refusal, logged at once
    more: int = 0  # refusals after the first in the window, logged as one row when it ends


class ConnectionGuard:
    """Connection bookkeeping for one node. `write` takes a list of dicts (peer_address, peer_port,
    status, error) and records them in the transaction log."""

    def __init__(self, write: Callable[[list[dict]], None], per_address: int, request_timeout: float):
        self._write = write
        self.per_address = per_address
        self.request_timeout = request_timeout
        self._lock = threading.Lock()
        self._open: dict[tuple[str, int], _Connection] = {}
        self._refused: dict[str, _Refusals] = {}
        self._rows: list[dict] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def configure(self, per_address: int, request_timeout: float) -> None:
        self.per_address, self.request_timeout = per_address, request_timeout

    # --- called by the server and the association handlers ----------------------------------------

    def admit(self, address: str, port: int) -> bool:
        """Whether to take a new connection (in the server's accept loop: no database work here)."""
        now = time.monotonic()
        with self._lock:
            held = sum(1 for c in self._open.values() if c.address == address)
            if held < self.per_address:
                self._open[(address, port)] = _Connection(address, port, now)
                return True
            refusals = self._refused.get(address)
            if refusals is not None:
                refusals.more += 1
                return False
            self._refused[address] = _Refusals(now)
            why = f"too many connections from {address}: it holds {held}, the node's limit per address"
            self._rows.append({"peer_address": address, "peer_port": port, "status": "refused", "error": why})
        log.warning("Refused a connection from %s:%s: %s", address, port, why)
        return False

    def opened(self, assoc, address: str, port: int) -> None:
        """EVT_CONN_OPEN: give the connection request_timeout to send its association request."""
        assoc.acse_timeout = self.request_timeout
        with self._lock:
            conn = self._open.get((address, port))
            if conn is None:  # its handler took over UNSTARTED_SECONDS to start and flush() forgot it
                conn = self._open[(address, port)] = _Connection(address, port, time.monotonic())
            conn.assoc = assoc

    def requested(self, address: str, port: int) -> int:
        """EVT_REQUESTED: the connection asked for an association. Returns how many other
        connections are associations (asked, not yet closed)."""
        with self._lock:
            conn = self._open.get((address, port))
            if conn is not None:
                conn.asked = True
            return sum(1 for c in self._open.values() if c.asked and c is not conn)

    def associations(self) -> int:
        """Connections that have asked for an association and are still open."""
        with self._lock:
            return sum(1 for c in self._open.values() if c.asked)

    def closed(self, address: str, port: int) -> None:
        """EVT_CONN_CLOSE: the connection no longer holds a place. One that never asked either
        timed out (pynetdicom's ARTIM timer closed it) or was closed by the peer."""
        now = time.monotonic()
        with self._lock:
            conn = self._open.pop((address, port), None)
        if conn is None or conn.asked:
            return
        waited = now - conn.opened
        if waited >= self.request_timeout * 0.9:
            why = f"no association request within {self.request_timeout:g} s: connection closed"
            log.warning("Closed the connection from %s:%s: %s", address, port, why)
            self._queue(address, port, "timed out", why)
        else:  # a port check, or a peer that changed its mind: the node log only
            log.info("Connection from %s:%s closed by the peer after %.1f s, before any association request",
                     address, port, waited)

    # --- the guard's thread ------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True, name="scp-guard")
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.flush(force=True)

    def _run(self) -> None:
        while not self._stop.wait(TICK_SECONDS):
            try:
                self.flush()
            except Exception:  # a database hiccup must not end the guard; the rows are kept for the next tick
                log.exception("Could not write connection refusals to the transaction log")

    def flush(self, force: bool = False) -> None:
        """Forget connections whose thread is gone without a close event, close refusal windows,
        and write what is due."""
        now = time.monotonic()
        with self._lock:
            for key, conn in list(self._open.items()):
                gone = (conn.assoc is not None and not conn.assoc.is_alive()) or (
                    conn.assoc is None and now - conn.opened > UNSTARTED_SECONDS)
                if gone:
                    del self._open[key]
            for address, refusals in list(self._refused.items()):
                if force or now - refusals.first >= REFUSAL_WINDOW:
                    del self._refused[address]
                    if refusals.more:
                        why = (f"too many connections from {address}: {refusals.more} more refused in "
                               f"{min(now - refusals.first, REFUSAL_WINDOW):.0f} s")
                        log.warning("%s", why)
                        self._rows.append({"peer_address": address, "peer_port": None, "status": "refused",
                                           "error": why})
            rows, self._rows = self._rows, []
        if rows:
            try:
                self._write(rows)
            except Exception:
                with self._lock:
                    self._rows[:0] = rows
                raise

    def _queue(self, address: str, port: int, status: str, error: str) -> None:
        with self._lock:
            self._rows.append({"peer_address": address, "peer_port": port, "status": status, "error": error})


class GuardedServer(ThreadedAssociationServer):
    """pynetdicom's threaded association server, asking the node's guard before taking a connection."""

    def __init__(self, *args, guard: ConnectionGuard, **kwargs):
        self.guard = guard
        super().__init__(*args, **kwargs)

    def verify_request(self, request, client_address) -> bool:
        return self.guard.admit(client_address[0], client_address[1])

    def shutdown(self) -> None:
        """Stop serving and close the socket. (pynetdicom's own shutdown also takes the server off
        the list AE.start_server keeps, which a server made with AE.make_server is not on.)"""
        socketserver.BaseServer.shutdown(self)
        self.server_close()
