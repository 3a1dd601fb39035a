"""Writing one extracted report, with OpenREM's duplicate rules (seed §4.1.1) but one exam per study:

- its SOP Instance UID was imported before: duplicate, nothing changes;
- every irradiation event is already in a stored study of the same StudyInstanceUID: duplicate;
- its events are a strict superset of a stored study's (a cumulative RDSR, sent again after each
  exposure): the stored study is replaced by the new, fuller one;
- none of its events are stored (a continued study, e.g. a restarted Siemens CT study): its events,
  planes and breast doses join the stored study, which is one exam (OpenREM stores it alongside as a
  second study; see docs/decisions.md);
- some but not all of its events are stored and it is not a superset: the new events are added to
  the stored study (the report then shares events with it; it is neither of the cases above).

Every row a report sends points to the report's ProcessedObject, which keeps the report's own event
count and DLP total as sent; a study holding several reports' events totals them (summary.py).

A study of the same StudyInstanceUID built from image headers (mammography or radiography images
imported before the report arrived) is replaced by the report's: the report holds every exposure,
and keeping both would count the study twice. The images stay known by their SOP Instance UIDs, so
a copy sent again is a duplicate (images.py refuses images of a study that has a report).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from sqlalchemy import select

from doseapp.extract import DoseReport, decide_modality
from doseapp.security import privacy
from doseapp.ingest.equipment import equipment_for
from doseapp.ingest.locks import study_lock
from doseapp.ingest.summary import summarise
from doseapp.models import (
    AccumulatedPlane, BreastDose, CtEvent, CtSource, ProcessedObject, Study, SystemSettings, XrayEvent, db,
)
from doseapp.standards.names import assign_study


# Studies built from image headers, one event per image (ingest/images.py).
IMAGE_KINDS = ("mg_image", "dx_image")


@dataclass
class StoreOutcome:
    status: str  # "imported" or "duplicate"
    study: Study
    reason: str | None = None
    warnings: list[str] = field(default_factory=list)


def _event_uids(study: Study) -> set[str]:
    events = study.ct_events if study.ct_events else study.xray_events
    return {e.irradiation_event_uid for e in events if e.irradiation_event_uid}


def add_events(study: Study, report: DoseReport, obj: ProcessedObject,
               skip_uids: set[str] = frozenset()) -> int:
    """Append the report's events (but those whose UID is in skip_uids) to the study, each pointing
    to `obj`, the report's ProcessedObject; returns how many."""
    added = 0
    for rec in report.ct_events:
        if rec.irradiation_event_uid and rec.irradiation_event_uid in skip_uids:
            continue
        event = CtEvent(**rec.as_columns(), report=obj)
        event.sources = [CtSource(**s.as_columns()) for s in rec.sources]
        study.ct_events.append(event)
        added += 1
    for rec in report.xray_events:
        if rec.irradiation_event_uid and rec.irradiation_event_uid in skip_uids:
            continue
        study.xray_events.append(XrayEvent(**rec.as_columns(), report=obj))
        added += 1
    return added


def add_totals(study: Study, report: DoseReport, obj: ProcessedObject) -> None:
    """Append the report's accumulated planes and breast doses, as it sent them, to the study."""
    study.planes.extend(AccumulatedPlane(**p.as_columns(), report=obj) for p in report.planes)
    study.breast_doses.extend(BreastDose(**b.as_columns(), report=obj) for b in report.breast_doses)


def new_study(report: DoseReport, settings: SystemSettings) -> Study:
    """A new Study for the report: equipment, privacy, modality, the report's object, its events,
    planes and summary columns."""
    equipment = equipment_for(report.equipment.as_columns())
    values = privacy.apply(report.study.as_columns(), settings)
    study = Study(**values, equipment=equipment, source_kind=report.source_kind,
                  modality=decide_modality(report, equipment.user_defined_modality))
    obj = record_object(study, report)
    add_events(study, report, obj)
    add_totals(study, report, obj)
    summarise(study, report.ct_total_dlp_mgycm)
    assign_study(study)
    return study


def in_study_lock(report: DoseReport, body: Callable[[DoseReport], StoreOutcome]) -> StoreOutcome:
    """Run body(report) in one transaction, serialised with other imports of the report's study
    (two objects of one study arriving together never make two studies). Commits."""
    db.session.commit()  # end any read transaction: what follows must start inside the lock
    try:
        with study_lock(report.study.study_instance_uid):
            outcome = body(report)
            db.session.commit()
            return outcome
    except BaseException:
        db.session.rollback()
        raise


