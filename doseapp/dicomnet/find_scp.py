"""Our C-FIND SCP: query identifiers matched against the index of kept objects, in SQL.

Entry points (names kept stable for bench/ and other callers):
- QR_CLASSES: {"find" | "move" | "get": [SOP class UIDs]} of the three information models (Patient Root,
  Study Root, Patient/Study Only), and MODELS: {SOP class UID: "patient" | "study" | "patient_study"}.
- parse(identifier, model, retrieve=False) -> Query; raises QueryError (its status and comment go back).
- answers(connection, query, aetitle) -> iterator of answer Datasets, streamed from the database.
- instances(query) -> a select of the kept instances under what the query matches (id, path, UIDs,
  transfer syntax), for C-MOVE / C-GET (retrieve_scp.py).
- Find(assoc, req, context, receiver).run(): one C-FIND request answered (run by
  retrieve_scp.NodeAssociation; receiver is scp.Receiver).

Matching follows PS3.4 C.2.2.2: single value, universal (an empty key returns the value), wildcards * and
?, ranges A-B, -B and A- for dates and times, lists (a backslash-separated value matches any of them),
person names case-insensitively. Hierarchical search: below the top level of the model, the unique keys
of the levels above must be given, each a single value; otherwise the answer is 0xA900 "Identifier does
not match SOP Class". Keys at the query level and above are matched and returned; keys below it are
ignored; keys we do not hold are returned empty. The index holds identifiers as the privacy settings
store them, so a hashed patient ID is matched and returned as the hash, never the clear ID.
"""
from __future__ import annotations

import logging
import time
from types import SimpleNamespace
from dataclasses import dataclass, field
from typing import Any, Iterator

from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.tag import Tag
from pynetdicom import sop_class as sc
from sqlalchemy import and_, collate, exists, false, func, or_, select

from doseapp.dicomnet.qr import no_delay
from doseapp.models import DicomStoredInstance as I, DicomStoredSeries as Se, DicomStoredStudy as St, db

log = logging.getLogger(__name__)

PATIENT, STUDY, SERIES, IMAGE = "PATIENT", "STUDY", "SERIES", "IMAGE"
ORDER = {PATIENT: 0, STUDY: 1, SERIES: 2, IMAGE: 3}
UNIQUE = {PATIENT: "PatientID", STUDY: "StudyInstanceUID", SERIES: "SeriesInstanceUID", IMAGE: "SOPInstanceUID"}

QR_CLASSES = {
    "find": [sc.PatientRootQueryRetrieveInformationModelFind, sc.StudyRootQueryRetrieveInformationModelFind,
             sc.PatientStudyOnlyQueryRetrieveInformationModelFind],
    "move": [sc.PatientRootQueryRetrieveInformationModelMove, sc.StudyRootQueryRetrieveInformationModelMove,
             sc.PatientStudyOnlyQueryRetrieveInformationModelMove],
    "get": [sc.PatientRootQueryRetrieveInformationModelGet, sc.StudyRootQueryRetrieveInformationModelGet,
            sc.PatientStudyOnlyQueryRetrieveInformationModelGet],
}
MODELS = {str(uid): model for uids in QR_CLASSES.values()
          for uid, model in zip(uids, ("patient", "study", "patient_study"))}
MODEL_NAMES = {"patient": "Patient Root", "study": "Study Root", "patient_study": "Patient/Study Only"}
LEVELS = {"patient": (PATIENT, STUDY, SERIES, IMAGE), "study": (STUDY, SERIES, IMAGE),
          "patient_study": (PATIENT, STUDY)}

IDENTIFIER_MISMATCH = 0xA900  # "Identifier does not match SOP Class"
UNABLE_TO_PROCESS = 0xC001
OUT_OF_RESOURCES = 0xA700
PENDING, CANCEL = 0xFF00, 0xFE00
# More matches than this end in Out of Resources (after the first MAX_MATCHES answers): narrow the query.
MAX_MATCHES = 50_000
YIELD_PER = 500
CHARSET = "ISO_IR 192"  # answers are UTF-8


