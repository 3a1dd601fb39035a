"""Query a remote node (C-FIND SCU) and record what it answered.

QrClient holds one association for the whole query (OpenREM reused one association for every
C-FIND, #528/#533) and turns responses into qr_filter records; run_query() sends the per-modality
study queries, hands the responses to the filtering logic (qr_filter.run) and stores every
response, kept or dropped with its reason, under the DicomQuery row. Every C-FIND is a row in the
transaction log.
"""
from __future__ import annotations

import logging
import socket
import time

from pydicom.dataset import Dataset
from pynetdicom import AE
from pynetdicom import sop_class as sop
from sqlalchemy import select

from doseapp.dicomnet import qr_filter, qr_manual
from doseapp.dicomnet.qr_filter import ImageRsp, QueryOptions, SeriesRsp, StudyRsp
from doseapp.models import (DicomQuery, DicomQueryImage, DicomQuerySeries, DicomQueryStudy, DicomRemoteNode,
                            DicomTransaction, ProcessedObject, Study, db)
from doseapp.models.base import utcnow
from doseapp.runtime.queues import JobCancelled
from doseapp.display.timefmt import plural

log = logging.getLogger(__name__)

PENDING = (0xFF00, 0xFF01)
DEFAULT_CALLING_AET = "DOSEAPPQR"


class QrError(RuntimeError):
    """The remote could not be queried or retrieved from; the message says why in plain words."""


def remote_address(remote: DicomRemoteNode) -> str:
    """The hostname when one is given (the seed: it is preferred), else the IP address."""
    return (remote.hostname or "").strip() or (remote.ip or "").strip()


def calling_aet(remote: DicomRemoteNode) -> str:
    return (remote.calling_aetitle or "").strip() or DEFAULT_CALLING_AET


# The information models a remote is queried and retrieved with (its query_model setting).
MODELS = {
    "study": {"find": sop.StudyRootQueryRetrieveInformationModelFind,
              "move": sop.StudyRootQueryRetrieveInformationModelMove,
              "get": sop.StudyRootQueryRetrieveInformationModelGet},
    "patient": {"find": sop.PatientRootQueryRetrieveInformationModelFind,
                "move": sop.PatientRootQueryRetrieveInformationModelMove,
                "get": sop.PatientRootQueryRetrieveInformationModelGet},
}
MODEL_NAMES = {"study": "Study Root", "patient": "Patient Root"}


def model(remote: DicomRemoteNode, service: str) -> str:
    """The SOP class UID of `service` (find, move, get) in the remote's information model."""
    return MODELS.get(remote.query_model or "study", MODELS["study"])[service]


def max_pdu(remote: DicomRemoteNode) -> int:
    """The largest PDU we accept on associations with this remote, in bytes (0 = unlimited)."""
    return max(remote.max_pdu if remote.max_pdu is not None else 16384, 0)


def associate(ae: AE, remote: DicomRemoteNode, **options):
    """Request an association with the remote, offering its maximum PDU."""
    return ae.associate(remote_address(remote), remote.port, ae_title=remote.aetitle, max_pdu=max_pdu(remote),
                        **options)


def new_ae(remote: DicomRemoteNode) -> AE:
    ae = AE(ae_title=calling_aet(remote))
    ae.acse_timeout = remote.acse_timeout or 30
    ae.dimse_timeout = remote.dimse_timeout or 120
    ae.network_timeout = remote.network_timeout or 120
    ae.connection_timeout = remote.acse_timeout or 30
    return ae


def no_delay(assoc) -> None:
    """Switch Nagle's algorithm off on an association's socket. A DIMSE request is written as small
    PDUs; with Nagle on, each waits for the peer's delayed ACK (~40 ms), which made every C-FIND and
    C-GET take ~50 ms more than the work (bench/qr_query.py)."""
    sock = getattr(getattr(assoc.dul, "socket", None), "socket", None)
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def park_reactor(assoc, timeout: float = 1.0) -> None:
    """Stop an association's reactor thread for certain before a C-FIND, C-MOVE or C-GET request.

    pynetdicom pauses that thread by clearing an event and waiting for a flag the thread sets just
    before it waits on the event. A thread that has already passed the event, but not yet cleared the
    flag, then takes the peer's first response off the queue as if it were a request ("Received
    unexpected C-FIND service message"), and that answer is lost: a fast peer (Orthanc on this machine)
    lost an image now and then. Here the event is cleared and the request waits until the thread is
    blocked on it (the event's waiters), at most `timeout` seconds; pynetdicom sets the event again when
    the operation ends."""
    checkpoint = getattr(assoc, "_reactor_checkpoint", None)
    waiters = getattr(getattr(checkpoint, "_cond", None), "_waiters", None)
    if checkpoint is None or waiters is None:  # another pynetdicom: its own pause only
        return
    checkpoint.clear()
    deadline = time.monotonic() + timeout
    while not waiters and assoc.is_alive() and time.monotonic() < deadline:
        time.sleep(0.0002)


