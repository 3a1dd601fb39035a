"""Retrieve what a query selected: C-MOVE to one of our Store nodes, or C-GET on our own
association straight into the ingest.

The plan is read back from the stored responses (the user reviews them before pressing Retrieve):
a series is moved whole unless the rules kept only some of its images (Toshiba first images, SR
instances of another kind, objects already imported), in which case it is moved image by image.
C-GET hands each received object to the Store SCP's own receiver (spool durably, queue the import,
only then answer Success), so both paths end in the same import jobs.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

from flask import current_app
from pydicom.dataset import Dataset
from pynetdicom import build_role, evt

from doseapp.dicomnet.nodes import DEFAULT_TRANSFER_SYNTAXES
from doseapp.dicomnet.qr import MODELS, QrError, associate, log_operation, model, new_ae, no_delay, park_reactor
from doseapp.dicomnet.scp import Receiver
from doseapp.extract.classify import ROUTES
from doseapp.models import DicomQuery, DicomQueryStudy, DicomRemoteNode, DicomStoreScp, DicomTransaction, db
from doseapp.runtime.queues import JobCancelled
from doseapp.display.timefmt import plural

PENDING = (0xFF00, 0xFF01)
SUCCESS, WARNING = 0x0000, 0xB000
# The storage classes a C-GET may send us: every dose object class we read, and the image classes
# the rules can select (CT images for Toshiba, X-ray images). A C-GET association offers each with
# the SCP role; 128 presentation contexts is the protocol's limit.
GET_STORAGE_CLASSES = list(dict.fromkeys([
    *ROUTES,
    "1.2.840.10008.5.1.4.1.1.2",      # CT Image
    "1.2.840.10008.5.1.4.1.1.2.1",    # Enhanced CT Image
    "1.2.840.10008.5.1.4.1.1.12.1",   # X-Ray Angiographic Image
    "1.2.840.10008.5.1.4.1.1.12.2",   # X-Ray Radiofluoroscopic Image
    "1.2.840.10008.5.1.4.1.1.13.1.3", # Breast Tomosynthesis Image
    "1.2.840.10008.5.1.4.1.1.88.11",  # Basic Text SR
]))
GET_TRANSFER_SYNTAXES = DEFAULT_TRANSFER_SYNTAXES[:4]  # uncompressed and deflated: we store as sent


@dataclass
class Request:
    study_row: DicomQueryStudy
    level: str  # STUDY, SERIES or IMAGE
    series_uid: str | None
    sop_uid: str | None
    expected: int | None
    patient_id: str | None = None  # Patient Root: the key of the level above the study, when known


@dataclass
class Selection:
    """The responses a user ticked (ids of DicomQueryStudy / DicomQuerySeries rows): a ticked study
    is retrieved whole, a ticked series alone. None everywhere = everything the query kept."""
    studies: set[int]
    series: set[int]

    @classmethod
    def from_parameters(cls, parameters: dict) -> "Selection | None":
        if parameters.get("studies") is None and parameters.get("series") is None:
            return None
        return cls({int(i) for i in parameters.get("studies") or []}, {int(i) for i in parameters.get("series") or []})


def _clear_patient_id(query: DicomQuery, study_uid: str | None) -> str | None:
    """The patient ID of a manual query's study when it was kept in clear (a hashed one cannot be sent)."""
    summary = query.summary or {}
    if summary.get("ids_protected"):
        return None
    return ((summary.get("patients") or {}).get(study_uid) or [None])[0]


def plan(query: DicomQuery, selection: Selection | None = None) -> list[Request]:
    """What to ask the remote for, from the kept responses (only the selected ones, if given)."""
    out = []
    for study in query.studies:
        if study.excluded_reason:
            continue
        whole = selection is None or study.id in selection.studies
        if not study.series:  # a study-level answer (manual queries): the study is moved whole
            if whole:
                out.append(Request(study, "STUDY", None, None, None, _clear_patient_id(query, study.study_instance_uid)))
            continue
        for series in study.series:
            if series.excluded_reason or not (whole or series.id in selection.series):
                continue
            kept = [i for i in series.images if i.excluded_reason is None]
            if series.images and (series.image_level_move or len(kept) < len(series.images)):
                out += [Request(study, "IMAGE", series.series_instance_uid, i.sop_instance_uid, 1,
                                _clear_patient_id(query, study.study_instance_uid)) for i in kept]
            else:
                expected = len(series.images) if series.images else series.number_of_instances
                out.append(Request(study, "SERIES", series.series_instance_uid, None, expected,
                                   _clear_patient_id(query, study.study_instance_uid)))
    return out


