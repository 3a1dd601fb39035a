"""The DRAW items of the node pages: the C-FIND / C-MOVE / C-GET switches of a Store node, Restart,
the remote node's flags, query model and maximum PDU, AE titles as DICOM allows them, the
transaction log's expandable rows, and the throughput on the dashboard — saved, audited and shown."""
from __future__ import annotations

import datetime as dt
import re
import time

import pytest
from sqlalchemy import insert, select, text

from doseapp.dicomnet import storage, throughput
from doseapp.dicomnet.nodes import NodeError, check_aetitle
from doseapp.display.timefmt import local_today, utc_start_of
from doseapp.models import AuditEntry, DicomAllowedAe, DicomRemoteNode, DicomStoreScp, DicomTransaction, db
from doseapp.models.base import utcnow
from tests.conftest import free_port, run_cli
from tests.dicomnet.test_config_audit import NODE_FORM, admin  # noqa: F401 (admin: a logged-in admin's client)

REMOTE_FORM = {"name": "PACS", "aetitle": "PACSAE", "calling_aetitle": "", "port": "104", "ip": "10.0.0.5",
               "hostname": "", "acse_timeout": "30", "dimse_timeout": "120", "network_timeout": "120",
               "enabled": "on", "supports_find": "on", "supports_move": "on", "supports_get": "on",
               "query_model": "study", "max_pdu": "16384"}


def _audit(action: str) -> list[tuple[str, dict]]:
    db.session.expire_all()
    return [(e.target, e.details) for e in db.session.scalars(select(AuditEntry).where(AuditEntry.action == action)
                                                              .order_by(AuditEntry.id))]


def test_service_switches_and_cleanup_when_full_are_saved_audited_and_shown(admin):
    form = NODE_FORM | {"find_enabled": "on", "move_enabled": "on", "get_enabled": "on",
                        "cleanup_full_percent": "90"}
    page = admin.get("/dicom/nodes/new").get_data(as_text=True)
    for name in ("find_enabled", "move_enabled", "get_enabled", "cleanup_when_full"):
        assert f'name="{name}"' in page
    assert "applies when the node restarts" in page
    assert admin.post("/dicom/nodes/new", data=form).status_code == 302
    node = db.session.scalar(select(DicomStoreScp))
    assert (node.find_enabled, node.move_enabled, node.get_enabled, node.cleanup_when_full) == (True, True, True, False)
    # C-MOVE off, cleanup when full on at 80 %.
    changed = form | {"cleanup_when_full": "on", "cleanup_full_percent": "80"}
    del changed["move_enabled"]
    assert admin.post(f"/dicom/nodes/{node.id}", data=changed).status_code == 302
    db.session.expire_all()
    assert (node.find_enabled, node.move_enabled, node.get_enabled) == (True, False, True)
    assert (node.cleanup_when_full, node.cleanup_full_percent) == (True, 80)
    assert _audit("dicom.node_edit") == [("Audit store", {"move_enabled": [True, False],
                                                          "cleanup_when_full": [False, True],
                                                          "cleanup_full_percent": [90, 80]})]
    bad = admin.post(f"/dicom/nodes/{node.id}", data=changed | {"cleanup_full_percent": "100"})
    assert bad.status_code == 400 and "between 10 and 99" in bad.get_data(as_text=True)
    # Shown on the node's page and in the list (C-ECHO and C-STORE are always offered).
    dash = admin.get(f"/dicom/nodes/{node.id}/dashboard").get_data(as_text=True)
    assert re.search(r'id="services">C-ECHO, C-STORE, C-FIND, C-GET\b', dash)
    listing = admin.get("/dicom/nodes").get_data(as_text=True)
    assert "<td>C-ECHO, C-STORE, C-FIND, C-GET</td>" in listing
    assert admin.get("/api/dicom/status").get_json()["nodes"][0]["services"] == ["C-ECHO", "C-STORE", "C-FIND", "C-GET"]


def test_restart_is_asked_of_the_supervisor_audited_and_confirmed(admin):
    node = DicomStoreScp(name="Restarted", aetitle="RESTARTME", port=free_port(), desired_state="running",
                         status="running")
    db.session.add(node)
    db.session.commit()
    page = admin.get(f"/dicom/nodes/{node.id}/dashboard").get_data(as_text=True)
    button = re.search(r'<button type="submit" name="state" value="restart" data-confirm="([^"]+)">Restart</button>', page)
    assert button and "Restart Restarted?" in button.group(1)
    assert admin.post(f"/dicom/nodes/{node.id}/state", data={"state": "restart"}).status_code == 302
    db.session.expire_all()
    assert node.desired_state == "restart"
    assert _audit("dicom.node_restart") == [("Restarted", {"desired_state": ["running", "restart"]})]
    assert admin.post(f"/dicom/nodes/{node.id}/state", data={"state": "reboot"}).status_code == 400


