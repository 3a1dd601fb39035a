"""Writing one image header's exposure (mammography or radiography image) into its study.

An image is one exposure, so the rules differ from the RDSR ones in store.py:

- its SOP Instance UID was imported before: duplicate, nothing changes;
- the study of its StudyInstanceUID already holds an event with the same acquisition date-time:
  duplicate (the For Processing and For Presentation copies of one exposure), and the SOP
  Instance UID is recorded so the copy is known next time;
- the StudyInstanceUID already has a study whose dose came from a dose report (RDSR): duplicate,
  since the report already holds every exposure and adding image events would count them twice;
- otherwise the event is added to the image study of that StudyInstanceUID (created if new, with
  the same privacy, equipment and modality rules as any study) and the summary columns are
  recomputed from the events (AGD per breast for MG, DAP totals for DX).
"""
from __future__ import annotations

from sqlalchemy import select

from doseapp.extract import DoseReport
from doseapp.ingest.store import IMAGE_KINDS, StoreOutcome, add_events, in_study_lock, new_study, record_object
from doseapp.ingest.summary import summarise
from doseapp.models import ProcessedObject, Study, SystemSettings, db
from doseapp.standards.names import assign_study

def store_image(report: DoseReport) -> StoreOutcome:
    """Write one image's event in one transaction, serialised with other imports of its study
    (two exposures of one study arriving together never make two studies). Commits."""
    return in_study_lock(report, _store_locked)


def _store_locked(report: DoseReport) -> StoreOutcome:
    uid = report.study.study_instance_uid
    seen = db.session.scalar(select(ProcessedObject).where(ProcessedObject.sop_instance_uid == report.sop_instance_uid))
    if seen is not None:
        return StoreOutcome("duplicate", seen.study, "this image (same SOP Instance UID) was imported before")

    studies = db.session.scalars(select(Study).where(Study.study_instance_uid == uid, Study.modality != "NM")
                                 .order_by(Study.id)).all()
    for other in studies:
        if other.source_kind not in IMAGE_KINDS:
            return StoreOutcome("duplicate", other,
                                f"study {other.id} of this StudyInstanceUID holds a dose report ({other.source_kind}) "
                                "that already has this study's exposures")
    study = next((s for s in studies if s.source_kind == report.source_kind), None)
    if study is None:
        study = new_study(report, SystemSettings.get())
        db.session.add(study)
        return StoreOutcome("imported", study, None, list(report.warnings))

    times = {e.date_time_started for e in study.xray_events if e.date_time_started is not None}
    started = report.xray_events[0].date_time_started if report.xray_events else None
    if started is not None and started in times:
        record_object(study, report)
        return StoreOutcome("duplicate", study,
                            f"study {study.id} already has the exposure made at {started.isoformat()} "
                            "(a For Processing / For Presentation copy of the same exposure)")
    add_events(study, report, record_object(study, report))
    _fill_missing(study, report)
    summarise(study)
    assign_study(study)
    return StoreOutcome("imported", study, None, list(report.warnings))


def _fill_missing(study: Study, report: DoseReport) -> None:
    # Later images may carry what the first lacked (e.g. the patient's height and weight).
    for name in ("patient_height_m", "patient_weight_kg", "study_description", "patient_age_years"):
        if getattr(study, name) is None and getattr(report.study, name) is not None:
            setattr(study, name, getattr(report.study, name))