def store_report(report: DoseReport) -> StoreOutcome:
    """Write a dose report (RDSR, Enhanced SR, Philips capture) with the duplicate rules above."""
    return in_study_lock(report, _store_locked)


def _store_locked(report: DoseReport) -> StoreOutcome:
    uid = report.study.study_instance_uid
    seen = db.session.scalar(select(ProcessedObject).where(ProcessedObject.sop_instance_uid == report.sop_instance_uid))
    if seen is not None:
        return StoreOutcome("duplicate", seen.study, "this object (same SOP Instance UID) was imported before")

    # The NM part of a hybrid exam (PET/CT, SPECT/CT) is a study of its own (ingest/nm.py), never
    # matched or replaced by an X-ray report of the same StudyInstanceUID.
    existing = db.session.scalars(select(Study).where(Study.study_instance_uid == uid, Study.modality != "NM")
                                  .order_by(Study.id)).all()
    # A dose report replaces a study read from a Toshiba dose screen, as one built from image headers.
    replaceable = IMAGE_KINDS + (("toshiba",) if report.source_kind != "toshiba" else ())
    from_images = [s for s in existing if s.source_kind in replaceable]
    existing = [s for s in existing if s.source_kind not in replaceable]
    new_uids = {e.irradiation_event_uid for e in report.events if e.irradiation_event_uid}
    replace, shares, continues = [], None, None
    for study in existing:
        old = _event_uids(study)
        if not new_uids or not old:
            continue
        if new_uids <= old:
            record_object(study, report)
            return StoreOutcome("duplicate", study,
                                f"every irradiation event is already in study {study.id} of this StudyInstanceUID")
        if new_uids > old:
            replace.append(study)
        elif new_uids & old:
            shares = shares or study
        else:
            continues = continues or study

    warnings = list(report.warnings)
    if (shares or continues) is not None and not replace:
        study = shares or continues
        obj = record_object(study, report)
        added = add_events(study, report, obj, skip_uids=_event_uids(study))
        if shares is None:
            # A continued report: its own totals add to the exam's (none of its events are there).
            add_totals(study, report, obj)
            warnings.append(f"continued study: none of its events were stored, so its {added} event(s) joined "
                            f"study {study.id}")
        else:
            warnings.append(f"shares events with study {study.id}; added its {added} new event(s) to that study")
        user_defined = study.equipment.user_defined_modality if study.equipment else None
        if study.modality == "DX" and decide_modality(report, user_defined) == "RF":
            study.modality = "RF"  # an exam with fluoroscopy anywhere is a fluoroscopy exam
        summarise(study)  # totals now span several reports: sums of events (CT), of planes per plane
        assign_study(study)
        _take_over(study, from_images, warnings)
        return StoreOutcome("imported", study, None, warnings)

    study = new_study(report, SystemSettings.get())
    db.session.add(study)
    for old_study in replace:
        # A cumulative report: the fuller one replaces the stored study; its objects stay known.
        _keep_objects(study, old_study)
        db.session.delete(old_study)
        warnings.append(f"replaced study {old_study.id}: this report holds all its events and more (cumulative)")
    _take_over(study, from_images, warnings)
    return StoreOutcome("imported", study, None, warnings)


def _keep_objects(study: Study, old_study: Study) -> None:
    for obj in list(old_study.objects):
        study.objects.append(ProcessedObject(sop_instance_uid=obj.sop_instance_uid, sop_class_uid=obj.sop_class_uid,
                                             imported_at=obj.imported_at, event_count=obj.event_count,
                                             total_dlp_mgycm=obj.total_dlp_mgycm))


def _take_over(study: Study, from_images: list[Study], warnings: list[str]) -> None:
    """The report's study replaces studies of its StudyInstanceUID built from image headers."""
    for old_study in from_images:
        _keep_objects(study, old_study)
        db.session.delete(old_study)
        warnings.append(f"replaced study {old_study.id}, built from {len(old_study.objects)} image header(s): "
                        "this dose report holds the study's exposures")


def record_object(study: Study, report: DoseReport) -> ProcessedObject:
    """Remember the report's SOP Instance UID against the study (the first duplicate test), with its
    own totals as sent; returns the row its events, planes and breast doses point to."""
    obj = ProcessedObject(sop_instance_uid=report.sop_instance_uid, sop_class_uid=report.sop_class_uid,
                          event_count=len(report.events), total_dlp_mgycm=report.ct_total_dlp_mgycm)
    study.objects.append(obj)
    return obj
