"""One Store SCP node: a pynetdicom application entity answering C-ECHO and C-STORE.

A C-STORE is acknowledged with Success only once the object is durable and its import is certain.
In the node process pynetdicom streams each arriving data set to a file in spool/<AET>/.incoming/
(never held in memory: a 200 MB object no longer grows the process by 200 MB); the handler fsyncs
it and renames it into the spool, the folder is fsynced, and its import job row committed; the job
goes on RQ as the answer leaves (or, with Redis down, becomes a pending row for the supervisor's
sweeper). The folder fsync, the commit and the queueing are done for several objects at once when
several associations are sending (recorder.py: group commit). An object over the node's maximum
size, or with no room for it (disk, or the node's storage limit), is answered Out of Resources
(0xA700) and not kept. Connections are guarded (guard.py). Every association and operation is a
transaction-log row, and a line in <instance>/logs/scp-<AET>.log. Handlers are bound to events.
"""
from __future__ import annotations

import errno
import logging
import logging.handlers
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from flask import Flask
from pydicom.uid import UID, ExplicitVRLittleEndian
from pynetdicom import AE, _config, evt
from pynetdicom.sop_class import Verification
from sqlalchemy import update

from doseapp.dicomnet import filemeta, find_scp, retrieve_scp, storage
from doseapp.dicomnet.guard import ConnectionGuard, GuardedServer
from doseapp.dicomnet.recorder import Received, Recorder
from doseapp.dicomnet.nodes import (ALL_STORAGE_CLASSES, DEFAULT_TRANSFER_SYNTAXES, KEEPALIVE_AE,
                                    address_allowed)
from doseapp.models import DicomStoreScp, DicomTransaction, db
from doseapp.models.base import utcnow

log = logging.getLogger(__name__)

SUCCESS = 0x0000
OUT_OF_RESOURCES = 0xA700  # also for an object over the node's maximum size: the standard's "too much for us"
PROCESSING_FAILURE = 0x0110
CANNOT_UNDERSTAND = 0xC000  # PS3.4 C-STORE "Error: Cannot understand": a request we cannot take as sent
# Our own count of associations (Receiver.on_requested) is the node's maximum; pynetdicom's counts
# every open connection, asked or not, so it only stands behind ours.
PYNETDICOM_CEILING = 1000
CHUNK = 1 << 20
MIN_FREE_BYTES = 100 * 1024 * 1024  # leave the disk this much room, for the database and the logs
HEARTBEAT_SECONDS = 5.0
RESCAN_SECONDS = 30.0
LOOPBACK = ("127.0.0.1", "::1")


