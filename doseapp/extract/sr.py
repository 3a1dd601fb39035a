"""SR content-tree navigation: the content tree read once into light ``Node`` objects, text
decoding with the character-set rule, and typed readers (numbers with unit codes, codes, text,
UIDs, date-times) that record problems as warnings instead of raising.

The tree is read from the raw bytes of the Content Sequence when pydicom has not parsed it yet
(``rawtree``), which avoids building a pydicom Dataset for every item; otherwise (pydicom parses
undefined-length sequences while reading the file) from pydicom's parsed sequences. Both give the
same nodes. Damaged raw bytes raise DamagedTree rather than yielding part of a tree.
"""
from __future__ import annotations

import datetime as dt
import struct
import warnings as _warnings
from typing import Iterable, NamedTuple

from pydicom.charset import convert_encodings, decode_bytes
from pydicom.dataelem import RawDataElement

from doseapp.extract import units
from doseapp.extract.records import Malformed

# Tags of the SR content item attributes that extraction reads.
CONTENT_SEQ = 0x0040A730
VALUE_TYPE = 0x0040A040
CONCEPT_NAME = 0x0040A043
CONCEPT_CODE = 0x0040A168
MEASURED_VALUE = 0x0040A300
UNITS_CODE = 0x004008EA
NUMERIC_VALUE = 0x0040A30A
FLOAT_VALUE = 0x0040A161
TEXT_VALUE = 0x0040A160
UID_VALUE = 0x0040A124
DATETIME_VALUE = 0x0040A120
DATE_VALUE = 0x0040A121
TIME_VALUE = 0x0040A122
PNAME_VALUE = 0x0040A123
CODE_VALUE = 0x00080100
CODING_SCHEME = 0x00080102
CODE_MEANING = 0x00080104
LONG_CODE_VALUE = 0x00080119
URN_CODE_VALUE = 0x00080120

# Character sets whose bytes are one byte per character and that use no code extensions: text
# declared in one of these that is valid UTF-8 with non-ASCII bytes is, in practice, UTF-8.
_SINGLE_BYTE = {"", "ISO_IR 6", "ISO_IR 100", "ISO_IR 101", "ISO_IR 109", "ISO_IR 110",
                "ISO_IR 126", "ISO_IR 127", "ISO_IR 138", "ISO_IR 144", "ISO_IR 148",
                "ISO_IR 166", "ISO_IR 203"}
_PN_DELIMS = {0x5E, 0x3D, 0x5C}  # ^ = \


class TextDecoder:
    """Decodes text bytes of one dataset by its declared Specific Character Set.

    Rule for wrongly declared UTF-8: when the declared set is a single-byte one (or none) and the
    raw bytes are valid UTF-8 containing non-ASCII bytes, the text is taken as UTF-8 and a warning
    is recorded. Valid UTF-8 with non-ASCII bytes is vanishingly unlikely for real Latin-1 text
    (it needs an accented capital followed by a symbol, e.g. ``Ã¦``), so the UTF-8 reading is the
    one the system meant. Text that is not valid UTF-8 is decoded as declared.
    """

    def __init__(self, declared: str | list[str] | None):
        terms = [declared] if isinstance(declared, str) else list(declared or [""])
        terms = [(t or "").strip() for t in terms] or [""]
        self.declared = "\\".join(terms)
        self.problems: list[str] = []
        self.utf8_repaired: list[str] = []
        with _warnings.catch_warnings(record=True) as caught:
            _warnings.simplefilter("always")
            self.encodings = convert_encodings(terms)
        for warning in caught:
            self.problems.append(f"Specific Character Set {self.declared!r}: {warning.message}")
        # A declaration pydicom does not know only matters once non-ASCII text must be decoded.
        self.unknown = bool(caught)
        self.utf8_declared = terms[0] == "ISO_IR 192"
        self.single_byte = len(terms) == 1 and terms[0] in _SINGLE_BYTE

    def __call__(self, raw: bytes | str | None, person_name: bool = False) -> str | None:
        """Text of one value, stripped of padding; None when empty."""
        if raw is None:
            return None
        if isinstance(raw, str):
            text = raw
        elif raw.isascii() and (b"\x1b" not in raw or self.single_byte or self.utf8_declared):
            text = raw.decode("ascii")  # ESC would start an ISO 2022 code extension
        else:
            text = self._non_ascii(raw, person_name)
        text = text.strip(" \x00")
        return text or None

    def _non_ascii(self, raw: bytes, person_name: bool) -> str:
        if self.unknown:
            raise Malformed(f"the object declares the unknown character set {self.declared!r} and holds "
                            "non-ASCII text, which therefore cannot be read reliably")
        if self.utf8_declared:
            text = raw.decode("utf-8", "replace")
            if "\ufffd" in text:
                self._problem("text declared as UTF-8 holds invalid bytes; they were replaced")
            return text
        if self.single_byte:
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                if self.declared in ("", "ISO_IR 6"):
                    self._problem("text holds non-ASCII bytes but no character set is declared; "
                                  "read as Latin-1")
                    return raw.decode("latin_1")
                return raw.decode(self.encodings[0], "replace")
            if len(self.utf8_repaired) < 3:
                self.utf8_repaired.append(text.strip(" \x00"))
            return text
        delims = _PN_DELIMS if person_name else {0x5C}
        with _warnings.catch_warnings(record=True) as caught:
            _warnings.simplefilter("always")
            text = decode_bytes(raw, self.encodings, delims)
        if caught:
            self._problem(f"text could not be decoded as {self.declared!r}; bad bytes replaced")
        return text

    def _problem(self, message: str) -> None:
        if message not in self.problems:
            self.problems.append(message)

    def warnings(self) -> list[str]:
        """Plain-words descriptions of what the decoder had to repair or guess."""
        out = list(self.problems)
        if self.utf8_repaired:
            sample = ", ".join(repr(s) for s in self.utf8_repaired)
            out.append(f"text declared as {self.declared or 'the default character set'!r} holds "
                       f"UTF-8 bytes; the UTF-8 reading was stored (e.g. {sample})")
        return out


