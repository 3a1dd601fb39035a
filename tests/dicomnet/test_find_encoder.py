"""find_encoder.AnswerEncoder writes the same C-FIND pending responses pynetdicom and pydicom write for
the same answers: rows of the real index (on the test database), queries parsed as findscu's would be,
each answer's command set and identifier compared byte for byte with pynetdicom's DIMSE message for
find_scp._answer's data set, in each transfer syntax a query context may use and at several maximum
PDU lengths; and the P-DATA sent is one PDU when the answer fits."""
from __future__ import annotations

from io import BytesIO

import pytest
from pydicom.dataset import Dataset
from pydicom.uid import (DeflatedExplicitVRLittleEndian, ExplicitVRBigEndian, ExplicitVRLittleEndian,
                         ImplicitVRLittleEndian)
from pynetdicom.dimse_messages import C_FIND_RSP
from pynetdicom.dimse_primitives import C_FIND
from pynetdicom.dsutils import encode
from pynetdicom.sop_class import PatientRootQueryRetrieveInformationModelFind, StudyRootQueryRetrieveInformationModelFind

from doseapp.dicomnet.find_encoder import AnswerEncoder
from doseapp.dicomnet.find_scp import _answer, parse, statement
from doseapp.models import DicomStoredInstance, DicomStoredSeries, DicomStoredStudy, db

SYNTAXES = [ImplicitVRLittleEndian, ExplicitVRLittleEndian, DeflatedExplicitVRLittleEndian, ExplicitVRBigEndian]


def _index():
    """Studies with odd and even lengths, empty and missing values, UTF-8 names, several modalities."""
    rows = [
        dict(patient_id="P1", patient_name="Doe^John", patient_birth_date="19600101", patient_sex="M",
             study_date="20240105", study_time="101500", accession_number="ACC1", study_id="1",
             study_description="CT chest", referring_physician="Who^Dr", modalities="CT\\SR"),
        dict(patient_id="P22", patient_name="Müller^Jürgen^^Dr", patient_birth_date=None, patient_sex="",
             study_date="20240106", study_time="0915", accession_number="ACC22", study_id=None,
             study_description="Thorax – Ø 3 mm", referring_physician=None, modalities="MG"),
        dict(patient_id="P333", patient_name="李^小龍", patient_birth_date="19991231", patient_sex="F",
             study_date="20240107", study_time="235959.123", accession_number=None, study_id="12345",
             study_description="", referring_physician="", modalities=None),
    ]
    made = []
    for n, values in enumerate(rows):
        study = DicomStoredStudy(study_instance_uid=f"1.2.3.{n + 1}", series_count=1 + n, instance_count=2 * n + 1, **values)
        db.session.add(study)
        db.session.flush()
        series = DicomStoredSeries(series_instance_uid=f"1.2.3.{n + 1}.7", study_pk=study.id, modality="CT",
                                   series_number=n or None, series_description="odd" if n else None,
                                   series_date="20240105", series_time="1015", instance_count=1)
        db.session.add(series)
        db.session.flush()
        db.session.add(DicomStoredInstance(series_pk=series.id, sop_instance_uid=f"1.2.3.{n + 1}.7.11",
                                           sop_class_uid="1.2.840.10008.5.1.4.1.1.88.67", instance_number=n + 1,
                                           content_date="20240105", content_time=None, path=f"/x/{n}.dcm"))
        made.append(study)
    db.session.commit()
    return made


def _identifier(level: str, **keys) -> Dataset:
    ds = Dataset()
    ds.QueryRetrieveLevel = level
    for keyword, value in keys.items():
        setattr(ds, keyword, value)
    return ds


