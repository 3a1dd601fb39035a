"""Node settings, kept-object layout and retention, and the admin pages and status API."""
from __future__ import annotations

import datetime as dt
import os
import time

import pydicom
import pytest
from sqlalchemy import select

from doseapp.runtime import scheduler
from doseapp.dicomnet import storage
from doseapp.dicomnet.nodes import NodeError, address_allowed, apply_settings
from doseapp.dicomnet.upkeep import cleanup_kept
from doseapp.runtime.kinds import JOB_KINDS
from doseapp.models import DicomAllowedAe, DicomStoreScp, DicomTransaction, db
from doseapp.users import create_user
from tests.conftest import TESTDATA, session_login

RECEIVED = dt.datetime(2026, 1, 2, 19, 30, 0, 123456)


@pytest.fixture
def rdsr():
    return pydicom.dcmread(TESTDATA / "CT-RDSR-GEPixelMed.dcm")


@pytest.mark.parametrize("structure, parts", [
    ("flat", lambda ds: ()),
    ("patient", lambda ds: (ds.PatientID,)),
    ("study", lambda ds: (ds.StudyInstanceUID,)),
    ("series", lambda ds: (ds.PatientID, ds.StudyInstanceUID, ds.SeriesInstanceUID)),
    ("date", lambda ds: ("2026", "01", "02")),
])
def test_kept_objects_follow_draws_structure(tmp_path, rdsr, structure, parts):
    path = storage.kept_path(tmp_path, rdsr, {"node": "STORE", "structure": structure, "naming": "sop_uid"},
                             patient=rdsr.PatientID, received=RECEIVED)
    assert path.relative_to(tmp_path).parts == ("STORE", *parts(rdsr), f"{rdsr.SOPInstanceUID}.dcm")


def test_kept_object_names_follow_draws_naming(tmp_path, rdsr):
    layout = {"node": "STORE", "structure": "flat"}
    rdsr.InstanceNumber = 7
    assert storage.kept_path(tmp_path, rdsr, layout | {"naming": "instance_number"}, patient=None, received=RECEIVED).name == "0007.dcm"
    assert storage.kept_path(tmp_path, rdsr, layout | {"naming": "timestamp"}, patient=None, received=RECEIVED).name == "20260102_193000_123456.dcm"
    first = storage.kept_path(tmp_path, rdsr, layout | {"naming": "sequential"}, patient=None, received=RECEIVED)
    first.write_bytes(b"x")
    second = storage.kept_path(tmp_path, rdsr, layout | {"naming": "sequential"}, patient=None, received=RECEIVED)
    assert (first.name, second.name) == ("000001.dcm", "000002.dcm")
    taken = storage.kept_path(tmp_path, rdsr, layout | {"naming": "sop_uid"}, patient=None, received=RECEIVED)
    taken.write_bytes(b"x")
    assert storage.kept_path(tmp_path, rdsr, layout | {"naming": "sop_uid"}, patient=None, received=RECEIVED).name == f"{rdsr.SOPInstanceUID}_2.dcm"


def test_retention_cleanup_removes_only_old_kept_objects_of_nodes_that_ask(app):
    keep_all = DicomStoreScp(name="A", aetitle="KEEPALL", port=1, cleanup_enabled=False, retention_days=1)
    tidy = DicomStoreScp(name="B", aetitle="TIDY", port=2, cleanup_enabled=True, retention_days=30)
    db.session.add_all([keep_all, tidy])
    db.session.commit()
    instance = app.config["INSTANCE"]
    old_time = time.time() - 31 * 86400
    made = {}
    for aet in ("KEEPALL", "TIDY"):
        for age in ("old", "new"):
            path = storage.objects_dir(instance, aet) / "2025" / f"{age}.dcm"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"x" * 100)
            if age == "old":
                os.utime(path, (old_time, old_time))
            made[aet, age] = path
    report = cleanup_kept()
    assert report == {"TIDY": {"files_removed": 1, "bytes_freed": 100}}
    assert [k for k, p in made.items() if not p.exists()] == [("TIDY", "old")]
    assert "scp_storage_cleanup" in JOB_KINDS
    assert any(kind == "scp_storage_cleanup" for kind, _, _ in scheduler.PERIODIC)


