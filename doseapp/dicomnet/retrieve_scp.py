"""Our C-MOVE and C-GET SCP: kept objects sent from disk, to a remote node or back to the caller.

Entry points (names kept stable for bench/ and other callers):
- on_move(event, receiver): EVT_C_MOVE. The destination is an enabled remote node (DicomRemoteNode) with
  the Move Destination's AE title, else 0xA801 "Move destination unknown". The node opens a new
  association to it, proposing a presentation context for each SOP class and transfer syntax of the
  files to send.
- on_get(event, receiver): EVT_C_GET. The objects go back over the caller's association, on the storage
  contexts it negotiated with the SCP role (build_ae accepts SCP/SCU role selection when C-GET is on).
- StoredFile: what the handlers give pynetdicom for each sub-operation: a kept file by path.

Files are read from disk as they are sent: paths come from the index in chunks (CHUNK rows, by id), and
each file's data set goes out in PDU-sized pieces, never decoded (pynetdicom's chunked sending, switched
on in the node process; it needs a context with the file's own transfer syntax, and falls back to
decoding that one file when there is none). pynetdicom's own C-MOVE / C-GET loop only sends Datasets,
so Association.send_c_store is wrapped (once, below) to send a StoredFile by its path; anything else
goes through unchanged. Memory does not grow with the number of objects.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom.association import Association
from pynetdicom.presentation import build_context
from sqlalchemy import func, select

from doseapp.dicomnet.find_scp import (CANCEL, MODELS, PENDING, QueryError, engine_of,
                                       instances, parse)
from doseapp.dicomnet.qr import no_delay
from doseapp.models import DicomRemoteNode, DicomStoredInstance, db

log = logging.getLogger(__name__)

CHUNK = 500
MAX_CONTEXTS = 128  # presentation contexts one association may propose
WARNINGS = (0xB000, 0xB006, 0xB007)


class StoredFile(Dataset):
    """A kept file to send as a C-STORE sub-operation. A Dataset only so that pynetdicom's loop takes
    it (and can name it in the failed list); it holds nothing but the SOP Instance UID. After the
    sub-operation, `result` is the peer's status (None: not sent)."""

    def __init__(self, path: str, sop_instance_uid: str):
        super().__init__()
        self.SOPInstanceUID = sop_instance_uid
        self._path = Path(path)
        self.result: int | None = None

    def send(self, assoc: Association, *args, **kwargs) -> Dataset:
        try:
            try:
                status = _plain_send_c_store(assoc, self._path, *args, **kwargs)
            except ValueError:  # no context with the file's own transfer syntax: decode it, convert
                status = _plain_send_c_store(assoc, dcmread(self._path), *args, **kwargs)
        except Exception:
            log.exception("C-STORE sub-operation for %s failed", self._path.name)
            raise
        self.result = int(status.Status) if "Status" in status else None
        return status


_plain_send_c_store = Association.send_c_store


def _send_c_store(assoc: Association, dataset, *args, **kwargs):
    if isinstance(dataset, StoredFile):
        no_delay(assoc)  # each object's last PDU goes at once (with Nagle on: ~70 ms an object)
        return dataset.send(assoc, *args, **kwargs)
    return _plain_send_c_store(assoc, dataset, *args, **kwargs)


if getattr(Association.send_c_store, "__name__", "") != "_send_c_store":
    Association.send_c_store = _send_c_store


class Tally:
    def __init__(self, total: int):
        self.total, self.completed, self.failed, self.warning = total, 0, 0, 0

    def add(self, result: int | None) -> None:
        if result == 0x0000:
            self.completed += 1
        elif result in WARNINGS:
            self.warning += 1
        else:
            self.failed += 1

    def words(self) -> str:
        return f"{self.completed} sent, {self.failed} failed, {self.warning} warning, of {self.total}"

    def status(self) -> str:
        return "success" if not (self.failed or self.warning) else "0xB000"


def _count(engine, query) -> int:
    with engine.connect() as connection:
        found = instances(query, connection.dialect.name).order_by(None).subquery()
        return connection.scalar(select(func.count()).select_from(found)) or 0


def _files(engine, query):
    """(id, path, SOP instance UID, ...) of each matching instance, CHUNK rows per short read."""
    last = 0
    while True:
        with engine.connect() as connection:
            stmt = instances(query, connection.dialect.name)
            rows = connection.execute(stmt.where(DicomStoredInstance.id > last).limit(CHUNK)).all()
        if not rows:
            return
        yield from rows
        last = rows[-1].id


