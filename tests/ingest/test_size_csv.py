"""Patient height and weight from CSV: matching by accession number (plain and hashed) and by Study
Instance UID, never overwriting unless asked, first row wins, bad rows logged; the CLI."""
from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from doseapp.ingest.size_csv import SizeCsvError, import_sizes
from doseapp.models import Study, SystemSettings, db
from tests.conftest import run_cli

PHILIPS_UID = "1.3.6.1.4.1.5962.99.1.902245636.1256219246.1495550897412.3.0"


def _study(accession=None, uid=None) -> Study:
    db.session.expire_all()
    where = Study.study_instance_uid == uid if uid else Study.accession_number == accession
    return db.session.scalar(select(Study).where(where))


def _csv(tmp_path: Path, text: str, name="sizes.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def studies(imp):
    imp("DX-Im-GE_XR220-1.dcm", "MG-Im-GE-SenDS-scaled.dcm", "CT-SC-Philips_Brilliance16P.dcm")


def test_by_accession_then_again_then_overwrite(app, studies, tmp_path):
    csv = _csv(tmp_path, "Acc,Height (cm),Weight\n00938475,184,82.5\nAAAA9876,162,\n"
                         "NOSUCH,170,70\n00938475,150,50\nXYZ,tall,60\n")
    result = import_sizes(csv, id_col="Acc", height_col="Height (cm)", weight_col="Weight")
    assert (result.rows, result.matched_rows, result.heights_inserted, result.weights_inserted) == (5, 2, 2, 1)
    # XYZ: a bad height, and its weight matches no study either
    assert (result.unmatched_rows, result.repeated_rows, result.bad_rows) == (2, 1, 1)
    dx = _study("00938475")
    assert dx.patient_height_m == pytest.approx(1.84) and dx.patient_weight_kg == pytest.approx(82.5)
    assert _study("AAAA9876").patient_height_m == pytest.approx(1.62)
    log = Path(result.log_path).read_bytes().decode()
    assert "\r\n" in log
    assert "Inserted height of 184 cm" in log and "Inserted weight of 82.5 kg" in log
    assert "NOSUCH: no study with this accession number" in log
    assert "00938475 appeared on an earlier row" in log
    assert "height 'tall' not a number" in log
    assert Path(result.log_path).parent == Path(app.config["INSTANCE"]) / "size_imports"

    again = import_sizes(csv, id_col="Acc", height_col="Height (cm)", weight_col="Weight")
    assert (again.heights_inserted, again.weights_inserted, again.kept_existing) == (0, 0, 3)
    assert "Height of 184 cm not inserted as 184 cm is already in the database" in Path(again.log_path).read_text()
    assert _study("00938475").patient_height_m == pytest.approx(1.84)

    changed = _csv(tmp_path, "Acc,Height (cm),Weight\n00938475,190,90\n", "changed.csv")
    kept = import_sizes(changed, id_col="Acc", height_col="Height (cm)", weight_col="Weight")
    assert kept.kept_existing == 2 and _study("00938475").patient_weight_kg == pytest.approx(82.5)
    replaced = import_sizes(changed, id_col="Acc", height_col="Height (cm)", weight_col="Weight", overwrite=True)
    assert (replaced.heights_inserted, replaced.weights_inserted) == (1, 1)
    dx = _study("00938475")
    assert (dx.patient_height_m, dx.patient_weight_kg) == (pytest.approx(1.90), pytest.approx(90))


def test_by_study_instance_uid_with_semicolons_and_decimal_commas(app, studies, tmp_path):
    csv = _csv(tmp_path, f"uid;h;w\n{PHILIPS_UID};172,5;68,2\n")
    result = import_sizes(csv, id_col="uid", height_col="h", weight_col="w", si_uid=True)
    assert (result.heights_inserted, result.weights_inserted) == (1, 1)
    ct = _study(uid=PHILIPS_UID)
    assert (ct.patient_height_m, ct.patient_weight_kg) == (pytest.approx(1.725), pytest.approx(68.2))


def test_hashed_accession_numbers_match(app, imp, tmp_path):
    settings = SystemSettings.get()
    settings.accession_hashed = True
    db.session.commit()
    imp("DX-Im-GE_XR220-1.dcm")
    stored = db.session.scalar(select(Study))
    assert stored.accession_hashed and stored.accession_number != "00938475"
    result = import_sizes(_csv(tmp_path, "acc,weight\n00938475,77\n"), id_col="acc", height_col=None,
                          weight_col="weight")
    assert result.weights_inserted == 1
    db.session.expire_all()
    assert db.session.scalar(select(Study)).patient_weight_kg == 77


def test_missing_column_is_an_error(app, tmp_path):
    with pytest.raises(SizeCsvError, match="'Height' is not in the file"):
        import_sizes(_csv(tmp_path, "acc,weight\n1,2\n"), id_col="acc", height_col="Height", weight_col="weight")


def test_cli(app, app_env, studies, tmp_path):
    csv = _csv(tmp_path, "StudyUID,H,W\n" + PHILIPS_UID + ",180,80\n1.2.3,170,60\n")
    args = ["size-import", str(csv), "--id-col", "StudyUID", "--height-col", "H", "--weight-col", "W", "--si-uid"]
    out = run_cli(args + ["--verbose"], app_env)
    assert out.returncode == 0, out.stderr
    assert "Inserted height of 180 cm" in out.stdout and "1 heights and 1 weights inserted" in out.stdout
    assert "1.2.3: no study" in out.stdout
    assert _study(uid=PHILIPS_UID).patient_height_m == pytest.approx(1.8)
    second = run_cli(args, app_env)
    assert "0 heights and 0 weights inserted; 2 existing values kept" in second.stdout
    third = run_cli(args + ["--overwrite"], app_env)
    assert "1 heights and 1 weights inserted" in third.stdout
    bad = run_cli(["size-import", str(csv), "--id-col", "Nope", "--height-col", "H"], app_env)
    assert bad.returncode != 0 and "'Nope' is not in the file" in bad.stderr


def test_abort_keeps_what_was_written_and_says_where_it_stopped(app, studies, tmp_path):
    from doseapp.runtime.queues import JobCancelled

    lines = ["acc,w", "00938475,70"] + [f"X{n},60" for n in range(120)]
    csv = _csv(tmp_path, "\n".join(lines) + "\n")
    calls = []

    def progress(done, total, message):
        calls.append((done, total, message))
        raise JobCancelled()

    with pytest.raises(JobCancelled):
        import_sizes(csv, id_col="acc", height_col=None, weight_col="w", progress=progress,
                     log_path=tmp_path / "abort.log")
    assert calls == [(50, 121, "Processing row 50 of 121")]
    assert _study("00938475").patient_weight_kg == 70
    assert "Import stopped after row 50 of 121" in (tmp_path / "abort.log").read_text()
