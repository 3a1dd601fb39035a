"""A user's CSV file as text, or a plain reason why it is not one.

RIS exports reach us saved by spreadsheets on every platform: UTF-8 with or without a byte order
mark, UTF-16 with one (Excel's "Unicode text"), or Windows-1252. People also pick the wrong file:
a workbook, a screenshot, a PDF. Decoding those as Windows-1252 (which maps almost every byte) used
to turn them into "column names"; here they are named and refused instead.
"""
from __future__ import annotations

import codecs
import csv
import io
import re
from typing import Iterator

# Python's csv module refuses longer fields (csv.field_size_limit()); no size CSV has one.
FIELD_LIMIT = csv.field_size_limit()

_BOMS = ((codecs.BOM_UTF8, "utf-8-sig", "UTF-8"), (codecs.BOM_UTF16_LE, "utf-16", "UTF-16"),
         (codecs.BOM_UTF16_BE, "utf-16", "UTF-16"))
_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"%PDF", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive, such as an Excel workbook (save it from Excel as CSV)"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old Excel or Word document (save it from Excel as CSV)"),
    (b"\x1f\x8b", "a gzip archive"),
)
# C0 controls other than tab, line feed and carriage return: binary data, never text in a CSV.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x0c\x0e-\x1f\x7f]")


class NotCsvError(ValueError):
    """The file is not CSV text; the message says why in plain words."""


def decode(raw: bytes) -> str:
    """The text of a CSV file: by its byte order mark, else UTF-8, else Windows-1252."""
    what = _signature(raw)
    if what:
        raise NotCsvError(f"this is {what}, not a CSV file")
    for bom, codec, name in _BOMS:
        if raw.startswith(bom):
            try:
                text = raw.decode(codec)
            except UnicodeDecodeError:
                raise NotCsvError(f"it starts as {name} text but is not valid {name}") from None
            break
    else:
        if b"\x00" in raw:
            raise NotCsvError("it holds NUL bytes, so it is not a text file (a CSV saved as UTF-16 "
                              "needs its byte order mark)")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            try:
                text = raw.decode("cp1252")
            except UnicodeDecodeError:
                raise NotCsvError("its text is neither UTF-8, UTF-16 nor Windows-1252") from None
    # A DOS end-of-file mark (Ctrl-Z) may end a text file.
    control = _CONTROL.search(text.rstrip("\x1a"))
    if control:
        raise NotCsvError(f"it holds control characters (U+{ord(control.group()):04X}) that CSV text never "
                          "has: is it a binary file?")
    return text


def _signature(raw: bytes) -> str | None:
    if raw[128:132] == b"DICM":
        return "a DICOM file"
    return next((what for sig, what in _SIGNATURES if raw.startswith(sig)), None)


def dialect(text: str):
    """Comma, semicolon or tab, as the start of the file shows; comma when it does not say."""
    try:
        return csv.Sniffer().sniff(text[:8192], delimiters=",;\t")
    except csv.Error:
        return csv.excel


def records(text: str, dialect) -> Iterator[list[str]]:
    """The file's records, or NotCsvError naming the line that cannot be read."""
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    while True:
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            why = f"has a value longer than {FIELD_LIMIT // 1024} KB" if "field limit" in str(exc) else f"is not CSV ({exc})"
            raise NotCsvError(f"line {reader.line_num} {why}") from None
        yield record