@dataclass(frozen=True)
class Key:
    keyword: str
    level: str
    column: Any  # the column returned and matched; None for a patient-level count
    kind: str  # text | pn | date | time | uid | int | count | modalities


KEYS = {k.keyword: k for k in (
    Key("PatientID", PATIENT, St.patient_id, "text"),
    Key("PatientName", PATIENT, St.patient_name, "pn"),
    Key("PatientBirthDate", PATIENT, St.patient_birth_date, "date"),
    Key("PatientSex", PATIENT, St.patient_sex, "text"),
    Key("NumberOfPatientRelatedStudies", PATIENT, None, "count"),
    Key("NumberOfPatientRelatedSeries", PATIENT, None, "count"),
    Key("NumberOfPatientRelatedInstances", PATIENT, None, "count"),
    Key("StudyInstanceUID", STUDY, St.study_instance_uid, "uid"),
    Key("StudyDate", STUDY, St.study_date, "date"),
    Key("StudyTime", STUDY, St.study_time, "time"),
    Key("AccessionNumber", STUDY, St.accession_number, "text"),
    Key("StudyID", STUDY, St.study_id, "text"),
    Key("StudyDescription", STUDY, St.study_description, "text"),
    Key("ReferringPhysicianName", STUDY, St.referring_physician, "pn"),
    Key("ModalitiesInStudy", STUDY, St.modalities, "modalities"),
    Key("NumberOfStudyRelatedSeries", STUDY, St.series_count, "count"),
    Key("NumberOfStudyRelatedInstances", STUDY, St.instance_count, "count"),
    Key("SeriesInstanceUID", SERIES, Se.series_instance_uid, "uid"),
    Key("Modality", SERIES, Se.modality, "text"),
    Key("SeriesNumber", SERIES, Se.series_number, "int"),
    Key("SeriesDescription", SERIES, Se.series_description, "text"),
    Key("SeriesDate", SERIES, Se.series_date, "date"),
    Key("SeriesTime", SERIES, Se.series_time, "time"),
    Key("NumberOfSeriesRelatedInstances", SERIES, Se.instance_count, "count"),
    Key("SOPInstanceUID", IMAGE, I.sop_instance_uid, "uid"),
    Key("SOPClassUID", IMAGE, I.sop_class_uid, "uid"),
    Key("InstanceNumber", IMAGE, I.instance_number, "int"),
    Key("ContentDate", IMAGE, I.content_date, "date"),
    Key("ContentTime", IMAGE, I.content_time, "time"),
)}
# Not matched nor answered as keys: the answer sets them itself.
_OWN = {Tag("SpecificCharacterSet"), Tag("QueryRetrieveLevel"), Tag("RetrieveAETitle")}


class QueryError(Exception):
    """An identifier we cannot answer: `status` and `comment` go back to the caller."""

    def __init__(self, status: int, comment: str):
        super().__init__(comment)
        self.status, self.comment = status, comment

    def dataset(self) -> Dataset:
        ds = Dataset()
        ds.Status = self.status
        ds.ErrorComment = self.comment[:64]
        return ds


@dataclass
class Query:
    model: str
    level: str
    # (keyword, values as text): the keys to match, each with at least one non-empty value
    conditions: list[tuple[str, list[str]]] = field(default_factory=list)
    # (tag, VR, keyword or None): what each answer holds, as asked
    requested: list[tuple[int, str, str | None]] = field(default_factory=list)

    def single(self, keyword: str) -> str | None:
        """The one value given for `keyword`, if it was given as a single value (for the log)."""
        for key, values in self.conditions:
            if key == keyword and len(values) == 1 and not _wild(values[0]):
                return values[0]
        return None

    def describe(self) -> str:
        return f"{self.level} level, {MODEL_NAMES[self.model]}"


