"""Importing one file: read, extract, store, then the delete policy; a file that cannot be imported
is kept in quarantine with its reason. Nothing is dropped.

`owned` files are doseapp's own (received by the SCP into the spool): they are moved into the
objects, quarantine or deleted as the policy says. Files a user names on the command line are not
ours: quarantine takes a copy, and only the delete policy for processed objects removes them (as in
OpenREM, whose docs warn that command-line imports delete the source when it is set).
"""
from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pydicom
from flask import current_app
from sqlalchemy import select

from doseapp.extract import Malformed, Rejected, extract
from doseapp.ingest.images import IMAGE_KINDS, store_image
from doseapp.ingest.store import store_report
from doseapp.models import QuarantinedObject, SystemSettings, db
from doseapp.models.base import utcnow

log = logging.getLogger(__name__)

# Which delete-policy setting covers a processed object, by DoseReport.source_kind.
DELETE_SETTING = {"rdsr": "del_rdsr", "esr": "del_rdsr", "mg_image": "del_mg_im", "dx_image": "del_dx_im",
                  "philips_sc": "del_ct_phil"}


@dataclass
class ImportResult:
    file: str
    status: str  # imported | duplicate | rejected | failed
    reason: str | None = None
    warnings: list[str] = field(default_factory=list)
    study: dict | None = None
    quarantine_id: int | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def import_file(path, *, source: str = "cli", owned: bool = False, layout: dict | None = None) -> ImportResult:
    """Import one DICOM file. Never raises for a bad file: the result says what happened. `layout`
    (from a Store SCP node: its folder, structure and naming) says where a kept owned object goes."""
    from doseapp.studies import study_summary

    path = Path(path)
    name = str(path)
    try:
        ds = pydicom.dcmread(path)
    except Exception as exc:  # not DICOM, truncated header, unreadable: quarantined with the reason
        return _fail(path, name, f"not a readable DICOM file: {type(exc).__name__}: {exc}", source, owned, None)
    try:
        report = extract(ds)
    except Malformed as exc:
        return _fail(path, name, exc.reason, source, owned, ds)
    except Rejected as exc:
        _dispose_unmatched(path, owned, ds, layout)
        return ImportResult(name, "rejected", exc.reason)
    if not report.study.study_instance_uid:
        return _fail(path, name, "the object has no Study Instance UID", source, owned, ds)
    try:
        # An image header is one exposure of a study, a dose report the whole study: own rules each.
        outcome = store_image(report) if report.source_kind in IMAGE_KINDS else store_report(report)
    except Exception as exc:  # a database fault: the object is kept to be retried, never lost
        log.exception("storing %s failed", name)
        return _fail(path, name, f"could not be stored: {type(exc).__name__}: {exc}", source, owned, ds)
    result = ImportResult(name, outcome.status, outcome.reason, outcome.warnings, study_summary(outcome.study))
    _dispose_processed(path, owned, report.source_kind, ds, layout, report.study.patient_id)
    return result


def _settings() -> SystemSettings:
    settings = SystemSettings.get()
    db.session.commit()
    return settings


def _dispose_processed(path: Path, owned: bool, kind: str, ds=None, layout: dict | None = None,
                       patient_id: str | None = None) -> None:
    setting = DELETE_SETTING.get(kind)
    if setting and getattr(_settings(), setting):
        path.unlink(missing_ok=True)
    elif owned and layout:
        _keep(path, ds, layout, unmatched=False, patient_id=patient_id)
    elif owned:
        _move_into(path, current_app.config["INSTANCE"] / "objects")


def _dispose_unmatched(path: Path, owned: bool, ds=None, layout: dict | None = None) -> None:
    # The unmatched setting applies to objects sent to our store only, never to a user's own files.
    if not owned:
        return
    if _settings().del_no_match:
        path.unlink(missing_ok=True)
    elif layout:
        _keep(path, ds, layout, unmatched=True, patient_id=str(ds.get("PatientID") or "").strip(" \x00"))
    else:
        _move_into(path, current_app.config["INSTANCE"] / "objects" / "unmatched")


def _keep(path: Path, ds, layout: dict, unmatched: bool, patient_id: str | None) -> Path:
    """Keep an object a Store SCP node received, by the node's storage structure and naming; the
    patient level is named as the privacy settings store the ID (`patient_id` as extracted)."""
    from doseapp.dicomnet.storage import kept_path
    from doseapp.ingest.privacy import folder_name

    patient = folder_name(patient_id, _settings())
    target = kept_path(current_app.config["INSTANCE"] / "objects", ds, layout, patient=patient, unmatched=unmatched)
    shutil.move(str(path), target)
    return target


def _move_into(path: Path, folder: Path) -> Path:
    day = folder / dt.date.today().isoformat()
    day.mkdir(parents=True, exist_ok=True)
    target = day / path.name
    if target.exists():
        target = day / f"{path.stem}-{uuid.uuid4().hex[:8]}{path.suffix}"
    shutil.move(str(path), target)
    return target


def _fail(path: Path, name: str, reason: str, source: str, owned: bool, ds) -> ImportResult:
    db.session.rollback()
    folder = current_app.config["INSTANCE"] / "quarantine"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{utcnow():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}-{path.name}"
    if owned:
        shutil.move(str(path), target)
    else:
        shutil.copy2(path, target)
    row = QuarantinedObject(path=str(target), original_name=name, reason=reason, source=source,
                            sop_instance_uid=_attr(ds, "SOPInstanceUID"), sop_class_uid=_attr(ds, "SOPClassUID"),
                            study_instance_uid=_attr(ds, "StudyInstanceUID"))
    db.session.add(row)
    db.session.commit()
    log.warning("quarantined %s: %s", name, reason)
    return ImportResult(name, "failed", reason, [], None, row.id)


def _attr(ds, keyword: str) -> str | None:
    try:
        value = ds.get(keyword) if ds is not None else None
        return str(value)[:128] if value else None
    except Exception:  # the element itself may be what is broken; the row is still written
        return None


def retry_quarantine() -> list[ImportResult]:
    """Import every quarantined object again; those that now import leave the quarantine."""
    results = []
    for row in db.session.scalars(select(QuarantinedObject).order_by(QuarantinedObject.id)).all():
        path = Path(row.path)
        if not path.exists():
            results.append(ImportResult(row.original_name or row.path, "failed", "the quarantined file is missing"))
            continue
        retry_copy = path.with_name(path.name + ".retry")
        shutil.copy2(path, retry_copy)
        result = import_file(retry_copy, source=row.source or "quarantine", owned=True)
        row = db.session.get(QuarantinedObject, row.id)
        if result.status == "failed":
            # The retry made a new quarantine row for the same object: keep only the old one.
            newer = db.session.get(QuarantinedObject, result.quarantine_id)
            if newer is not None:
                Path(newer.path).unlink(missing_ok=True)
                db.session.delete(newer)
            row.retry_count += 1
            row.reason = result.reason
            result.quarantine_id = row.id
        else:
            path.unlink(missing_ok=True)
            db.session.delete(row)
        db.session.commit()
        result.file = row.original_name or row.path
        results.append(result)
    return results