class Receiver:
    """Event handlers and state for one node. Security and storage settings are re-read from the
    database every heartbeat, so allow-list edits apply without a restart."""

    def __init__(self, app: Flask, node: DicomStoreScp):
        self.app = app
        self.node_id = node.id
        self.aetitle = node.aetitle
        self.source = f"scp:{node.aetitle}"  # where imports say the object came from
        instance = app.config["INSTANCE"]
        self.spool = storage.spool_dir(instance, node.aetitle)
        self.objects = storage.objects_dir(instance, node.aetitle)
        self.incoming = self.spool / storage.INCOMING
        self.spool.mkdir(parents=True, exist_ok=True)
        self.objects.mkdir(parents=True, exist_ok=True)
        self._used_lock = threading.Lock()
        self.used_bytes = 0
        self.recorder = Recorder(app, node.id, self.spool)
        self.guard = ConnectionGuard(self._log_connections, node.connections_per_address or 8,
                                     node.request_timeout or 10)
        self.reload(node)
        self.rescan()

    # --- settings and storage accounting ---------------------------------------------------------

    def reload(self, node: DicomStoreScp) -> None:
        self.require_calling_ae = node.require_calling_ae
        self.allowed_addresses = node.allowed_addresses
        self.allowed_aes = {a.aetitle.strip(): (a.expected_ip or "").strip() for a in node.allowed_aes if a.active}
        self.limit_bytes = node.storage_limit_mb * 1024 * 1024 if node.storage_limit_mb else None
        self.max_object_mb = node.max_object_mb
        self.max_associations = node.max_associations or 10
        self.acse_timeout = node.acse_timeout or 30
        self.stale_incoming = max(node.network_timeout or 60, node.dimse_timeout or 30) + 60
        self.guard.configure(node.connections_per_address or 8, node.request_timeout or 10)
        self.layout = {"node": self.objects.name, "structure": node.storage_structure or "date",
                       "naming": node.file_naming or "sop_uid"}

    def rescan(self) -> None:
        size = storage.tree_size(self.spool, self.objects)
        with self._used_lock:
            self.used_bytes = size

    def stream_to_disk(self) -> None:
        """In the node process: have pynetdicom write each arriving data set to a file in our
        incoming folder (the same file system as the spool, so adopting it is a rename). Both are
        process-wide settings, which is why only the node process, which hosts this one receiver,
        makes them. Files left by a previous run were never acknowledged: removed."""
        self.incoming.mkdir(parents=True, exist_ok=True)
        storage.remove_older_than(self.incoming, 0)
        tempfile.tempdir = str(self.incoming)
        _config.STORE_RECV_CHUNKED_DATASET = True
        # Query identifiers hold patient identifiers: not for pynetdicom's log.
        _config.LOG_REQUEST_IDENTIFIERS = _config.LOG_RESPONSE_IDENTIFIERS = False

    def room_for(self, size: int, on_disk: bool = False) -> str | None:
        """Why an object of `size` bytes cannot be kept, or None if it can. `on_disk`: it was
        streamed to the incoming folder, so the free space already lacks it."""
        if self.max_object_mb and size > self.max_object_mb * 1024 * 1024:
            return (f"object is {size / 2**20:.1f} MB, over this node's maximum object size of "
                    f"{self.max_object_mb} MB")
        with self._used_lock:
            used = self.used_bytes
        if self.limit_bytes is not None and used + size > self.limit_bytes:
            return (f"storage limit reached: {used / 1e6:.1f} MB used of {self.limit_bytes / 1e6:.1f} MB, "
                    f"object is {size / 1e6:.2f} MB")
        free = shutil.disk_usage(self.spool).free
        if free - (0 if on_disk else size) < MIN_FREE_BYTES:
            return f"disk full: {free / 1e6:.0f} MB free"
        return None

    # --- logging ---------------------------------------------------------------------------------

    def _row(self, event, operation: str, status: str, **extra) -> DicomTransaction:
        req = event.assoc.requestor
        calling = req.ae_title or getattr(req.primitive, "calling_ae_title", None)
        return DicomTransaction(direction="in", operation=operation, scp_id=self.node_id, status=status,
                                calling_aetitle=(calling or "").strip()[:16] or None, called_aetitle=self.aetitle,
                                peer_address=req.address, peer_port=req.port, **extra)

    def _log(self, event, operation: str, status: str, **extra) -> None:
        with self.app.app_context():
            db.session.add(self._row(event, operation, status, **extra))
            db.session.commit()

    def _log_connections(self, rows: list[dict]) -> None:
        """The guard's refusals and timeouts: connections that never became associations."""
        with self.app.app_context():
            db.session.add_all([DicomTransaction(direction="in", operation="CONNECT", scp_id=self.node_id,
                                                 called_aetitle=self.aetitle, **row) for row in rows])
            db.session.commit()

    @staticmethod
    def _is_keepalive(event) -> bool:
        req = event.assoc.requestor
        calling = (req.ae_title or getattr(req.primitive, "calling_ae_title", "") or "").strip()
        return calling == KEEPALIVE_AE and req.address in LOOPBACK

    # --- handlers --------------------------------------------------------------------------------

    def on_conn_open(self, event) -> None:
        self.guard.opened(event.assoc, *event.address[:2])

    def on_conn_close(self, event) -> None:
        self.guard.closed(*event.address[:2])

    def on_requested(self, event) -> None:
        """Refuse (A-ASSOCIATE-RJ) a peer whose address or calling AE title is not allowed, or any
        peer when the node already has its maximum of associations."""
        assoc = event.assoc
        address, port = assoc.requestor.address, assoc.requestor.port
        others = self.guard.requested(address, port)
        assoc.acse_timeout = self.acse_timeout  # the guard's shorter wait was for the request only
        calling = (assoc.requestor.primitive.calling_ae_title or "").strip()
        why = None
        # (result, source, diagnostic): rejected-permanent by the service user, or rejected-transient
        # by the service provider for a local limit
        reason = (0x01, 0x01, 0x01)
        if not address_allowed(address, self.allowed_addresses):
            why = f"address {address} is not allowed"
        elif self.require_calling_ae and self.allowed_aes.get(calling) is None:
            why, reason = f"calling AE title {calling} is not on the allowed list", (0x01, 0x01, 0x03)
        elif self.require_calling_ae and self.allowed_aes[calling] not in ("", address):
            why = f"calling AE title {calling} must call from {self.allowed_aes[calling]}, not {address}"
            reason = (0x01, 0x01, 0x03)
        elif others >= self.max_associations:
            why = f"the node already has {others} associations, its maximum"
            reason = (0x02, 0x03, 0x02)
        if why is None:
            return
        if not self._is_keepalive(event):  # the supervisor's own check: a refusal proves the node alive
            log.warning("Refused association from %s at %s: %s", calling, address, why)
            self._log(event, "ASSOCIATE", "rejected", error=why)
        assoc.acse.send_reject(*reason)
        assoc.kill()

    def on_accepted(self, event) -> None:
        if self._is_keepalive(event):
            return
        assoc = event.assoc
        req = assoc.requestor
        if not assoc.accepted_contexts:
            # pynetdicom accepts an association whose every presentation context it refused; the
            # sender then gives up: for the log, it was refused.
            why = "no acceptable presentation context: " + _refused_contexts(assoc.rejected_contexts)
            log.warning("Association from %s at %s:%s refused: %s", req.ae_title, req.address, req.port, why)
            self._log(event, "ASSOCIATE", "rejected", error=why)
            return
        log.info("Association accepted from %s at %s:%s", req.ae_title, req.address, req.port)
        self._log(event, "ASSOCIATE", "accepted")

    def on_echo(self, event) -> int:
        if not self._is_keepalive(event):
            log.info("C-ECHO from %s", event.assoc.requestor.ae_title)
            self._log(event, "C-ECHO", "success")
        return SUCCESS

    def on_store(self, event) -> int:
        """Spool, make durable, queue the import; only then Success."""
        started = time.perf_counter()
        req = event.request
        sop_class, sop_uid = str(req.AffectedSOPClassUID), str(req.AffectedSOPInstanceUID)
        streamed = _streamed(event)
        common = {"sop_class_uid": _shown(sop_class)[:128], "sop_instance_uid": _shown(sop_uid)[:128],
                  "size_bytes": None}

        def fail(status: int, why: str) -> int:
            log.warning("C-STORE %s refused (0x%04X): %s", common["sop_instance_uid"], status, why)
            self._log(event, "C-STORE", f"0x{status:04X}", error=why,
                      duration_ms=(time.perf_counter() - started) * 1000, **common)
            return status

        why = _bad_uid("SOP Class", sop_class) or _bad_uid("SOP Instance", sop_uid)
        if why:
            return fail(CANNOT_UNDERSTAND, why)
        if streamed is None:  # the data set is in memory (a C-GET in a worker): written here
            meta = filemeta.header(sop_class, sop_uid, str(event.context.transfer_syntax))
            with req.DataSet.getbuffer() as view:
                size = len(meta) + view.nbytes
        else:
            size = streamed.stat().st_size
        common["size_bytes"] = size
        why = self.room_for(size, on_disk=streamed is not None)
        if why:
            return fail(OUT_OF_RESOURCES, why)
        try:
            path = self._adopt(streamed, sop_uid) if streamed else self._write(sop_uid, meta, req.DataSet)
        except OSError as exc:
            full = exc.errno in (errno.ENOSPC, errno.EDQUOT)
            return fail(OUT_OF_RESOURCES if full else PROCESSING_FAILURE, f"could not write the object: {exc}")
        with self._used_lock:
            self.used_bytes += size
        try:
            self._record(event, path, common, started)
        except Exception as exc:  # the database is unreachable: nothing records the object
            log.exception("C-STORE %s: could not record the object", sop_uid)
            path.unlink(missing_ok=True)
            with self._used_lock:
                self.used_bytes -= size
            try:
                return fail(PROCESSING_FAILURE, f"could not record the object: {type(exc).__name__}: {exc}")
            except Exception:
                return PROCESSING_FAILURE
        log.info("C-STORE %s (%s, %d bytes) from %s: recorded as %s", sop_uid, sop_class, size,
                 event.assoc.requestor.ae_title, path.name)
        return SUCCESS

    @staticmethod
    def _spool_name(sop_uid: str) -> str:
        return f"{storage.safe_part(sop_uid, 'object')}-{uuid.uuid4().hex[:8]}.dcm"

    def _write(self, sop_uid: str, meta: bytes, dataset) -> Path:
        """Write an object received in memory to the spool: header and data set, fsynced, renamed."""
        name = self._spool_name(sop_uid)
        tmp = self.spool / f"{storage.TMP_PREFIX}{name}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with dataset.getbuffer() as body:  # released before pynetdicom drops the stream
                for part in (memoryview(meta), body):
                    for offset in range(0, len(part), CHUNK):
                        chunk = part[offset:offset + CHUNK]
                        while chunk:
                            written = os.write(fd, chunk)
                            chunk = chunk[written:]
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            tmp.unlink(missing_ok=True)
            raise
        os.close(fd)
        final = self.spool / name
        os.rename(tmp, final)  # the folder is fsynced by the recorder, once per group
        return final

    def _adopt(self, streamed: Path, sop_uid: str) -> Path:
        """Take a file pynetdicom streamed into our incoming folder (a complete Part 10 file: it
        writes the same header as filemeta.header) into the spool: fsynced, then renamed, never read.
        pynetdicom closes its handle after the handler, and its delete of the old name finds nothing."""
        fd = os.open(streamed, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        final = self.spool / self._spool_name(sop_uid)
        os.rename(streamed, final)  # the folder is fsynced by the recorder, once per group
        return final

    def _record(self, event, path: Path, common: dict, started: float) -> None:
        """Record the object (folder fsync, import job and log row; the recorder does these for every
        object arriving meanwhile at once, and queues the jobs on RQ after the answers)."""
        row = self._row(event, "C-STORE", "success", **common)
        # The sender and the SOP instance go with the job: a quarantined object names who sent it, and a
        # job run again after its worker died can tell its object was imported.
        parameters = {"path": str(path), "source": self.source, "owned": True, "layout": self.layout,
                      "calling_ae": row.calling_aetitle, "sop_instance_uid": common["sop_instance_uid"]}
        item = Received(path=path, parameters=parameters, title=f"Import received {path.name}", log_row=row)
        row.duration_ms = (time.perf_counter() - started) * 1000
        self.recorder.record(item)

    # --- heartbeat -------------------------------------------------------------------------------

    def heartbeat(self, stop: threading.Event) -> None:
        """Every few seconds: write activity and storage use to the node row, re-read settings; rescan
        the folders now and then (the running count only ever over-estimates between scans)."""
        last_scan = time.monotonic()
        while not stop.wait(HEARTBEAT_SECONDS):
            try:
                if time.monotonic() - last_scan > RESCAN_SECONDS:
                    # A file still arriving is written to every few milliseconds; one untouched past
                    # the network timeout belongs to an association that ended mid-object.
                    storage.remove_older_than(self.incoming, self.stale_incoming / 86400)
                    self.rescan()
                    last_scan = time.monotonic()
                self.beat()
            except Exception:  # a database hiccup must not stop the heartbeat
                log.exception("SCP heartbeat failed")

    def beat(self) -> None:
        """Write activity, storage use and the time to the node row (which also tells the supervisor,
        after a start, that the node listens), and re-read the node's settings."""
        with self.app.app_context():
            node = db.session.get(DicomStoreScp, self.node_id)
            if node is None:
                return
            self.reload(node)
            db.session.execute(update(DicomStoreScp).where(DicomStoreScp.id == self.node_id).values(
                active_associations=self.guard.associations(), storage_used_bytes=self.used_bytes,
                last_seen=utcnow()))
            db.session.commit()

    def bindings(self) -> list:
        return [(evt.EVT_CONN_OPEN, self.on_conn_open), (evt.EVT_CONN_CLOSE, self.on_conn_close),
                (evt.EVT_REQUESTED, self.on_requested), (evt.EVT_ACCEPTED, self.on_accepted),
                (evt.EVT_C_ECHO, self.on_echo), (evt.EVT_C_STORE, self.on_store)]
        # C-FIND, C-MOVE and C-GET are not events: the node's associations run them
        # (retrieve_scp.NodeAssociation).


def _streamed(event) -> Path | None:
    """Where pynetdicom wrote the C-STORE's data set, or None when it is in memory."""
    try:
        return event.dataset_path
    except AttributeError:  # pynetdicom's answer when the data set was not streamed to a file
        return None


def _shown(uid: str) -> str:
    """A UID as the log can show it: anything outside printable ASCII escaped."""
    return uid.encode("ascii", "backslashreplace").decode("ascii").translate(_CONTROL_ESCAPES)


_CONTROL_ESCAPES = {c: f"\\x{c:02x}" for c in (*range(0x20), 0x7F)}


def _bad_uid(what: str, uid: str) -> str | None:
    """Why a UID from the command cannot be used (in the file header, a file name), or None. UIDs
    are digits and dots; a sender's looser UID is taken, but not one outside printable ASCII."""
    if all(0x20 < ord(c) < 0x7F for c in uid):
        return None
    return f"the Affected {what} UID {_shown(uid)} holds a space or a character that is not printable ASCII"


def _refused_contexts(contexts) -> str:
    """What a sender offered that the node refused, in words: each SOP class once (a sender offers
    one several times, with different transfer syntaxes), the first few."""
    results: dict[str, set[int]] = {}
    for cx in contexts:
        results.setdefault(UID(str(cx.abstract_syntax)).name, set()).add(cx.result)
    words = [f"{name} (transfer syntax not accepted)" if codes == {0x04} else name
             for name, codes in list(results.items())[:4]]
    more = f" and {len(results) - 4} more" if len(results) > 4 else ""
    return (", ".join(words) + more + " offered") if words else "nothing offered"



def build_ae(node: DicomStoreScp) -> AE:
    """The application entity for a node, with its network settings and accepted contexts: the
    query/retrieve SOP classes of the services switched on (a service switched off is refused at
    association), and for C-GET the storage classes also with the SCP role for the caller."""
    ae = AE(ae_title=node.aetitle)
    ae.maximum_associations = PYNETDICOM_CEILING
    ae.acse_timeout = node.acse_timeout or 30
    ae.dimse_timeout = node.dimse_timeout or 30
    ae.network_timeout = node.network_timeout or 60
    ae.maximum_pdu_size = node.max_pdu if node.max_pdu is not None else 16384
    # Of several syntaxes offered in one context, pynetdicom takes the first of ours that is there:
    # Explicit VR Little Endian before Implicit (the VRs survive, and a C-GET caller offering both
    # gets kept files as they are, not converted).
    syntaxes = sorted(node.transfer_syntaxes or DEFAULT_TRANSFER_SYNTAXES, key=lambda ts: ts != ExplicitVRLittleEndian)
    ae.add_supported_context(Verification)
    for service, uids in find_scp.QR_CLASSES.items():
        if getattr(node, f"{service}_enabled"):
            for uid in uids:
                ae.add_supported_context(uid)
    # A C-GET caller takes the objects as a Storage SCP on its own association (SCP/SCU role selection).
    roles = {"scu_role": True, "scp_role": True} if node.get_enabled else {}
    for uid in node.sop_classes or ALL_STORAGE_CLASSES:
        ae.add_supported_context(uid, syntaxes, **roles)
    return ae


LOG_FLUSH_SECONDS = 1.0


def _log_to_file(instance: Path, aetitle: str, level: str) -> None:
    """Our lines go to logs/scp-<AET>.log at INFO (the seed's troubleshooting log) and to stderr at
    the configured level. File lines are written in batches, every LOG_FLUSH_SECONDS and at once for
    a warning or worse: with a line written per object on the disk that receives the objects, each
    object's fsync also flushed the log's pages (up to a millisecond an object when measured)."""
    folder = Path(instance) / "logs"
    folder.mkdir(parents=True, exist_ok=True)
    fmt = logging.Formatter("[%(asctime)s] %(levelname)s [%(name)s:%(lineno)d] %(message)s")
    to_file = logging.FileHandler(folder / f"scp-{storage.node_folder_name(aetitle)}.log")
    to_file.setFormatter(fmt)
    to_file.setLevel(logging.INFO)
    batched = logging.handlers.MemoryHandler(capacity=512, flushLevel=logging.WARNING, target=to_file,
                                             flushOnClose=True)
    batched.setLevel(logging.INFO)
    to_err = logging.StreamHandler(sys.stderr)
    to_err.setFormatter(fmt)
    to_err.setLevel(level)
    for name in ("doseapp.dicomnet", "pynetdicom"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [batched, to_err]
        logger.propagate = False
    logging.getLogger("doseapp.dicomnet").setLevel(logging.INFO)
    logging.getLogger("pynetdicom").setLevel(logging.WARNING)

    def flush_now_and_then():
        while True:
            time.sleep(LOG_FLUSH_SECONDS)
            batched.flush()

    threading.Thread(target=flush_now_and_then, daemon=True, name="log-flush").start()


def serve(app: Flask, node_id: int) -> None:
    """Run node `node_id` until SIGTERM/SIGINT."""
    with app.app_context():
        node = db.session.get(DicomStoreScp, node_id)
        if node is None:
            raise SystemExit(f"There is no Store SCP node {node_id}.")
        _log_to_file(app.config["INSTANCE"], node.aetitle, app.config["LOG_LEVEL"])
        receiver = Receiver(app, node)
        ae = build_ae(node)
        address = (node.bind_address or "0.0.0.0", node.port)
        db.session.remove()
    receiver.stream_to_disk()
    log.info("Starting AE... AET:%s, port:%s", receiver.aetitle, address[1])
    server = ae.make_server(address, evt_handlers=receiver.bindings(), server_class=GuardedServer,
                            guard=receiver.guard, request_handler=retrieve_scp.NodeRequestHandler)
    server.receiver = receiver  # C-MOVE and C-GET (retrieve_scp.NodeRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True, name="scp-accept").start()
    receiver.guard.start()
    log.info("Started AE... AET:%s, listening on %s:%s", receiver.aetitle, *address)
    try:
        receiver.beat()  # the supervisor's first keep-alive echo waits for this
    except Exception:  # the heartbeat tries again; the supervisor echoes anyway after its grace period
        log.exception("Could not tell the supervisor the node is listening")
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    beat = threading.Thread(target=receiver.heartbeat, args=(stop,), daemon=True, name="heartbeat")
    beat.start()
    stop.wait()
    server.shutdown()
    receiver.guard.stop()
    log.info("Store SCP %s stopped", receiver.aetitle)
    logging.shutdown()  # writes the last batch of log lines