def test_remote_flags_query_model_and_max_pdu_are_validated_audited_and_listed(admin, app_env):
    assert admin.post("/qr/admin/remotes/new", data=REMOTE_FORM).status_code == 302
    remote = db.session.scalar(select(DicomRemoteNode))
    assert (remote.supports_find, remote.query_model, remote.max_pdu) == (True, "study", 16384)
    edit = REMOTE_FORM | {"query_model": "patient", "max_pdu": "0"}
    del edit["supports_find"]
    assert admin.post(f"/qr/admin/remotes/{remote.id}", data=edit).status_code == 302
    db.session.expire_all()
    assert (remote.supports_find, remote.query_model, remote.max_pdu) == (False, "patient", 0)
    [_, (target, changes)] = _audit("qr.remote_save")
    assert (target, changes) == ("PACS", {"supports_find": [True, False], "query_model": ["study", "patient"],
                                          "max_pdu": [16384, 0]})
    for change, words in (({"query_model": "series"}, "Study Root or Patient Root"),
                          ({"max_pdu": "1000"}, "at least 4096"), ({"max_pdu": "lots"}, "whole number")):
        bad = admin.post(f"/qr/admin/remotes/{remote.id}", data=edit | change)
        assert bad.status_code == 400 and words in bad.get_data(as_text=True)
    listing = admin.get("/qr/admin/remotes").get_data(as_text=True)
    assert "<td>C-MOVE, C-GET</td>" in listing and "<td>Patient Root</td><td>unlimited</td>" in listing
    form = admin.get(f"/qr/admin/remotes/{remote.id}").get_data(as_text=True)
    assert '<option value="patient" selected>Patient Root</option>' in form
    # The command line takes them too.
    made = run_cli(["node", "add-remote", "Second PACS", "--aet", "PACS_2", "--host", "10.0.0.6", "--port", "104",
                    "--no-find", "--query-model", "patient", "--max-pdu", "65536"], app_env)
    assert made.returncode == 0, made.stderr
    db.session.expire_all()
    second = db.session.scalar(select(DicomRemoteNode).where(DicomRemoteNode.name == "Second PACS"))
    assert (second.aetitle, second.supports_find, second.query_model, second.max_pdu) == ("PACS_2", False, "patient", 65536)
    refused = run_cli(["node", "add-remote", "Third", "--aet", "PACS3", "--host", "10.0.0.7", "--port", "104",
                       "--max-pdu", "100"], app_env)
    assert refused.returncode != 0 and "at least 4096" in refused.stderr


ACCEPTED = ["DRAW_SCP", "ANY-SCP", "A B", "x.y@z", "!#$%&'()*+,-./:;", "ABCDEFGHIJKLMNOP"]
REFUSED = ["A\\B", "ABCDEFGHIJKLMNOPQ", "    ", "", "A\tB", "A\nB", "CT\x7fROOM", "CT\u00e9"]


def test_ae_titles_as_dicom_allows_them():
    for title in ACCEPTED:
        assert check_aetitle(title) == title
    assert check_aetitle("  PADDED  ") == "PADDED"  # leading and trailing spaces are not significant
    for title in REFUSED:
        with pytest.raises(NodeError, match="1 to 16 characters"):
            check_aetitle(title)


def test_ae_titles_everywhere_we_take_them(admin, app_env):
    """Store nodes (web and command line), allowed calling AEs, remote nodes and our AE towards them."""
    for n, title in enumerate(["DRAW_SCP", "x.y@z"]):
        made = admin.post("/dicom/nodes/new", data=NODE_FORM | {"name": f"Node {n}", "aetitle": title,
                                                                "port": str(free_port())})
        assert made.status_code == 302, made.get_data(as_text=True)
    cli = run_cli(["node", "add-store", "CLI node", "--aet", "A B", "--port", str(free_port())], app_env)
    assert cli.returncode == 0, cli.stderr
    for title in ("A\\B", "ABCDEFGHIJKLMNOPQ"):
        refused = run_cli(["node", "add-store", "Bad", "--aet", title, "--port", str(free_port())], app_env)
        assert refused.returncode != 0 and "1 to 16 characters" in refused.stderr
        page = admin.post("/dicom/nodes/new", data=NODE_FORM | {"name": "Bad", "aetitle": title, "port": "11999"})
        assert page.status_code == 400
    db.session.expire_all()
    assert sorted(db.session.scalars(select(DicomStoreScp.aetitle))) == ["A B", "DRAW_SCP", "x.y@z"]
    node = db.session.scalar(select(DicomStoreScp).where(DicomStoreScp.aetitle == "x.y@z"))
    assert admin.post(f"/dicom/nodes/{node.id}/allowed", data={"aetitle": "ANY-SCP", "active": "on"}).status_code == 302
    assert admin.post(f"/dicom/nodes/{node.id}/allowed", data={"aetitle": "A\tB", "active": "on"}).status_code == 400
    assert admin.post("/qr/admin/remotes/new", data=REMOTE_FORM | {"aetitle": "ANY-SCP",
                                                                   "calling_aetitle": "DRAW_SCP"}).status_code == 302
    assert admin.post("/qr/admin/remotes/new", data=REMOTE_FORM | {"name": "Bad", "aetitle": "A\\B"}).status_code == 400
    db.session.expire_all()
    assert db.session.scalar(select(DicomAllowedAe.aetitle)) == "ANY-SCP"
    remote = db.session.scalar(select(DicomRemoteNode))
    assert (remote.aetitle, remote.calling_aetitle) == ("ANY-SCP", "DRAW_SCP")