class Code(NamedTuple):
    """A coded value: code value, coding scheme designator and code meaning."""

    value: str
    scheme: str
    meaning: str | None


class Node:
    """One SR content item: concept name code, value type, value and children.

    ``value`` by value type: NUM -> numeric text (str) or a tuple of floats (FloatingPointValue);
    CODE -> Code; TEXT, PNAME -> str; UIDREF, DATETIME, DATE, TIME -> str; else None. ``unit`` is
    the unit code of a NUM. ``key`` is the concept code value, prefixed with the coding scheme for
    private schemes (``99...``) so that a private code never shadows a standard one.
    """

    __slots__ = ("key", "code", "scheme", "meaning", "vtype", "value", "unit", "children")

    def __init__(self, code, scheme, meaning, vtype, value, unit, children):
        self.code = code
        self.scheme = scheme
        self.key = f"{scheme}:{code}" if scheme.startswith("99") else code
        self.meaning = meaning
        self.vtype = vtype
        self.value = value
        self.unit = unit
        self.children = children

    def __repr__(self) -> str:
        return f"Node({self.key!r} {self.meaning!r} {self.vtype} {self.value!r} {self.unit!r})"


_NO_CHILDREN: list = []


def find(nodes: Iterable[Node], *keys: str) -> Node | None:
    """The first node whose concept key is one of ``keys``."""
    for node in nodes:
        if node.key in keys:
            return node
    return None


def find_all(nodes: Iterable[Node], *keys: str) -> list[Node]:
    """Every node whose concept key is one of ``keys``, in order."""
    return [node for node in nodes if node.key in keys]


def walk(nodes: Iterable[Node]) -> Iterable[Node]:
    """Every node of a subtree, depth first."""
    for node in nodes:
        yield node
        if node.children:
            yield from walk(node.children)


# --- reading the tree from a pydicom dataset ------------------------------------------------------

def read_tree(ds, decode: TextDecoder) -> list[Node]:
    """The root content items of an SR dataset as nodes (empty list when it has none)."""
    elem = ds.get_item(CONTENT_SEQ)
    if elem is None:
        return []
    if isinstance(elem, RawDataElement) and isinstance(elem.value, bytes):
        from doseapp.extract.rawtree import read_raw_tree
        try:
            return read_raw_tree(elem.value, elem.is_implicit_VR, elem.is_little_endian, decode)
        except (ValueError, IndexError, struct.error) as exc:
            # No fallback to pydicom here: it reads a damaged sequence up to the damage without
            # complaint, which would import part of a report as if it were all of it.
            raise DamagedTree(f"the content tree is damaged: {exc}") from exc
    return [_node(item, decode) for item in ds[CONTENT_SEQ].value]


