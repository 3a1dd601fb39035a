"""CSV output: UTF-8 (optionally with a BOM so Excel reads non-Latin text), streamed in batches of rows.

`compile_cells()` turns a list of columns into one generated function per layout that gives a record's
cells as strings (or None, written empty), so the per-row work is one call and the csv module's C
writer does the quoting.

Text that a spreadsheet would read as a formula is neutralised (OWASP's CSV injection advice): a
text cell starting with =, +, -, @, tab or carriage return gets a leading single quote, which Excel
and LibreOffice show as text. DICOM text is whatever a modality or a PACS sent (a station name of
`=cmd|' /C calc'!A0` runs a command in Excel when opened). Numbers are never text here: they are
written from ints and floats, so -1.5 (an angle, a deviation index) stays a number."""
from __future__ import annotations

import csv
import datetime as dt

from doseapp.exports.rowcode import compile_row


FORMULA_START = frozenset("=+-@\t\r")


def neutral(text: str) -> str:
    """Text as a spreadsheet shows it, never a formula (see the module docstring)."""
    return "'" + text if text and text[0] in FORMULA_START else text


def cell(value) -> str:
    """One CSV cell: blanks for None, ISO dates and times, numbers as Python writes them (no
    thousands separators, full precision), text neutralised."""
    if value is None:
        return ""
    kind = type(value)
    if kind is str:
        return neutral(value)
    if kind is float:
        # 53.0 -> "53" (as OpenREM wrote it), 724.52 -> "724.52" (shortest exact form).
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.time):
        return value.isoformat(timespec="seconds" if not value.microsecond else "milliseconds")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _cell_code(c, v: str) -> str:
    # Same results as cell(), with str, None and non-integral floats handled without a call.
    if c.kind == "text":
        return f"({v} if {v} is None else ('\\'' + {v} if {v} and {v}[0] in F else {v}) if {v}.__class__ is str else C({v}))"
    if c.kind == "num":
        return (f"(None if {v} is None else {v} if {v}.__class__ is int else "
                f"(R({v}) if not {v}.is_integer() or not -1e15 < {v} < 1e15 else S(I({v}))) "
                f"if {v}.__class__ is Fl else C({v}))")
    return f"C({v})"


def compile_cells(cols, fields):
    """A function record -> tuple of cells for `cols` (columns.Col), reading the record (a tuple with
    `fields`) by position. Text is passed as it is (None and str are what the csv module writes as
    they are, once neutralised) and floats are formatted inline as cell() would; everything else goes
    through cell()."""
    ns = {"C": cell, "R": float.__repr__, "Fl": float, "S": str, "I": int, "F": FORMULA_START}
    return compile_row(cols, fields, _cell_code, ns, "csv_cells")


class CsvOut:
    """A CSV file being written; `row()` writes one row of Python values, `rows()` many rows of
    cells made by compile_cells()."""

    def __init__(self, path, bom: bool = False):
        # A large buffer: a 100,000-study export is ~100 MB written in big chunks.
        self.fh = open(path, "w", encoding="utf-8-sig" if bom else "utf-8", newline="", buffering=1 << 20)
        self.writer = csv.writer(self.fh)

    def row(self, values) -> None:
        # None, text and numbers are most cells (every NHSBSP cell): handled inline as cell() would,
        # a call per cell being most of the time (the csv module writes None as an empty cell).
        self.writer.writerow([
            v if v is None else ("'" + v if v and v[0] in FORMULA_START else v) if v.__class__ is str
            else str(v) if v.__class__ is int
            else (repr(v) if not v.is_integer() or not -1e15 < v < 1e15 else str(int(v))) if v.__class__ is float
            else cell(v) for v in values])

    def rows(self, rows) -> None:
        self.writer.writerows(rows)

    def close(self) -> None:
        self.fh.close()
