"""`doseapp qr` exit status, the web query page flow (submit -> job -> review -> Retrieve) and
scheduled queries, against a real PACS (Orthanc)."""
from __future__ import annotations

import re

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from doseapp.runtime import scheduler
from doseapp.cli.qr import qr_command
from doseapp.dicomnet.qr_jobs import start_due
from doseapp.models import DicomQuery, DicomScheduledQuery, Job, db
from tests.conftest import run_cli
from tests.qr.conftest import QUERY_DAY, day, imported_sop_uids, log_in, study_by_uid, work

DAY = f"{QUERY_DAY[:4]}-{QUERY_DAY[4:6]}-{QUERY_DAY[6:]}"


def test_cli_exit_status_is_zero_only_when_everything_selected_was_retrieved(nodes, pacs, app, app_env):
    ct = ["-ct", "-f", DAY, "-t", DAY]
    done = run_cli(["qr", "Test PACS", "QR store", *ct, "--query-only"], app_env)
    assert done.returncode == 0, done.stderr
    assert "2 of 3 studies selected: CT 2" in done.stdout and imported_sop_uids() == set()

    # C-MOVE while our Store SCP is not running: the PACS cannot deliver, so the run failed.
    done = run_cli(["qr", "Test PACS", "QR store", *ct], app_env)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "0 of 2 objects received by C-MOVE; 2 requests failed" in done.stdout

    done = run_cli(["qr", "Test PACS", "QR store", *ct, "--get"], app_env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 of 2 objects received by C-GET" in done.stdout and "Series query 1 of 3" in done.stderr
    work(app)
    assert imported_sop_uids() == {pacs.sop("ct_rdsr"), pacs.sop("ct_philips")}
    assert study_by_uid(pacs.uid("ct_philips")).total_dlp_mgycm == pytest.approx(1102.446, abs=0.01)

    usage = CliRunner().invoke(qr_command, ["Test PACS", "QR store", "-sr", "-ct"])  # refused before any work
    assert usage.exit_code == 2 and "-sr cannot be used with -ct" in usage.output
    assert run_cli(["qr", "No such PACS", "QR store", *ct], app_env).returncode == 1


@pytest.fixture
def importqr_client(client, no_csrf):
    log_in(client, "qr-web", "importqr")
    return client


def test_web_query_page_submit_review_retrieve(nodes, pacs, store_scp, importqr_client, app):
    remote, store = nodes
    page = importqr_client.get("/qr/").get_data(as_text=True)
    assert 'name="mod_CT"' in page and f'value="{remote.id}"' in page
    echo = importqr_client.get("/qr/echo").get_data(as_text=True)
    assert "Test PACS ✓ responding to DICOM echo" in echo and "QR store ✓ responding to DICOM echo" in echo

    refused = importqr_client.post("/qr/", data={"remote_id": remote.id, "store_id": store.id, "date_from": DAY})
    assert refused.status_code == 400 and "Choose at least one modality" in refused.get_data(as_text=True)

    resp = importqr_client.post("/qr/", data={"remote_id": remote.id, "store_id": store.id, "mod_MG": "on", "mod_DX": "on",
                                              "date_from": DAY, "date_until": DAY, "desc_exclude": "imported",
                                              "remove_duplicates": "on", "method": "move"})
    assert resp.status_code == 302
    query_id = int(re.search(r"/qr/queries/(\d+)", resp.location).group(1))
    queued = importqr_client.get(f"/qr/queries/{query_id}/progress").get_data(as_text=True)
    assert "every 2s" in queued  # polled while the job is queued
    work(app)
    review = importqr_client.get(f"/qr/queries/{query_id}").get_data(as_text=True)
    assert "<td>Mammography</td><td>1</td>" in review and "<td>Radiography</td><td>1</td>" in review
    assert ">Retrieve</button>" in review and "every 2s" not in review

    assert importqr_client.post(f"/qr/queries/{query_id}/retrieve").status_code == 302
    work(app)
    done = importqr_client.get(f"/qr/queries/{query_id}/progress").get_data(as_text=True)
    assert "3 of 3 objects received" in done and ">Retrieve</button>" not in done
    assert imported_sop_uids() == {pacs.sop("mg", 0), pacs.sop("mg", 1), pacs.sop("dx")}
    query = db.session.get(DicomQuery, query_id)
    assert db.session.get(Job, query.retrieve_job_id).status == "finished" and query.move_complete


def test_abort_cancels_a_queued_query(nodes, importqr_client, app):
    remote, store = nodes
    resp = importqr_client.post("/qr/", data={"remote_id": remote.id, "store_id": store.id, "mod_CT": "on",
                                              "date_from": DAY, "method": "get"})
    query_id = int(resp.location.rsplit("/", 1)[1])
    importqr_client.post(f"/qr/queries/{query_id}/abort")
    work(app)
    query = db.session.get(DicomQuery, query_id)
    assert db.session.get(Job, query.job_id).status == "cancelled" and not query.complete


def test_scheduled_query_runs_when_due_and_keeps_its_history(nodes, pacs, app, client):
    remote, store = nodes
    assert ("qr_schedule", "qr", 60) in scheduler.PERIODIC
    saved = DicomScheduledQuery(name="Hourly DX", remote_node_id=remote.id, store_scp_id=store.id, interval_minutes=60,
                                days_back=1, retrieve=True, enabled=True,
                                parameters={"modalities": ["DX"], "desc_exclude": ["imported"], "remove_duplicates": True,
                                            "method": "get"})
    db.session.add(saved)
    db.session.commit()
    runs = start_due(today=day(QUERY_DAY))
    assert len(runs) == 1 and runs[0].parameters["date_from"] == "20260114" and runs[0].parameters["date_until"] == QUERY_DAY
    assert start_due(today=day(QUERY_DAY)) == []  # not due again for an hour
    work(app)
    assert imported_sop_uids() == {pacs.sop("dx")}
    db.session.expire_all()
    saved = db.session.get(DicomScheduledQuery, saved.id)
    saved.next_run_at = None  # due again: the second run finds only what it already has
    db.session.commit()
    start_due(today=day(QUERY_DAY))
    work(app)
    runs = db.session.scalars(select(DicomQuery).where(DicomQuery.scheduled_query_id == saved.id)
                              .order_by(DicomQuery.id)).all()
    assert [(q.objects_requested, q.objects_received) for q in runs] == [(1, 1), (0, 0)]

    log_in(client, "qr-admin", "admin")
    page = client.get(f"/qr/admin/scheduled/{saved.id}").get_data(as_text=True)
    assert all(f"/qr/queries/{q.id}" in page for q in runs) and "1 of 1" in page and "0 of 0" in page


def test_remote_nodes_from_the_command_line_and_the_admin_page(app, app_env, client, no_csrf):
    from doseapp.models import AuditEntry, DicomRemoteNode

    done = run_cli(["node", "add-remote", "PACS 2", "--aet", "PACS2", "--host", "pacs.example.org", "--port", "104",
                    "--our-aet", "DOSEAPP2", "--use-modality-tag", "--no-get"], app_env)
    assert done.returncode == 0, done.stderr
    bad = run_cli(["node", "add-remote", "PACS 3", "--aet", "BACK\\SLASH", "--host", "10.0.0.1", "--port", "104"],
                  app_env)
    assert bad.returncode == 1 and "An AE title is 1 to 16 characters" in bad.stderr
    db.session.rollback()
    row = db.session.scalar(select(DicomRemoteNode).where(DicomRemoteNode.name == "PACS 2"))
    assert (row.hostname, row.ip, row.calling_aetitle, row.use_modality_tag, row.supports_move, row.supports_get) == \
        ("pacs.example.org", None, "DOSEAPP2", True, True, False)

    log_in(client, "qr-admin2", "admin")
    form = {"name": "PACS 4", "aetitle": "PACS4", "port": "11112", "ip": "192.168.1.100", "supports_move": "on",
            "enabled": "on", "acse_timeout": "30", "dimse_timeout": "120", "network_timeout": "120"}
    assert client.post("/qr/admin/remotes/new", data=form).status_code == 302
    clash = client.post("/qr/admin/remotes/new", data=form)
    assert clash.status_code == 400 and "already a remote node called PACS 4" in clash.get_data(as_text=True)
    listing = client.get("/qr/admin/remotes").get_data(as_text=True)
    assert "192.168.1.100:11112" in listing and "DOSEAPP2" in listing
    entries = db.session.scalars(select(AuditEntry).where(AuditEntry.action.like("qr.%")).order_by(AuditEntry.id))
    actions = [(a.action, a.target) for a in entries]
    assert actions == [("qr.remote_save", "PACS 2"), ("qr.remote_save", "PACS 4")]


def test_admin_saves_a_scheduled_query_from_the_form(nodes, client, no_csrf):
    remote, store = nodes
    log_in(client, "qr-admin3", "admin")
    form = {"name": "Hourly CT", "remote_id": remote.id, "store_id": store.id, "interval_minutes": "60", "days_back": "1",
            "mod_CT": "on", "desc_exclude": "imported, QA", "remove_duplicates": "on", "method": "get",
            "retrieve": "on", "enabled": "on"}
    refused = client.post("/qr/admin/scheduled", data=form | {"interval_minutes": "1"})
    assert refused.status_code == 400 and "The interval (minutes) must be between 5 and 10080" in refused.get_data(as_text=True)
    assert client.post("/qr/admin/scheduled", data=form).status_code == 302
    saved = db.session.scalar(select(DicomScheduledQuery).where(DicomScheduledQuery.name == "Hourly CT"))
    assert (saved.interval_minutes, saved.days_back, saved.retrieve, saved.next_run_at) == (60, 1, True, None)
    assert saved.parameters["modalities"] == ["CT"] and saved.parameters["desc_exclude"] == ["imported", "qa"]
    assert saved.parameters["method"] == "get" and saved.parameters["date_from"] is None
    page = client.get(f"/qr/admin/scheduled/{saved.id}").get_data(as_text=True)
    assert 'name="mod_CT" checked' in page and 'value="imported, qa"' in page and "It has not run yet." in page
    refused = client.post(f"/qr/admin/remotes/{remote.id}/delete", follow_redirects=True).get_data(as_text=True)
    assert "used by scheduled queries (Hourly CT)" in refused and db.session.get(type(remote), remote.id) is not None