def test_node_settings_are_validated(app):
    node = DicomStoreScp()
    good = {"name": "Main", "aetitle": "MAIN01", "port": "8104", "bind_address": "0.0.0.0"}
    apply_settings(node, good)
    db.session.add(node)
    db.session.commit()
    for change, words in [({"aetitle": "TOO_LONG_AE_TITLE"}, "1 to 16 characters"),
                          ({"aetitle": "BACK\\SLASH"}, "no backslash"),
                          ({"aetitle": "    "}, "not only spaces"),
                          ({"aetitle": "TAB\tTAB"}, "1 to 16 characters"),
                          ({"port": "70000"}, "between 1 and 65535"),
                          ({"bind_address": "example.org"}, "not an IP address"),
                          ({"max_pdu": "100"}, "at least 4096"),
                          ({"storage_structure": "random"}, "flat, patient, study, series, date"),
                          ({"allowed_addresses": "10.0.0.0/8, nonsense"}, "'nonsense'"),
                          ({"sop_classes": []}, "at least one SOP class")]:
        with pytest.raises(NodeError, match=words):
            apply_settings(DicomStoreScp(), good | {"name": "Other", "aetitle": "OTHER", "port": "8105"} | change)
    with pytest.raises(NodeError, match="already uses port 8104"):
        apply_settings(DicomStoreScp(), {"name": "Two", "aetitle": "TWO", "port": "8104"})
    db.session.rollback()
    assert address_allowed("10.1.2.3", "10.0.0.0/8\n192.168.1.7")
    assert address_allowed("192.168.1.7", "10.0.0.0/8\n192.168.1.7")
    assert not address_allowed("192.168.1.8", "10.0.0.0/8\n192.168.1.7")
    assert address_allowed("192.168.1.8", None)


@pytest.fixture
def admin_client(client):
    app = client.application
    app.config["WTF_CSRF_ENABLED"] = False
    admin = create_user("scpadmin", "password-123", ["admin"])
    session_login(client, admin)
    yield client
    app.config["WTF_CSRF_ENABLED"] = True


def test_admin_adds_edits_starts_stops_and_deletes_a_node(admin_client):
    form = {"name": "Web store", "aetitle": "WEBSTORE", "port": "11190", "bind_address": "0.0.0.0", "enabled": "on",
            "auto_start": "on", "max_associations": "20", "acse_timeout": "30", "dimse_timeout": "30",
            "network_timeout": "60", "max_pdu": "65536", "request_timeout": "5", "connections_per_address": "6",
            "storage_structure": "series", "file_naming": "timestamp", "storage_limit_mb": "500",
            "max_object_mb": "300", "retention_days": "90", "cleanup_enabled": "on", "allowed_addresses": "",
            "sop_classes": ["1.2.840.10008.5.1.4.1.1.88.67", "1.2.840.10008.5.1.4.1.1.88.22"],
            "transfer_syntaxes": ["1.2.840.10008.1.2", "1.2.840.10008.1.2.1"]}
    bad = admin_client.post("/dicom/nodes/new", data=form | {"aetitle": "WEB\\STORE"})
    assert bad.status_code == 400 and b"no backslash" in bad.data
    made = admin_client.post("/dicom/nodes/new", data=form)
    assert made.status_code == 302
    node = db.session.scalar(select(DicomStoreScp).where(DicomStoreScp.aetitle == "WEBSTORE"))
    assert (node.max_associations, node.max_pdu, node.storage_structure, node.file_naming, node.storage_limit_mb,
            node.retention_days, node.cleanup_enabled, node.desired_state) == (20, 65536, "series", "timestamp", 500,
                                                                               90, True, "running")
    assert (node.request_timeout, node.connections_per_address, node.max_object_mb) == (5, 6, 300)
    assert node.sop_classes == form["sop_classes"] and node.transfer_syntaxes == form["transfer_syntaxes"]
    page = admin_client.get(f"/dicom/nodes/{node.id}/dashboard")
    assert page.status_code == 200 and b"Web store" in page.data and b"Stop" in page.data
    assert admin_client.post(f"/dicom/nodes/{node.id}/state", data={"state": "stopped"}).status_code == 302
    db.session.rollback()
    assert db.session.get(DicomStoreScp, node.id).desired_state == "stopped"
    added = admin_client.post(f"/dicom/nodes/{node.id}/allowed",
                              data={"aetitle": "CTROOM1", "description": "CT 1", "expected_ip": "10.1.1.1", "active": "on"})
    assert added.status_code == 302
    row = db.session.scalar(select(DicomAllowedAe))
    assert (row.aetitle, row.description, row.expected_ip, row.active) == ("CTROOM1", "CT 1", "10.1.1.1", True)
    again = admin_client.post(f"/dicom/nodes/{node.id}/allowed", data={"aetitle": "CTROOM1", "active": "on"})
    assert again.status_code == 400 and b"already on the list" in again.data
    edited = admin_client.post(f"/dicom/nodes/{node.id}", data=form | {"name": "Renamed store", "port": "11191"})
    assert edited.status_code == 302
    db.session.rollback()
    assert db.session.get(DicomStoreScp, node.id).port == 11191
    node_id = node.id
    assert admin_client.post(f"/dicom/nodes/{node_id}/delete").status_code == 302
    db.session.rollback()
    assert db.session.get(DicomStoreScp, node_id) is None and db.session.scalar(select(DicomAllowedAe)) is None


