"""Each modality and format read back (csv module, openpyxl): headers, values and types for the
OpenREM test files whose values testdata/README.md gives."""
from __future__ import annotations

import datetime as dt
from collections import Counter

import openpyxl
import pytest
from sqlalchemy import select

from doseapp import filters
from doseapp.exports import columns, fluoro_groups
from doseapp.exports.run import ExportError, run_export
from doseapp.models import Study, db
from tests.exports.helpers import as_dicts, load, read_csv

CT = "CT-RDSR-Siemens_Flash-TAP-SS.dcm"


def test_ct_csv_one_study_per_row_with_event_columns(app, tmp_path):
    load(CT)
    out = tmp_path / "ct.csv"
    result = run_export("CT", "csv", {}, out=out)
    assert result["records"] == 1
    rows = read_csv(out)
    header = rows[0]
    assert header[:19] == ["Institution", "Manufacturer", "Model name", "Station name", "Display name",
                           "Accession number", "Operator", "Study date", "Study time", "Age (years)", "Sex",
                           "Height (cm)", "Mass (kg)", "Test patient?", "Study description", "Requested procedure",
                           "Study Comments", "No. events", "DLP total (mGy.cm)"]
    # then the CT estimates (doseapp.standards): mean CTDIvol and SSDE of the scans, SSDE method, E,
    # and the study's standard name
    # and what the dose data came from (RDSR here; a Toshiba dose screen read by OCR elsewhere)
    assert header[19:25] == ["Mean CTDIvol of scans (mGy)", "Mean SSDE of scans (mGy)", "SSDE method",
                             "Effective dose estimate, population (mSv)", "Dose data from", "Standard name"]
    per_event = len(columns.CT_EVENT)
    assert len(header) == 25 + 4 * per_event  # sized by the largest number of events: 4
    assert header[25] == "E1 Protocol" and header[25 + 3 * per_event] == "E4 Protocol"
    assert header[24 + per_event] == "E1 Standard name"
    assert "Patient name" not in header and "Patient ID" not in header and "Date of birth" not in header
    (row,) = as_dicts(rows)
    assert row["Accession number"] == "ACC12345601"
    assert (row["Study date"], row["Study time"]) == ("1997-01-01", "00:00:00")
    assert row["Dose data from"] == "RDSR"
    assert row["Age (years)"] == "67.6" and row["No. events"] == "4" and row["DLP total (mGy.cm)"] == "724.52"
    assert [row[f"E{n} CTDIvol (mGy)"] for n in range(1, 5)] == ["0.14", "1.2", "3.61", "9.91"]
    assert [row[f"E{n} DLP (mGy.cm)"] for n in range(1, 5)] == ["11.51", "1.2", "3.61", "708.2"]
    assert row["E4 Type"] == "Spiral Acquisition" and row["E4 Scanning length (mm)"] == "737"
    assert (row["E4 S1 kVp (kV)"], row["E4 S1 max mA (mA)"], row["E4 S1 mA (mA)"],
            row["E4 S1 Exposure time/rotation (s)"]) == ("120", "560", "176", "0.5")
    assert row["E1 Protocol"] == "testæøå"  # stored as UTF-8 text (decided at import), exported as such


def test_every_numeric_header_says_its_unit():
    unitless = {"Pitch", "No. sources", "Mag", "No. events", "No. pulses", "Exposure index", "Target exposure index",
                "Deviation index", "Relative x-ray exposure", "No. fluoro events", "No. acquisitions"}
    for mod in ("CT", "RF", "DX", "MG"):
        for col in columns.study_columns(mod, True, True) + columns.EVENT_COLUMNS[mod]:
            if col.kind == "num" and col.header not in unitless:
                assert "(" in col.header and col.header.endswith(")"), (mod, col.header)