def _values(elem) -> list[str]:
    """An element's values as text, empty ones left out; [] is universal matching (no value, or "*")."""
    if elem.VR == "SQ" or elem.value is None:
        return []
    raw = elem.value if isinstance(elem.value, (MultiValue, list, tuple)) else [elem.value]
    texts = [(v.decode("latin-1") if isinstance(v, bytes) else str(v)).strip(" \x00") for v in raw if v is not None]
    texts = [t for t in texts if t]
    return [] if "*" in texts else texts


def _wild(value: str) -> bool:
    return "*" in value or "?" in value


def parse(identifier: Dataset | None, model: str, retrieve: bool = False) -> Query:
    """The query an identifier asks for, under `model`; QueryError if it breaks the model's rules.
    With `retrieve`, the identifier of a C-MOVE / C-GET: the query level's unique key is required."""
    if identifier is None:
        raise QueryError(IDENTIFIER_MISMATCH, "the identifier could not be decoded")
    level = str(identifier.get("QueryRetrieveLevel", "") or "").strip().upper()
    if level not in LEVELS[model]:
        raise QueryError(IDENTIFIER_MISMATCH, f"query level {level or '(none)'} is not in {MODEL_NAMES[model]}")
    query = Query(model=model, level=level)
    for elem in identifier:
        if elem.tag in _OWN or elem.tag.is_private or elem.tag.group in (0x0000, 0x0002) or " or " in elem.VR:
            continue  # (an ambiguous VR, "US or SS": none of our keys, and not answerable empty)
        key = KEYS.get(elem.keyword)
        if key is not None and ORDER[key.level] > ORDER[level]:
            continue  # below the query level: not ours to answer
        query.requested.append((elem.tag, elem.VR, key.keyword if key else None))
        values = _values(elem)
        if key is not None and values and key.kind != "count":
            query.conditions.append((key.keyword, values))
    given = dict(query.conditions)
    for upper in LEVELS[model][:LEVELS[model].index(level)]:
        values = given.get(UNIQUE[upper], [])
        if len(values) != 1 or _wild(values[0]):
            raise QueryError(IDENTIFIER_MISMATCH, f"{level} level needs a single {UNIQUE[upper]}")
    if retrieve and not given.get(UNIQUE[level]):
        raise QueryError(IDENTIFIER_MISMATCH, f"a {level} level retrieve needs {UNIQUE[level]}")
    if not any(tag == Tag(UNIQUE[level]) for tag, _vr, _kw in query.requested):
        query.requested.append((Tag(UNIQUE[level]), "LO" if level == PATIENT else "UI", UNIQUE[level]))
    return query


# --- matching ------------------------------------------------------------------------------------

