"""Our C-MOVE and C-GET SCP: kept objects sent from disk, to a remote node or back to the caller.

pynetdicom's own C-MOVE / C-GET service runs each sub-operation through Association.send_c_store,
which pauses the association's reactor thread with a handshake (_reactor_checkpoint / _is_paused)
that is not airtight: when the reactor thread is pre-empted at the wrong moment it goes round its
loop once more, takes the C-STORE-RSP off the DIMSE queue and drops it ("Received unexpected C-STORE
service message"); the sub-operation then waits for the DIMSE timeout and the move ends 0xB000 with
every later object failed (seen on a loaded machine, docs/performance.md). So a node runs retrievals
itself:

- NodeRequestHandler (the node server's request handler) makes each incoming association a
  NodeAssociation, which hands a valid C-MOVE or C-GET request on a query/retrieve context to a
  Retrieval (in the association's reactor thread, as pynetdicom runs its own service classes) and
  anything else to pynetdicom.
- Retrieval sends each sub-operation's C-STORE-RQ and reads its C-STORE-RSP itself. For a C-MOVE it
  opens the association to the destination (an enabled remote node with the Move Destination's AE
  title, else 0xA801 "Move destination unknown") and shuts that association's reactor out of the
  DIMSE queue (ReactorGate): the destination only ever answers, so nothing is lost, and the reactor
  still watches for release, abort and the network timeout. For a C-GET the sub-operations go over
  the caller's association, whose reactor is the thread running the Retrieval.
- A pending response with the counts goes to the caller every PENDING_EVERY objects; the final one has
  the completed / failed / warning counts and, when any failed, the Failed SOP Instance UID List. A
  C-CANCEL is honoured between objects.

Files are read from disk as they are sent: paths come from the index in chunks (CHUNK rows, by id),
and each file's data set goes out in PDU-sized pieces, never decoded, on a context with the file's own
transfer syntax (pynetdicom streams a C-STORE whose data set is given by path and offset); only a file
whose syntax the peer did not accept is decoded, alone, and converted. Memory does not grow with the
number of objects.
"""
from __future__ import annotations

import logging
import threading
import time
from io import BytesIO
from pathlib import Path
from types import SimpleNamespace

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.uid import UID, ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom.association import Association
from pynetdicom.dimse_primitives import C_FIND, C_GET, C_MOVE, C_STORE
from pynetdicom.dsutils import decode, encode, split_dataset
from pynetdicom.presentation import build_context
from pynetdicom.transport import RequestHandler
from sqlalchemy import func, select

from doseapp.dicomnet.find_scp import MODELS, Find, QueryError, engine_of, instances, parse
from doseapp.dicomnet.qr import no_delay
from doseapp.models import DicomRemoteNode, DicomStoredInstance, db

log = logging.getLogger(__name__)

CHUNK = 500
MAX_CONTEXTS = 128  # presentation contexts one association may propose
PENDING_EVERY = 10  # a pending response to the caller after this many sub-operations
MAX_SUBOPERATIONS = 65535  # the counts are US: a larger retrieve cannot be reported
WARNINGS = (0xB000, 0xB006, 0xB007)
SUCCESS, PENDING, CANCEL, WARNING = 0x0000, 0xFF00, 0xFE00, 0xB000
MOVE_DESTINATION_UNKNOWN = 0xA801
UNABLE_TO_PERFORM = 0xA702  # "Out of resources - unable to perform sub-operations"


class Tally:
    def __init__(self, total: int):
        self.total, self.completed, self.failed, self.warning = total, 0, 0, 0
        self.failed_uids: list[str] = []

    def add(self, result: int | None, sop_instance_uid: str) -> None:
        if result == SUCCESS:
            self.completed += 1
        elif result in WARNINGS:
            self.warning += 1
        else:
            self.failed += 1
            self.failed_uids.append(sop_instance_uid)

    @property
    def remaining(self) -> int:
        return self.total - self.completed - self.failed - self.warning

    def words(self) -> str:
        return f"{self.completed} sent, {self.failed} failed, {self.warning} warning, of {self.total}"

    def final_status(self) -> int:
        if not (self.failed or self.warning):
            return SUCCESS
        return UNABLE_TO_PERFORM if self.failed == self.total else WARNING


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