QUERIES = {
    "study, every cheap key": ("study", _identifier(
        "STUDY", PatientName="", PatientID="", PatientBirthDate="", PatientSex="", StudyInstanceUID="", StudyDate="",
        StudyTime="", AccessionNumber="", StudyID="", StudyDescription="", ReferringPhysicianName="",
        ModalitiesInStudy="", NumberOfStudyRelatedSeries=None, NumberOfStudyRelatedInstances=None,
        InstitutionName="", StationName="")),
    "study, a sequence asked (pydicom writes it)": ("study", _identifier(
        "STUDY", StudyInstanceUID="", PatientName="", ReferencedStudySequence=[])),
    "patient, counts": ("patient", _identifier(
        "PATIENT", PatientID="", PatientName="", NumberOfPatientRelatedStudies=None,
        NumberOfPatientRelatedSeries=None, NumberOfPatientRelatedInstances=None)),
    "image": ("study", _identifier(
        "IMAGE", StudyInstanceUID="1.2.3.1", SeriesInstanceUID="1.2.3.1.7", SOPInstanceUID="", SOPClassUID="",
        InstanceNumber=None, ContentDate="", ContentTime="")),
    "series": ("study", _identifier(
        "SERIES", StudyInstanceUID="1.2.3.2", SeriesInstanceUID="", Modality="", SeriesNumber=None,
        SeriesDescription="", SeriesDate="", SeriesTime="", NumberOfSeriesRelatedInstances=None)),
}
MODEL_UIDS = {"study": StudyRootQueryRetrieveInformationModelFind, "patient": PatientRootQueryRetrieveInformationModelFind}


def _pynetdicom_message(ds: Dataset, syntax, msg_id: int, sop_class: str, max_pdu: int):
    """(command set bytes, data set bytes) of pynetdicom's C-FIND-RSP carrying `ds`, as it sends it."""
    rsp = C_FIND()
    rsp.MessageID = msg_id
    rsp.MessageIDBeingRespondedTo = msg_id
    rsp.AffectedSOPClassUID = sop_class
    rsp.Status = 0xFF00
    rsp.Identifier = BytesIO(encode(ds, syntax.is_implicit_VR, syntax.is_little_endian, syntax.is_deflated))
    message = C_FIND_RSP()
    message.primitive_to_message(rsp)
    return _joined(message.encode_msg(1, max_pdu))


def _joined(pdatas):
    command, data = b"", b""
    for pdata in pdatas:
        for _cid, pdv in pdata.presentation_data_value_list:
            if pdv[0] & 1:
                command += pdv[1:]
            else:
                data += pdv[1:]
    return command, data


@pytest.mark.parametrize("syntax", SYNTAXES, ids=lambda s: s.name)
@pytest.mark.parametrize("name", list(QUERIES))
def test_answers_are_the_bytes_pynetdicom_would_send(app, syntax, name):
    _index()
    model, identifier = QUERIES[name]
    query = parse(identifier, model)
    rows = list(db.session.connection().execute(statement(query, db.engine.dialect.name)))
    assert rows
    sop_class = MODEL_UIDS[model]
    for max_pdu in (0, 16384, 64):
        encoder = AnswerEncoder(query, "DOSEQR", syntax, 7, sop_class, 1, max_pdu)
        if syntax in (ImplicitVRLittleEndian, ExplicitVRLittleEndian):
            assert (encoder.layout is None) == ("sequence" in name)  # the layout is used where it can be
        for row in rows:
            ours = encoder.identifier(row)
            if encoder.layout is not None:  # written by the layout, not by pydicom after a fallback
                assert encoder._fast(row._mapping) == ours
            pdatas = encoder.pdata(ours)
            assert _joined(pdatas) == _pynetdicom_message(_answer(row, query, "DOSEQR"), syntax, 7, sop_class, max_pdu)
            if max_pdu != 64:
                assert len(pdatas) == 1 and len(pdatas[0].presentation_data_value_list) == 2
            else:
                assert all(sum(5 + len(pdv) for _cid, pdv in p.presentation_data_value_list) <= 64 for p in pdatas)  # PDV items (length, context ID, header, data) within the maximum
