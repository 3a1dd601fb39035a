"""The query-retrieve SCU follows each remote's settings: the information model (Patient Root or
Study Root) for C-FIND and C-MOVE, the maximum PDU we offer, and the "supports C-FIND" flag. The
remote is a real pynetdicom Q/R SCP on a loopback port that records what it was sent."""
from __future__ import annotations

import pytest
from pydicom.dataset import Dataset
from pynetdicom import AE, evt
from pynetdicom import sop_class as sop
from sqlalchemy import select

from doseapp.dicomnet.qr import QrError, run_query
from doseapp.dicomnet.qr_filter import QueryOptions
from doseapp.dicomnet.qr_jobs import new_query
from doseapp.dicomnet.qr_manual import Criteria
from doseapp.dicomnet.qr_retrieve import retrieve
from doseapp.models import DicomQueryStudy, DicomRemoteNode, DicomStoreScp, db
from tests.conftest import free_port

STUDY_UID = "1.2.826.0.1.3680043.8.498.1"


class RecordingScp:
    """A Q/R SCP offering both information models; answers every STUDY C-FIND with one study and
    every C-MOVE with "unknown destination"."""

    def __init__(self):
        self.finds: list[tuple[str, int, Dataset]] = []  # (abstract syntax, requestor's max PDU, identifier)
        self.moves: list[tuple[str, Dataset]] = []
        self.ae = AE(ae_title="RECORDER")
        for uid in (sop.PatientRootQueryRetrieveInformationModelFind, sop.StudyRootQueryRetrieveInformationModelFind,
                    sop.PatientRootQueryRetrieveInformationModelMove, sop.StudyRootQueryRetrieveInformationModelMove):
            self.ae.add_supported_context(uid)
        self.port = free_port()
        self.server = self.ae.start_server(("127.0.0.1", self.port), block=False, evt_handlers=[
            (evt.EVT_C_FIND, self.on_find), (evt.EVT_C_MOVE, self.on_move)])

    def on_find(self, event):
        identifier = event.identifier
        self.finds.append((event.context.abstract_syntax, event.assoc.requestor.maximum_length, identifier))
        if identifier.QueryRetrieveLevel == "STUDY":
            answer = Dataset()
            answer.QueryRetrieveLevel = "STUDY"
            answer.StudyInstanceUID, answer.StudyDate, answer.PatientID = STUDY_UID, "20260115", "P1"
            yield 0xFF00, answer
        yield 0x0000, None

    def on_move(self, event):
        self.moves.append((event.context.abstract_syntax, event.identifier))
        yield None, None  # the destination is unknown to this SCP: 0xA801

    def stop(self):
        self.server.shutdown()


@pytest.fixture
def recorder():
    scp = RecordingScp()
    yield scp
    scp.stop()


def _remote(scp: RecordingScp, **settings) -> tuple[DicomRemoteNode, DicomStoreScp]:
    remote = DicomRemoteNode(name="Recorder", aetitle="RECORDER", ip="127.0.0.1", port=scp.port, **settings)
    store = DicomStoreScp(name="Store", aetitle="DOSESTORE", port=free_port(), bind_address="127.0.0.1")
    db.session.add_all([remote, store])
    db.session.commit()
    return remote, store


def _manual(remote, store):
    return new_query(remote.id, store.id, QueryOptions(), criteria=Criteria(level="STUDY"), enqueue_job=False)


def test_patient_root_remote_is_queried_and_retrieved_with_patient_root_and_its_max_pdu(app, recorder):
    remote, store = _remote(recorder, query_model="patient", max_pdu=32768)
    query = _manual(remote, store)
    run_query(query)
    assert [(uid, pdu) for uid, pdu, _ in recorder.finds] == [
        (sop.PatientRootQueryRetrieveInformationModelFind, 32768)]
    sent = recorder.finds[0][2]
    assert sent.QueryRetrieveLevel == "STUDY" and "PatientID" in sent  # the patient level's key
    assert [s.study_instance_uid for s in query.studies] == [STUDY_UID]

    result = retrieve(query, "move")
    assert [uid for uid, _ in recorder.moves] == [sop.PatientRootQueryRetrieveInformationModelMove]
    moved = recorder.moves[0][1]
    assert (moved.QueryRetrieveLevel, moved.StudyInstanceUID) == ("STUDY", STUDY_UID)
    assert result["failures"] == [f"STUDY {STUDY_UID}: status 0xA801, 0 failed"]


def test_study_root_remote_with_unlimited_pdu(app, recorder):
    remote, store = _remote(recorder, query_model="study", max_pdu=0)
    query = _manual(remote, store)
    run_query(query)
    assert [(uid, pdu) for uid, pdu, _ in recorder.finds] == [(sop.StudyRootQueryRetrieveInformationModelFind, 0)]
    assert "PatientID" in recorder.finds[0][2]  # asked for (a manual query shows it to the pid role)
    retrieve(query, "move")
    assert [uid for uid, _ in recorder.moves] == [sop.StudyRootQueryRetrieveInformationModelMove]
    assert "PatientID" not in recorder.moves[0][1]  # Study Root: the study UID is the whole key


def test_remote_without_c_find_is_never_queried(app, recorder):
    remote, store = _remote(recorder, supports_find=False)
    query = _manual(remote, store)
    with pytest.raises(QrError, match="set up without C-FIND"):
        run_query(query)
    assert recorder.finds == [] and query.failed
    assert db.session.scalars(select(DicomQueryStudy)).all() == []