def storage_context(assoc: Association, sop_class: str, syntax: UID):
    """The accepted context to send an object of `sop_class` in `syntax` on, with us as the Storage
    SCU (for a C-GET: a context the caller accepted the SCP role on), and whether the data set must be
    converted to its transfer syntax: (context, convert), or (None, False) when there is none. The
    file's own syntax is preferred; otherwise an uncompressed little endian one, for an uncompressed
    little endian file."""
    usable = [cx for cx in assoc.accepted_contexts if cx.abstract_syntax == sop_class and cx.as_scu]
    for cx in usable:
        if cx.transfer_syntax[0] == syntax:
            return cx, False
    if not syntax.is_compressed and syntax.is_little_endian and not syntax.is_deflated:
        for cx in usable:
            ts = UID(cx.transfer_syntax[0])
            if not ts.is_compressed and ts.is_little_endian and not ts.is_deflated:
                return cx, True
    return None, False


def _busy(assoc: Association) -> None:
    """Restart an association's network (idle) timer. pynetdicom restarts it only on what arrives, and
    a C-MOVE's caller sends nothing while the objects go to the destination: a move longer than the
    node's network timeout was aborted by the caller association's reactor right after its final
    response was queued, so the caller never got it. An association we are sending on is not idle."""
    timer = getattr(assoc.dul, "_idle_timer", None)
    if timer is not None:
        timer.restart()


class ReactorGate:
    """Keeps an association's own reactor thread from taking DIMSE messages off its queue: they are
    left for whoever waits on dimse.get_msg in another thread. For an association on which we only
    send requests and read their answers (a C-MOVE's association to the destination)."""

    def __init__(self, assoc: Association):
        self._reactor = assoc  # the Association is its reactor thread
        self._get_msg = assoc.dimse.get_msg
        assoc.dimse.get_msg = self.get_msg

    def get_msg(self, block: bool = False):
        if threading.current_thread() is self._reactor:
            return None, None
        return self._get_msg(block)


