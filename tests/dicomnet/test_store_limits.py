"""What a node refuses, and how it says so, with real senders: a UID with a non-ASCII byte, an
object over the node's maximum size, an association with no presentation context the node accepts;
and a big object, which is streamed to disk rather than held in the node's memory."""
from __future__ import annotations

from pathlib import Path

import pydicom
from pynetdicom import AE
from sqlalchemy import select

from doseapp.models import DicomStoreScp, DicomTransaction, db
from tests.conftest import TESTDATA
from tests.dicomnet.conftest import RDSR, PeakRss, big_object, sop_uid, storescu, stores, wait_running, wait_until

RDSR_CLASS = "1.2.840.10008.5.1.4.1.1.88.67"


def _rows(node_id: int, operation: str) -> list[DicomTransaction]:
    db.session.rollback()
    return db.session.scalars(select(DicomTransaction).where(DicomTransaction.scp_id == node_id,
                                                             DicomTransaction.operation == operation)
                              .order_by(DicomTransaction.id)).all()


def _spool_files(instance: Path, aetitle: str) -> list[Path]:
    return [p for p in (instance / "spool" / aetitle).rglob("*") if p.is_file()]


def test_a_uid_with_a_non_ascii_byte_is_refused_cleanly_and_logged(app, scp_env, procs, make_node):
    node = make_node("UIDCHECK")
    procs.supervisor()
    wait_running(node)
    bad = pydicom.dcmread(RDSR)
    bad.SOPInstanceUID = "1.2.826.0.1.3680043.2.1125.7\xe9"  # é: one byte 0xE9 on the wire
    good = pydicom.dcmread(RDSR)
    ae = AE(ae_title="UIDSCU")
    ae.add_requested_context(RDSR_CLASS, str(bad.file_meta.TransferSyntaxUID))
    assoc = ae.associate("127.0.0.1", node.port, ae_title="UIDCHECK")
    try:
        assert assoc.is_established
        refused = assoc.send_c_store(bad)
        accepted = assoc.send_c_store(good)  # the association goes on
    finally:
        assoc.release()
        ae.shutdown()
    assert (refused.Status, accepted.Status) == (0xC000, 0x0000)
    # The node writes its transaction log in batches: wait for both rows before comparing them.
    rows = wait_until(lambda: (lambda r: r if len(r) >= 2 else None)(_rows(node.id, "C-STORE")), 10,
                      what="two C-STORE rows in the node's log")
    assert [(r.status, r.sop_instance_uid, r.calling_aetitle) for r in rows] == [
        ("0xC000", "1.2.826.0.1.3680043.2.1125.7\\xe9", "UIDSCU"), ("success", str(good.SOPInstanceUID), "UIDSCU")]
    assert rows[0].error == ("the Affected SOP Instance UID 1.2.826.0.1.3680043.2.1125.7\\xe9 holds a space or a "
                             "character that is not printable ASCII")
    instance = Path(scp_env["DOSEAPP_INSTANCE"])
    assert [sop_uid(p) for p in _spool_files(instance, "UIDCHECK")] == [str(good.SOPInstanceUID)]
    log_text = (instance / "logs" / "scp-UIDCHECK.log").read_text()
    assert "C-STORE 1.2.826.0.1.3680043.2.1125.7\\xe9 refused (0xC000)" in log_text
    assert "Traceback" not in log_text


def test_association_with_no_acceptable_presentation_context_is_logged_as_refused(app, scp_env, procs, make_node):
    node = make_node("RDSRONLY", sop_classes=[RDSR_CLASS])
    procs.supervisor()
    wait_running(node)
    sent = storescu(node.port, "RDSRONLY", [TESTDATA / "MG-Im-GE_Seno_1_ForPresentation.dcm"], calling="MAMMO1")
    assert sent.returncode != 0
    rows = wait_until(lambda: _rows(node.id, "ASSOCIATE"), 10, what="the refused association in the node's log")
    assert [(r.calling_aetitle, r.status, r.error) for r in rows] == [
        ("MAMMO1", "rejected", "no acceptable presentation context: Digital Mammography X-Ray Image Storage - "
                               "For Presentation offered")]
    assert stores(node_id=node.id) == 0


def test_big_object_is_streamed_to_disk_and_one_over_the_maximum_size_is_refused(app, scp_env, procs, make_node,
                                                                                 tmp_path):
    big = big_object(tmp_path / "big.dcm", 96)
    size = big.stat().st_size
    roomy = make_node("ROOMY")
    capped = make_node("CAPPED", max_object_mb=64)
    procs.supervisor()
    wait_running(roomy)
    wait_running(capped)

    with PeakRss(db.session.get(DicomStoreScp, roomy.id).pid) as rss:
        sent = storescu(roomy.port, "ROOMY", [big])
    assert sent.returncode == 0 and stores(node_id=roomy.id) == 1, sent.stderr[-2000:]
    # Held in memory the node grew by the object's size (96 MB); streamed, by a few MB.
    assert rss.peak - rss.before < 16 * 2**20, (rss.before, rss.peak)
    instance = Path(scp_env["DOSEAPP_INSTANCE"])
    [kept] = _spool_files(instance, "ROOMY")
    # The data set as sent, behind our file header (which differs from pydicom's by a few bytes).
    assert sop_uid(kept) == sop_uid(big) and abs(kept.stat().st_size - size) < 256
    with open(big, "rb") as sent_file, open(kept, "rb") as kept_file:
        sent_file.seek(-2**20, 2)
        kept_file.seek(-2**20, 2)
        assert sent_file.read() == kept_file.read()

    storescu(capped.port, "CAPPED", [big, RDSR])
    rows = _rows(capped.id, "C-STORE")
    assert [(r.status, r.sop_instance_uid) for r in rows] == [("0xA700", sop_uid(big)), ("success", sop_uid(RDSR))]
    assert rows[0].error == f"object is {rows[0].size_bytes / 2**20:.1f} MB, over this node's maximum object size of 64 MB"
    assert [sop_uid(p) for p in _spool_files(instance, "CAPPED")] == [sop_uid(RDSR)]
