"""XLSX output with xlsxwriter in constant_memory mode: each sheet keeps only its current row in
memory, so rows must be written in order and every header must be known before the first row.

Rows are written as sheet XML straight into the worksheet's constant_memory row file (the XML
xlsxwriter writes), because its per-cell API was the bottleneck. For the bulk of an export,
`compile()` turns a list of columns into one generated function that gives a record's cells as XML
fragments, and `template()` places fragments at given columns with one `%` (the row number is put
in last): a study's cells are made once and used on its "All data" row and on each of its
protocol-sheet rows, an event's once for its place on "All data" and on its protocol sheet. Rows
are buffered and written once per batch. xlsxwriter still builds the package (styles, workbook,
sheet headers, the zip)."""
from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import zipfile
from functools import partial

import xlsxwriter

from doseapp.exports.rowcode import compile_row

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
_EPOCH_DATE = _EPOCH.date()
MAX_ROWS = 1_048_576   # Excel's rows per sheet
MAX_TEXT = 32_767      # Excel's characters per cell
ROW = "\0"             # where the row number goes in compiled XML (data never has it: escaped below)
EMPTY = "/>"           # an empty cell in a compiled layout: <c r="A1"/>
_ESCAPE = re.compile(r'[&<>"\n\x00-\x08\x0b-\x1f]')
_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "\n": "&#xA;"}
# Deflate level for the package. Measured on a 31,000-study CT export: zlib's default (6) took
# 10.2-11.5 s of CPU for the whole export, level 1 6.3-6.8 s, for a file 26 % larger (63 MB, not 50).
ZIP_LEVEL = 1


def _escape(text: str) -> str:
    # XML escapes; control characters become Excel's _xHHHH_ form (as xlsxwriter writes them).
    return _ESCAPE.sub(lambda m: _ESCAPES.get(m.group(0)) or f"_x{ord(m.group(0)):04X}_", text)


def _inline(value) -> str:
    """The rest of an inline-string cell after its reference: ` t="inlineStr"><is>…</is></c>`."""
    text = str(value)[:MAX_TEXT]
    space = ' xml:space="preserve"' if text != text.strip() else ""
    return f' t="inlineStr"><is><t{space}>{_escape(text)}</t></is></c>'


def _copy_rows(ws) -> None:
    """xlsxwriter's constant_memory copy of a sheet's row file into the sheet's XML, as bytes: its
    own reads and writes it as text, decoding and encoding every byte (~1 GB for 100,000 CT studies)."""
    if ws.dim_rowmin is None:
        ws._xml_empty_tag("sheetData")
        return
    ws._xml_start_tag("sheetData")
    ws.row_data_fh.close()
    ws.row_data_fh_closed = True
    ws.fh.flush()
    with open(ws.row_data_filename, "rb") as rows:
        shutil.copyfileobj(rows, ws.fh.buffer, 1 << 20)
    os.unlink(ws.row_data_filename)
    ws._xml_end_tag("sheetData")


def _fragment_code(c, v: str) -> str:
    # Same results as value(), with text and numbers handled without a call.
    if c.kind == "text":
        return f"(E if {v} is None or {v} == '' else TG({v}) or T({v}))"
    if c.kind == "num" and c.field is not None:
        # Stored numbers are int or float: x - x is 0 for those, NaN (true) for NaN and infinity.
        return f"(E if {v} is None or {v} - {v} else '><v>%r</v></c>' % {v})"
    if c.kind == "num":  # computed: may be text (several filters' thicknesses)
        return (f"(E if {v} is None else '><v>%r</v></c>' % {v} if ({v}.__class__ is float or {v}.__class__ is int)"
                f" and not {v} - {v} else X({v}, 'num'))")
    return f"X({v}, {c.kind!r})"


def _column_letters(n: int) -> str:
    out = ""
    n += 1
    while n:
        n, rem = divmod(n - 1, 26)
        out = chr(65 + rem) + out
    return out


