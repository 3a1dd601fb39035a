"""Reads an SR content tree straight from the bytes of the Content Sequence.

pydicom defers parsing a defined-length sequence until it is first accessed, and then builds a
Dataset with its element objects for every item: for a dose report that is most of the cost of
reading it. Extraction needs only a dozen attributes per content item, so this reader walks the
item bytes once, keeps the bytes of those attributes, skips everything else by its length, and
builds ``sr.Node`` objects directly. It handles explicit and implicit VR, both byte orders,
defined and undefined lengths, and UN elements holding implicit-VR sequences. Anything it cannot
account for raises ValueError, and the caller falls back to pydicom.
"""
from __future__ import annotations

import struct

from doseapp.extract.sr import (
    CODE_MEANING, CODE_VALUE, CODING_SCHEME, CONCEPT_CODE, CONCEPT_NAME, CONTENT_SEQ,
    DATE_VALUE, DATETIME_VALUE, FLOAT_VALUE, LONG_CODE_VALUE, MEASURED_VALUE, NUMERIC_VALUE,
    PNAME_VALUE, TEXT_VALUE, TIME_VALUE, UID_VALUE, UNITS_CODE, URN_CODE_VALUE, VALUE_TYPE,
    Code, Node, TextDecoder,
)

_ITEM = 0xFFFEE000
_ITEM_END = 0xFFFEE00D
_SEQ_END = 0xFFFEE0DD
_UNDEFINED = 0xFFFFFFFF
_LONG_VRS = frozenset((b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN",
                       b"UR", b"UT", b"UV"))
_SEQUENCES = frozenset((CONTENT_SEQ, CONCEPT_NAME, CONCEPT_CODE, MEASURED_VALUE, UNITS_CODE))
_LEAVES = frozenset((VALUE_TYPE, NUMERIC_VALUE, FLOAT_VALUE, TEXT_VALUE, UID_VALUE,
                     DATETIME_VALUE, DATE_VALUE, TIME_VALUE, PNAME_VALUE, CODE_VALUE,
                     CODING_SCHEME, CODE_MEANING, LONG_CODE_VALUE, URN_CODE_VALUE))
_VALUE_TAG = {"UIDREF": UID_VALUE, "DATETIME": DATETIME_VALUE, "DATE": DATE_VALUE,
              "TIME": TIME_VALUE}


class _Reader:
    """Item and element walking over one buffer with one transfer syntax."""

    def __init__(self, buf: bytes, implicit: bool, little: bool):
        order = "<" if little else ">"
        self.buf = buf
        self.implicit = implicit
        self.order = order
        self.tag = struct.Struct(order + "HHL").unpack_from  # group, element, 32-bit length
        self.explicit = struct.Struct(order + "HH2sH").unpack_from  # group, element, VR, length
        self.u32 = struct.Struct(order + "L").unpack_from
        self._implicit_le: _Reader | None = None

    def implicit_le(self) -> "_Reader":
        """A reader for UN contents, which are always implicit VR little endian."""
        if self._implicit_le is None:
            self._implicit_le = _Reader(self.buf, True, True)
        return self._implicit_le

    def items(self, pos: int, end: int | None) -> tuple[list[dict], int]:
        """The items of a sequence value starting at ``pos`` (``end`` None: undefined length)."""
        out: list[dict] = []
        buf_len = len(self.buf)
        while end is None or pos < end:
            if pos + 8 > buf_len:
                raise ValueError("sequence runs past the end of its value")
            group, element, length = self.tag(self.buf, pos)
            tag = group << 16 | element
            if tag == _SEQ_END:
                return out, pos + 8
            if tag != _ITEM:
                raise ValueError(f"expected an item tag at byte {pos}, found {tag:08X}")
            pos += 8
            if length == _UNDEFINED:
                item, pos = self.dataset(pos, None)
            else:
                item, _ = self.dataset(pos, pos + length)
                pos += length
            out.append(item)
        if pos != end:
            raise ValueError("sequence items overrun the sequence length")
        return out, pos

    def dataset(self, pos: int, end: int | None) -> tuple[dict, int]:
        """The wanted attributes of one item: {tag: bytes} and {tag: [item dicts]} for sequences."""
        buf = self.buf
        buf_len = len(buf)
        found: dict = {}
        while end is None or pos < end:
            if pos + 8 > buf_len:
                raise ValueError("item runs past the end of its value")
            if self.implicit:
                group, element, length = self.tag(buf, pos)
                vr = None
                pos += 8
            else:
                group, element, vr, length = self.explicit(buf, pos)
                if vr in _LONG_VRS:
                    length = self.u32(buf, pos + 8)[0]
                    pos += 12
                else:
                    pos += 8
            tag = group << 16 | element
            if group == 0xFFFE:
                if tag == _ITEM_END:
                    return found, pos
                raise ValueError(f"unexpected delimiter {tag:08X} inside an item")
            if length == _UNDEFINED:
                reader = self.implicit_le() if vr == b"UN" else self
                items, pos = reader.items(pos, None)
                if tag in _SEQUENCES:
                    found[tag] = items
                continue
            if pos + length > buf_len:
                raise ValueError("element runs past the end of the data")
            if tag in _SEQUENCES:
                reader = self.implicit_le() if vr == b"UN" else self
                found[tag], _ = reader.items(pos, pos + length)
            elif tag in _LEAVES:
                found[tag] = buf[pos:pos + length]
            pos += length
        if pos != end:
            raise ValueError("item elements overrun the item length")
        return found, pos


