"""The history export's writers without a database: formula text neutralised in CSV and kept as text
in XLSX, numbers as numbers, the running fluoroscopy totals oldest to newest."""
from __future__ import annotations

import csv
import datetime as dt
import io

import openpyxl

from doseapp.patients import export
from doseapp.patients.history import Row


def _row(i, modality, day, dap=None, rp=None, description=None):
    when = dt.datetime.combine(day, dt.time(9, 30)) if day else None
    return Row(id=i, modality=modality, study_date=day, study_time=when.time() if when else None, study_datetime=when,
               system="=HYPERLINK(\"http://x\")", description=description, accession_number=None,
               accession_hashed=False, study_instance_uid=f"1.2.{i}", not_patient=None, dlp_mgycm=None,
               dap_gym2=dap, dose_rp_gy=rp, psd_gy=None, agd_mgy=None, patient_id="-42", patient_name="A^B")


ROWS = [_row(3, "RF", dt.date(2024, 2, 1), 0.0002, 0.5, "+cmd|' /C calc'!A0"),
        _row(2, "RF", dt.date(2024, 1, 1), 0.0001, 0.25),
        _row(1, "DX", None, 0.00005)]


def test_csv_neutralises_formulas_and_keeps_running_totals():
    rows = list(csv.DictReader(io.StringIO(export.csv_bytes(ROWS).decode("utf-8-sig"))))
    assert [r["Study instance UID"] for r in rows] == ["1.2.3", "1.2.2", "1.2.1"]
    assert rows[0]["System"] == "'=HYPERLINK(\"http://x\")" and rows[0]["Study description"].startswith("'+cmd")
    assert rows[0]["Patient ID"] == "'-42"
    assert rows[0]["Total DAP (cGy·cm²)"] == "200" and rows[0]["Cumulative fluoroscopy DAP (cGy·cm²)"] == "300"
    assert rows[1]["Cumulative fluoroscopy dose at RP (Gy)"] == "0.25" and rows[0]["Cumulative fluoroscopy dose at RP (Gy)"] == "0.75"
    assert rows[2]["Study date"] == "" and rows[2]["Cumulative fluoroscopy DAP (cGy·cm²)"] == ""


def test_xlsx_writes_text_as_text_and_numbers_as_numbers():
    ws = openpyxl.load_workbook(io.BytesIO(export.xlsx_bytes(ROWS))).active
    header, *body = list(ws.values)
    first = dict(zip(header, body[0]))
    assert first["System"] == "=HYPERLINK(\"http://x\")"  # a string cell, not a formula
    assert ws.cell(row=2, column=header.index("System") + 1).data_type == "s"
    assert first["Total dose at RP (Gy)"] == 0.5 and first["Study date"] == dt.datetime(2024, 2, 1)
    assert first["Patient ID"] == "-42"