def contexts_for(engine, query) -> list:
    """Presentation contexts to propose for the files a query matches: each SOP class with each of
    its files' transfer syntaxes (sent as they are), and with Explicit/Implicit VR Little Endian (for
    a destination that takes neither compressed form)."""
    with engine.connect() as connection:
        found = instances(query, connection.dialect.name).order_by(None).subquery()
        pairs = connection.execute(select(found.c.sop_class_uid, found.c.transfer_syntax_uid).distinct()).all()
    contexts, seen = [], set()
    for sop_class, syntax in sorted(pairs, key=lambda p: (p[0], p[1] or "")):
        for ts in ([syntax] if syntax else []) + [ExplicitVRLittleEndian, ImplicitVRLittleEndian]:
            if (sop_class, ts) not in seen and len(contexts) < MAX_CONTEXTS:
                seen.add((sop_class, ts))
                contexts.append(build_context(sop_class, [ts]))
    return contexts


def _send_all(event, engine, query, tally: Tally):
    """Yield a pending sub-operation per file; after each, count its result. Stops on a cancel."""
    for row in _files(engine, query):
        if event.is_cancelled:
            yield CANCEL, None
            return
        item = StoredFile(row.path, row.sop_instance_uid)
        yield PENDING, item
        tally.add(item.result)


def _retrieve(event, receiver, operation: str, destination: DicomRemoteNode | None = None):
    """The C-MOVE / C-GET generator pynetdicom drives: (for a move, the destination first), the
    number of sub-operations, then one pending (status, StoredFile) per file."""
    started = time.perf_counter()
    engine = engine_of(receiver)
    model = MODELS[str(event.request.AffectedSOPClassUID)]
    outcome = {"status": "aborted", "error": None, "study": None,
               "message": "ended before the sub-operations (destination not reachable, or the caller left)"}
    tally = None
    try:
        try:
            query = parse(event.identifier, model, retrieve=True)
        except QueryError as exc:
            query = None
            outcome.update(status=f"0x{exc.status:04X}", message=None, error=exc.comment)
            failure = exc.dataset()
        if destination is not None:
            if query is None:
                yield destination.ip or destination.hostname, destination.port, {"contexts": [
                    build_context(ExplicitVRLittleEndian)], "ae_title": destination.aetitle}
            else:
                yield (destination.ip or destination.hostname, destination.port,
                       {"contexts": contexts_for(engine, query), "ae_title": destination.aetitle,
                        "max_pdu": destination.max_pdu})
        if query is None:
            yield 1
            yield failure, None
            return
        outcome["study"] = query.single("StudyInstanceUID")
        tally = Tally(_count(engine, query))
        if tally.total == 0:  # pynetdicom answers Success at once and asks no more of us
            outcome["status"] = "success"
        yield tally.total
        yield from _send_all(event, engine, query, tally)
        outcome.update(status="0xFE00" if event.is_cancelled else tally.status(), message=None)
    finally:
        if tally is not None:
            outcome["message"] = tally.words() + (f" to {destination.aetitle}" if destination else "")
        receiver._log(event, operation, outcome["status"], message=outcome["message"], error=outcome["error"],
                      study_instance_uid=outcome["study"], remote_node_id=destination.id if destination else None,
                      duration_ms=(time.perf_counter() - started) * 1000)
        log.info("%s from %s: %s, %s", operation, event.assoc.requestor.ae_title, outcome["status"],
                 outcome["message"])


def on_get(event, receiver):
    """EVT_C_GET: the matching kept objects back over the caller's association."""
    yield from _retrieve(event, receiver, "C-GET")


def on_move(event, receiver):
    """EVT_C_MOVE: the matching kept objects to the remote node named by the Move Destination."""
    aetitle = str(event.move_destination or "").strip()
    with receiver.app.app_context():
        destination = db.session.scalar(select(DicomRemoteNode).where(
            DicomRemoteNode.aetitle == aetitle, DicomRemoteNode.enabled.is_(True)).order_by(DicomRemoteNode.id))
        if destination is not None:
            db.session.expunge(destination)
    if destination is None:
        receiver._log(event, "C-MOVE", "0xA801", error=f"move destination {aetitle or '(none)'} is not a remote node")
        log.warning("C-MOVE to unknown destination %s", aetitle)
        yield None, None
        return
    yield from _retrieve(event, receiver, "C-MOVE", destination)

