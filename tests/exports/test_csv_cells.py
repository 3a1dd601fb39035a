"""What a CSV cell holds: DICOM text that a spreadsheet would run as a formula is neutralised (a
leading single quote), numbers (negative ones too) stay numbers, XLSX keeps such text as text, and
converted values (DAP in cGy·cm², mAs, seconds) print as the decimal meant, not 110.13000000000001."""
from __future__ import annotations

import csv
import io
import re
import zipfile

import openpyxl
import pydicom
import pytest

from doseapp.exports.csv_writer import CsvOut, cell
from doseapp.exports.run import run_export
from doseapp.ingest import import_file
from doseapp.users import create_user
from tests.conftest import TESTDATA, session_login
from tests.exports.helpers import as_dicts, load, read_csv

# What a modality or PACS could send, one for each character Excel and LibreOffice start a formula with.
HOSTILE = {
    "StationName": "=cmd|'/Ccalc'!A0",  # SH: 16 characters at most
    "StudyDescription": "+SUM(1,2)",
    "OperatorsName": "@SUM(1+1)",
    "ProtocolName": "-2+3+cmd|' /C calc'!A0",
    "InstitutionName": "\tTabbed clinic",
    "RequestedProcedureDescription": "\rCarriage return",
}


def _hostile_copy(tmp_path, name: str, **values) -> None:
    """A real vendor file with formula-like text in its text attributes, imported."""
    ds = pydicom.dcmread(TESTDATA / name)
    for keyword, value in (values or HOSTILE).items():
        setattr(ds, keyword, value)
    path = tmp_path / f"hostile-{name}"
    ds.save_as(path)
    result = import_file(path)
    assert result.status == "imported", result.reason


def _neutralised(text: str) -> str:
    return "'" + text


def test_formula_like_text_is_neutralised_in_the_mammography_csvs(app, tmp_path):
    _hostile_copy(tmp_path, "MG-Im-GE-SenDS-scaled.dcm")
    for fmt in ("csv", "csv-wide"):
        run_export("MG", fmt, {}, out=tmp_path / f"{fmt}.csv")
        (row,) = as_dicts(read_csv(tmp_path / f"{fmt}.csv"))
        assert row["Station name"] == _neutralised(HOSTILE["StationName"])
        assert row["Study description"] == _neutralised(HOSTILE["StudyDescription"])
        assert row["Operator"] == _neutralised(HOSTILE["OperatorsName"])
        assert row["Institution"] == _neutralised(HOSTILE["InstitutionName"])
        assert row["Display name"].startswith("'\t")  # made from the institution and station names
        protocol = row["Acquisition" if fmt == "csv" else "E1 Acquisition"]
        assert protocol == _neutralised(HOSTILE["ProtocolName"])
        # Numbers are untouched: kVp 29, AGD 1.373 (testdata/README.md).
        assert (row["kVp" if fmt == "csv" else "E1 kVp (kV)"], row["AGD" if fmt == "csv" else "E1 AGD (mGy)"]) \
            == ("29", "1.373")
    # The NHSBSP CSV goes through the same writer (its text is NCCPM's codes: nothing to neutralise).
    run_export("MG", "nhsbsp", {}, out=tmp_path / "n.csv")
    (nhs,) = as_dicts(read_csv(tmp_path / "n.csv"))
    assert (nhs["View code"], nhs["kV"], nhs["mAs"]) == ("LCC", "29", "51.8")


def test_formula_like_text_is_neutralised_in_the_event_columns_and_negative_numbers_stay(app, tmp_path):
    _hostile_copy(tmp_path, "DX-Im-GE_XR220-1.dcm", ProtocolName="=HYPERLINK(\"http://x\")",
                  StudyDescription="-chest")
    load("DX-Im-GE_XR220-2.dcm", "DX-Im-GE_XR220-3.dcm")
    run_export("DX", "csv", {}, out=tmp_path / "dx.csv")
    rows = as_dicts(read_csv(tmp_path / "dx.csv"))
    hostile = next(r for r in rows if r["Study description"].startswith("'"))
    assert hostile["Study description"] == "'-chest"
    assert hostile["E1 Protocol"] == "'=HYPERLINK(\"http://x\")"
    # GE XR220 deviation indices are negative numbers: written as numbers, never quoted.
    deviation = sorted(r[f"E{n} Deviation index"] for r in rows for n in (1, 2, 3) if r.get(f"E{n} Deviation index"))
    assert "-9.3" in deviation and all(not d.startswith("'") for d in deviation)
    assert any(d.startswith("-") for d in deviation)


def test_cells_and_rows_neutralise_text_only():
    assert [cell(v) for v in ("=1+2", "+1", "-x", "@x", "\tx", "\rx", "a=b", "", "-")] == \
        ["'=1+2", "'+1", "'-x", "'@x", "'\tx", "'\rx", "a=b", "", "'-"]
    assert [cell(v) for v in (-1.5, -2, 1e-07, -0.0)] == ["-1.5", "-2", "1e-07", "0"]


def test_csv_out_rows_neutralise_text(tmp_path):
    out = CsvOut(tmp_path / "r.csv")
    out.row(["=A1", -1.5, None, "plain"])
    out.close()
    assert read_csv(tmp_path / "r.csv") == [["'=A1", "-1.5", "", "plain"]]