def test_ct_xlsx_sheets_types_and_date_format(app, tmp_path):
    load(CT, "CT-RDSR-Siemens_Flash-QA-DS.dcm")
    out = tmp_path / "ct.xlsx"
    assert run_export("CT", "xlsx", {}, out=out, date_format="yyyy-mm-dd")["records"] == 2
    book = openpyxl.load_workbook(out)
    names = book.sheetnames
    assert names[:2] == ["Summary", "All data"]
    protocol_sheets = names[2:]
    assert protocol_sheets == sorted(protocol_sheets) and len(set(protocol_sheets)) == len(protocol_sheets)
    assert all(n == n.lower() and len(n) <= 31 for n in protocol_sheets)
    assert {"tap", "testæøå", "premonitoring", "monitoring"} <= set(protocol_sheets)

    all_data = book["All data"]
    header = [c.value for c in all_data[1]]
    rows = {r[header.index("Accession number")]: r for r in all_data.iter_rows(min_row=2, values_only=True)}
    tap = rows["ACC12345601"]
    assert tap[header.index("DLP total (mGy.cm)")] == pytest.approx(724.52)
    assert isinstance(tap[header.index("No. events")], int | float) and tap[header.index("No. events")] == 4
    assert tap[header.index("Study date")] == dt.datetime(1997, 1, 1)
    assert all_data.cell(row=2, column=header.index("Study date") + 1).number_format == "yyyy-mm-dd"
    assert isinstance(tap[header.index("Accession number")], str)

    sheet = book["tap"]
    sheet_rows = list(sheet.iter_rows(values_only=True))
    head = sheet_rows[0]
    assert "Protocol" in head and "E1 Protocol" not in head
    tap_rows = [r for r in sheet_rows[1:] if r[head.index("Accession number")] == "ACC12345601"]
    assert len(tap_rows) == 1 and tap_rows[0][head.index("DLP (mGy.cm)")] == pytest.approx(708.2)

    summary = [r for r in book["Summary"].iter_rows(values_only=True)]
    assert summary[1][:2] == ("Total number of exams", 2)
    titles = summary[3]
    assert titles[0] == "Study description" and titles[3] == "Requested procedure" and titles[6] == "Acquisition protocol"
    protocol_counts = {r[6]: r[7] for r in summary[4:] if r[6]}
    assert protocol_counts["TAP"] == 1


def test_default_xlsx_date_format_is_openrems(app, tmp_path):
    load(CT)
    out = tmp_path / "ct.xlsx"
    run_export("CT", "xlsx", {}, out=out, date_format=app.config["XLSX_DATE_FORMAT"])
    assert app.config["XLSX_DATE_FORMAT"] == "dd/mm/yyyy"
    sheet = openpyxl.load_workbook(out)["All data"]
    header = [c.value for c in sheet[1]]
    assert sheet.cell(row=2, column=header.index("Study date") + 1).number_format == "dd/mm/yyyy"


def test_mammography_wide_csv_row_for_ge_senographe_ds(app, tmp_path):
    load("MG-Im-GE-SenDS-scaled.dcm")
    out = tmp_path / "mg.csv"
    run_export("MG", "csv-wide", {}, out=out, bom=True)  # one row per study (tests/exports/test_mg_csv.py: the CSV)
    assert out.read_bytes().startswith(b"\xef\xbb\xbf")  # BOM: Excel reads the Chinese text right
    rows = read_csv(out, encoding="utf-8-sig")
    header, row = rows[0], rows[1]
    # 17 study columns (the standard name last), then E1's 23 for a one-exposure study
    assert len(header) == 40 and len(row) == 40
    assert header[15] == "No. events" and header[16] == "Standard name" and header[17] == "E1 View"
    assert header[-2] == "E1 Exposure mode description" and header[-1] == "E1 Standard name"
    assert row[0] == "中心医院" and row[15] == "1" and row[16] == ""
    assert row[17:38] == ["cranio-caudal", "", "Left", "ROUTINE", "53", "45", "50", "1", "0.043739", "AUTOMATIC",
                          "Rh", "Rh", "", "0.3", "29", "61", "834", "51800", "5.071", "1.373", "31"]


@pytest.mark.parametrize("order", ["-date", "date", "-agd", "agd", "events", "-events", "institution"])
def test_nhsbsp_hologic_mix(app, tmp_path, order):
    load("MG-RDSR-Hologic_mix.dcm", "MG-RDSR-Hologic_2D.dcm", "MG-Im-GE-SenDS-scaled.dcm")
    out = tmp_path / "nhsbsp.csv"
    run_export("MG", "nhsbsp", {"o": order}, out=out)
    rows = read_csv(out)
    assert rows[0] == ["Survey number", "Patient number", "View code", "kV", "Anode", "Filter", "Thickness", "mAs",
                       "large cassette used", "auto/man", "Auto mode", "Density setting", "Age", "Comment",
                       "AEC density mode"]
    body = rows[1:]
    assert len(body) == len({tuple(r) for r in body})  # no row twice, whatever the ordering
    assert sorted({r[1] for r in body}) == [str(n) for n in range(1, len({r[1] for r in body}) + 1)]
    mix_patient = next(r[1] for r in body if r[2] == "RCC5")
    mix = [r for r in body if r[1] == mix_patient]
    assert [r[2] for r in mix] == ["RCC", "RCC2", "RCC3", "RCC4", "RCC5", "ROB", "LCC"]
    assert Counter(r[5] for r in mix) == {"Al": 4, "Ag": 1, "Rh": 2}
    assert {r[0] for r in body} == {"1"} and {r[4] for r in mix} == {"W"}
    rob = next(r for r in mix if r[2] == "ROB")
    assert (rob[3], rob[6], rob[7]) == ("26", "21", "35.6")  # kV, thickness mm, mAs = µAs / 1000
    ge = [r for r in body if r[4] == "Rh"]
    assert len(ge) == 1 and ge[0][2] == "LCC" and ge[0][9] == "AUTO"