def test_transaction_log_filters_pages_and_status_api(admin_client):
    node = DicomStoreScp(name="Log store", aetitle="LOGSTORE", port=11192, status="running", echo_status="alive",
                         started_at=dt.datetime.utcnow() - dt.timedelta(hours=2), storage_used_bytes=12345,
                         storage_limit_mb=10)
    db.session.add(node)
    db.session.commit()
    for n in range(120):
        db.session.add(DicomTransaction(direction="in", operation="C-STORE", scp_id=node.id, calling_aetitle="CT1",
                                        status="success", sop_instance_uid=f"1.2.3.{n}", size_bytes=1000))
    db.session.add(DicomTransaction(direction="in", operation="ASSOCIATE", scp_id=node.id, calling_aetitle="BAD",
                                    status="rejected", error="calling AE title BAD is not on the allowed list"))
    db.session.commit()
    first = admin_client.get("/dicom/transactions")
    assert b"121 transactions, page 1 of 3" in first.data and b"BAD is not on the allowed list" in first.data
    third = admin_client.get("/dicom/transactions?page=3&operation=C-STORE")
    assert b"120 transactions, page 3 of 3" in third.data and b"1.2.3.0<" in third.data
    problems = admin_client.get(f"/dicom/transactions?status=problem&node={node.id}")
    assert b"1 transaction." in problems.data
    api = admin_client.get("/api/dicom/status").get_json()
    s = api["nodes"][0]
    assert (s["aetitle"], s["status"], s["alive"], s["objects_received_today"], s["objects_received_total"],
            s["errors_total"], s["storage_used_bytes"], s["storage_limit_bytes"]) == (
        "LOGSTORE", "running", True, 120, 120, 1, 12345, 10 * 1024 * 1024)
    assert 7100 < s["uptime_seconds"] < 7300
    assert s["last_failure"]["error"] == "calling AE title BAD is not on the allowed list"


def test_ae_titles_with_underscore_hyphen_and_space_are_taken_for_every_kind_of_node(admin_client, app_env):
    """DICOM allows any default-repertoire character but backslash (PS3.5 AE): our nodes (web and
    `doseapp node add-store`), remote nodes and the AE we call them from, allowed calling AEs."""
    from doseapp.models import DicomRemoteNode
    from tests.conftest import free_port, run_cli

    made = run_cli(["node", "add-store", "Room store", "--aet", "CT_ROOM-1", "--port", str(free_port())], app_env)
    assert made.returncode == 0, made.stderr
    form = {"name": "Web store", "aetitle": "DOSE STORE_2", "port": str(free_port()), "bind_address": "0.0.0.0",
            "enabled": "on", "max_associations": "10", "acse_timeout": "30", "dimse_timeout": "30",
            "network_timeout": "60", "max_pdu": "16384", "request_timeout": "10", "connections_per_address": "8",
            "storage_structure": "date", "file_naming": "sop_uid", "retention_days": "30",
            "sop_classes": ["1.2.840.10008.5.1.4.1.1.88.67"], "transfer_syntaxes": ["1.2.840.10008.1.2"]}
    assert admin_client.post("/dicom/nodes/new", data=form).status_code == 302
    db.session.rollback()
    assert sorted(db.session.scalars(select(DicomStoreScp.aetitle))) == ["CT_ROOM-1", "DOSE STORE_2"]
    web = db.session.scalar(select(DicomStoreScp).where(DicomStoreScp.aetitle == "DOSE STORE_2"))
    # Its folders: the space escaped, so no other AE title can share them.
    assert storage.spool_dir("/i", web.aetitle).name == "DOSE%20STORE_2"
    added = admin_client.post(f"/dicom/nodes/{web.id}/allowed", data={"aetitle": "US-ROOM_3", "active": "on"})
    assert added.status_code == 302
    remote = {"name": "PACS", "aetitle": "PACS_QR-1", "calling_aetitle": "DOSE-QR_1", "port": "104",
              "ip": "10.1.2.3", "supports_move": "on", "enabled": "on", "acse_timeout": "30", "dimse_timeout": "120",
              "network_timeout": "120"}
    assert admin_client.post("/qr/admin/remotes/new", data=remote).status_code == 302
    db.session.rollback()
    assert db.session.scalar(select(DicomAllowedAe.aetitle)) == "US-ROOM_3"
    row = db.session.scalar(select(DicomRemoteNode))
    assert (row.aetitle, row.calling_aetitle) == ("PACS_QR-1", "DOSE-QR_1")