def test_xlsx_keeps_formula_like_text_as_text(app, tmp_path):
    _hostile_copy(tmp_path, "MG-Im-GE-SenDS-scaled.dcm")
    out = tmp_path / "mg.xlsx"
    run_export("MG", "xlsx", {}, out=out)
    with zipfile.ZipFile(out) as z:
        sheets = {n: z.read(n).decode() for n in z.namelist() if n.startswith("xl/worksheets/sheet")}
    assert sheets and not any("<f>" in xml or "<f " in xml for xml in sheets.values())  # no formula anywhere
    data_sheets = [xml for name, xml in sheets.items() if name != "xl/worksheets/sheet1.xml"]  # not Summary
    assert len(data_sheets) == 2 and all("<is><t>=cmd|'/Ccalc'!A0</t></is>" in xml for xml in data_sheets)
    book = openpyxl.load_workbook(out)
    header = [c.value for c in book["All data"][1]]
    station = book["All data"].cell(row=2, column=header.index("Station name") + 1)
    assert station.value == HOSTILE["StationName"] and station.data_type == "s"


# --- numbers -------------------------------------------------------------------------------------

def test_converted_values_print_as_the_decimal_meant(app, tmp_path):
    load("DX-Im-Carestream_DR7500-1.dcm", "RF-RDSR-Canon-Alphenix-rotational.dcm", "Dual-RDSR-RF.dcm",
         "RF-RDSR-GE.dcm", "CT-SC-Philips_Brilliance16P.dcm")
    run_export("DX", "csv", {}, out=tmp_path / "dx.csv")
    (dx,) = as_dicts(read_csv(tmp_path / "dx.csv"))
    assert dx["E1 DAP (cGy.cm^2)"] == dx["DAP total (cGy.cm^2)"] == "110.13"  # 0.00011013 Gy·m²

    run_export("RF", "csv", {}, out=tmp_path / "rf.csv")
    rf = {r["Accession number"]: r for r in as_dicts(read_csv(tmp_path / "rf.csv"))}
    assert rf["physics"]["Acquisition DAP total (cGy.cm^2)"] == "289.33"  # was 289.33000000000004
    assert rf["0038396109336120"]["Fluoro DAP total (cGy.cm^2)"] == "0.4"  # was 0.39999999999999997
    assert rf["5429892529107819"]["DAP total (cGy.cm^2)"] == "241.26"

    # Extracted in a unit of its own: the Philips Dose Info gives exposure time in ms (15745).
    run_export("CT", "csv", {}, out=tmp_path / "ct.csv")
    (ct,) = as_dicts(read_csv(tmp_path / "ct.csv"))
    assert ct["E4 Exposure time (s)"] == "15.745"  # was 15.745000000000001

    run_export("DX", "xlsx", {}, out=tmp_path / "dx.xlsx")
    sheet = list(openpyxl.load_workbook(tmp_path / "dx.xlsx")["All data"].iter_rows(values_only=True))
    assert sheet[1][sheet[0].index("E1 DAP (cGy.cm^2)")] == 110.13  # the float nearest 110.13, exactly


def test_no_export_of_the_test_files_prints_a_float_artefact(app, tmp_path):
    """Every CSV of every imported test file: no number with the tell-tale 0000000x / 9999999x tail."""
    for p in sorted(TESTDATA.glob("*.dcm")):
        if p.name.split("-")[0] in ("CT", "DX", "MG", "RF", "Dual", "NM"):
            import_file(p)
    artefact = re.compile(r"^-?\d*\.\d*(?:0{6,}|9{6,})\d$")
    as_sent = {"152.856999999999"}  # RF-Pat-Orientation-Modifier-Missing's acquisition time, so in the file
    for modality in ("CT", "DX", "MG", "RF", "NM"):
        for fmt in ("csv", "csv-wide", "nhsbsp") if modality == "MG" else ("csv",):
            out = tmp_path / f"{modality}-{fmt}.csv"
            run_export(modality, fmt, {}, out=out)
            rows = read_csv(out)
            bad = [(h, v) for r in rows[1:] for h, v in zip(rows[0], r) if artefact.match(v) and v not in as_sent]
            assert bad == [], (modality, fmt)


def test_chart_csv_neutralises_text_and_prints_clean_averages(app, tmp_path):
    _hostile_copy(tmp_path, "DX-Im-Carestream_DR7500-1.dcm", StudyDescription="=2+5", ProtocolName="AEC")
    load("DX-Im-Date-Missing.dcm", "MG-RDSR-Hologic_mix.dcm")
    user = create_user("charts", "long-enough-1", ["viewer"])
    client = app.test_client()
    session_login(client, user)

    def table(url):
        got = client.get(url)
        assert got.status_code == 200 and got.headers["Content-Type"].startswith("text/csv")
        return list(csv.DictReader(io.StringIO(got.get_data(as_text=True).lstrip("\ufeff"))))

    rows = table("/dx/charts/study_dap/csv")
    hostile = next(r for r in rows if r["Study description"].startswith("'"))
    assert hostile["Study description"] == "'=2+5" and hostile["Mean DAP (cGy·cm²)"] == "110.13"
    assert hostile["n"] == "1"
    rows = table("/dx/charts/acquisition_dap/csv")
    assert {r["Acquisition protocol"]: r["Mean DAP (cGy·cm²)"] for r in rows}["AEC"] == "110.13"
    # mAs from µAs: 34300 µAs x 1e-3 was 34.300000000000004.
    rows = table("/mg/charts/mas_thickness/csv")
    values = {r[next(k for k in r if k.startswith("mAs"))] for r in rows}
    assert "34.3" in values and not any(len(v) > 12 for v in values)
