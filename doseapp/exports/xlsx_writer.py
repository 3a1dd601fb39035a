"""XLSX output with xlsxwriter in constant_memory mode: each sheet keeps only its current row in
memory, so rows must be written in order and every header must be known before the first row."""
from __future__ import annotations

import datetime as dt
import re

import xlsxwriter

_BAD = re.compile(r"[\[\]:*?/\\]")


def sheet_names(protocols, reserved=("summary", "all data")) -> dict:
    """Map each protocol (raw value, None for no protocol) to a unique lower-cased sheet name of at
    most 31 characters, without the characters Excel forbids."""
    used = set(reserved)
    out = {}
    for raw in sorted(protocols, key=lambda p: ("" if p is None else p.lower(), p or "")):
        base = _BAD.sub("_", (raw or "no protocol").strip().lower()).strip("'") or "no protocol"
        base = base[:31]
        name, n = base, 1
        while name in used:
            n += 1
            suffix = f"~{n}"
            name = base[:31 - len(suffix)] + suffix
        used.add(name)
        out[raw] = name
    return out


_EPOCH = dt.datetime(1899, 12, 30)
MAX_ROWS = 1_048_576   # Excel's rows per sheet
MAX_TEXT = 32_767      # Excel's characters per cell
_ESCAPE = re.compile(r'[&<>"\n\x00-\x08\x0b-\x1f]')
_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "\n": "&#xA;"}


def _escape(text: str) -> str:
    # XML escapes; control characters become Excel's _xHHHH_ form (as xlsxwriter writes them).
    return _ESCAPE.sub(lambda m: _ESCAPES.get(m.group(0)) or f"_x{ord(m.group(0)):04X}_", text)


def _column_letters(n: int) -> str:
    out = ""
    n += 1
    while n:
        n, rem = divmod(n - 1, 26)
        out = chr(65 + rem) + out
    return out


class XlsxOut:
    """A workbook being written. `sheet(name)` adds a sheet; `row(sheet, values, kinds)` writes the
    next row of that sheet with each value typed by its column kind.

    Rows are written as sheet XML straight into the worksheet's constant_memory row file (the same
    XML xlsxwriter writes), because its per-cell API was the bottleneck: about 3x slower on a
    100,000-study export. xlsxwriter still builds the package: styles, workbook, sheet headers."""

    def __init__(self, path, date_format: str = "dd/mm/yyyy"):
        self.book = xlsxwriter.Workbook(str(path), {"constant_memory": True})
        self.date_fmt = self.book.add_format({"num_format": date_format})
        self.time_fmt = self.book.add_format({"num_format": "hh:mm:ss"})
        self.datetime_fmt = self.book.add_format({"num_format": f"{date_format} hh:mm:ss"})
        self.bold = self.book.add_format({"bold": True})
        self._xf = {}
        self.next_row: dict = {}
        self._letters: list[str] = []
        # Rows left out per sheet because the sheet reached Excel's limit (reported on Summary).
        self.overflow: dict[str, int] = {}

    def sheet(self, name: str):
        ws = self.book.add_worksheet(name)
        self.next_row[name] = 0
        return ws

    def _style(self, fmt) -> int:
        key = id(fmt)
        if key not in self._xf:
            self._xf[key] = fmt._get_xf_index()
        return self._xf[key]

    def _refs(self, n: int) -> list[str]:
        while len(self._letters) < n:
            self._letters.append(_column_letters(len(self._letters)))
        return self._letters

    def header(self, ws, headers) -> None:
        self._write(ws, headers, ["text"] * len(headers), bold=True)

    def row(self, ws, values, kinds) -> None:
        self._write(ws, values, kinds)

    def _write(self, ws, values, kinds, bold: bool = False) -> None:
        r = self.next_row[ws.name]
        if r >= MAX_ROWS:
            self.overflow[ws.name] = self.overflow.get(ws.name, 0) + 1
            return
        self.next_row[ws.name] = r + 1
        rn = str(r + 1)
        letters = self._refs(len(values))
        bold_s = f' s="{self._style(self.bold)}"' if bold else ""
        parts = [f'<row r="{rn}">']
        last = -1
        for c, (v, kind) in enumerate(zip(values, kinds)):
            if v is None or v == "":
                continue
            ref = letters[c] + rn
            t = type(v)
            if kind == "text" or t is str:
                text = str(v)[:MAX_TEXT]
                space = ' xml:space="preserve"' if text != text.strip() else ""
                parts.append(f'<c r="{ref}"{bold_s} t="inlineStr"><is><t{space}>{_escape(text)}</t></is></c>')
            elif t is bool:
                parts.append(f'<c r="{ref}" t="b"><v>{int(v)}</v></c>')
            elif t is int or t is float:
                if v != v or v in (float("inf"), float("-inf")):
                    continue  # Excel has no NaN or infinity
                parts.append(f'<c r="{ref}"><v>{v!r}</v></c>')
            elif t is dt.datetime:
                serial = (v.replace(tzinfo=None) - _EPOCH).total_seconds() / 86400
                parts.append(f'<c r="{ref}" s="{self._style(self.datetime_fmt)}"><v>{serial!r}</v></c>')
            elif t is dt.date:
                parts.append(f'<c r="{ref}" s="{self._style(self.date_fmt)}"><v>{(v - _EPOCH.date()).days}</v></c>')
            elif t is dt.time:
                serial = (v.hour * 3600 + v.minute * 60 + v.second + v.microsecond / 1e6) / 86400
                parts.append(f'<c r="{ref}" s="{self._style(self.time_fmt)}"><v>{serial!r}</v></c>')
            else:
                parts.append(f'<c r="{ref}" t="inlineStr"><is><t>{_escape(str(v)[:MAX_TEXT])}</t></is></c>')
            last = c
        parts.append("</row>")
        if last >= 0:
            ws.fh.write("".join(parts))
            ws._check_dimensions(r, 0)
            ws._check_dimensions(r, last)

    def close(self) -> None:
        self.book.close()
