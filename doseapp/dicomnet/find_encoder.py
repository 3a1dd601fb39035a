"""C-FIND pending responses encoded without pydicom: about 1 ms of CPU an answer went into building a
pydicom Dataset, encoding it and the C-FIND-RSP command set, and cutting them into PDUs
(docs/performance.md), which kept a month of a 100,000-study index from coming back in 500 ms.

AnswerEncoder, made once per query:
- the pending C-FIND-RSP command set (implicit VR little endian, as every command set) is encoded once
  by pynetdicom: within one query only MessageIDBeingRespondedTo and Status could differ, and they do not;
- each identifier is written straight from the database row by a layout compiled from the query's
  requested keys (find_scp.Query.requested plus the three elements every answer carries), in tag
  order, in the context's transfer syntax: Implicit or Explicit VR Little Endian. Values are written as
  pydicom writes what find_scp._answer makes of the row (tests/dicomnet/test_find_encoder.py compares
  the bytes): text VRs in UTF-8 (the answers' ISO_IR 192) padded with a space, string VRs in
  pydicom's default encoding, UIs padded with a NUL, IS as the integer's digits, binary integers packed.
  Anything else (another transfer syntax, a key of a VR the layout does not write with a value, a
  sequence, a value too long for its VR's length field) goes through pydicom (find_scp._answer and
  pynetdicom's encode): same bytes, the old speed;
- pdata(identifier) is the P-DATA of one answer: command set and identifier as two PDVs of one PDU
  when both fit the peer's maximum PDU length, else fragments as pynetdicom cuts them.
"""
from __future__ import annotations

import struct
from io import BytesIO

from pydicom.uid import UID, ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom.dimse_messages import C_FIND_RSP
from pynetdicom.dimse_primitives import C_FIND
from pynetdicom.dsutils import encode
from pynetdicom.pdu_primitives import P_DATA

from doseapp.dicomnet.find_scp import CHARSET, Query, _answer

