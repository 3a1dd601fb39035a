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


# --- files that are not what they say: encodings, binary files, giant fields, impossible values ------

SALLY_ACC = "00938475"  # DX-Im-GE_XR220-1.dcm
PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
       b"\x00\x00\x00\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\x00\x05\x00\x01\xff\x89\x99=\x1d\x00\x00\x00\x00IEND\xaeB`\x82")


def _bytes(tmp_path: Path, data: bytes, name="sizes.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("codec,bom", [("utf-16-le", b"\xff\xfe"), ("utf-16-be", b"\xfe\xff"),
                                       ("utf-8", b"\xef\xbb\xbf"), ("utf-8", b""), ("cp1252", b"")])
def test_encodings_are_recognised(app, studies, tmp_path, codec, bom):
    from doseapp.ingest.size_csv import read_header

    text = "Name\tAccession\tGröße (cm)\tGewicht\r\nMüller^Jörg\t00938475\t181\t79,5\r\nŁukasz\tNOPE\t170\t60\r\n"
    if codec == "cp1252":
        text = text.replace("Ł", "L")  # Windows-1252 has no Ł
    path = _bytes(tmp_path, bom + text.encode(codec))
    assert read_header(path) == ["Name", "Accession", "Größe (cm)", "Gewicht"]
    result = import_sizes(path, id_col="Accession", height_col="Größe (cm)", weight_col="Gewicht")
    assert (result.rows, result.matched_rows, result.heights_inserted, result.weights_inserted) == (2, 1, 1, 1)
    dx = _study(SALLY_ACC)
    assert (dx.patient_height_m, dx.patient_weight_kg) == (pytest.approx(1.81), pytest.approx(79.5))


@pytest.mark.parametrize("data,why", [
    (PNG, "a PNG image"),
    (b"PK\x03\x04\x14\x00\x06\x00" + bytes(range(256)) * 4, "Excel"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(200), "Excel"),
    (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", "a PDF"),
    (bytes(128) + b"DICM\x02\x00\x00\x00UL", "a DICOM file"),
    (b"acc,height\x00,weight\n1,2,3\n", "NUL"),
    ("acc,height\n".encode("utf-16-le"), "NUL"),  # UTF-16 without its byte order mark
    (b"\xff\xfe" + "acc,h\n".encode("utf-16-le") + b"\x00\xd8", "UTF-16"),  # a lone surrogate at the end
    (b"acc,height\n\x81\x8d\x8f\x90\x9d,1\n", "neither UTF-8, UTF-16 nor Windows-1252"),
    (b"acc,height\n12\x07\x1b[31m,1\n", "control characters"),
    (b"just some words without any separators\nmore words\n", "one column"),
    (b"acc," + b"x" * 200_000 + b",weight\n1,2,3\n", "longer than 128 KB"),
    (b"acc," + b"x" * 5000 + b",weight\n1,2,3\n", "not a column name"),
], ids=["png", "xlsx", "xls", "pdf", "dicom", "nul", "utf16-no-bom", "utf16-broken", "undecodable", "controls",
        "no-delimiter", "200kB-header", "long-name"])
def test_files_that_are_not_csv_are_refused(app, studies, tmp_path, data, why):
    from doseapp.ingest.size_csv import read_header

    path = _bytes(tmp_path, data)
    with pytest.raises(SizeCsvError, match=why):
        read_header(path)
    with pytest.raises(SizeCsvError, match=why):
        import_sizes(path, id_col="acc", height_col="height", weight_col=None, log_path=tmp_path / "x.log")
    assert _study(SALLY_ACC).patient_height_m is None


def test_a_giant_field_in_a_data_row_refuses_the_file_before_anything_is_written(app, studies, tmp_path):
    path = _bytes(tmp_path, b"acc,height\n00938475,180\nAAAA9876," + b"1" * 200_000 + b"\n")
    with pytest.raises(SizeCsvError, match="line 3 .*longer than 128 KB"):
        import_sizes(path, id_col="acc", height_col="height", weight_col=None, log_path=tmp_path / "x.log")
    assert _study(SALLY_ACC).patient_height_m is None


def test_values_outside_human_ranges_are_refused_per_row(app, studies, tmp_path):
    path = _csv(tmp_path, "acc,h,w\n"
                          "00938475,1e300,-3\n"       # both impossible
                          "AAAA9876,nan,inf\n"        # MG study: neither a number we take
                          "NOPE1,19.9,700.1\n"        # just outside
                          "NOPE2,1.75,3500\n"         # metres and grams, not cm and kg
                          "1.3.6.1.4.1.5962.99.1.902245636.1256219246.1495550897412.3.0,300,0.2\n")
    result = import_sizes(path, id_col="acc", height_col="h", weight_col="w")
    assert (result.rows, result.bad_rows, result.heights_inserted, result.weights_inserted) == (5, 4, 0, 0)
    log = Path(result.log_path).read_text(encoding="utf-8")
    assert "Row 1: 00938475: height '1e300' outside 20 to 300 cm and weight '-3' outside 0.2 to 700 kg; skipped" in log
    assert "Row 2: AAAA9876: height 'nan' not a number and weight 'inf' not a number; skipped" in log
    assert "Row 3: NOPE1: height '19.9' outside 20 to 300 cm and weight '700.1' outside 0.2 to 700 kg" in log
    assert "Row 4: NOPE2: height '1.75' outside 20 to 300 cm and weight '3500' outside 0.2 to 700 kg" in log
    assert _study(SALLY_ACC).patient_height_m is None and _study("AAAA9876").patient_weight_kg is None

    edges = _csv(tmp_path, "acc,h,w\n00938475,20,700\nAAAA9876,300,0.2\n", "edges.csv")
    result = import_sizes(edges, id_col="acc", height_col="h", weight_col="w")
    assert (result.bad_rows, result.heights_inserted, result.weights_inserted) == (0, 2, 2)
    assert (_study(SALLY_ACC).patient_height_m, _study(SALLY_ACC).patient_weight_kg) == (pytest.approx(0.2), 700)
    assert (_study("AAAA9876").patient_height_m, _study("AAAA9876").patient_weight_kg) == (pytest.approx(3.0), 0.2)


def test_cli_refuses_a_png_and_reads_utf16(app, app_env, studies, tmp_path):
    png = _bytes(tmp_path, PNG, "scan.csv")
    out = run_cli(["size-import", str(png), "--id-col", "acc", "--height-col", "h"], app_env)
    assert out.returncode == 1 and "Error: this is a PNG image, not a CSV file" in out.stderr
    assert "Traceback" not in out.stderr
    utf16 = _bytes(tmp_path, "Patient;Accession;Weight\r\nMüller;00938475;81\r\n".encode("utf-16"), "w.csv")
    out = run_cli(["size-import", str(utf16), "--id-col", "Accession", "--weight-col", "Weight"], app_env)
    assert out.returncode == 0, out.stderr
    assert "1 weights inserted" in out.stdout and _study(SALLY_ACC).patient_weight_kg == 81