class Retrieval:
    """One C-MOVE or C-GET request, run to its final response."""

    def __init__(self, assoc: Association, req, context, receiver):
        self.assoc, self.req, self.receiver = assoc, req, receiver
        self.context_id = context.context_id
        self.syntax = UID(context.transfer_syntax[0])
        self.operation = "C-MOVE" if isinstance(req, C_MOVE) else "C-GET"
        self.model = MODELS[str(req.AffectedSOPClassUID)]
        self.tally: Tally | None = None
        self.msg_id = 0

    # --- answers to the caller ----------------------------------------------------------------------

    def _respond(self, status: int, comment: str | None = None, identifier: Dataset | None = None) -> None:
        rsp = C_MOVE() if self.operation == "C-MOVE" else C_GET()
        rsp.MessageIDBeingRespondedTo = self.req.MessageID
        rsp.AffectedSOPClassUID = self.req.AffectedSOPClassUID
        rsp.Status = status
        if comment:
            rsp.ErrorComment = comment[:64]
        tally = self.tally
        if tally is not None:
            if status in (PENDING, CANCEL):
                rsp.NumberOfRemainingSuboperations = tally.remaining
            rsp.NumberOfCompletedSuboperations = tally.completed
            rsp.NumberOfFailedSuboperations = tally.failed
            rsp.NumberOfWarningSuboperations = tally.warning
        if identifier is not None:
            rsp.Identifier = BytesIO(encode(identifier, self.syntax.is_implicit_VR, self.syntax.is_little_endian,
                                            self.syntax.is_deflated))
        self.assoc.dimse.send_msg(rsp, self.context_id)
        _busy(self.assoc)

    def _final(self, status: int) -> None:
        identifier = None
        if self.tally.failed_uids or status == CANCEL:
            identifier = Dataset()
            identifier.FailedSOPInstanceUIDList = self.tally.failed_uids
        self._respond(status, identifier=identifier)

    # --- sub-operations ---------------------------------------------------------------------------------

    def _store(self, target: Association, row) -> int | None:
        """Send one kept file as a C-STORE on `target` and read its answer; the peer's status, or None
        (not sent, or no answer)."""
        path = Path(row.path)
        try:
            meta, offset = split_dataset(path)
            sop_class = str(meta.MediaStorageSOPClassUID)
            syntax = UID(str(meta.TransferSyntaxUID))
        except Exception as exc:
            log.warning("%s %s: %s cannot be read: %s", self.operation, row.sop_instance_uid, path, exc)
            return None
        context, convert = storage_context(target, sop_class, syntax)
        if context is None:
            log.warning("%s %s: the peer accepted no context for %s in %s", self.operation, row.sop_instance_uid,
                        UID(sop_class).name, syntax.name)
            return None
        self.msg_id = self.msg_id % 65535 + 1
        req = C_STORE()
        req.MessageID = self.msg_id
        req.AffectedSOPClassUID = sop_class
        req.AffectedSOPInstanceUID = row.sop_instance_uid
        req.Priority = self.req.Priority if self.req.Priority is not None else 2
        if self.operation == "C-MOVE":
            req.MoveOriginatorApplicationEntityTitle = (self.assoc.requestor.ae_title or "").strip() or None
            req.MoveOriginatorMessageID = self.req.MessageID
        if convert:  # the one case a file is decoded: its syntax was not accepted, a convertible one was
            ts = UID(context.transfer_syntax[0])
            req.DataSet = BytesIO(encode(dcmread(path), ts.is_implicit_VR, ts.is_little_endian, ts.is_deflated))
        else:  # pynetdicom reads the data set from the file as it sends it, PDU by PDU
            req._dataset_path = (path, offset)
        target.dimse.send_msg(req, context.context_id)
        while True:
            _cx, rsp = target.dimse.get_msg(block=True)
            if rsp is None:  # the peer went away, or gave no answer within the DIMSE timeout: stuck
                log.warning("%s %s: no C-STORE response from %s", self.operation, row.sop_instance_uid,
                            target.remote["ae_title"])
                if target.is_established:
                    target.abort()
                return None
            if isinstance(rsp, C_STORE) and rsp.is_valid_response and rsp.MessageIDBeingRespondedTo == self.msg_id:
                return int(rsp.Status)
            log.warning("%s: %s from %s while waiting for a C-STORE response, ignored", self.operation,
                        type(rsp).__name__, target.remote["ae_title"])

    def _send_all(self, target: Association, engine, query) -> int:
        """Every matching file to `target`; the final status."""
        tally = self.tally
        alive = True
        for row in _files(engine, query):
            if not self.assoc.is_established:
                return CANCEL
            if self.req.MessageID in self.assoc.dimse.cancel_req:
                log.info("%s cancelled by the caller after %d objects", self.operation, tally.total - tally.remaining)
                return CANCEL
            if alive and not target.is_established:
                alive = False
                log.warning("%s: the association to %s ended; the remaining objects fail", self.operation,
                            target.remote["ae_title"])
            result = self._store(target, row) if alive else None
            tally.add(result, row.sop_instance_uid)
            if tally.remaining and (tally.total - tally.remaining) % PENDING_EVERY == 0:
                self._respond(PENDING)
            else:
                _busy(self.assoc)
        return tally.final_status()

    # --- the operation ------------------------------------------------------------------------------

    def _destination(self) -> DicomRemoteNode | None:
        aetitle = str(self.req.MoveDestination or "").strip()
        with self.receiver.app.app_context():
            destination = db.session.scalar(select(DicomRemoteNode).where(
                DicomRemoteNode.aetitle == aetitle, DicomRemoteNode.enabled.is_(True)).order_by(DicomRemoteNode.id))
            if destination is not None:
                db.session.expunge(destination)
        return destination

    def run(self) -> None:
        started = time.perf_counter()
        no_delay(self.assoc)  # each response goes at once
        outcome = {"status": "aborted", "error": None, "study": None,
                   "message": "ended before the sub-operations (the caller left)"}
        destination = target = None
        try:
            if self.operation == "C-MOVE":
                destination = self._destination()
                if destination is None:
                    aetitle = str(self.req.MoveDestination or "").strip() or "(none)"
                    outcome.update(status=f"0x{MOVE_DESTINATION_UNKNOWN:04X}", message=None,
                                   error=f"move destination {aetitle} is not a remote node")
                    log.warning("C-MOVE to unknown destination %s", aetitle)
                    self._respond(MOVE_DESTINATION_UNKNOWN, "move destination is not known")
                    return
            try:
                identifier = decode(self.req.Identifier, self.syntax.is_implicit_VR, self.syntax.is_little_endian,
                                    self.syntax.is_deflated)
            except Exception:
                identifier = None
            try:
                query = parse(identifier, self.model, retrieve=True)
            except QueryError as exc:
                outcome.update(status=f"0x{exc.status:04X}", message=None, error=exc.comment)
                self._respond(exc.status, exc.comment)
                return
            outcome["study"] = query.single("StudyInstanceUID")
            engine = engine_of(self.receiver)
            self.tally = Tally(_count(engine, query))
            if self.tally.total > MAX_SUBOPERATIONS:
                why = f"{self.tally.total} objects match, more than {MAX_SUBOPERATIONS}: narrow the retrieve"
                outcome.update(status=f"0x{UNABLE_TO_PERFORM:04X}", message=None, error=why)
                self.tally = None
                self._respond(UNABLE_TO_PERFORM, why)
                return
            if self.tally.total == 0:
                outcome["status"] = "success"
                self._final(SUCCESS)
                return
            if destination is not None:
                target = self.assoc.ae.associate(
                    destination.ip or destination.hostname, destination.port, contexts=contexts_for(engine, query),
                    ae_title=destination.aetitle, max_pdu=destination.max_pdu)
                if not target.is_established:
                    why = f"could not associate with {destination.aetitle} at {destination.ip or destination.hostname}:{destination.port}"
                    outcome.update(status=f"0x{MOVE_DESTINATION_UNKNOWN:04X}", message=None, error=why)
                    log.warning("C-MOVE: %s", why)
                    self._respond(MOVE_DESTINATION_UNKNOWN, why)
                    return
                ReactorGate(target)
                no_delay(target)  # each object's last PDU goes at once (with Nagle on: ~70 ms an object)
            else:
                target = self.assoc
            status = self._send_all(target, engine, query)
            if not self.assoc.is_established:
                return
            outcome.update(status="0xFE00" if status == CANCEL else ("success" if status == SUCCESS else f"0x{status:04X}"),
                           message=None)
            self._final(status)
        finally:
            if target is not None and target is not self.assoc and target.is_established:
                target.release()
            if self.tally is not None:
                outcome["message"] = self.tally.words() + (f" to {destination.aetitle}" if destination else "")
            self.receiver._log(SimpleNamespace(assoc=self.assoc), self.operation, outcome["status"],
                               message=outcome["message"], error=outcome["error"], study_instance_uid=outcome["study"],
                               remote_node_id=destination.id if destination else None,
                               duration_ms=(time.perf_counter() - started) * 1000)
            log.info("%s from %s: %s, %s", self.operation, self.assoc.requestor.ae_title, outcome["status"],
                     outcome["message"] or outcome["error"])