def test_folders_named_after_ae_titles_stay_inside_the_instance(tmp_path):
    """Every printable AE title (and the worst that could reach the function) is one safe folder
    name: no separator, no '.' or '..', not hidden, and two titles never share a folder."""
    titles = ACCEPTED + ["..", ".", "../etc", "/", "a/b", ".hidden", "~root", "$(rm -rf)", "`id`", "a;b|c", "%2F"]
    names = {}
    for title in titles:
        name = storage.node_folder_name(title)
        assert "/" not in name and "\\" not in name and name not in (".", "..") and not name.startswith(".")
        assert set(name) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.%~")
        folder = storage.objects_dir(tmp_path, title)
        assert folder.resolve().parent == (tmp_path / "objects").resolve()
        names.setdefault(name, []).append(title)
    assert all(len(v) == 1 for v in names.values()), names
    assert storage.node_folder_name("x.y@z") == "x.y%40z" and storage.node_folder_name("DRAW_SCP") == "DRAW_SCP"


def test_transaction_rows_open_to_every_field_and_no_patient_identifier(admin):
    node = DicomStoreScp(name="Log store", aetitle="LOGSTORE", port=free_port())
    remote = DicomRemoteNode(name="Far PACS", aetitle="FARPACS", port=104, ip="10.9.9.9")
    db.session.add_all([node, remote])
    db.session.flush()
    db.session.add_all([
        DicomTransaction(direction="in", operation="C-STORE", scp_id=node.id, calling_aetitle="CT_ROOM-1",
                         called_aetitle="LOGSTORE", peer_address="10.1.2.3", peer_port=40001, status="success",
                         sop_class_uid="1.2.840.10008.5.1.4.1.1.88.67", sop_instance_uid="1.2.3.4.5",
                         study_instance_uid="1.2.3.4", size_bytes=15588, duration_ms=12.5),
        DicomTransaction(direction="out", operation="C-FIND", remote_node_id=remote.id, calling_aetitle="DOSEAPPQR",
                         called_aetitle="FARPACS", peer_address="10.9.9.9", peer_port=104, status="failed",
                         error="association aborted", message="STUDY query: 0 responses")])
    db.session.commit()
    page = admin.get("/dicom/transactions").get_data(as_text=True)
    store_id, find_id = sorted(db.session.scalars(select(DicomTransaction.id)))
    details = re.search(rf'<tr class="tx-details" id="tx-{store_id}" hidden>(.*?)</tr>', page, re.S).group(1)
    fields = dict(re.findall(r"<dt>([^<]+)</dt><dd[^>]*>(.*?)</dd>", details, re.S))
    assert fields["Peer"] == "10.1.2.3 port 40001"
    assert (fields["Calling AE title"], fields["Called AE title"]) == ("CT_ROOM-1", "LOGSTORE")
    assert "X-Ray Radiation Dose SR Storage" in fields["SOP class"] and "1.2.840.10008.5.1.4.1.1.88.67" in fields["SOP class"]
    assert (fields["SOP instance UID"], fields["Study instance UID"]) == ("1.2.3.4.5", "1.2.3.4")
    assert (fields["Size"], fields["Duration"], fields["Error"]) == ("15588 bytes", "12.5 ms", "—")
    assert fields["Our node"] == "Log store"
    out = dict(re.findall(r"<dt>([^<]+)</dt><dd[^>]*>(.*?)</dd>",
                          re.search(rf'id="tx-{find_id}" hidden>(.*?)</tr>', page, re.S).group(1), re.S))
    assert out["Our node"] == "—; remote node Far PACS" and out["Error"] == "association aborted"
    assert out["Note"] == "STUDY query: 0 responses" and "sent by us" in out["Transaction"]
    assert f'data-details="tx-{store_id}"' in page and 'aria-controls="tx-%d"' % store_id in page
    # The log has no column that could hold a patient identifier.
    assert not {c.name for c in DicomTransaction.__table__.columns} & {"patient_id", "patient_name",
                                                                       "patient_birth_date", "accession_number"}