def test_nhsbsp_is_mammography_only(app, tmp_path):
    with pytest.raises(ExportError):
        run_export("CT", "nhsbsp", {}, out=tmp_path / "x.csv")
    assert not list(tmp_path.iterdir())


def test_dx_csv_and_xlsx(app, tmp_path):
    load("DX-RDSR-Canon_CXDI.dcm")
    run_export("DX", "csv", {}, out=tmp_path / "dx.csv")
    (row,) = as_dicts(read_csv(tmp_path / "dx.csv"))
    assert row["E1 Protocol"] == "THORAX AP 90kv-0,9mAs" and row["E1 Anatomy"] == "Chest"
    assert (row["E1 kVp (kV)"], row["E1 mA (mA)"], row["E1 Exposure (uAs)"], row["E1 Exposure time (ms)"]) == \
        ("90", "160", "800", "5")
    assert float(row["E1 DAP (cGy.cm^2)"]) == pytest.approx(10.7)  # 1.07e-5 Gy·m² in cGy·cm²
    run_export("DX", "xlsx", {}, out=tmp_path / "dx.xlsx")
    book = openpyxl.load_workbook(tmp_path / "dx.xlsx")
    assert book.sheetnames == ["Summary", "All data", "thorax ap 90kv-0,9mas"]
    sheet = list(book["thorax ap 90kv-0,9mas"].iter_rows(values_only=True))
    assert sheet[1][sheet[0].index("DAP (cGy.cm^2)")] == pytest.approx(10.7)


def test_fluoroscopy_csv_is_study_level_and_xlsx_groups(app, tmp_path):
    load("RF-RDSR-Siemens-Zee.dcm", "RF-RDSR-GE.dcm")
    run_export("RF", "csv", {}, out=tmp_path / "rf.csv")
    rows = read_csv(tmp_path / "rf.csv")
    assert not any(h.startswith("E1 ") or h.startswith("G1 ") for h in rows[0])
    by_acc = {r["Accession number"]: r for r in as_dicts(rows)}
    zee = by_acc["1234.5678"]
    assert float(zee["DAP total (cGy.cm^2)"]) == pytest.approx(16.0)  # 1.6e-5 Gy·m²
    assert zee["Dose RP total (Gy)"] == "0.00252" and zee["No. events"] == "8"
    assert "Physician" in rows[0]

    # The study-level layout reads no event at all (no events query per batch); one that reads an
    # event column gets each study's events.
    from doseapp.exports.read import Layout, stream

    q = filters.study_query("RF", {})
    bare = [events for part in stream(q, Layout("RF", ["accession_number"], [])) for _, events in part]
    assert bare == [[], []]
    full = [len(events) for part in stream(q, Layout("RF", ["accession_number"], ["dose_rp_gy"])) for _, events in part]
    assert sorted(full) == sorted(int(r["No. events"]) for r in as_dicts(rows))

    run_export("RF", "xlsx", {}, out=tmp_path / "rf.xlsx")
    book = openpyxl.load_workbook(tmp_path / "rf.xlsx")
    all_rows = list(book["All data"].iter_rows(values_only=True))
    head = all_rows[0]
    assert "G1 No. exposures" in head and "G1 kVp (kV) mean" in head
    study = next(r for r in all_rows[1:] if r[head.index("Accession number")] == "1234.5678")
    stored = db.session.scalar(select(Study).where(Study.accession_number == "1234.5678"))
    groups = fluoro_groups.group(stored.xray_events)
    counts = [study[head.index(f"G{n} No. exposures")] for n in range(1, len(groups) + 1)]
    assert counts == [len(g) for g in groups] and sum(counts) == 8
    # Same filter thickness within a group, as the grouping rule says.
    for n, g in enumerate(groups, start=1):
        assert study[head.index(f"G{n} Filter thickness (mm)")] == columns.filter_thickness(g[0])
    fl = list(book["fl - ang"].iter_rows(values_only=True))
    assert len(fl) == 1 + 8  # one exposure per row on the protocol sheet


def test_per_pulse_means_exclude_zeros():
    class E:
        per_pulse = {"kvp": [0, 70, 80, 0]}
        kvp = 37.5
    assert columns.mean_nonzero(E(), "kvp") == 75