def read_raw_tree(buf: bytes, implicit: bool, little: bool, decode: TextDecoder) -> list[Node]:
    """Nodes for the items of a Content Sequence value given as bytes."""
    reader = _Reader(buf, implicit, little)
    items, _ = reader.items(0, len(buf))
    return [_node(item, decode, reader.order) for item in items]


def _ascii(raw: bytes | None) -> str | None:
    if not raw:
        return None
    text = raw.decode("ascii", "replace").strip(" \x00")
    return text or None


def _code(items: list[dict] | None, decode: TextDecoder) -> Code | None:
    if not items:
        return None
    item = items[0]
    value = _ascii(item.get(CODE_VALUE)) or _ascii(item.get(LONG_CODE_VALUE)) or \
        _ascii(item.get(URN_CODE_VALUE))
    if value is None:
        return None
    return Code(value, _ascii(item.get(CODING_SCHEME)) or "", decode(item.get(CODE_MEANING)))


def _node(item: dict, decode: TextDecoder, order: str) -> Node:
    vtype = _ascii(item.get(VALUE_TYPE)) or ""
    name = _code(item.get(CONCEPT_NAME), decode)
    value = unit = None
    if vtype == "NUM":
        measured = item.get(MEASURED_VALUE)
        if measured:
            first = measured[0]
            value = _ascii(first.get(NUMERIC_VALUE))
            if value is None:
                fp = first.get(FLOAT_VALUE)
                if fp and len(fp) % 8 == 0:
                    value = struct.unpack(order + "d" * (len(fp) // 8), fp)
            unit_code = _code(first.get(UNITS_CODE), decode)
            unit = unit_code.value if unit_code else None
    elif vtype == "CODE":
        value = _code(item.get(CONCEPT_CODE), decode)
    elif vtype == "TEXT":
        value = decode(item.get(TEXT_VALUE))
    elif vtype == "PNAME":
        value = decode(item.get(PNAME_VALUE), person_name=True)
    elif vtype in _VALUE_TAG:
        value = _ascii(item.get(_VALUE_TAG[vtype]))
    content = item.get(CONTENT_SEQ)
    children = [_node(child, decode, order) for child in content] if content else []
    if name is None:
        return Node("", "", None, vtype, value, unit, children)
    return Node(name.value, name.scheme, name.meaning, vtype, value, unit, children)