def _identifier(req: Request, patient_root: bool) -> Dataset:
    ds = Dataset()
    ds.QueryRetrieveLevel = req.level
    if patient_root and req.patient_id:
        ds.PatientID = req.patient_id
    ds.StudyInstanceUID = req.study_row.study_instance_uid
    if req.series_uid:
        ds.SeriesInstanceUID = req.series_uid
    if req.sop_uid:
        ds.SOPInstanceUID = req.sop_uid
    return ds


class GetReceiver(Receiver):
    """The Store SCP's receiver, on the C-GET association we opened: the sender is the remote."""

    def __init__(self, app, node: DicomStoreScp, remote: DicomRemoteNode):
        super().__init__(app, node)
        self.remote_id, self.remote_aet, self.remote_name = remote.id, remote.aetitle, remote.name
        self.source = f"qr:{remote.name}"[:64]
        self.received = 0

    def _row(self, event, operation: str, status: str, **extra) -> DicomTransaction:
        peer = event.assoc.acceptor
        return DicomTransaction(direction="in", operation=operation, scp_id=self.node_id,
                                remote_node_id=self.remote_id, status=status, calling_aetitle=self.remote_aet,
                                called_aetitle=event.assoc.requestor.ae_title,
                                peer_address=peer.address, peer_port=peer.port,
                                message=f"C-GET sub-operation from {self.remote_name}", **extra)

    def on_store(self, event) -> int:
        status = super().on_store(event)
        if status == SUCCESS:
            self.received += 1
        return status


def _counts(status: Dataset | None) -> tuple[int, int, int]:
    def n(keyword):
        try:
            return int(status.get(keyword) or 0) if status is not None else 0
        except (TypeError, ValueError):
            return 0
    return (n("NumberOfCompletedSuboperations"), n("NumberOfFailedSuboperations"),
            n("NumberOfWarningSuboperations"))