def test_grouping_rule_compares_with_first_exposure():
    class E:
        def __init__(self, primary, plane="Single Plane"):
            self.acquisition_plane, self.event_type, self.acquisition_protocol = plane, "Fluoroscopy", "P"
            self.ii_field_size_mm, self.pulse_rate_per_s, self.filters = 200, 7.5, None
            self.positioner_primary_angle_deg, self.positioner_secondary_angle_deg = primary, 0
            self.per_pulse, self.kvp, self.tube_current_ma, self.pulse_width_ms = None, 70, 10, 5
            self.number_of_pulses = self.exposure_time_ms = self.irradiation_duration_s = None
            self.dap_gym2, self.dose_rp_gy = 1e-5, 0.001
    # 4° then 8° from the first: the third is more than 5° from the FIRST, so a new group.
    groups = fluoro_groups.group([E(0), E(4), E(8), E(0, plane="Plane B")])
    assert [len(g) for g in groups] == [2, 1, 1]
    values = fluoro_groups.group_values(groups[0])
    assert values[7] == 2  # No. exposures


def test_filtered_export_has_exactly_the_lists_studies(app, tmp_path):
    load(CT, "CT-RDSR-Siemens_Flash-QA-DS.dcm", "CT-RDSR-GEPixelMed.dcm", "CT-RDSR-ToshibaPixelMed.dcm",
         "CT-ESR-GE_Optima.dcm", "CT-SC-Philips_Brilliance16P.dcm")
    for args in ({"dlp_min": "100"}, {"manufacturer": "siemens"}, {"date_from": "2000-01-01", "o": "-dlp"},
                 {"acquisition_protocol": "a"}, {"o": "institution"}, {"o": "-display_name", "dlp_max": "2000"}, {}):
        out = tmp_path / "f.csv"
        run_export("CT", "csv", args, out=out, batch=2)  # several batches: streaming keeps order
        exported = [(r["Accession number"], r["Study date"]) for r in as_dicts(read_csv(out))]
        listed = [(s.accession_number or "", s.study_date.isoformat() if s.study_date else "")
                  for s in db.session.scalars(filters.study_query("CT", args).select())]
        assert exported == listed, args  # same studies, same order
        assert len(exported) == db.session.scalar(filters.study_query("CT", args).count())
    assert 0 < len(as_dicts(read_csv(out))) == 6


def test_identifiers_only_when_asked(app, tmp_path):
    load(CT)
    run_export("CT", "csv", {}, out=tmp_path / "pid.csv", name=True, pat_id=True)
    header = read_csv(tmp_path / "pid.csv")[0]
    assert header[:2] == ["Patient name", "Patient ID"] and "Date of birth" in header
    assert header.index("Date of birth") == header.index("Study time") + 1
    run_export("CT", "csv", {}, out=tmp_path / "id.csv", pat_id=True)
    header = read_csv(tmp_path / "id.csv")[0]
    assert header[0] == "Patient ID" and "Patient name" not in header and "Date of birth" in header


def test_xlsx_limits_text_escapes_and_sheet_names(tmp_path, monkeypatch):
    from doseapp.exports import xlsx_writer

    names = xlsx_writer.sheet_names(["Summary", "A/B: test?", "x" * 40, "X" * 40, None, "ALL DATA"])
    assert names["Summary"] == "summary~2" and names["ALL DATA"] == "all data~2"
    assert names["A/B: test?"] == "a_b_ test_" and names[None] == "no protocol"
    assert len(names["x" * 40]) == 31 and names["x" * 40] != names["X" * 40] and len(names["X" * 40]) == 31
    monkeypatch.setattr(xlsx_writer, "MAX_ROWS", 3)
    book = xlsx_writer.XlsxOut(tmp_path / "t.xlsx")
    ws = book.sheet("s")
    book.header(ws, ["a", "b"])
    book.row(ws, ["<&>\"\x01 ", "y" * 40000], ["text", "text"])
    book.row(ws, [1.5, dt.date(2024, 2, 29)], ["num", "date"])
    book.row(ws, [2, 3], ["num", "num"])  # beyond the (patched) row limit: left out and counted
    book.close()
    assert book.overflow == {"s": 1}
    rows = list(openpyxl.load_workbook(tmp_path / "t.xlsx")["s"].iter_rows(values_only=True))
    assert rows[0] == ("a", "b") and len(rows) == 3
    assert rows[1][0] == "<&>\"_x0001_ " and len(rows[1][1]) == 32767
    assert rows[2] == (1.5, dt.datetime(2024, 2, 29))
