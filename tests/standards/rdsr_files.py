"""Copies of real testdata RDSRs changed by a test: a water-equivalent diameter added to a CT event
(no file in testdata carries one), or the patient's age changed."""
from __future__ import annotations

from pathlib import Path

import pydicom
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from tests.conftest import TESTDATA


def _code(value: str, scheme: str, meaning: str) -> Dataset:
    c = Dataset()
    c.CodeValue, c.CodingSchemeDesignator, c.CodeMeaning = value, scheme, meaning
    return c


def _wed_item(cm: float) -> Dataset:
    """NUM 113980 "Water Equivalent Diameter" in cm (UCUM), as TID 10013's CT Dose carries it."""
    item = Dataset()
    item.RelationshipType, item.ValueType = "CONTAINS", "NUM"
    item.ConceptNameCodeSequence = Sequence([_code("113980", "DCM", "Water Equivalent Diameter")])
    measured = Dataset()
    measured.MeasurementUnitsCodeSequence = Sequence([_code("cm", "UCUM", "cm")])
    measured.NumericValue = f"{cm:g}"
    item.MeasuredValueSequence = Sequence([measured])
    return item


def _ct_dose_containers(items):
    for it in items:
        if "ConceptNameCodeSequence" in it and it.ConceptNameCodeSequence[0].CodeValue == "113829":
            yield it
        if "ContentSequence" in it:
            yield from _ct_dose_containers(it.ContentSequence)


def with_wed(name: str, wed_cm_by_event: dict[int, float], out: Path, age: str | None = None) -> Path:
    """`name` with a water-equivalent diameter added to the CT Dose container of the events given
    (index in file order -> cm); optionally the patient's age (DICOM AS) changed. Written to `out`."""
    ds = pydicom.dcmread(TESTDATA / name)
    containers = list(_ct_dose_containers(ds.ContentSequence))
    for index, cm in wed_cm_by_event.items():
        containers[index].ContentSequence.append(_wed_item(cm))
    if age is not None:
        ds.PatientAge = age
        if "PatientBirthDate" in ds:  # the birth date would give the age first
            del ds.PatientBirthDate
    ds.save_as(out)
    return out
