"""Storage cleanup "when full" (DRAW): once a node's spool and kept objects reach its threshold
percentage of its storage limit (or the disk that holds them is that full, with no limit), the oldest
kept objects are deleted until 5 points under it; the deleted files leave the query/retrieve index,
and nothing else does. Real files in the test's instance folder, a real index, a small storage limit."""
from __future__ import annotations

import os
import shutil
import time

import pydicom
from sqlalchemy import select

from doseapp.dicomnet import object_index, storage
from doseapp.dicomnet.upkeep import FULL_MARGIN_PERCENT, cleanup_kept
from doseapp.models import DicomStoredInstance, DicomStoreScp, db
from tests.dicomnet.conftest import rdsr_copies

MIB = 1024 * 1024


def _kept(app, tmp_path, aetitle: str, n: int, padding: int = 0) -> list[tuple[str, int]]:
    """`n` dose reports kept by node `aetitle` and indexed, each a minute older than the next
    (oldest first), each made `padding` bytes larger. Returns [(path, size)], oldest first."""
    folder = storage.objects_dir(app.config["INSTANCE"], aetitle) / "2026" / "01"
    folder.mkdir(parents=True, exist_ok=True)
    start = time.time() - 86400
    kept = []
    for i, source in enumerate(rdsr_copies(tmp_path / f"src-{aetitle}", n)):
        ds = pydicom.dcmread(source)
        if padding:
            ds.private_block(0x0029, "DOSEAPP TEST", create=True).add_new(0x10, "OB", b"x" * padding)
        path = folder / f"{i:03d}.dcm"
        ds.save_as(path)
        os.utime(path, (start + 60 * i, start + 60 * i))
        object_index.record(path, ds, aetitle)
        kept.append((str(path), path.stat().st_size))
    return kept


def _indexed() -> set[str]:
    db.session.expire_all()
    return set(db.session.scalars(select(DicomStoredInstance.path)))


def test_a_full_node_loses_its_oldest_objects_down_to_the_margin_and_they_leave_the_index(app, tmp_path):
    # 20 objects of about 60 kB (1.2 MB) in a 2 MiB limit with "full" at 50 %: full.
    node = DicomStoreScp(name="Full", aetitle="FULLNODE", port=1, storage_limit_mb=2, cleanup_when_full=True,
                         cleanup_full_percent=50, cleanup_enabled=False)
    calm = DicomStoreScp(name="Calm", aetitle="CALMNODE", port=2, storage_limit_mb=2, cleanup_when_full=False)
    db.session.add_all([node, calm])
    db.session.commit()
    kept = _kept(app, tmp_path, "FULLNODE", 20, padding=45_000)
    others = _kept(app, tmp_path, "CALMNODE", 20, padding=45_000)  # as full, but its cleanup is off
    spool = storage.spool_dir(app.config["INSTANCE"], "FULLNODE")
    spool.mkdir(parents=True)
    (spool / "waiting.dcm").write_bytes(b"s" * 100_000)  # counts against the limit, is never deleted
    used = sum(size for _, size in kept) + 100_000
    assert used >= 0.5 * 2 * MIB  # the test's premise: the node is full

    # What should go: the oldest, until spool + kept are at most 45 % of 2 MiB.
    target = (50 - FULL_MARGIN_PERCENT) / 100 * 2 * MIB
    expected, left = [], used
    for path, size in kept:
        if left <= target:
            break
        expected.append(path)
        left -= size

    report = cleanup_kept()
    assert set(report) == {"FULLNODE"}
    full = report["FULLNODE"]["full"]
    assert (full["used_bytes"], full["capacity_bytes"], full["files_removed"]) == (used, 2 * MIB, len(expected))
    assert full["bytes_freed"] == sum(size for path, size in kept if path in expected)
    assert 6 <= len(expected) < 20  # some but not all went
    assert [p for p, _ in kept if not os.path.exists(p)] == expected  # the oldest, and only those
    assert (spool / "waiting.dcm").exists()
    assert storage.tree_size(spool, storage.objects_dir(app.config["INSTANCE"], "FULLNODE")) <= target
    assert _indexed() == {p for p, _ in kept + others} - set(expected)  # the index follows the files
    assert all(os.path.exists(p) for p, _ in others)

    # Under the threshold now: the next run deletes nothing.
    again = cleanup_kept()
    assert again["FULLNODE"]["files_removed"] == 0 and _indexed() == {p for p, _ in kept + others} - set(expected)


def test_with_no_limit_the_disk_is_what_fills(app, tmp_path):
    """No storage limit: the disk holding the objects is measured. A threshold under the disk's real
    use deletes all the node's kept objects (they cannot bring it under); one above it deletes none."""
    disk = shutil.disk_usage(app.config["INSTANCE"])
    used_percent = 100 * disk.used / disk.total
    assert 2 < used_percent < 93, f"the test needs a disk between 2 % and 93 % full ({used_percent:.0f} %)"
    # (set on the row: the form's lowest threshold, 10 %, may be above this disk's use)
    over = DicomStoreScp(name="Over", aetitle="DISKOVER", port=1, cleanup_when_full=True,
                         cleanup_full_percent=int(used_percent) - 1)
    under = DicomStoreScp(name="Under", aetitle="DISKUNDER", port=2, cleanup_when_full=True,
                          cleanup_full_percent=min(int(used_percent) + 6, 99))
    db.session.add_all([over, under])
    db.session.commit()
    gone = _kept(app, tmp_path, "DISKOVER", 3)
    stay = _kept(app, tmp_path, "DISKUNDER", 3)
    report = cleanup_kept()
    assert report["DISKOVER"]["files_removed"] == 3 and report["DISKUNDER"]["files_removed"] == 0
    assert report["DISKOVER"]["full"]["capacity_bytes"] == disk.total
    assert not any(os.path.exists(p) for p, _ in gone) and all(os.path.exists(p) for p, _ in stay)
    assert _indexed() == {p for p, _ in stay}
    # The emptied folders went with the files; the node's own folder stays.
    assert not (storage.objects_dir(app.config["INSTANCE"], "DISKOVER") / "2026").exists()


def test_retention_cleanup_takes_exactly_its_files_out_of_the_index(app, tmp_path):
    node = DicomStoreScp(name="Old", aetitle="AGED", port=1, cleanup_enabled=True, retention_days=1)
    db.session.add(node)
    db.session.commit()
    kept = _kept(app, tmp_path, "AGED", 4)
    old = time.time() - 3 * 86400
    for path, _ in kept[:2]:
        os.utime(path, (old, old))
    report = cleanup_kept()
    assert report == {"AGED": {"files_removed": 2, "bytes_freed": sum(s for _, s in kept[:2])}}
    assert _indexed() == {p for p, _ in kept[2:]}
