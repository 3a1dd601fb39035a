"""An object the Store SCP acknowledged but that cannot be imported is seen: its job is failed (not
retried by RQ), it is in quarantine with its sender's calling AE title, and the node's dashboard,
the home page and the top bar count it. Real SCP (dcmtk storescu) and a real worker."""
from __future__ import annotations

import re
from pathlib import Path

import pydicom
from rq.job import Job as RQJob
from sqlalchemy import select

from doseapp.dicomnet.monitor import node_stats
from doseapp.models import DicomStoreScp, Job, QuarantinedObject, db
from doseapp.runtime.queues import redis_connection
from tests.conftest import TESTDATA
from tests.dicomnet.conftest import count, imported_sop_uids, rdsr_copies, sop_uid, storescu, wait_running
from tests.web.config_helpers import login


def _broken_rdsr(path: Path) -> Path:
    """A dose report with its content tree removed: DICOM that reads, but has no dose data to import."""
    ds = pydicom.dcmread(TESTDATA / "CT-RDSR-Siemens_Flash-TAP-SS.dcm")
    del ds.ContentSequence
    ds.save_as(path, enforce_file_format=True)
    return path


def _import_jobs() -> list[Job]:
    db.session.rollback()
    return db.session.scalars(select(Job).where(Job.kind == "import_file").order_by(Job.id)).all()


def _text(html: str, element_id: str) -> str:
    found = re.search(rf'id="{element_id}"[^>]*>(.*?)</', html, re.S)
    return re.sub(r"\s+", " ", found.group(1)).strip() if found else ""


def test_failed_import_is_a_failed_job_in_quarantine_and_counted(app, client, scp_env, procs, make_node, tmp_path):
    bad = _broken_rdsr(tmp_path / "broken.dcm")
    [good] = rdsr_copies(tmp_path / "good", 1)
    node = make_node("FAILSTORE")
    procs.supervisor()
    wait_running(node)
    sent = storescu(node.port, "FAILSTORE", [bad, good], calling="CTSCANNER1")
    assert sent.returncode == 0, sent.stderr[-2000:]
    procs.worker_burst()

    failed, finished = _import_jobs()
    assert (failed.status, finished.status) == ("failed", "finished"), (failed.message, finished.message)
    assert failed.message.startswith("Failed: ") and failed.ended_at is not None
    # RQ saw a job that ended normally: nothing is retried (the object is in quarantine, not lost).
    rq_job = RQJob.fetch(failed.rq_id, connection=redis_connection())
    assert rq_job.get_status() == "finished"
    row = db.session.get(QuarantinedObject, failed.result["quarantine_id"])
    assert (row.source, row.calling_ae, row.sop_instance_uid) == ("scp:FAILSTORE", "CTSCANNER1", sop_uid(bad))
    assert failed.message == f"Failed: {row.reason}"
    kept = Path(row.path)
    assert kept.parent == Path(scp_env["DOSEAPP_INSTANCE"]) / "quarantine" and sop_uid(kept) == sop_uid(bad)
    assert imported_sop_uids() == [sop_uid(good)]

    stats = node_stats(db.session.get(DicomStoreScp, node.id))
    assert (stats["errors_today"], stats["failed_imports_today"], stats["in_quarantine"]) == (1, 1, 1)

    login(client, "boss", roles=("admin", "viewer"))
    dashboard = client.get(f"/dicom/nodes/{node.id}/dashboard").get_data(as_text=True)
    assert _text(dashboard, "errors-today").startswith("1 today, 1 in total")
    assert "1 object of this node in quarantine" in dashboard
    home = client.get("/").get_data(as_text=True)
    assert (_text(home, "home-quarantine"), _text(home, "home-failed-jobs")) == ("1", "1")
    jobs_page = client.get("/jobs/").get_data(as_text=True)
    assert (_text(jobs_page, "quarantine-badge"), _text(jobs_page, "failed-jobs-badge")) == (
        "1 in quarantine", "1 failed")
    job_page = client.get(f"/jobs/{failed.id}").get_data(as_text=True)
    assert f'/quarantine/?id={row.id}' in job_page

    # A viewer acts on neither: no counts for them.
    client.post("/logout", data={"csrf_token": re.search(r'name="csrf_token" value="([^"]+)"', home).group(1)})
    login(client, "vera", roles=("viewer",))
    assert 'id="problems"' not in client.get("/").get_data(as_text=True)

    # The sender sends the same object again: one more failed import, still one copy in quarantine.
    again = storescu(node.port, "FAILSTORE", [bad], calling="CTSCANNER1")
    assert again.returncode == 0, again.stderr[-2000:]
    procs.worker_burst()
    latest = _import_jobs()[-1]
    assert latest.status == "failed" and f"already in quarantine (object {row.id})" in latest.message
    assert count(QuarantinedObject) == 1
    # Nothing left in the spool (its .incoming folder is where objects stream in while they arrive).
    spool = Path(scp_env["DOSEAPP_INSTANCE"]) / "spool" / "FAILSTORE"
    assert [p for p in spool.rglob("*") if p.is_file()] == []
    stats = node_stats(db.session.get(DicomStoreScp, node.id))
    assert (stats["errors_today"], stats["failed_imports_total"], stats["in_quarantine"]) == (2, 2, 1)