class DamagedTree(ValueError):
    """The bytes of the content tree do not form a complete, well-formed sequence."""


def _raw(item, tag):
    """The undecoded value of an element (bytes from a file, or pydicom's value)."""
    elem = item.get_item(tag)
    return None if elem is None else elem.value


def _ascii(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    elif not isinstance(value, str):
        value = "\\".join(str(v) for v in value) if _is_multi(value) else str(value)
    value = value.strip(" \x00")
    return value or None


def _is_multi(value) -> bool:
    return isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue"


def _float_value(item) -> tuple[float, ...] | None:
    """FloatingPointValue, used only when the decimal string is empty."""
    elem = item.get_item(FLOAT_VALUE)
    if elem is None or elem.value is None:
        return None
    value = elem.value
    if isinstance(value, bytes):
        if not value or len(value) % 8:
            return None
        fmt = ("<" if elem.is_little_endian else ">") + "d" * (len(value) // 8)
        return struct.unpack(fmt, value)
    return tuple(float(v) for v in value) if _is_multi(value) else (float(value),)


def _code(item, decode: TextDecoder) -> Code | None:
    value = _ascii(_raw(item, CODE_VALUE)) or _ascii(_raw(item, LONG_CODE_VALUE)) or \
        _ascii(_raw(item, URN_CODE_VALUE))
    if value is None:
        return None
    meaning = _raw(item, CODE_MEANING)
    return Code(value, _ascii(_raw(item, CODING_SCHEME)) or "",
                decode(meaning if isinstance(meaning, (bytes, type(None))) else str(meaning)))


def _seq(item, tag) -> list:
    """The items of a sequence element (empty when absent)."""
    return item[tag].value if tag in item else _NO_CHILDREN


def _first_code(item, tag, decode: TextDecoder) -> Code | None:
    seq = _seq(item, tag)
    if not seq:
        return None
    return _code(seq[0], decode)


def _node(item, decode: TextDecoder) -> Node:
    vtype = _ascii(_raw(item, VALUE_TYPE)) or ""
    name = _first_code(item, CONCEPT_NAME, decode)
    value = unit = None
    if vtype == "NUM":
        mv = _seq(item, MEASURED_VALUE)
        if mv:
            measured = mv[0]
            value = _ascii(_raw(measured, NUMERIC_VALUE)) or _float_value(measured)
            unit_code = _first_code(measured, UNITS_CODE, decode)
            unit = unit_code.value if unit_code else None
    elif vtype == "CODE":
        value = _first_code(item, CONCEPT_CODE, decode)
    elif vtype in ("TEXT", "PNAME"):
        raw = _raw(item, TEXT_VALUE if vtype == "TEXT" else PNAME_VALUE)
        value = decode(raw if isinstance(raw, (bytes, type(None))) else str(raw),
                       person_name=vtype == "PNAME")
    elif vtype in ("UIDREF", "DATETIME", "DATE", "TIME"):
        tag = {"UIDREF": UID_VALUE, "DATETIME": DATETIME_VALUE, "DATE": DATE_VALUE,
               "TIME": TIME_VALUE}[vtype]
        value = _ascii(_raw(item, tag))
    seq = _seq(item, CONTENT_SEQ)
    children = [_node(child, decode) for child in seq] if seq else _NO_CHILDREN
    if name is None:
        return Node("", "", None, vtype, value, unit, children)
    return Node(name.value, name.scheme, name.meaning, vtype, value, unit, children)


# --- typed readers that record problems -----------------------------------------------------------

class Ctx:
    """What one extraction carries along: the text decoder and the warnings so far, with a label
    (``where``) that says which part of the report a warning is about."""

    def __init__(self, decode: TextDecoder):
        self.decode = decode
        self.warnings: list[str] = []
        self.where = ""

    def warn(self, message: str) -> None:
        """Record a problem, prefixed by where it happened."""
        self.warnings.append(f"{self.where}: {message}" if self.where else message)

    def values(self, node: Node, kind: str) -> list[float]:
        """The values of a NUM node converted to the stored unit of ``kind``; [] when it has none
        or they cannot be used (a warning says why)."""
        raw = node.value
        if raw is None:
            return []
        if node.vtype != "NUM":
            self.warn(f"{self._label(node)} sent as {node.vtype or 'no value type'}, not as a "
                      "number; not stored")
            return []
        try:
            values = units.parse_number(raw)
        except ValueError:
            self.warn(f"{self._label(node)} {raw!r} is not a number; not stored")
            return []
        if not values:
            return []
        factor = units.unit_factor(node.unit, kind)
        if factor is None:
            self.warn(f"{self._label(node)}: unit {node.unit!r} is not known for this quantity "
                      f"(stored in {units.stored_unit(kind)}); value {raw!r} not stored")
            return []
        return [units.scale(v, factor) for v in values] if factor != 1.0 else values

    def value(self, node: Node, kind: str) -> float | None:
        """A single value of a NUM node in the stored unit of ``kind``, or None."""
        values = self.values(node, kind)
        if not values:
            return None
        value, problem = units.combine(values)
        if problem:
            self.warn(f"{self._label(node)}: {problem}; not stored")
        return value

    def integer(self, node: Node, kind: str = "count") -> int | None:
        """A whole-number value of a NUM node (e.g. a count), or None."""
        value = self.value(node, kind)
        if value is None:
            return None
        number, problem = units.as_integer(value)
        if problem:
            self.warn(f"{self._label(node)}: {problem}; not stored")
        return number

    def meaning(self, node: Node | None) -> str | None:
        """The code meaning (or, failing that, the code value) of a CODE node."""
        if node is None or not isinstance(node.value, Code):
            return None
        return node.value.meaning or node.value.value

    def text(self, node: Node | None) -> str | None:
        """The text of a TEXT, PNAME or UIDREF node; a CODE node gives its meaning."""
        if node is None or node.vtype == "NUM":
            return None
        if isinstance(node.value, Code):
            return self.meaning(node)
        return node.value if isinstance(node.value, str) else None

    def datetime(self, node: Node | None) -> dt.datetime | None:
        """A DATETIME (or DATE) node as a naive local date-time, or None with a warning."""
        if node is None or not node.value:
            return None
        parsed = parse_datetime(node.value)
        if parsed is None:
            self.warn(f"{self._label(node)} {node.value!r} is not a valid date-time; not stored")
        return parsed

    def yes_no(self, node: Node | None) -> bool | None:
        """A Yes/No CODE node as a bool (None when absent or neither)."""
        if node is None or not isinstance(node.value, Code):
            return None
        code = node.value
        if code.value in ("R-0038D", "373066001") or (code.meaning or "").lower() == "yes":
            return True
        if code.value in ("R-00339", "373067005") or (code.meaning or "").lower() == "no":
            return False
        return None

    @staticmethod
    def _label(node: Node) -> str:
        return node.meaning or node.code or "value"


def parse_date(text: str | None) -> dt.date | None:
    """A DICOM DA (also the old ``YYYY.MM.DD`` form), or None when absent or invalid."""
    if not text:
        return None
    text = text.strip().replace(".", "").replace("-", "")
    try:
        return dt.date(int(text[0:4]), int(text[4:6]), int(text[6:8])) if len(text) == 8 else None
    except ValueError:
        return None


def parse_time(text: str | None) -> dt.time | None:
    """A DICOM TM (also with colons), or None when absent or invalid."""
    if not text:
        return None
    text = text.strip().replace(":", "")
    whole, _, frac = text.partition(".")
    try:
        hour = int(whole[0:2])
        minute = int(whole[2:4]) if len(whole) >= 4 else 0
        second = min(int(whole[4:6]), 59) if len(whole) >= 6 else 0
        micro = int((frac + "000000")[:6]) if frac else 0
        return dt.time(hour, minute, second, micro)
    except ValueError:
        return None


def parse_datetime(text: str | None) -> dt.datetime | None:
    """A DICOM DT as a naive date-time in the recorded local time (the UTC offset suffix is
    dropped: lists and charts show the time the staff saw), or None when invalid."""
    if not text:
        return None
    text = text.strip()
    for sign in "+-":
        cut = text.find(sign, 4)
        if cut > 0:
            text = text[:cut]
    date = parse_date(text[:8])
    if date is None:
        return None
    rest = text[8:]
    if not rest:
        return dt.datetime.combine(date, dt.time())
    time = parse_time(rest)
    return dt.datetime.combine(date, time) if time is not None else None