class XlsxOut:
    """A workbook being written. `sheet(name)` adds a sheet; `row(sheet, values, kinds)` writes the
    next row of that sheet with each value typed by its column kind; `compile()` + `put()` do the
    same for the bulk of an export, faster."""

    def __init__(self, path, date_format: str = "dd/mm/yyyy"):
        self.book = xlsxwriter.Workbook(str(path), {"constant_memory": True})
        self.date_fmt = self.book.add_format({"num_format": date_format})
        self.time_fmt = self.book.add_format({"num_format": "hh:mm:ss"})
        self.datetime_fmt = self.book.add_format({"num_format": f"{date_format} hh:mm:ss"})
        self.bold = self.book.add_format({"bold": True})
        self._xf = {}
        self.next_row: dict = {}
        self.width: dict = {}
        # Rows left out per sheet because the sheet reached Excel's limit (reported on Summary).
        self.overflow: dict[str, int] = {}
        # Inline-string XML of repeated text (protocols, equipment, descriptions), bounded.
        self._texts: dict = {}
        self._pending: dict[str, list[str]] = {}

    def sheet(self, name: str):
        ws = self.book.add_worksheet(name)
        ws._write_optimized_sheet_data = partial(_copy_rows, ws)
        self.next_row[name] = 0
        self.width[name] = 0
        self._pending[name] = []
        return ws

    def _style(self, fmt) -> int:
        key = id(fmt)
        if key not in self._xf:
            self._xf[key] = fmt._get_xf_index()
        return self._xf[key]

    def text(self, value) -> str:
        """_inline(value), remembered for repeated values."""
        got = self._texts.get(value)
        if got is None:
            got = _inline(value)
            if len(self._texts) >= 20000:  # unique values (accession numbers) must not grow memory
                self._texts.clear()
            self._texts[value] = got
        return got

    def value(self, v, kind: str, bold: str = "") -> str | None:
        """A cell's XML after its reference (`<c r="A1"` + this), or None for an empty cell."""
        if v is None or v == "":
            return None
        t = type(v)
        if kind == "text" or t is str:
            return bold + _inline(v) if bold else self.text(v)
        if t is bool:
            return f' t="b"><v>{int(v)}</v></c>'
        if t is int or t is float:
            if v != v or v in (float("inf"), float("-inf")):
                return None  # Excel has no NaN or infinity
            return f"><v>{v!r}</v></c>"
        if t is dt.datetime:
            serial = (v.replace(tzinfo=None) - _EPOCH).total_seconds() / 86400
            return f' s="{self._style(self.datetime_fmt)}"><v>{serial!r}</v></c>'
        if t is dt.date:
            return f' s="{self._style(self.date_fmt)}"><v>{(v - _EPOCH_DATE).days}</v></c>'
        if t is dt.time:
            serial = (v.hour * 3600 + v.minute * 60 + v.second + v.microsecond / 1e6) / 86400
            return f' s="{self._style(self.time_fmt)}"><v>{serial!r}</v></c>'
        return _inline(v)

    def _fragment(self, v, kind: str) -> str:
        got = self.value(v, kind)
        return EMPTY if got is None else got

    def compile(self, cols, fields):
        """A function record -> the cells of `cols` (columns.Col) as XML fragments (what follows
        `<c r="A1"`), reading the record (a tuple with `fields`) by position, for template() to
        place. Plain numbers and text are inlined in the generated code; computed, date and time
        values go through value()."""
        ns = {"T": self.text, "TG": self._texts.get, "X": self._fragment, "E": EMPTY}
        return compile_row(cols, fields, _fragment_code, ns, "xlsx_fragments")

    @staticmethod
    def template(n: int, first: int = 0) -> str:
        """`template % fragments` places n cells' fragments from column index `first` (row number
        still ROW)."""
        return "".join(f'<c r="{_column_letters(first + k)}{ROW}"%s' for k in range(n))

    def put(self, ws, cells: str, width: int) -> None:
        """Add the next row of `ws`: cells XML (with ROW for the row number), `width` columns at most."""
        name = ws.name
        r = self.next_row[name]
        if r >= MAX_ROWS:
            self.overflow[name] = self.overflow.get(name, 0) + 1
            return
        self.next_row[name] = r + 1
        if cells:
            rn = str(r + 1)
            self._pending[name].append(f'<row r="{rn}">{cells.replace(ROW, rn)}</row>')
            if width > self.width[name]:
                self.width[name] = width

    def flush(self) -> None:
        """Write the rows added since the last flush, one write per sheet (many small writes of a
        text file cost more than making the rows)."""
        for ws in self.book.worksheets():
            rows = self._pending.get(ws.name)
            if rows:
                ws.fh.write("".join(rows))
                rows.clear()

    def header(self, ws, headers) -> None:
        self._write(ws, headers, ["text"] * len(headers), bold=True)

    def row(self, ws, values, kinds) -> None:
        self._write(ws, values, kinds)

    def cells(self, values, kinds, first: int = 0, bold: str = "") -> str:
        """The XML of cells placed from column index `first`, each typed by its kind (see value());
        empty cells are left out."""
        out = []
        for c, (v, kind) in enumerate(zip(values, kinds)):
            got = self.value(v, kind, bold)
            if got is not None:
                out.append(f'<c r="{_column_letters(first + c)}{ROW}"{got}')
        return "".join(out)

    def _write(self, ws, values, kinds, bold: bool = False) -> None:
        bold_s = f' s="{self._style(self.bold)}"' if bold else ""
        width = max((c + 1 for c, v in enumerate(values) if v is not None and v != ""), default=0)
        self.put(ws, self.cells(values, kinds, 0, bold_s), width)

    def close(self) -> None:
        self.flush()
        for ws in self.book.worksheets():
            if self.width.get(ws.name):
                ws._check_dimensions(0, 0)
                ws._check_dimensions(self.next_row[ws.name] - 1, self.width[ws.name] - 1)
        # xlsxwriter names zipfile.ZipFile in its module; give it the faster level for this close.
        import xlsxwriter.workbook as wb

        wb.ZipFile = partial(zipfile.ZipFile, compresslevel=ZIP_LEVEL)
        try:
            self.book.close()
        finally:
            wb.ZipFile = zipfile.ZipFile
