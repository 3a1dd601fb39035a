"""CSV output: UTF-8 (optionally with a BOM so Excel reads non-Latin text), one row at a time."""
from __future__ import annotations

import csv
import datetime as dt


def cell(value) -> str:
    """One CSV cell: blanks for None, ISO dates and times, numbers as Python writes them (no
    thousands separators, full precision)."""
    if value is None:
        return ""
    kind = type(value)
    if kind is str:
        return value
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


class CsvOut:
    """A CSV file being written; `row()` writes one row of Python values."""

    def __init__(self, path, bom: bool = False):
        self.fh = open(path, "w", encoding="utf-8-sig" if bom else "utf-8", newline="")
        self.writer = csv.writer(self.fh)

    def row(self, values) -> None:
        # None and str are most cells: handled inline (the csv module writes them as they are).
        self.writer.writerow([v if v is None or type(v) is str else cell(v) for v in values])

    def close(self) -> None:
        self.fh.close()
