"""DICOM dose objects in, plain records out. Pure: no database, no Flask, no Redis.

    report = extract(dataset)            # DoseReport, or raises Rejected / Malformed
    modality = decide_modality(report, equipment.user_defined_modality)
"""
from doseapp.extract.classify import ROUTES, Route, decide_modality, extract, route
from doseapp.extract.records import (
    AccumulatedPlaneRecord, BreastDoseRecord, CtEventRecord, CtSourceRecord, DoseReport,
    EquipmentRecord, Malformed, Rejected, StudyRecord, XrayEventRecord,
)

__all__ = [
    "ROUTES", "Route", "decide_modality", "extract", "route",
    "AccumulatedPlaneRecord", "BreastDoseRecord", "CtEventRecord", "CtSourceRecord", "DoseReport",
    "EquipmentRecord", "Malformed", "Rejected", "StudyRecord", "XrayEventRecord",
]
