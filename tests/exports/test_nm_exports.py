"""NM exports read back (csv module, openpyxl): one row per study with the administrations as E1…,
activities in MBq as recorded, text that a spreadsheet would run as a formula neutralised, patient
identifier columns only when asked (pid), an XLSX sheet per radiopharmaceutical; the command line and
the JSON API give the same values."""
from __future__ import annotations

import json

import openpyxl
import pydicom
import pytest

from doseapp.exports import columns
from doseapp.exports.run import run_export
from doseapp.ingest import import_file
from tests.conftest import TESTDATA, run_cli
from tests.exports.helpers import as_dicts, load, read_csv

FILES = ("NM-RRDSR-Siemens.dcm", "NM-PetIm-Siemens.dcm", "NM-NmIm-Siemens.dcm", "NM-RRDSR-Siemens-Extended.dcm")


def test_nm_csv_one_study_per_row_with_administration_columns(app, tmp_path):
    load(*FILES)
    out = tmp_path / "nm.csv"
    assert run_export("NM", "csv", {"o": "-activity"}, out=out)["records"] == 3
    rows = read_csv(out)
    header = rows[0]
    assert header[17:23] == ["No. events", "Radiopharmaceutical", "Radionuclide", "Administered activity total (MBq)",
                             "Administered activity per kg (MBq/kg)", "Effective dose total, reported (mSv)"]
    assert "Patient name" not in header and "Patient ID" not in header and "Date of birth" not in header
    assert len(header) == 24 + len(columns.NM_EVENT)  # one administration per study
    bone, petct, extended = as_dicts(rows)  # by activity, highest first: 764, 394, 250 MBq
    assert (bone["Study description"], float(bone["E1 Administered activity (MBq)"]), bone["E1 Source"]) == \
        ("Bone Scan", 764.0, "image")
    assert float(petct["Administered activity total (MBq)"]) == 394.0
    assert float(petct["Administered activity per kg (MBq/kg)"]) == pytest.approx(394.0 / 110, rel=1e-11)
    assert (petct["E1 Radionuclide"], petct["E1 Half-life (s)"]) == ("^18^Fluorine", "6586.2")
    assert (petct["E1 Effective dose, reported (mSv)"], petct["E1 Source"]) == ("7.486", "report")
    assert petct["E1 Start"] == "2022-02-24 10:40:30"
    assert (float(petct["Mass (kg)"]), float(petct["Height (cm)"])) == (110.0, 178.0)
    assert (float(extended["E1 Pre-administration activity (MBq)"]), extended["E1 Glucose (mmol/l)"]) == (11.0, "0.87")


def test_nm_csv_with_identifiers_for_pid_and_formula_text_neutralised(app, tmp_path):
    ds = pydicom.dcmread(TESTDATA / "NM-RRDSR-Siemens.dcm")
    ds.StudyDescription = "=HYPERLINK(\"http://x\")"
    path = tmp_path / "hostile.dcm"
    ds.save_as(path)
    assert import_file(path).status == "imported"
    out = tmp_path / "pid.csv"
    run_export("NM", "csv", {}, out=out, name=True, pat_id=True)
    (row,) = as_dicts(read_csv(out))
    assert row["Study description"] == "'=HYPERLINK(\"http://x\")"
    assert "Patient name" in row and "Patient ID" in row and "Date of birth" in row


def test_nm_xlsx_has_a_sheet_per_radiopharmaceutical(app, tmp_path):
    load(*FILES)
    out = tmp_path / "nm.xlsx"
    run_export("NM", "xlsx", {}, out=out)
    book = openpyxl.load_workbook(out, read_only=True)
    assert {"Summary", "All data"} < set(book.sheetnames)
    fdg = next((n for n in book.sheetnames if "fluorodeoxyglucose" in n.lower()), book.sheetnames)
    rows = list(book[fdg].iter_rows(values_only=True))
    header = rows[0]
    activity = header.index("Administered activity (MBq)")
    assert sorted(r[activity] for r in rows[1:]) == [250.0, 394.0]
    dpd = list(book["dpd"].iter_rows(values_only=True))  # sheet names as for protocols: lower case
    assert [r[dpd[0].index("Administered activity (MBq)")] for r in dpd[1:]] == [764.0]
    summary = [r for r in book["Summary"].iter_rows(values_only=True)]
    assert ("Total number of exams", 3) in [tuple(r[:2]) for r in summary]
    assert any(r and "Radiopharmaceutical" in r for r in summary)


def test_nm_export_from_the_command_line_and_the_api(app, app_env, client, tmp_path):
    load(*FILES)
    out = tmp_path / "cli.csv"
    done = run_cli(["export", "--modality", "nm", "--format", "csv", "--out", str(out),
                    "--filter", "radionuclide=fluorine"], app_env)
    assert done.returncode == 0, done.stderr
    rows = as_dicts(read_csv(out))
    assert sorted(float(r["Administered activity total (MBq)"]) for r in rows) == [250.0, 394.0]

    from doseapp.models import ApiToken, Study, db
    from doseapp.users import create_user

    user = create_user("apiviewer", "password-123", ["viewer"])
    _, token = ApiToken.issue(user, "test")
    db.session.commit()
    headers = {"Authorization": f"Bearer {token}"}
    listed = client.get("/api/v1/studies?modality=NM&radionuclide=fluorine&o=-activity", headers=headers).get_json()
    assert [r["administered_activity_MBq"] for r in listed["results"]] == [394.0, 250.0]
    assert "patient_name" not in listed["results"][0] or listed["results"][0]["patient_name"] is None
    uid = db.session.scalar(db.select(Study.study_instance_uid).where(Study.nm_activity_mbq == 394.0))
    one = client.get(f"/api/v1/studies/{uid}?modality=NM", headers=headers).get_json()
    assert one["modality"] == "NM" and one["nm_administrations"][0]["effective_dose_msv"] == 7.486