def log_operation(remote: DicomRemoteNode, operation: str, status: str, started: float, **extra) -> DicomTransaction:
    """A transaction-log row for one outgoing operation (added to the session, not committed)."""
    row = DicomTransaction(direction="out", operation=operation, remote_node_id=remote.id, status=status,
                           calling_aetitle=calling_aet(remote), called_aetitle=remote.aetitle,
                           peer_address=remote_address(remote)[:64], peer_port=remote.port,
                           duration_ms=(time.perf_counter() - started) * 1000, **extra)
    db.session.add(row)
    return row


def _text(ds: Dataset, keyword: str) -> str | None:
    value = ds.get(keyword)
    if value is None or value == "":
        return None
    return str(value).strip() or None


def _int(ds: Dataset, keyword: str) -> int | None:
    try:
        return int(str(ds.get(keyword)).strip())
    except (TypeError, ValueError):
        return None  # missing or malformed (PACS leave instance numbers out)


def find_identifier(level: str, **keys) -> Dataset:
    """A C-FIND identifier: empty values are the attributes asked for, others are matched."""
    ds = Dataset()
    ds.QueryRetrieveLevel = level
    for keyword, value in keys.items():
        setattr(ds, keyword, value)
    return ds


def study_response(r: Dataset, modality: str | None) -> StudyRsp | None:
    """A study-level C-FIND answer as a record (None without a Study Instance UID)."""
    uid = _text(r, "StudyInstanceUID")
    if uid is None:
        return None
    return StudyRsp(study_instance_uid=uid, query_modality=modality,
                    modalities=qr_filter.split_modalities(r.get("ModalitiesInStudy")),
                    study_date=_text(r, "StudyDate"), study_time=_text(r, "StudyTime"),
                    study_description=_text(r, "StudyDescription"), accession_number=_text(r, "AccessionNumber"),
                    number_of_series=_int(r, "NumberOfStudyRelatedSeries"), station_name=_text(r, "StationName"))


