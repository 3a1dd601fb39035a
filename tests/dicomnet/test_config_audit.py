"""Every change to DICOM network configuration is in the audit log with its before and after values:
Store SCP nodes (settings, Start/Stop, the allowed calling AE list and switching it off), allowed AE
titles, remote nodes and scheduled queries, from the web and from `doseapp node ...`; and the log
page shows them (Config → Audit log)."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from doseapp.models import AuditEntry, DicomAllowedAe, DicomRemoteNode, DicomScheduledQuery, DicomStoreScp, db
from doseapp.users import create_user
from tests.conftest import run_cli, session_login

NODE_FORM = {"name": "Audit store", "aetitle": "AUDITSTORE", "port": "11193", "bind_address": "0.0.0.0",
             "enabled": "on", "auto_start": "on", "max_associations": "10", "acse_timeout": "30",
             "dimse_timeout": "30", "network_timeout": "60", "max_pdu": "16384", "request_timeout": "10",
             "connections_per_address": "8", "max_object_mb": "", "storage_structure": "date",
             "file_naming": "sop_uid", "storage_limit_mb": "", "retention_days": "30", "allowed_addresses": "",
             "sop_classes": ["1.2.840.10008.5.1.4.1.1.88.67"], "transfer_syntaxes": ["1.2.840.10008.1.2"]}


@pytest.fixture
def admin(client):
    app = client.application
    app.config["WTF_CSRF_ENABLED"] = False
    session_login(client, create_user("netadmin", "password-123", ["admin"]))
    yield client
    app.config["WTF_CSRF_ENABLED"] = True


def _entries(prefix: str) -> list[tuple[str, str, str, dict]]:
    db.session.expire_all()
    rows = db.session.scalars(select(AuditEntry).where(AuditEntry.action.startswith(prefix)).order_by(AuditEntry.id))
    return [(r.username, r.action, r.target, r.details) for r in rows]


def test_store_node_and_allowed_ae_changes_from_the_web(admin):
    assert admin.post("/dicom/nodes/new", data=NODE_FORM).status_code == 302
    node = db.session.scalar(select(DicomStoreScp).where(DicomStoreScp.aetitle == "AUDITSTORE"))
    [(who, action, target, added)] = _entries("dicom.")
    assert (who, action, target) == ("netadmin", "dicom.node_add", "Audit store")
    assert added["port"] == [None, 11193] and added["aetitle"] == [None, "AUDITSTORE"]
    assert added["sop_classes"] == [None, ["1.2.840.10008.5.1.4.1.1.88.67"]] and added["require_calling_ae"] == [None, False]

    # Require calling AE titles from the list, with one title on it; then switch the list off.
    admin.post(f"/dicom/nodes/{node.id}", data=NODE_FORM | {"require_calling_ae": "on", "port": "11194"})
    admin.post(f"/dicom/nodes/{node.id}/allowed", data={"aetitle": "CTROOM1", "expected_ip": "10.1.1.1", "active": "on"})
    ae = db.session.scalar(select(DicomAllowedAe))
    admin.post(f"/dicom/allowed/{ae.id}", data={"aetitle": "CTROOM2", "expected_ip": "", "active": "on"})
    admin.post(f"/dicom/nodes/{node.id}", data=NODE_FORM | {"port": "11194"})  # allow-list off
    admin.post(f"/dicom/nodes/{node.id}", data=NODE_FORM | {"port": "11194"})  # saved unchanged: no entry
    admin.post(f"/dicom/nodes/{node.id}/state", data={"state": "stopped"})
    admin.post(f"/dicom/allowed/{ae.id}/delete")
    admin.post(f"/dicom/nodes/{node.id}/delete")
    entries = _entries("dicom.")[1:]
    assert [(a, t, d) for _, a, t, d in entries] == [
        ("dicom.node_edit", "Audit store", {"port": [11193, 11194], "require_calling_ae": [False, True]}),
        ("dicom.allowed_ae_add", "CTROOM1 on Audit store",
         {"aetitle": [None, "CTROOM1"], "expected_ip": [None, "10.1.1.1"], "active": [None, True]}),
        ("dicom.allowed_ae_edit", "CTROOM2 on Audit store",
         {"aetitle": ["CTROOM1", "CTROOM2"], "expected_ip": ["10.1.1.1", None]}),
        ("dicom.node_edit", "Audit store", {"require_calling_ae": [True, False]}),
        ("dicom.node_state", "Audit store", {"desired_state": ["running", "stopped"]}),
        ("dicom.allowed_ae_delete", "CTROOM2 on Audit store", {"aetitle": ["CTROOM2", None], "active": [True, None]}),
        ("dicom.node_delete", "Audit store", entries[-1][3]),
    ]
    deleted = entries[-1][3]
    assert deleted["port"] == [11194, None] and deleted["aetitle"] == ["AUDITSTORE", None]
    assert all(who == "netadmin" for who, *_ in entries)


def test_remote_nodes_and_scheduled_queries_from_the_web(admin):
    store = DicomStoreScp(name="Main store", aetitle="MAINSTORE", port=11195)
    db.session.add(store)
    db.session.commit()
    remote_form = {"name": "PACS", "aetitle": "PACSAE", "calling_aetitle": "", "port": "104", "ip": "10.0.0.5",
                   "hostname": "", "acse_timeout": "30", "dimse_timeout": "120", "network_timeout": "120",
                   "enabled": "on", "supports_move": "on", "supports_get": "on"}
    assert admin.post("/qr/admin/remotes/new", data=remote_form).status_code == 302
    remote = db.session.scalar(select(DicomRemoteNode))
    admin.post(f"/qr/admin/remotes/{remote.id}", data=remote_form | {"port": "11112", "use_modality_tag": "on"})
    schedule_form = {"name": "Nightly CT", "remote_id": str(remote.id), "store_id": str(store.id), "method": "move",
                     "interval_minutes": "60", "days_back": "1", "mod_CT": "on", "retrieve": "on", "enabled": "on"}
    assert admin.post("/qr/admin/scheduled", data=schedule_form).status_code == 302
    schedule = db.session.scalar(select(DicomScheduledQuery))
    admin.post(f"/qr/admin/scheduled/{schedule.id}", data=schedule_form | {"interval_minutes": "120", "enabled": ""})
    admin.post(f"/qr/admin/scheduled/{schedule.id}/delete")
    admin.post(f"/qr/admin/remotes/{remote.id}/delete")
    entries = _entries("qr.")
    assert [(a, t) for _, a, t, _ in entries] == [
        ("qr.remote_save", "PACS"), ("qr.remote_save", "PACS"), ("qr.schedule_save", "Nightly CT"),
        ("qr.schedule_save", "Nightly CT"), ("qr.schedule_delete", "Nightly CT"), ("qr.remote_delete", "PACS")]
    added, edited, scheduled, rescheduled, unscheduled, removed = (d for *_, d in entries)
    assert added["ip"] == [None, "10.0.0.5"] and added["port"] == [None, 104]
    assert edited == {"port": [104, 11112], "use_modality_tag": [False, True]}
    assert scheduled["remote_node"] == [None, "PACS"] and scheduled["store_node"] == [None, "Main store"]
    assert scheduled["interval_minutes"] == [None, 60] and scheduled["parameters"][1]["modalities"] == ["CT"]
    assert rescheduled == {"interval_minutes": [60, 120], "enabled": [True, False]}
    assert unscheduled["name"] == ["Nightly CT", None] and unscheduled["interval_minutes"] == [120, None]
    assert removed["aetitle"] == ["PACSAE", None] and removed["port"] == [11112, None]


def test_node_commands_are_audited_as_the_command_line(app, app_env):
    done = run_cli(["node", "add-store", "Shell store", "--aet", "SHELLSTORE", "--port", "11196"], app_env)
    assert done.returncode == 0, done.stderr
    done = run_cli(["node", "add-remote", "Shell PACS", "--aet", "SHELLPACS", "--host", "pacs.example.org",
                    "--port", "104", "--no-get"], app_env)
    assert done.returncode == 0, done.stderr
    store, remote = _entries("dicom.") + _entries("qr.")
    assert store[0].startswith("command line (") and remote[0] == store[0]
    assert (store[1], store[2]) == ("dicom.node_add", "Shell store")
    assert store[3]["aetitle"] == [None, "SHELLSTORE"] and store[3]["port"] == [None, 11196]
    assert store[3]["max_associations"] == [None, 10]  # the defaults too, as they were set
    assert (remote[1], remote[2]) == ("qr.remote_save", "Shell PACS")
    assert remote[3]["hostname"] == [None, "pacs.example.org"] and remote[3]["supports_get"] == [None, False]


def test_the_audit_log_page_shows_network_changes(admin):
    admin.post("/dicom/nodes/new", data=NODE_FORM)
    node = db.session.scalar(select(DicomStoreScp))
    admin.post(f"/dicom/nodes/{node.id}", data=NODE_FORM | {"require_calling_ae": "on"})
    page = admin.get("/config/audit?action=dicom").get_data(as_text=True)
    assert 'data-action="dicom.node_add"' in page and "Audit store" in page
    # Before and after, in words.
    assert "<strong>port</strong>: — → 11193" in page and "<strong>aetitle</strong>: — → AUDITSTORE" in page
    assert "<strong>require calling ae</strong>: no → yes" in page
    assert "Audit log" in admin.get("/config/").get_data(as_text=True)
