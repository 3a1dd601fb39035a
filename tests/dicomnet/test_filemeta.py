"""Our Part 10 header for received objects is byte for byte what pynetdicom's file meta gives."""
from __future__ import annotations

import io

import pydicom
import pytest
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, JPEG2000Lossless
from pynetdicom.dsutils import create_file_meta, encode_file_meta

from doseapp.dicomnet import filemeta
from tests.conftest import TESTDATA

CASES = [
    ("1.2.840.10008.5.1.4.1.1.88.67", "1.2.3.4", ImplicitVRLittleEndian),  # even-length UIDs
    ("1.2.840.10008.5.1.4.1.1.1.1", "1.2.826.0.1.3680043.8.498.12345678901234567890123", ExplicitVRLittleEndian),
    ("1.2.840.10008.5.1.4.1.1.1.2", "2.25.1", JPEG2000Lossless),  # odd lengths: padded with NUL
    ("1.2.840.10008.5.1.4.1.1.7", "1." + "2" * 62, "1.2.840.10008.1.2.1"),  # a 64-character UID
]


@pytest.mark.parametrize("sop_class,sop_instance,syntax", CASES)
def test_header_matches_pynetdicom(sop_class, sop_instance, syntax):
    meta = create_file_meta(sop_class_uid=pydicom.uid.UID(sop_class), sop_instance_uid=pydicom.uid.UID(sop_instance),
                            transfer_syntax=pydicom.uid.UID(syntax))
    assert filemeta.header(sop_class, sop_instance, syntax) == b"\x00" * 128 + b"DICM" + encode_file_meta(meta)


def test_header_and_received_bytes_read_back_as_the_object():
    """An RDSR's data set bytes after our header read back with its own UIDs and values."""
    source = pydicom.dcmread(TESTDATA / "CT-RDSR-GEPixelMed.dcm")
    body = io.BytesIO()
    source.save_as(body, enforce_file_format=True)
    raw = body.getvalue()
    plain = pydicom.dcmread(io.BytesIO(raw))
    data_set = raw[plain.file_meta.FileMetaInformationGroupLength + 12 + 132:]
    rebuilt = filemeta.header(source.SOPClassUID, source.SOPInstanceUID, source.file_meta.TransferSyntaxUID) + data_set
    back = pydicom.dcmread(io.BytesIO(rebuilt))
    assert back.file_meta.MediaStorageSOPInstanceUID == source.SOPInstanceUID
    assert back.file_meta.TransferSyntaxUID == source.file_meta.TransferSyntaxUID
    assert back.SOPInstanceUID == source.SOPInstanceUID and back.StudyInstanceUID == source.StudyInstanceUID
    assert back.ContentSequence[0].ConceptNameCodeSequence[0].CodeMeaning == \
        source.ContentSequence[0].ConceptNameCodeSequence[0].CodeMeaning