def _like(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace("*", "%").replace("?", "_")


def _glob(value: str) -> str:
    return value.replace("[", "[[]")


def _text_match(column, value: str, dialect: str, fold: bool):
    if fold:  # person names: case-insensitive
        if dialect == "sqlite":
            # SQLite's LIKE and its NOCASE collation ignore ASCII case, as its lower() folds only ASCII:
            # the same matches, and a name prefix is a range of the NOCASE index (migration 0015).
            if _wild(value):
                return column.like(_like(value), escape="\\")
            return collate(column, "NOCASE") == value
        if _wild(value):  # lower(patient_name) text_pattern_ops on PostgreSQL (migration 0015)
            return func.lower(column).like(func.lower(_like(value)), escape="\\")
        return func.lower(column) == func.lower(value)
    if not _wild(value):
        return column == value
    if dialect == "sqlite":  # SQLite's LIKE ignores case; GLOB does not
        return column.op("GLOB")(_glob(value))
    return column.like(_like(value), escape="\\")


def _range(column, value: str, kind: str):
    """A date or time single value or range; times compare as text, the upper bound padded so that
    '-1200' takes 12:00:59.999999."""
    value = value.replace(".", "") if kind == "date" else value
    if "-" in value:
        low, high = (part.strip() for part in value.split("-", 1))
    else:
        low = high = value.strip()
    if kind == "time" and high:  # HHMMSS.FFFFFF, the parts not given as late as they go
        whole, _, fraction = high.partition(".")
        high = whole.ljust(6, "9") + "." + fraction.ljust(6, "9")
    if kind == "date" and "-" not in value:
        return column == low
    parts = [column >= low] if low else []
    parts += [column <= high] if high else []
    return and_(*parts) if parts else column.isnot(None)


def _one(key: Key, value: str, dialect: str):
    if key.kind in ("date", "time"):
        return _range(key.column, value, key.kind)
    if key.kind == "int":
        try:
            return key.column == int(value)
        except ValueError:
            return false()
    if key.kind == "modalities":  # match any series of the study
        return exists().where(Se.study_pk == St.id, _text_match(Se.modality, value, dialect, False))
    return _text_match(key.column, value, dialect, key.kind == "pn")


def _condition(keyword: str, values: list[str], dialect: str):
    key = KEYS[keyword]
    plain = [v for v in values if not _wild(v)]
    if key.kind in ("uid", "text") and len(plain) == len(values) and len(values) > 1:
        return key.column.in_(values)  # a list of UIDs
    return or_(*(_one(key, v, dialect) for v in values))


def _where(query: Query, dialect: str) -> list:
    where = [_condition(k, v, dialect) for k, v in query.conditions]
    if query.level == PATIENT:
        where.append(St.patient_id.isnot(None))  # a patient with no ID (not stored) has no place here
    return where


def _columns(level: str) -> list:
    cols = [key.column.label(key.keyword) for key in KEYS.values()
            if key.column is not None and ORDER[key.level] <= ORDER[level] and key.level != PATIENT]
    return cols


def statement(query: Query, dialect: str):
    """The select answering `query`: one row per match, columns labelled by keyword."""
    where = _where(query, dialect)
    if query.level == PATIENT:
        return (select(St.patient_id.label("PatientID"), func.max(St.patient_name).label("PatientName"),
                       func.max(St.patient_birth_date).label("PatientBirthDate"),
                       func.max(St.patient_sex).label("PatientSex"),
                       func.count(St.id).label("NumberOfPatientRelatedStudies"),
                       func.sum(St.series_count).label("NumberOfPatientRelatedSeries"),
                       func.sum(St.instance_count).label("NumberOfPatientRelatedInstances"))
                .where(*where).group_by(St.patient_id).order_by(St.patient_id))
    patient = [KEYS[k].column.label(k) for k in ("PatientID", "PatientName", "PatientBirthDate", "PatientSex")]
    stmt = select(*patient, *_columns(query.level)).where(*where)
    if query.level == STUDY:
        return stmt.select_from(St).order_by(St.id)
    if query.level == SERIES:
        return stmt.select_from(Se).join(St, Se.study_pk == St.id).order_by(Se.id)
    return (stmt.select_from(I).join(Se, I.series_pk == Se.id).join(St, Se.study_pk == St.id)
            .order_by(I.id))


def instances(query: Query, dialect: str):
    """The kept instances under what `query` matches (at any level), ordered by id."""
    return (select(I.id, I.path, I.sop_instance_uid, I.sop_class_uid, I.transfer_syntax_uid)
            .select_from(I).join(Se, I.series_pk == Se.id).join(St, Se.study_pk == St.id)
            .where(*_where(query, dialect)).order_by(I.id))


def _answer(row, query: Query, aetitle: str) -> Dataset:
    ds = Dataset()
    ds.SpecificCharacterSet = CHARSET
    ds.QueryRetrieveLevel = query.level
    ds.RetrieveAETitle = aetitle
    values = row._mapping
    for tag, vr, keyword in query.requested:
        value = values.get(keyword) if keyword else None
        if value is None:
            value = [] if vr == "SQ" else None
        elif vr in ("IS", "US", "UL", "SL", "SS"):
            value = int(value)
        else:
            value = str(value)
        ds.add_new(tag, vr, value)
    return ds


def answers(connection, query: Query, aetitle: str) -> Iterator[Dataset]:
    """The answers to `query`, streamed (YIELD_PER rows at a time) from `connection`."""
    stmt = statement(query, connection.dialect.name).execution_options(yield_per=YIELD_PER)
    for row in connection.execute(stmt):
        yield _answer(row, query, aetitle)


def engine_of(receiver):
    with receiver.app.app_context():
        return db.engine


# --- the handler -----------------------------------------------------------------------------------

class Find:
    """One C-FIND request on a node's association, run to its final response (by
    retrieve_scp.NodeAssociation, in the association's reactor thread). Pending answers go out as the
    database gives them, each encoded by find_encoder.AnswerEncoder and sent as one P-DATA; a C-CANCEL
    is honoured between answers."""

    def __init__(self, assoc, req, context, receiver):
        self.assoc, self.req, self.receiver = assoc, req, receiver
        self.context_id = context.context_id
        self.syntax = context.transfer_syntax[0]
        self.model = MODELS[str(req.AffectedSOPClassUID)]

    def _respond(self, status: int, comment: str | None = None) -> None:
        from pynetdicom.dimse_primitives import C_FIND

        rsp = C_FIND()
        rsp.MessageIDBeingRespondedTo = self.req.MessageID
        rsp.AffectedSOPClassUID = self.req.AffectedSOPClassUID
        rsp.Status = status
        if comment:
            rsp.ErrorComment = comment[:64]
        self.assoc.dimse.send_msg(rsp, self.context_id)

    def _identifier(self):
        from pynetdicom.dsutils import decode

        try:
            return decode(self.req.Identifier, self.syntax.is_implicit_VR, self.syntax.is_little_endian,
                          self.syntax.is_deflated)
        except Exception:
            return None

    def run(self) -> None:
        from doseapp.dicomnet.find_encoder import AnswerEncoder

        started = time.perf_counter()
        no_delay(self.assoc)  # each answer goes at once, not held for the caller's delayed ACK
        outcome = {"status": "success", "message": None, "error": None, "study": None}
        sent, query = 0, None
        dul = self.assoc.dul
        try:
            query = parse(self._identifier(), self.model)
            outcome["study"] = query.single("StudyInstanceUID")
            encoder = AnswerEncoder(query, self.receiver.aetitle, self.syntax, self.req.MessageID,
                                    self.req.AffectedSOPClassUID, self.context_id, self.assoc.dimse.maximum_pdu_size)
            with engine_of(self.receiver).connect() as connection:
                stmt = statement(query, connection.dialect.name).execution_options(yield_per=YIELD_PER)
                for row in connection.execute(stmt):
                    if self.req.MessageID in self.assoc.dimse.cancel_req or not self.assoc.is_established:
                        outcome["status"] = f"0x{CANCEL:04X}"
                        if self.assoc.is_established:
                            self._respond(CANCEL)
                        return
                    if sent >= MAX_MATCHES:
                        raise QueryError(OUT_OF_RESOURCES, f"more than {MAX_MATCHES} matches: narrow the query")
                    for pdata in encoder.pdata(encoder.identifier(row)):
                        dul.send_pdu(pdata)
                    sent += 1
            self._respond(0x0000)
        except QueryError as exc:
            outcome.update(status=f"0x{exc.status:04X}", error=exc.comment)
            self._respond(exc.status, exc.comment)
        except Exception as exc:  # the database failed us: the caller is told, the log keeps why
            log.exception("C-FIND failed")
            outcome.update(status=f"0x{UNABLE_TO_PROCESS:04X}", error=f"{type(exc).__name__}: {exc}"[:500])
            self._respond(UNABLE_TO_PROCESS, "the query could not be answered")
        finally:
            words = f"{sent} match{'es' if sent != 1 else ''}"
            outcome["message"] = f"{words} ({query.describe()})" if query else words
            self.receiver._log(SimpleNamespace(assoc=self.assoc), "C-FIND", outcome["status"],
                               message=outcome["message"], error=outcome["error"], study_instance_uid=outcome["study"],
                               duration_ms=(time.perf_counter() - started) * 1000)
            log.info("C-FIND from %s: %s, %s", self.assoc.requestor.ae_title, outcome["status"], outcome["message"])