class NodeAssociation(Association):
    """An association accepted by a node: query/retrieve requests are run by our own operations (C-FIND:
    find_scp.Find, C-MOVE and C-GET: Retrieval), everything else by pynetdicom's service classes."""

    receiver = None

    def _serve_request(self, msg, context_id: int) -> None:
        context = self._accepted_cx.get(context_id)
        ours = (isinstance(msg, (C_FIND, C_MOVE, C_GET)) and msg.is_valid_request and context is not None
                and str(context.abstract_syntax) in MODELS and self.receiver is not None and not self._sent_release)
        if not ours:
            super()._serve_request(msg, context_id)
            return
        self.dimse.cancel_req = {}  # as pynetdicom does: a cancel sent before the request is not for it
        self._is_paused = True
        try:
            operation = Find if isinstance(msg, C_FIND) else Retrieval
            operation(self, msg, context, self.receiver).run()
        except Exception:
            log.exception("%s failed", type(msg).__name__.replace("_", "-"))
            self.abort()
        finally:
            self._is_paused = False
            self.dimse.cancel_req = {}


class NodeRequestHandler(RequestHandler):
    """The node server's request handler: pynetdicom's, making each association a NodeAssociation
    of the server's receiver (server.receiver)."""

    def _create_association(self) -> Association:
        assoc = super()._create_association()
        assoc.__class__ = NodeAssociation  # a subclass that only overrides _serve_request
        assoc.receiver = getattr(self.server, "receiver", None)
        return assoc
