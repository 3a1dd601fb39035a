"""The exports' fast path (columns selected by what they read, rows as driver tuples, generated
per-layout row code, remembered computed values) against the column specs read the plain way: each
column's `get` on the ORM objects, written with csv_writer.cell. Every CT, DX and MG study of the
test files that have two X-ray sources, several filter sets, per-pulse values and pid columns."""
from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import openpyxl
import pytest

from doseapp import filters
from doseapp.exports import columns as C
from doseapp.exports.csv_writer import cell
from doseapp.exports.run import run_export
from doseapp.models import db
from tests.exports.helpers import load, read_csv

FILES = ["CT-RDSR-Siemens_Flash-TAP-SS.dcm", "CT-RDSR-Siemens_Flash-QA-DS.dcm", "CT-RDSR-GEPixelMed.dcm",
         "CT-RDSR-ToshibaPixelMed.dcm", "CT-ESR-GE_Optima.dcm", "DX-RDSR-Canon_CXDI.dcm", "DX-Im-GE_XR220-1.dcm",
         "DX-Im-Carestream_DRX.dcm", "MG-RDSR-Hologic_mix.dcm", "MG-RDSR-Hologic_2D.dcm", "MG-Im-GE-SenDS-scaled.dcm",
         "MG-Im-Hologic-PropProj.dcm"]


def _record(obj, extra: dict) -> SimpleNamespace:
    rec = SimpleNamespace(**{c.key: getattr(obj, c.key) for c in obj.__table__.columns})
    rec.__dict__.update(extra)
    return rec


def _study(s) -> SimpleNamespace:
    eq = s.equipment
    return _record(s, {f"eq_{a}": getattr(eq, a, None) if eq else None
                       for a in ("institution_name", "manufacturer", "model_name", "station_name", "display_name")})


def _event(e) -> SimpleNamespace:
    sources = sorted(getattr(e, "sources", None) or [], key=lambda x: x.id)
    extra = {}
    for n in (1, 2):
        src = sources[n - 1] if len(sources) >= n else None
        for a in ("identification", "kvp", "max_tube_current_ma", "tube_current_ma", "exposure_time_per_rotation_s"):
            extra[f"s{n}_{a}"] = getattr(src, a) if src is not None else None
    return _record(e, extra)


def _expected(modality: str, name: bool, pat_id: bool) -> list[list[str]]:
    scols, ecols = C.study_columns(modality, name, pat_id), C.EVENT_COLUMNS[modality]
    studies = list(db.session.scalars(filters.study_query(modality, {}).select()))
    n_ev = max(s.number_of_events for s in studies)
    rows = []
    for s in studies:
        events = sorted(s.ct_events if modality == "CT" else s.xray_events, key=lambda e: e.id)[:n_ev]
        row = [cell(c.get(_study(s))) for c in scols]
        for e in events:
            row += [cell(c.get(_event(e))) for c in ecols]
        rows.append(row + [""] * (len(ecols) * (n_ev - len(events))))
    return rows


@pytest.mark.parametrize("modality,fmt", [("CT", "csv"), ("DX", "csv"), ("MG", "csv-wide")])
def test_csv_rows_equal_the_column_specs_read_plainly(app, tmp_path, modality, fmt):
    load(*FILES)
    out = tmp_path / "x.csv"
    run_export(modality, fmt, {}, out=out, name=True, pat_id=True, batch=2)
    got = read_csv(out)[1:]
    expected = _expected(modality, True, True)
    assert len(got) == len(expected) >= 3
    assert got == expected
    if modality == "CT":  # the dual-source scanner's second source is there
        header = read_csv(out)[0]
        assert any(r[header.index("E1 S2 kVp (kV)")] for r in got)
    if modality == "MG":  # several filter materials in one export, each remembered apart
        header = read_csv(out)[0]
        assert len({r[header.index("E1 Filter")] for r in got} - {""}) >= 2


def test_mammography_csv_rows_equal_the_column_specs_read_plainly(app, tmp_path):
    """The one-row-per-exposure layout: each exposure's row is its study's cells then its own."""
    load(*FILES)
    out = tmp_path / "x.csv"
    run_export("MG", "csv", {}, out=out, name=True, pat_id=True, batch=2)
    scols, ecols = C.mg_exposure_columns(True, True)
    expected = []
    for s in db.session.scalars(filters.study_query("MG", {}).select()):
        study = [cell(c.get(_study(s))) for c in scols]
        events = sorted(s.xray_events, key=lambda e: e.id)
        expected += [study + [cell(c.get(_event(e))) for c in ecols] for e in events] or [study + [""] * len(ecols)]
    got = read_csv(out)
    assert got[0] == [c.header for c in scols + ecols]
    assert len(got) - 1 == len(expected) >= 10
    assert got[1:] == expected


def test_xlsx_protocol_rows_equal_the_column_specs_read_plainly(app, tmp_path):
    load(*FILES)
    out = tmp_path / "x.xlsx"
    run_export("MG", "xlsx", {}, out=out, batch=2)
    book = openpyxl.load_workbook(out)
    cols = C.study_columns("MG") + C.MG_EVENT

    def norm(values):  # openpyxl reads a date cell as a datetime, an empty one as None
        return tuple(v.date() if c.kind == "date" and isinstance(v, dt.datetime) else v for c, v in zip(cols, values))

    got = [norm(r) for name in book.sheetnames[2:] for r in list(book[name].iter_rows(values_only=True))[1:]]
    n_s = len(cols) - len(C.MG_EVENT)
    expected = [norm(None if v == "" else v for v in [c.get(_study(s)) for c in cols[:n_s]]
                     + [c.get(_event(e)) for c in C.MG_EVENT])
                for s in db.session.scalars(filters.study_query("MG", {}).select()) for e in s.xray_events]
    assert len(got) == len(expected) >= 10
    assert sorted(got, key=repr) == sorted(expected, key=repr)
