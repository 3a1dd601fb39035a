"""The node's connection guard against real peers: plain TCP connections that never ask for an
association, from another loopback address, while dcmtk's echoscu and storescu send from 127.0.0.1."""
from __future__ import annotations

import select as io_select
import socket
import time
from pathlib import Path

from pynetdicom import AE
from pynetdicom.sop_class import Verification
from sqlalchemy import select

from doseapp.models import DicomAllowedAe, DicomTransaction, db
from tests.dicomnet.conftest import RDSR, echoscu, storescu, stores, wait_running, wait_until

IDLE_FROM = "127.0.0.2"  # Linux answers the whole of 127.0.0.0/8 on loopback


def _idle_connections(port: int, n: int) -> list[socket.socket]:
    out = []
    for _ in range(n):
        s = socket.socket()
        s.bind((IDLE_FROM, 0))
        s.connect(("127.0.0.1", port))
        out.append(s)
    return out


def _closed_within(socks: list[socket.socket], seconds: float, since: float) -> dict[socket.socket, float]:
    """The sockets the node closes within `seconds`, each with when it did (seconds after `since`)."""
    closed, deadline = {}, time.monotonic() + seconds
    while len(closed) < len(socks) and (left := deadline - time.monotonic()) > 0:
        readable, _, _ = io_select.select([s for s in socks if s not in closed], [], [], left)
        for s in readable:
            try:
                data = s.recv(1)
            except ConnectionResetError:
                data = b""
            assert data == b"", data  # the node never sends on a connection that has not asked
            closed[s] = time.monotonic() - since
    return closed


def _connect_rows(node_id: int) -> list[DicomTransaction]:
    db.session.rollback()
    return db.session.scalars(select(DicomTransaction).where(DicomTransaction.scp_id == node_id,
                                                             DicomTransaction.operation == "CONNECT")
                              .order_by(DicomTransaction.id)).all()


def test_idle_connections_do_not_lock_out_an_allowed_sender(app, scp_env, procs, make_node):
    # Two associations at most; four connections per address; three seconds to ask.
    node = make_node("GUARDED", require_calling_ae=True, max_associations=2, connections_per_address=4,
                     request_timeout=3)
    node.allowed_aes.append(DicomAllowedAe(aetitle="GOODSCU"))
    db.session.commit()
    procs.supervisor()
    wait_running(node)

    opened = time.monotonic()
    idle = _idle_connections(node.port, 12)
    try:
        # Beyond four from 127.0.0.2 the node closes the connection at once: within 2 s on a loaded
        # machine (1 s was once missed by 36 ms with two test suites running), still well before the
        # 3 s the four it holds are given to ask.
        refused = _closed_within(idle, 2.0, opened)
        assert len(refused) == 8, refused
        started = time.monotonic()
        echoed = echoscu(node.port, "GUARDED", "GOODSCU")
        sent = storescu(node.port, "GUARDED", [RDSR], calling="GOODSCU")
        took = time.monotonic() - started
        assert echoed.returncode == 0, echoed.stderr
        assert sent.returncode == 0 and stores(node_id=node.id) == 1, sent.stderr
        assert took < 5, took
        # The four it took it closes when their three seconds to ask are up.
        held = _closed_within([s for s in idle if s not in refused], 10, opened)
    finally:
        for s in idle:
            s.close()
    assert len(held) == 4 and all(2.5 < t < 6 for t in held.values()), held

    # Logged: the first refusal at once, the other seven as one row when the window ends; each
    # timeout as a row of its own.
    rows = wait_until(lambda: (r := _connect_rows(node.id)) and len(r) == 6 and r, 30,
                      what="six CONNECT rows")
    refused = [r for r in rows if r.status == "refused"]
    timed_out = [r for r in rows if r.status == "timed out"]
    assert {r.peer_address for r in rows} == {IDLE_FROM}
    assert [r.error for r in refused] == [f"too many connections from {IDLE_FROM}: it holds 4, the node's limit "
                                          "per address", f"too many connections from {IDLE_FROM}: 7 more refused "
                                          "in 10 s"]
    assert [r.error for r in timed_out] == ["no association request within 3 s: connection closed"] * 4
    assert all(r.called_aetitle == "GUARDED" and r.peer_port for r in timed_out)
    log_text = (Path(scp_env["DOSEAPP_INSTANCE"]) / "logs" / "scp-GUARDED.log").read_text()
    assert f"Refused a connection from {IDLE_FROM}:" in log_text
    assert f"Closed the connection from {IDLE_FROM}:" in log_text

    # The maximum of two associations still holds, counting associations, not connections.
    ae = AE(ae_title="GOODSCU")
    ae.add_requested_context(Verification)
    held = [ae.associate("127.0.0.1", node.port, ae_title="GUARDED") for _ in range(2)]
    try:
        assert all(a.is_established for a in held)
        third = echoscu(node.port, "GUARDED", "GOODSCU")
        assert third.returncode != 0 and "Rejected" in third.stdout + third.stderr
    finally:
        for a in held:
            a.release()
        ae.shutdown()
    db.session.rollback()
    refusal = db.session.scalar(select(DicomTransaction).where(DicomTransaction.operation == "ASSOCIATE",
                                                               DicomTransaction.status == "rejected"))
    assert (refusal.calling_aetitle, refusal.error) == ("GOODSCU", "the node already has 2 associations, its maximum")
