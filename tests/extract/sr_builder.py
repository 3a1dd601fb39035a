"""Builds small X-Ray Radiation Dose SR datasets in memory for tests of quirks that the vendor
files do not show (comma decimals, per-pulse values, unknown units, missing items)."""
from __future__ import annotations

from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.tag import Tag
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

RDSR_CLASS = "1.2.840.10008.5.1.4.1.1.88.67"


def code(value: str, scheme: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = scheme
    item.CodeMeaning = meaning
    return item


def _item(value_type: str, concept: tuple[str, str, str], relationship="CONTAINS") -> Dataset:
    item = Dataset()
    item.RelationshipType = relationship
    item.ValueType = value_type
    item.ConceptNameCodeSequence = Sequence([code(*concept)])
    return item


def num(concept, value: str | None, unit: str, raw: bool = False) -> Dataset:
    """A NUM item; ``raw`` stores the value bytes as given, even when pydicom would refuse them."""
    item = _item("NUM", concept)
    measured = Dataset()
    if value is not None:
        if raw:
            data = value.encode("ascii")
            if len(data) % 2:
                data += b" "
            measured[0x0040A30A] = RawDataElement(Tag(0x0040A30A), "DS", len(data), data, 0,
                                                  False, True)
        else:
            measured.NumericValue = value
    measured.MeasurementUnitsCodeSequence = Sequence([code(unit, "UCUM", unit)])
    item.MeasuredValueSequence = Sequence([measured])
    return item


def coded(concept, value: tuple[str, str, str], relationship="CONTAINS") -> Dataset:
    item = _item("CODE", concept, relationship)
    item.ConceptCodeSequence = Sequence([code(*value)])
    return item


def text(concept, value: str) -> Dataset:
    item = _item("TEXT", concept)
    item.TextValue = value
    return item


def uidref(concept, value: str) -> Dataset:
    item = _item("UIDREF", concept)
    item.UID = value
    return item


def container(concept, children: list[Dataset]) -> Dataset:
    item = _item("CONTAINER", concept)
    item.ContinuityOfContent = "SEPARATE"
    item.ContentSequence = Sequence(children)
    return item


PLANE = ("113764", "DCM", "Acquisition Plane")
SINGLE_PLANE = ("113622", "DCM", "Single Plane")
EVENT = ("113706", "DCM", "Irradiation Event X-Ray Data")
ACCUMULATED = ("113702", "DCM", "Accumulated X-Ray Dose Data")
KVP = ("113733", "DCM", "KVP")
TUBE_CURRENT = ("113734", "DCM", "X-Ray Tube Current")
DAP = ("122130", "DCM", "Dose Area Product")
DAP_TOTAL = ("113722", "DCM", "Dose Area Product Total")
DOSE_RP = ("113738", "DCM", "Dose (RP)")
EVENT_UID = ("113769", "DCM", "Irradiation Event UID")
EVENT_TYPE = ("113721", "DCM", "Irradiation Event Type")
FLUOROSCOPY = ("P5-06000", "SRT", "Fluoroscopy")


def dose_report(children: list[Dataset], procedure=("113704", "DCM", "Projection X-Ray"),
                template: str | None = "10001", charset: str | None = None) -> Dataset:
    """A complete RDSR dataset around the given root content items."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = RDSR_CLASS
    ds.SOPClassUID = RDSR_CLASS
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    if charset:
        ds.SpecificCharacterSet = charset
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.StudyDate = "20240102"
    ds.StudyTime = "101500"
    ds.Modality = "SR"
    ds.Manufacturer = "Test Systems"
    ds.StationName = "ROOM1"
    ds.PatientName = "TEST^PATIENT"
    ds.PatientID = "ID1"
    ds.PatientAge = "045Y"
    ds.ValueType = "CONTAINER"
    ds.ConceptNameCodeSequence = Sequence([code("113701", "DCM", "X-Ray Radiation Dose Report")])
    ds.ContinuityOfContent = "SEPARATE"
    if template:
        tid = Dataset()
        tid.MappingResource = "DCMR"
        tid.TemplateIdentifier = template
        ds.ContentTemplateSequence = Sequence([tid])
    root = [coded(("121058", "DCM", "Procedure reported"), procedure, "HAS CONCEPT MOD")]
    ds.ContentSequence = Sequence(root + children)
    return ds


def projection_event(extra: list[Dataset], uid: str | None = None) -> Dataset:
    return container(EVENT, [
        coded(PLANE, SINGLE_PLANE, "HAS CONCEPT MOD"),
        coded(EVENT_TYPE, FLUOROSCOPY),
        uidref(EVENT_UID, uid or generate_uid()),
        *extra,
    ])


def plane(extra: list[Dataset]) -> Dataset:
    return container(ACCUMULATED, [coded(PLANE, SINGLE_PLANE, "HAS CONCEPT MOD"), *extra])