class QrClient:
    """C-FIND to one remote node over one association. prepare() and answer() are the seams where a
    remote's behaviour shows: the identifier sent, and each response as received."""

    def __init__(self, remote: DicomRemoteNode):
        self.remote = remote
        self.ae = new_ae(remote)
        self.find_model = model(remote, "find")
        self.patient_root = self.find_model == MODELS["patient"]["find"]
        self.ae.add_requested_context(self.find_model)
        self.assoc = None

    def __enter__(self) -> "QrClient":
        if not self.remote.supports_find:
            raise QrError(f"{self.remote.name} is set up without C-FIND: it cannot be queried.")
        address = remote_address(self.remote)
        started = time.perf_counter()
        self.assoc = associate(self.ae, self.remote)
        if not self.assoc.is_established:
            why = "refused the association" if self.assoc.is_rejected else "did not answer"
            log_operation(self.remote, "ASSOCIATE", "failed", started, error=why)
            db.session.commit()
            self.ae.shutdown()
            raise QrError(f"{self.remote.name} ({self.remote.aetitle} at {address}:{self.remote.port}) {why}.")
        no_delay(self.assoc)
        return self

    def __exit__(self, *exc) -> None:
        if self.assoc is not None and self.assoc.is_established:
            self.assoc.release()
        self.ae.shutdown()

    # --- seams -----------------------------------------------------------------------------------

    def prepare(self, identifier: Dataset) -> Dataset:
        return identifier

    def answer(self, response: Dataset) -> Dataset:
        return response

    # --- C-FIND ----------------------------------------------------------------------------------

    def find(self, identifier: Dataset, what: str) -> list[Dataset]:
        # Patient Root has the patient above the study: PatientID, the key of that level, is asked
        # for (empty, universal) when the query does not match on it.
        if self.patient_root and identifier.QueryRetrieveLevel != "PATIENT" and "PatientID" not in identifier:
            identifier.PatientID = ""
        identifier = self.prepare(identifier)
        started = time.perf_counter()
        answers, status = [], None
        park_reactor(self.assoc)
        for st, ds in self.assoc.send_c_find(identifier, self.find_model):
            status = getattr(st, "Status", None)
            if status in PENDING and ds is not None:
                answers.append(self.answer(ds))
        words = "success" if status == 0x0000 else ("no response" if status is None else f"0x{status:04X}")
        log_operation(self.remote, "C-FIND", words, started, study_instance_uid=identifier.get("StudyInstanceUID") or None,
                      message=f"{what}: {plural(len(answers), 'response')}")
        if status != 0x0000:
            raise QrError(f"C-FIND ({what}) to {self.remote.name} ended with status {words}.")
        return answers

    def find_studies(self, options: QueryOptions, modality: str) -> list[StudyRsp]:
        keys = dict(StudyInstanceUID="", StudyDate=qr_manual.dicom_range(options.date_from, options.date_until),
                    StudyTime=qr_manual.dicom_range(options.time_from, options.time_until), ModalitiesInStudy=modality,
                    StudyDescription="", StationName="", AccessionNumber="", NumberOfStudyRelatedSeries="")
        if self.remote.use_modality_tag:  # not a study-level key, but some PACS (Impax 6.6) need it
            keys["Modality"] = modality
        ds = find_identifier("STUDY", **keys)
        answers = (study_response(r, modality) for r in self.find(ds, f"STUDY {modality} {ds.StudyDate}"))
        return [a for a in answers if a is not None]

    def find_series(self, study: StudyRsp) -> list[SeriesRsp]:
        ds = find_identifier("SERIES", StudyInstanceUID=study.study_instance_uid, SeriesInstanceUID="", Modality="",
                         SeriesNumber="", SeriesTime="", SeriesDescription="", NumberOfSeriesRelatedInstances="",
                         StationName="")
        seen, out = set(), []
        for r in self.find(ds, "SERIES"):
            uid = _text(r, "SeriesInstanceUID")
            if uid is None or uid in seen:  # some PACS answer a series twice
                continue
            seen.add(uid)
            out.append(SeriesRsp(series_instance_uid=uid, modality=(_text(r, "Modality") or "").upper() or None,
                                 series_number=_int(r, "SeriesNumber"), series_time=_text(r, "SeriesTime"),
                                 series_description=_text(r, "SeriesDescription"),
                                 number_of_instances=_int(r, "NumberOfSeriesRelatedInstances"),
                                 station_name=_text(r, "StationName")))
        return out

    def find_images(self, study: StudyRsp, series: SeriesRsp) -> list[ImageRsp]:
        ds = find_identifier("IMAGE", StudyInstanceUID=study.study_instance_uid,
                         SeriesInstanceUID=series.series_instance_uid, SOPInstanceUID="", SOPClassUID="",
                         InstanceNumber="")
        seen, out = set(), []
        for r in self.find(ds, "IMAGE"):
            uid = _text(r, "SOPInstanceUID")
            if uid is None or uid in seen:
                continue
            seen.add(uid)
            out.append(ImageRsp(sop_instance_uid=uid, instance_number=_int(r, "InstanceNumber"),
                                sop_class_uid=_text(r, "SOPClassUID")))
        return out


def imported_sop_uids(study_instance_uid: str) -> set[str] | None:
    """SOP Instance UIDs imported into our studies with this UID; None if we have no such study."""
    if db.session.scalar(select(Study.id).where(Study.study_instance_uid == study_instance_uid).limit(1)) is None:
        return None
    return set(db.session.scalars(select(ProcessedObject.sop_instance_uid).join(Study)
                                  .where(Study.study_instance_uid == study_instance_uid)))


def _set_stage(query: DicomQuery, stage: str, ctx=None) -> None:
    query.stage = stage
    db.session.commit()
    if ctx is not None:
        ctx.progress(0, None, stage)  # a job's context stops here if the job was cancelled


