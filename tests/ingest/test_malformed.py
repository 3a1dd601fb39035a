"""Bad input gives `failed` with a reason and the file in quarantine: never an unhandled exception,
never a partial study."""
from __future__ import annotations

import random
import shutil
import subprocess
import sys

import pydicom
import pytest
from pydicom.dataset import FileMetaDataset
from sqlalchemy import func, select

from doseapp.ingest import import_file, retry_quarantine
from doseapp.models import CtEvent, QuarantinedObject, Study, XrayEvent, db
from tests.conftest import TESTDATA, run_cli
from tests.ingest.conftest import study_count
from tests.ingest.test_import_values import SR_FILES

FLASH = "CT-RDSR-Siemens_Flash-TAP-SS.dcm"


def _event_rows() -> int:
    return (db.session.scalar(select(func.count()).select_from(CtEvent))
            + db.session.scalar(select(func.count()).select_from(XrayEvent)))


def _assert_quarantined(result, original_bytes: bytes):
    assert result.status == "failed" and result.reason, result
    row = db.session.get(QuarantinedObject, result.quarantine_id)
    assert row.reason == result.reason
    with open(row.path, "rb") as fh:
        assert fh.read() == original_bytes  # kept exactly as received
    assert study_count() == 0 and _event_rows() == 0


def test_truncated_files(app, tmp_path):
    data = (TESTDATA / FLASH).read_bytes()
    for cut in (200, len(data) // 3, len(data) // 2, len(data) - 50):
        path = tmp_path / f"cut{cut}.dcm"
        path.write_bytes(data[:cut])
        result = import_file(path)
        _assert_quarantined(result, data[:cut])
        assert path.exists()  # a user's file is copied into quarantine, not taken


def test_not_dicom(app, tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("this is not a DICOM object\n" * 20)
    result = import_file(path)
    _assert_quarantined(result, path.read_bytes())
    assert "not a readable DICOM file" in result.reason


def test_unknown_declared_character_set(app, tmp_path):
    # Non-ASCII text under a character set nobody knows cannot be read reliably: quarantined.
    ds = pydicom.dcmread(TESTDATA / FLASH)
    ds.SpecificCharacterSet = "ISO_IR 999"
    path = tmp_path / "charset.dcm"
    ds.save_as(path)
    result = import_file(path)
    _assert_quarantined(result, path.read_bytes())
    assert "unknown character set 'ISO_IR 999'" in result.reason
    # Where all text is ASCII the declaration changes nothing: imported, with a warning.
    ds = pydicom.dcmread(TESTDATA / "RF-RDSR-GE.dcm")
    ds.SpecificCharacterSet = "ISO_IR 999"
    ds.save_as(path)
    result = import_file(path)
    assert result.status == "imported"
    assert any("ISO_IR 999" in w for w in result.warnings), result.warnings


def test_dose_sr_missing_required_items(app, tmp_path):
    ds = pydicom.dcmread(TESTDATA / FLASH)
    del ds.ContentSequence
    path = tmp_path / "empty.dcm"
    ds.save_as(path)
    result = import_file(path)
    _assert_quarantined(result, path.read_bytes())

    ds = pydicom.dcmread(TESTDATA / FLASH)
    del ds.StudyInstanceUID
    path = tmp_path / "nostudy.dcm"
    ds.save_as(path)
    _assert_quarantined(import_file(path), path.read_bytes())


@pytest.mark.parametrize("name", SR_FILES)
def test_random_byte_flips(app, tmp_path, name):
    """Flip one random byte (three seeds per file): the import is whole or failed, nothing between."""
    data = (TESTDATA / name).read_bytes()
    for seed in range(3):
        rng = random.Random(f"{name}-{seed}")
        flipped = bytearray(data)
        at = rng.randrange(132, len(data))  # past the preamble and DICM prefix
        flipped[at] ^= 1 << rng.randrange(8)
        path = tmp_path / f"{seed}-{name}"
        path.write_bytes(bytes(flipped))
        before = study_count()
        result = import_file(path)
        assert result.status in ("imported", "duplicate", "rejected", "failed"), result
        if result.status == "failed":
            assert result.reason and db.session.get(QuarantinedObject, result.quarantine_id) is not None
            assert study_count() == before
        elif result.status == "imported":
            study = db.session.get(Study, result.study["id"])
            assert study.number_of_events == len(study.ct_events) + len(study.xray_events) + len(study.nm_administrations)
        db.session.execute(Study.__table__.delete())
        db.session.commit()


def test_retry_quarantine_imports_what_now_reads(app, tmp_path):
    data = (TESTDATA / FLASH).read_bytes()
    bad = tmp_path / "later.dcm"
    bad.write_bytes(data[:300])
    failed = import_file(bad)
    assert failed.status == "failed"
    row = db.session.get(QuarantinedObject, failed.quarantine_id)
    # Still broken: stays, with its retry counted.
    assert [r.status for r in retry_quarantine()] == ["failed"]
    db.session.refresh(row)
    assert row.retry_count == 1 and db.session.scalar(select(func.count()).select_from(QuarantinedObject)) == 1
    # Repaired in place (as an admin would after fixing the cause): now it imports and leaves quarantine.
    shutil.copy(TESTDATA / FLASH, row.path)
    results = retry_quarantine()
    assert [r.status for r in results] == ["imported"] and results[0].file == str(bad)
    assert db.session.scalar(select(func.count()).select_from(QuarantinedObject)) == 0
    assert study_count() == 1


def test_import_command_json_and_exit_status(app, app_env, tmp_path):
    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    shutil.copy(TESTDATA / "RF-RDSR-GE.dcm", folder / "sub" / "a.dcm")
    shutil.copy(TESTDATA / "ESR_non-dose.dcm", folder / "b.dcm")
    done = run_cli(["import", "--json", str(folder)], app_env)
    assert done.returncode == 0, done.stderr
    lines = [__import__("json").loads(line) for line in done.stdout.splitlines()]
    assert [(line["file"].rsplit("/", 1)[1], line["status"]) for line in lines] == [("b.dcm", "rejected"), ("a.dcm", "imported")]
    assert set(lines[1]) == {"file", "status", "reason", "warnings", "study", "quarantine_id"}
    assert lines[1]["study"]["total_dap_Gy_m2"] == pytest.approx(0.00024126, rel=1e-6)
    (folder / "bad.dcm").write_bytes(b"garbage")
    done = run_cli(["import", "--json", str(folder)], app_env)
    assert done.returncode == 1
    assert [__import__("json").loads(x)["status"] for x in done.stdout.splitlines()] == ["rejected", "failed", "duplicate"]

    shown = run_cli(["study", "show", lines[1]["study"]["study_instance_uid"], "--json"], app_env)
    detail = __import__("json").loads(shown.stdout)
    assert len(detail["xray_events"]) == 8 and detail["planes"][0]["fluoro_dap_total_gym2"] == pytest.approx(0.00024126)
    listed = run_cli(["studies", "--modality", "RF", "--json"], app_env)
    assert [__import__("json").loads(x)["number_of_events"] for x in listed.stdout.splitlines()] == [8]


def test_delete_policy_applies_to_command_line_files(imp, tmp_path):
    from doseapp.models import SystemSettings

    SystemSettings.get().del_rdsr = True
    db.session.commit()
    path = tmp_path / "x.dcm"
    shutil.copy(TESTDATA / "DX-RDSR-Canon_CXDI.dcm", path)
    assert imp(str(path)).status == "imported"
    assert not path.exists()  # as the seed warns: the source file is deleted after processing