PENDING = 0xFF00
# pydicom writes these with the data set's character set (UTF-8 here), padding the bytes with a space.
TEXT = {"LO", "LT", "SH", "ST", "UC", "UT", "PN"}
# ... and these in its default encoding (Latin-1), padding the characters (UI with a NUL).
STRING = {"AE", "AS", "CS", "DA", "DT", "TM", "UI"}
PACKED = {"US": "<H", "UL": "<I", "SS": "<h", "SL": "<i"}
# Explicit VR: these have two reserved bytes and a 4-byte length; the others a 2-byte length.
LONG = {"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "UC", "UN", "UR", "UT"}
OWN = ((0x00080005, "CS", "SpecificCharacterSet"), (0x00080052, "CS", "QueryRetrieveLevel"),
       (0x00080054, "AE", "RetrieveAETitle"))


class _Slow(Exception):
    """This answer is not for the layout: pydicom writes it."""


def _header(tag: int, vr: str, length: int, explicit: bool) -> bytes:
    group, element = tag >> 16, tag & 0xFFFF
    if not explicit:
        return struct.pack("<HHI", group, element, length)
    if vr in LONG:
        return struct.pack("<HH2sHI", group, element, vr.encode("ascii"), 0, length)
    if length > 0xFFFF:
        raise _Slow
    return struct.pack("<HH2sH", group, element, vr.encode("ascii"), length)


def _value(vr: str, value) -> bytes:
    """A value as pydicom writes what find_scp._answer puts in the data set."""
    if value is None:
        return b""
    if vr in TEXT:
        data = str(value).encode("utf-8")
        return data + b" " if len(data) % 2 else data
    if vr in STRING:
        text = str(value)
        if len(text) % 2:
            text += "\0" if vr == "UI" else " "
        return text.encode("latin-1")
    if vr == "IS":
        text = str(int(value))
        return (text + " " if len(text) % 2 else text).encode("ascii")
    if vr in PACKED:
        return struct.pack(PACKED[vr], int(value))
    raise _Slow


def _layout_for(query: Query, aetitle: str, explicit: bool):
    """[(tag, VR, keyword or None, the whole element's bytes when constant)], in tag order; None if a
    requested key cannot be written by the layout."""
    own = {"SpecificCharacterSet": CHARSET, "QueryRetrieveLevel": query.level, "RetrieveAETitle": aetitle}
    layout = []
    for tag, vr, keyword in OWN:
        data = _value(vr, own[keyword])
        layout.append((tag, vr, None, _header(tag, vr, len(data), explicit) + data))
    for tag, vr, keyword in query.requested:
        tag = int(tag)
        if vr == "SQ" or (keyword is not None and vr not in TEXT | STRING | {"IS"} | set(PACKED)):
            return None
        layout.append((tag, vr, keyword, None if keyword else _header(tag, vr, 0, explicit)))
    layout.sort(key=lambda item: item[0])
    return layout


class AnswerEncoder:
    """The bytes of one query's pending responses (see the module's doc)."""

    def __init__(self, query: Query, aetitle: str, transfer_syntax: str, msg_id: int, sop_class: str,
                 context_id: int, max_pdu: int):
        self.query, self.aetitle = query, aetitle
        self.syntax = UID(transfer_syntax)
        self.context_id, self.max_pdu = context_id, max_pdu or 0
        self.explicit = self.syntax == ExplicitVRLittleEndian
        fast = self.syntax in (ImplicitVRLittleEndian, ExplicitVRLittleEndian)
        self.layout = _layout_for(query, aetitle, self.explicit) if fast else None
        self.command = self._command(msg_id, sop_class)

    @staticmethod
    def _command(msg_id: int, sop_class: str) -> bytes:
        rsp = C_FIND()
        rsp.MessageIDBeingRespondedTo = msg_id
        rsp.AffectedSOPClassUID = sop_class
        rsp.Status = PENDING
        rsp.Identifier = BytesIO(b"\0\0")  # says a data set follows (CommandDataSetType)
        message = C_FIND_RSP()
        message.primitive_to_message(rsp)
        return encode(message.command_set, True, True)

    def identifier(self, row) -> bytes:
        """The identifier answering one database row (find_scp.statement's columns)."""
        if self.layout is not None:
            try:
                return self._fast(row._mapping)
            except (_Slow, UnicodeEncodeError, struct.error, ValueError, TypeError):
                pass
        syntax = self.syntax
        return encode(_answer(row, self.query, self.aetitle), syntax.is_implicit_VR, syntax.is_little_endian,
                      syntax.is_deflated)

    def _fast(self, values) -> bytes:
        parts = []
        explicit = self.explicit
        for tag, vr, keyword, constant in self.layout:
            if constant is not None:
                parts.append(constant)
                continue
            data = _value(vr, values.get(keyword))
            parts.append(_header(tag, vr, len(data), explicit))
            parts.append(data)
        return b"".join(parts)

    def pdata(self, identifier: bytes) -> list[P_DATA]:
        """The P-DATA primitives of one pending answer: one, holding the command set and the identifier,
        when both fit the peer's maximum PDU length."""
        cid, command = self.context_id, self.command
        if not self.max_pdu or 12 + len(command) + len(identifier) <= self.max_pdu:
            pdu = P_DATA()
            pdu.presentation_data_value_list.append((cid, b"\x03" + command))
            pdu.presentation_data_value_list.append((cid, b"\x02" + identifier))
            return [pdu]
        out = []
        for data, middle, last in ((command, b"\x01", b"\x03"), (identifier, b"\x00", b"\x02")):
            size = self.max_pdu - 6
            pieces = [data[i:i + size] for i in range(0, len(data), size)] or [b""]
            for n, piece in enumerate(pieces):
                pdu = P_DATA()
                pdu.presentation_data_value_list.append((cid, (last if n == len(pieces) - 1 else middle) + piece))
                out.append(pdu)
        return out
