"""The CSV for standalone openSkin (seed §7.3-7.4): one fluoroscopy study, a row per irradiation event,
in the layout of columns.OPENSKIN_EVENT.

Small (a row per event of one study), so it is written in the request rather than as a job. openSkin
was written against OpenREM's file: no header row, numbers in plain decimals (1e-06 Gy·m² is written
0.000001), and no commas inside a cell (OpenREM replaced them with semicolons; line breaks likewise
become spaces), so a reader that splits lines on commas still finds 39 columns. Text a spreadsheet
would take for a formula is neutralised as in every export (csv_writer.neutral).
"""
from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal

from doseapp.exports.columns import OPENSKIN_EVENT, Col
from doseapp.exports.csv_writer import neutral

# The page and the README say it, as OpenREM did (seed §7.4).
COPPER_WARNING = ("Only copper filters are considered in this export - aluminium or other filters are not "
                  "considered. This is related to the way openSkin works.")


def file_name(now: dt.datetime | None = None) -> str:
    """OpenREM's name: OpenSkinExport<YYYYMMDD-HHMMSSffffff>.csv."""
    return f"OpenSkinExport{(now or dt.datetime.now()).strftime('%Y%m%d-%H%M%S%f')}.csv"


def plain_number(value) -> str:
    """A number in plain decimal notation, shortest exact form: 1e-06 -> 0.000001, 785.0 -> 785."""
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, int):
        return str(value)
    text = format(Decimal(repr(float(value))).normalize(), "f")
    return "0" if text in ("-0", "") else text


def _text(value: str) -> str:
    one_line = " ".join(value.replace(",", ";").splitlines())
    return neutral(one_line)


def cell(col: Col, value) -> str:
    if value is None:
        return ""
    if col.kind == "num" and isinstance(value, (int, float)):
        return plain_number(value)
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    return _text(str(value))


def rows(study) -> list[list[str]]:
    """The cells of each of the study's irradiation events, in the order they were made."""
    return [[cell(c, c.get(e)) for c in OPENSKIN_EVENT] for e in study.xray_events]


def csv_text(study) -> str:
    out = io.StringIO(newline="")
    csv.writer(out).writerows(rows(study))
    return out.getvalue()