def _dose_query(client: QrClient, options: QueryOptions, stage) -> list[StudyRsp]:
    """OpenREM's query: per-modality study queries, then the filtering rules (qr_filter)."""
    studies: list[StudyRsp] = []
    for modality in options.dicom_modalities():
        stage(f"Querying {client.remote.name} for {modality} studies")
        studies += client.find_studies(options, modality)
    stage(f"{plural(len(studies), 'study response')}; filtering")
    qr_filter.run(studies, options, client.find_series, client.find_images, imported_sop_uids, progress=stage)
    return studies


def run_query(query: DicomQuery, ctx=None, client_cls: type[QrClient] = QrClient) -> list[StudyRsp]:
    """Query the remote for `query`'s options (a dose query, or a manual one at a level), and store
    every response with its fate."""
    remote = db.session.get(DicomRemoteNode, query.remote_node_id) if query.remote_node_id else None
    if remote is None:
        raise QrError("The remote node of this query no longer exists.")
    options = QueryOptions.from_dict(query.parameters)
    criteria = qr_manual.Criteria.from_parameters(query.parameters)
    found = None

    def stage(words: str) -> None:
        _set_stage(query, words, ctx)

    try:
        with client_cls(remote) as client:
            if criteria is None:
                studies = _dose_query(client, options, stage)
            else:
                found = qr_manual.find(client, options, criteria, stage)
                studies = found.studies
    except QrError as exc:  # committed with the transaction-log rows, the failing C-FIND's included
        query.failed, query.complete, query.message = True, True, str(exc)
        query.stage = "Query failed"
        qr_manual.forget_patient_criteria(query)
        db.session.commit()
        raise
    except JobCancelled:
        query.stage, query.message = "Query aborted", "Aborted by a user; nothing was stored."
        qr_manual.forget_patient_criteria(query)
        db.session.commit()
        raise
    store_responses(query, studies)
    query.complete = True
    query.stage = "Query complete"
    if found is not None:
        qr_manual.forget_patient_criteria(query)
        query.summary = qr_manual.summary(found, criteria.level)
        query.message = "Found " + ", ".join(plural(n, qr_manual.COUNT_NOUNS[what])
                                             for what, n in query.summary["counts"].items())
    else:
        query.summary = qr_filter.summary(studies, options)
        kept = [s for s in studies if s.excluded_reason is None]
        query.message = (f"{len(kept)} of {plural(len({s.study_instance_uid for s in studies}), 'study')} selected"
                         + (": " + ", ".join(f"{qr_filter.MODALITY_LABELS.get(k, k)} {v}"
                                             for k, v in query.summary.items()) if kept else ""))
    db.session.commit()
    return studies


def store_responses(query: DicomQuery, studies: list[StudyRsp]) -> None:
    """Every response at every level, with its exclusion reason, under the query row."""
    for s in studies:
        row = DicomQueryStudy(query_id=query.id, study_instance_uid=s.study_instance_uid[:128],
                              study_date=s.study_date, study_time=s.study_time, modality=s.query_modality,
                              modalities_in_study="\\".join(s.modalities or []) or None,
                              modalities_returned=s.modalities_returned, study_description=s.study_description,
                              accession_number=(s.accession_number or "")[:128] or None,
                              number_of_series=s.number_of_series, station_name=s.station_name,
                              excluded_reason=s.excluded_reason)
        for se in s.series:
            srow = DicomQuerySeries(series_instance_uid=se.series_instance_uid[:128], series_number=se.series_number,
                                    series_time=se.series_time, modality=se.modality,
                                    series_description=se.series_description, number_of_instances=se.number_of_instances,
                                    station_name=se.station_name, sop_class_uid=se.sop_class_uid,
                                    image_level_move=se.image_level_move, excluded_reason=se.excluded_reason)
            for im in se.images or []:
                srow.images.append(DicomQueryImage(sop_instance_uid=im.sop_instance_uid[:128],
                                                   instance_number=im.instance_number, sop_class_uid=im.sop_class_uid,
                                                   excluded_reason=im.excluded_reason))
            row.series.append(srow)
        db.session.add(row)


def echo_remote(remote: DicomRemoteNode) -> tuple[bool, str]:
    """C-ECHO a remote node from its calling AE title; the result is kept on the row."""
    from doseapp.dicomnet.nodes import echo

    answered, words = echo(remote_address(remote), remote.port, remote.aetitle, calling=calling_aet(remote),
                           timeout=min(remote.acse_timeout or 10, 10))
    ok = answered and "refused" not in words
    remote.echo_status, remote.last_echo_at = ("alive" if ok else "not responding"), utcnow()
    return ok, words
