"""The import job's outcome on its row: failed (not raised into RQ's retry) for an object that went to
quarantine, and "duplicate" for a received object a stopped earlier run already imported and filed."""
from __future__ import annotations

import shutil

import pydicom

from doseapp.ingest import import_file
from doseapp.models import Job, QuarantinedObject, db
from doseapp.runtime.jobs import execute
from tests.conftest import TESTDATA


def _job(parameters: dict) -> Job:
    row = Job(kind="import_file", queue="import", status="queued", rq_id=f"t-{id(parameters)}", parameters=parameters)
    db.session.add(row)
    db.session.commit()
    return row


def test_a_file_that_fails_makes_a_failed_job_linked_to_quarantine(app, tmp_path):
    spool = tmp_path / "spool"
    spool.mkdir()
    (spool / "junk.dcm").write_bytes(b"not DICOM at all")
    row = _job({"path": str(spool / "junk.dcm"), "source": "scp:STORE", "owned": True, "calling_ae": "MOD1"})
    result = execute(row.id, row.rq_id)  # returns: nothing raised for RQ to retry
    row = db.session.get(Job, row.id)
    kept = db.session.get(QuarantinedObject, result["quarantine_id"])
    assert (row.status, row.message) == ("failed", f"Failed: {kept.reason}")
    assert row.result == result and (kept.source, kept.calling_ae) == ("scp:STORE", "MOD1")
    assert not (spool / "junk.dcm").exists()  # ours: moved into quarantine


def test_a_rerun_after_its_object_was_imported_and_filed_is_a_duplicate(app, tmp_path):
    path = tmp_path / "received.dcm"
    shutil.copy(TESTDATA / "RF-RDSR-GE.dcm", path)
    uid = str(pydicom.dcmread(path).SOPInstanceUID)
    assert import_file(path, owned=True, source="scp:STORE").status == "imported"
    assert not path.exists()  # filed away under objects/
    row = _job({"path": str(path), "source": "scp:STORE", "owned": True, "sop_instance_uid": uid})
    result = execute(row.id, row.rq_id)
    assert (result["status"], db.session.get(Job, row.id).status) == ("duplicate", "finished")
    # Gone and never imported: failed, with the reason, and nothing to put in quarantine.
    row = _job({"path": str(tmp_path / "never.dcm"), "source": "scp:STORE", "owned": True,
                "sop_instance_uid": "1.2.3.999"})
    result = execute(row.id, row.rq_id)
    assert (result["status"], result["reason"], result["quarantine_id"]) == ("failed", "no such file or folder", None)
    assert db.session.get(Job, row.id).message == "Failed: no such file or folder"
