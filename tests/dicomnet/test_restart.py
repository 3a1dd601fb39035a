"""Restart with the real SCP supervisor: the web's Restart button stops the node's process and starts
a new one (a new pid, answering C-ECHO and receiving again), and the desired state is "running"
after. The node's AE title is one DRAW users type (punctuation in it); the object received after
the restart shows in the transaction log, its details, and nowhere its patient's identifiers."""
from __future__ import annotations

import pydicom
import psutil

from doseapp.models import DicomStoreScp, db
from doseapp.users import create_user
from tests.conftest import session_login
from tests.dicomnet.conftest import echoscu, rdsr_copies, storescu, stores, wait_running, wait_until


def test_restart_gives_the_node_a_new_process_that_receives(app, client, scp_env, procs, make_node, tmp_path):
    node = make_node("x.y@z")
    procs.supervisor()
    first = wait_running(node)
    assert echoscu(node.port, "x.y@z").returncode == 0

    app.config["WTF_CSRF_ENABLED"] = False
    try:
        session_login(client, create_user("restarter", "password-123", ["admin"]))
        assert client.post(f"/dicom/nodes/{node.id}/state", data={"state": "restart"}).status_code == 302
    finally:
        app.config["WTF_CSRF_ENABLED"] = True

    def restarted():
        row = db.session.get(DicomStoreScp, node.id)
        return row.pid if row.pid not in (None, first) and row.status == "running" else None
    second = wait_until(restarted, 60, what="a new process for the node")
    assert wait_running(node) == second
    assert not psutil.pid_exists(first) or psutil.Process(first).status() == psutil.STATUS_ZOMBIE
    db.session.rollback()
    assert db.session.get(DicomStoreScp, node.id).desired_state == "running"

    [report] = rdsr_copies(tmp_path / "send", 1)
    ds = pydicom.dcmread(report)
    ds.PatientID, ds.PatientName = "PID-SECRET-9", "Secret^Patient"
    ds.save_as(report)
    sent = storescu(node.port, "x.y@z", [report], calling="ANY-SCP")
    assert stores(node_id=node.id) == 1, sent.stderr[-2000:]
    page = client.get(f"/dicom/transactions?node={node.id}").get_data(as_text=True)
    assert str(ds.SOPInstanceUID) in page and "ANY-SCP" in page and "x.y@z" in page
    assert "PID-SECRET-9" not in page and "Secret" not in page