def retrieve(query: DicomQuery, method: str = "move", ctx=None, selection: Selection | None = None) -> dict:
    """Retrieve the selected objects; returns counts. The query row records progress as it goes."""
    remote = db.session.get(DicomRemoteNode, query.remote_node_id) if query.remote_node_id else None
    store = db.session.get(DicomStoreScp, query.store_scp_id) if query.store_scp_id else None
    if remote is None or store is None:
        raise QrError("The remote node or the Store node of this query no longer exists.")
    if not query.complete or query.failed:
        raise QrError("The query has not completed: there is nothing to retrieve yet.")
    if method == "get" and not remote.supports_get or method == "move" and not remote.supports_move:
        raise QrError(f"{remote.name} is not set up for C-{method.upper()}.")
    requests = plan(query, selection)
    query.retrieve_method = method
    query.objects_requested = sum(r.expected or 0 for r in requests)
    query.objects_received = query.objects_failed = 0
    query.stage = f"Retrieving {plural(len(requests), 'request')} by C-{method.upper()}"
    _job_counts(ctx, query, {})
    db.session.commit()

    ae = new_ae(remote)
    handlers, roles, receiver = [], [], None
    if method == "get":
        receiver = GetReceiver(current_app._get_current_object(), store, remote)
        ae.add_requested_context(model(remote, "get"))
        for uid in GET_STORAGE_CLASSES:
            ae.add_requested_context(uid, GET_TRANSFER_SYNTAXES)
            roles.append(build_role(uid, scp_role=True))
        handlers = [(evt.EVT_C_STORE, receiver.on_store)]
    else:
        ae.add_requested_context(model(remote, "move"))
    started = time.perf_counter()
    assoc = associate(ae, remote, ext_neg=roles or None, evt_handlers=handlers or None)
    if not assoc.is_established:
        log_operation(remote, "ASSOCIATE", "failed", started, error="no association for the retrieve")
        query.stage, query.message = "Retrieve failed", f"{remote.name} did not accept the association."
        db.session.commit()
        ae.shutdown()
        raise QrError(query.message)
    no_delay(assoc)
    by_modality: dict[str, int] = {}
    failures: list[str] = []
    try:
        for n, req in enumerate(requests):
            if ctx is not None:
                ctx.progress(n, len(requests), f"C-{method.upper()} {n + 1} of {len(requests)}")
            stored_before = receiver.received if receiver else 0
            done, failed, warned, final = _send(assoc, req, method, store.aetitle, remote)
            # By C-GET the objects come to us: count what our receiver stored, not the remote's
            # tally. By C-MOVE only the remote's tally says what reached the Store node.
            arrived = receiver.received - stored_before if receiver else done + warned
            # A series the query did not count (Number of Series Related Instances is optional in
            # a C-FIND answer) or counted short asks for what arrived: received never exceeds requested.
            query.objects_requested += max(0, arrived + failed - (req.expected or 0))
            query.objects_received += arrived
            query.objects_failed += failed
            # The modality the study was queried for; a manual query without one: the study's modalities.
            modality = req.study_row.modality or (req.study_row.modalities_in_study or "?").replace("\\", "/")
            by_modality[modality] = by_modality.get(modality, 0) + arrived
            if final not in (SUCCESS, WARNING) or failed:
                failures.append(f"{req.level} {req.sop_uid or req.series_uid or req.study_row.study_instance_uid}: status "
                                f"{'none' if final is None else f'0x{final:04X}'}, {failed} failed")
            query.stage = f"Retrieved {query.objects_received} of {plural(query.objects_requested, 'object')}"
            _job_counts(ctx, query, by_modality)
            db.session.commit()
    except JobCancelled:
        query.stage = "Retrieve aborted"
        query.message = (f"Aborted by a user after {query.objects_received} of "
                         f"{plural(query.objects_requested, 'object')} had been received.")
        db.session.commit()
        raise
    finally:
        if assoc.is_established:
            assoc.release()
        ae.shutdown()
    query.move_complete = not failures
    query.stage = ("Retrieve complete" if not failures else "Retrieve finished with failures")
    query.message = (f"{query.objects_received} of {plural(query.objects_requested, 'object')} received by "
                     f"C-{method.upper()}" + (f"; {plural(len(failures), 'request')} failed" if failures else ""))
    db.session.commit()
    return {"requests": len(requests), "requested": query.objects_requested, "received": query.objects_received,
            "failed": query.objects_failed, "by_modality": by_modality, "failures": failures[:50],
            "stored_by_us": receiver.received if receiver else None}


def _job_counts(ctx, query: DicomQuery, by_modality: dict[str, int]) -> None:
    """The retrieve's counts on its job row as it goes: the query page and the retrieve jobs page
    show them (a query retrieved twice, selection by selection, keeps each job's own counts)."""
    job_row = getattr(ctx, "row", None)
    if job_row is not None:
        job_row.result = {"by_modality": dict(by_modality), "requested": query.objects_requested,
                          "received": query.objects_received, "failed": query.objects_failed}


def _send(assoc, req: Request, method: str, move_aet: str, remote: DicomRemoteNode):
    """One C-MOVE or C-GET; its final counts and status, logged."""
    started = time.perf_counter()
    sop_class = model(remote, method)
    identifier = _identifier(req, sop_class == MODELS["patient"][method])
    park_reactor(assoc)
    responses = (assoc.send_c_get(identifier, sop_class) if method == "get"
                 else assoc.send_c_move(identifier, move_aet, sop_class))
    final_status, final = None, None
    for status, _ in responses:
        code = getattr(status, "Status", None)
        if code is not None and code not in PENDING:
            final_status, final = status, code
    done, failed, warned = _counts(final_status)
    words = "no response" if final is None else ("success" if final == SUCCESS else f"0x{final:04X}")
    log_operation(remote, f"C-{method.upper()}", words, started, study_instance_uid=req.study_row.study_instance_uid,
                  sop_instance_uid=req.sop_uid,
                  message=f"{req.level} {req.series_uid or req.study_row.study_instance_uid}" + (f" to {move_aet}" if method == "move" else "")
                  + f": {done} completed, {failed} failed, {warned} warning")
    return done, failed, warned, final