def test_throughput_per_hour_and_day_from_the_log(admin):
    node = DicomStoreScp(name="Busy", aetitle="BUSY", port=free_port())
    other = DicomStoreScp(name="Other", aetitle="OTHER", port=free_port())
    db.session.add_all([node, other])
    db.session.commit()
    now = utcnow().replace(minute=30, second=0, microsecond=0)
    rows = []

    def add(at, operation="C-STORE", status="success", size=1_000_000, scp=node.id):
        rows.append(dict(at=at, direction="in", operation=operation, scp_id=scp, status=status, size_bytes=size))

    for _ in range(3):
        add(now)                                   # this hour: 3 objects, 3 MB
    add(now, status="0xA700")                      # refused: not counted
    add(now, scp=other.id)                         # another node's
    add(now, "ASSOCIATE", "accepted", None)
    add(now, "ASSOCIATE", "rejected", None)        # a refusal is no association
    add(now - dt.timedelta(hours=5), size=2_500_000)
    add(now - dt.timedelta(hours=30))              # outside the 24 hours, inside the days
    add(now - dt.timedelta(days=20))               # outside both
    db.session.execute(insert(DicomTransaction), rows)
    db.session.commit()

    tp = throughput.node_throughput(node.id, now)
    assert len(tp.hours) == 24 and len(tp.days) == 14
    assert [(b.objects, b.bytes, b.associations) for b in tp.hours if b.objects or b.associations] == [
        (1, 2_500_000, 0), (3, 3_000_000, 1)]
    assert (tp.hours[-1].objects, tp.hours[-6].objects) == (3, 1)
    assert sum(b.objects for b in tp.days) == 5 and sum(b.bytes for b in tp.days) == 6_500_000
    assert sum(b.associations for b in tp.days) == 1

    page = admin.get(f"/dicom/nodes/{node.id}/dashboard").get_data(as_text=True)
    section = page[page.index('<section id="throughput">'):]
    hours = re.search(r'<svg class="bars" id="per-hour"[^>]*aria-label="[^"]*: ([\d, ]+)"', section).group(1)
    assert [int(v) for v in hours.split(", ")][-6:] == [1, 0, 0, 0, 0, 3]
    assert re.search(r"<th>Last 24 hours</th><td>4</td>\s*<td>5.5</td><td>1</td>", section)
    assert admin.get(f"/dicom/nodes/{node.id}/dashboard", headers={"HX-Request": "true"}).get_data(
        as_text=True).count('id="per-day"') == 1  # the polled part refreshes the charts too
    listing = admin.get("/dicom/nodes").get_data(as_text=True)
    assert f'id="rate-{node.id}"' in listing and "4 objects, 5.5 MB" in listing


def test_throughput_reads_the_index_and_is_quick(app):
    """50,000 received objects over two weeks: the grouped queries use ix_dicom_transaction_scp_op_at
    (on SQLite, its plan says so) and answer quickly."""
    node = DicomStoreScp(name="Big", aetitle="BIG", port=free_port())
    db.session.add(node)
    db.session.commit()
    now = utcnow()
    start = now - dt.timedelta(days=14)
    times = [start + i * dt.timedelta(days=14) / 50_000 for i in range(50_000)]
    db.session.execute(insert(DicomTransaction), [
        dict(at=at, direction="in", operation="C-STORE", scp_id=node.id, status="success", size_bytes=20_000)
        for at in times])
    db.session.commit()
    began = time.perf_counter()
    tp = throughput.node_throughput(node.id, now)
    took = time.perf_counter() - began
    first_day = utc_start_of(local_today() - dt.timedelta(days=13))
    assert sum(b.objects for b in tp.days) == sum(1 for at in times if at >= first_day)
    assert sum(b.objects for b in tp.hours) == sum(1 for at in times if at >= now.replace(minute=0, second=0, microsecond=0) - dt.timedelta(hours=23))
    print(f"throughput over 50,000 rows: {took * 1000:.0f} ms")
    assert took < 2.0
    if db.engine.dialect.name == "sqlite":
        plan = " ".join(str(r) for r in db.session.execute(text(
            "EXPLAIN QUERY PLAN SELECT substr(at, 1, 13), count(*) FROM dicom_transaction "
            "WHERE scp_id = :n AND operation = 'C-STORE' AND at >= :t GROUP BY 1"), {"n": node.id, "t": start}))
        assert "ix_dicom_transaction_scp_op_at" in plan, plan
