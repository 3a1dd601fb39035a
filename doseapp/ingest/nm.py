"""Writing nuclear medicine objects: radiopharmaceutical dose reports (RRDSR) and NM/PET image
headers, into the NM study of their StudyInstanceUID (one per StudyInstanceUID; a PET/CT's CT dose
report makes the CT study of the same StudyInstanceUID, its other part, see studies.linked_studies).

- its SOP Instance UID was imported before: duplicate, nothing changes;
- a report whose administrations (by Radiopharmaceutical Administration Event UID) are all in the
  study's reported ones: duplicate (OpenREM's rule for reports, as store.py); a report holding every
  stored reported administration and more (cumulative) replaces them; a report with none of them
  adds its administrations (a continued report);
- an image adds its series (or counts one more image of a series already stored) and never an
  administration to a study that has one: the administration an image states is kept only while
  no report arrived and no other image stated one, and the report's administrations replace it
  when the report comes later. So images and the report of one study, in any order, make one study
  with the report's administration.
"""
from __future__ import annotations

from sqlalchemy import select

from doseapp.extract import DoseReport
from doseapp.ingest.store import StoreOutcome, in_study_lock, new_study, record_object
from doseapp.ingest.summary import summarise
from doseapp.models import NmAdministration, NmSeries, ProcessedObject, Study, SystemSettings, db
from doseapp.standards.names import assign_study

NM_KINDS = ("rrdsr", "nm_image")

# Study columns a later object may fill when the study lacks them (images before the report, the
# report's patient characteristics for a study made from images).
_FILLABLE = ("patient_height_m", "patient_weight_kg", "study_description", "patient_age_years", "patient_sex",
             "procedure_code_meaning", "requested_procedure_code_meaning")


def store_nm(report: DoseReport) -> StoreOutcome:
    """Write an RRDSR or an NM/PET image in one transaction under the study's lock. Commits."""
    return in_study_lock(report, _store_locked)


def _store_locked(report: DoseReport) -> StoreOutcome:
    seen = db.session.scalar(select(ProcessedObject).where(ProcessedObject.sop_instance_uid == report.sop_instance_uid))
    if seen is not None:
        return StoreOutcome("duplicate", seen.study, "this object (same SOP Instance UID) was imported before")
    study = db.session.scalar(select(Study).where(Study.study_instance_uid == report.study.study_instance_uid,
                                                  Study.modality == "NM").order_by(Study.id).limit(1))
    warnings = list(report.warnings)
    if study is None:
        study = new_study(report, SystemSettings.get())  # summarised once the NM rows are in
        obj = study.objects[-1]
        _add_series(study, report, obj)
        _add_administrations(study, report, obj)
        db.session.add(study)
        _finish(study)
        return StoreOutcome("imported", study, None, warnings)
    if report.source_kind == "rrdsr":
        outcome = _report_into(study, report, warnings)
    else:
        outcome = _image_into(study, report, warnings)
    if outcome is None:
        _fill_missing(study, report)
        _finish(study)
        return StoreOutcome("imported", study, None, warnings)
    return outcome


def _report_into(study: Study, report: DoseReport, warnings: list[str]) -> StoreOutcome | None:
    reported = [a for a in study.nm_administrations if a.from_report]
    old = {a.event_uid for a in reported if a.event_uid}
    new = {a.event_uid for a in report.nm_administrations if a.event_uid}
    if new and old and new <= old:
        record_object(study, report)
        return StoreOutcome("duplicate", study, f"every administration is already in study {study.id}")
    obj = record_object(study, report)
    if new and old and new > old:
        for a in reported:
            study.nm_administrations.remove(a)
        warnings.append(f"replaced {len(reported)} administration(s) of study {study.id}: this report holds "
                        "them all and more (cumulative)")
    elif reported:
        warnings.append(f"continued study: {len(report.nm_administrations)} administration(s) added to study {study.id}")
    from_images = [a for a in study.nm_administrations if not a.from_report]
    for a in from_images:
        study.nm_administrations.remove(a)
    if from_images:
        warnings.append(f"the administration read from image headers of study {study.id} is replaced by the "
                        "report's")
    _add_administrations(study, report, obj)
    study.source_kind = "rrdsr"
    return None


def _image_into(study: Study, report: DoseReport, warnings: list[str]) -> StoreOutcome | None:
    obj = record_object(study, report)
    _add_series(study, report, obj)
    if not study.nm_administrations:
        _add_administrations(study, report, obj)
    return None


def _add_series(study: Study, report: DoseReport, obj: ProcessedObject) -> None:
    known = {s.series_instance_uid: s for s in study.nm_series if s.series_instance_uid}
    for rec in report.nm_series:
        series = known.get(rec.series_instance_uid) if rec.series_instance_uid else None
        if series is not None:
            series.image_count = (series.image_count or 0) + 1
            continue
        study.nm_series.append(NmSeries(**rec.as_columns(), image_count=1, report=obj))


def _add_administrations(study: Study, report: DoseReport, obj: ProcessedObject) -> None:
    for rec in report.nm_administrations:
        study.nm_administrations.append(NmAdministration(**rec.as_columns(), report=obj))


def _fill_missing(study: Study, report: DoseReport) -> None:
    for name in _FILLABLE:
        if getattr(study, name) is None and getattr(report.study, name) is not None:
            setattr(study, name, getattr(report.study, name))


def _finish(study: Study) -> None:
    summarise(study)
    assign_study(study)
