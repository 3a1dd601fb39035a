"""Importing one file: read, extract, store, then the delete policy; a file that cannot be imported
is kept in quarantine with its reason. Nothing is dropped.

`owned` files are doseapp's own (received by the SCP into the spool): they are moved into the
objects, quarantine or deleted as the policy says. Files a user names on the command line are not
ours: quarantine takes a copy, and only the delete policy for processed objects removes them (as in
OpenREM, whose docs warn that command-line imports delete the source when it is set).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import logging
import shutil
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pydicom
from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from doseapp.extract import Malformed, Rejected, extract
from doseapp.ingest import toshiba
from doseapp.ingest.images import IMAGE_KINDS, store_image
from doseapp.ingest.nm import NM_KINDS, store_nm
from doseapp.ingest.store import store_report
from doseapp.models import QuarantinedObject, SystemSettings, db
from doseapp.models.base import utcnow

log = logging.getLogger(__name__)

# Which delete-policy setting covers a processed object, by DoseReport.source_kind.
DELETE_SETTING = {"rdsr": "del_rdsr", "esr": "del_rdsr", "mg_image": "del_mg_im", "dx_image": "del_dx_im",
                  "philips_sc": "del_ct_phil", "rrdsr": "del_rdsr", "nm_image": "del_nm_im"}


@dataclass
class ImportResult:
    file: str
    status: str  # imported | duplicate | rejected | failed | held (a Toshiba screen/image, see toshiba.py)
    reason: str | None = None
    warnings: list[str] = field(default_factory=list)
    study: dict | None = None
    quarantine_id: int | None = None
    held_study: str | None = None  # the StudyInstanceUID a held object waits with

    def as_dict(self) -> dict:
        out = asdict(self)
        if out["held_study"] is None:  # only a held object says which study it waits with
            del out["held_study"]
        return out


def import_file(path, *, source: str = "cli", owned: bool = False, layout: dict | None = None,
                calling_ae: str | None = None, quarantine: bool = True) -> ImportResult:
    """Import one DICOM file. Never raises for a bad file: the result says what happened. `layout`
    (from a Store SCP node: its folder, structure and naming) says where a kept owned object goes;
    `calling_ae` is the sender of a received object. A file that fails goes to quarantine, unless
    `quarantine` is off (a retry of a quarantined object: it is there already)."""
    from doseapp.studies import study_summary

    path = Path(path)
    name = str(path)

    def fail(reason: str, ds=None) -> ImportResult:
        db.session.rollback()
        if not quarantine:
            return ImportResult(name, "failed", reason)
        row, before = _quarantine(path, name=name, reason=reason, source=source, owned=owned, ds=ds,
                                  calling_ae=calling_ae)
        if before:
            reason = f"already in quarantine (object {row.id}): {row.reason}"
        return ImportResult(name, "failed", reason, [], None, row.id)

    why = unreadable(path)
    if why:  # nothing to keep: said as it is, never quarantined
        return ImportResult(name, "failed", why)
    try:
        ds = pydicom.dcmread(path)
    except Exception as exc:  # not DICOM, truncated header: quarantined with the reason
        return fail(f"not a readable DICOM file: {type(exc).__name__}: {exc}")
    if toshiba.is_toshiba(ds) and str(ds.get("StudyInstanceUID", "") or "").strip():
        # A Toshiba dose screen or CT image: read with the rest of its study (toshiba.py).
        return toshiba.hold(path, ds, owned=owned, source=source)
    try:
        report = extract(ds)
    except Malformed as exc:
        return fail(exc.reason, ds)
    except Rejected as exc:
        _dispose_unmatched(path, owned, ds, layout)
        return ImportResult(name, "rejected", exc.reason)
    if not report.study.study_instance_uid:
        return fail("the object has no Study Instance UID", ds)
    try:
        # An image header is one exposure of a study, a dose report the whole study, a nuclear medicine
        # object (report or image) part of the study's NM record: own rules each.
        if report.source_kind in NM_KINDS:
            outcome = store_nm(report)
        elif report.source_kind in IMAGE_KINDS:
            outcome = store_image(report)
        else:
            outcome = store_report(report)
    except Exception as exc:  # a database fault: the object is kept to be retried, never lost
        log.exception("storing %s failed", name)
        return fail(f"could not be stored: {type(exc).__name__}: {exc}", ds)
    result = ImportResult(name, outcome.status, outcome.reason, outcome.warnings, study_summary(outcome.study))
    if outcome.status == "imported":
        from doseapp.alerts.evaluate import evaluate_study

        evaluate_study(result.study["id"])  # the alert rules, on the study as now stored (never raises)
    _dispose_processed(path, owned, report.source_kind, ds, layout, report.study.patient_id)
    return result


def unreadable(path: Path) -> str | None:
    """Why `path` cannot be read at all (missing, a folder, no permission), or None."""
    if not path.exists():
        return "no such file or folder"
    if not path.is_file():
        return "not a file"
    try:
        with open(path, "rb"):
            return None
    except OSError as exc:
        return f"cannot be read: {exc.strerror or exc}"


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
    from doseapp.security.privacy import folder_name

    patient = folder_name(patient_id, _settings())
    target = kept_path(current_app.config["INSTANCE"] / "objects", ds, layout, patient=patient, unmatched=unmatched)
    shutil.move(str(path), target)
    if ds is not None:
        from doseapp.dicomnet.object_index import record

        try:
            record(target, ds, layout.get("node"), _settings())
        except Exception:  # the object is kept; the index can be rebuilt (doseapp objects reindex)
            db.session.rollback()
            log.exception("could not index kept object %s", target)
    return target


def _move_into(path: Path, folder: Path) -> Path:
    day = folder / dt.date.today().isoformat()
    day.mkdir(parents=True, exist_ok=True)
    target = day / path.name
    if target.exists():
        target = day / f"{path.stem}-{uuid.uuid4().hex[:8]}{path.suffix}"
    shutil.move(str(path), target)
    return target


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _quarantine(path: Path, *, name: str, reason: str, source: str, owned: bool, ds=None,
                calling_ae: str | None = None) -> tuple[QuarantinedObject, bool]:
    """Put a file that could not be imported in quarantine: moved when it is ours (`owned`), copied
    when it is a user's. Its row carries the content hash, so the same bytes are kept once however
    often a folder is imported or a sender sends them. Returns the row and whether the same bytes
    were there already (then nothing new is kept, and an owned file is removed: its twin is kept)."""
    digest = _sha256(path)
    existing = _by_content(digest)
    if existing is not None:
        if owned:
            path.unlink(missing_ok=True)
        return existing, True
    target_folder = current_app.config["INSTANCE"] / "quarantine"
    target_folder.mkdir(parents=True, exist_ok=True)
    target = target_folder / f"{utcnow():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}-{path.name}"
    if owned:
        shutil.move(str(path), target)
    else:
        shutil.copy2(path, target)
    row = QuarantinedObject(path=str(target), original_name=name, reason=reason, source=source,
                            calling_ae=(calling_ae or None), content_sha256=digest,
                            sop_instance_uid=_attr(ds, "SOPInstanceUID"), sop_class_uid=_attr(ds, "SOPClassUID"),
                            study_instance_uid=_attr(ds, "StudyInstanceUID"))
    db.session.add(row)
    try:
        db.session.commit()
    except IntegrityError:  # another importer quarantined the same bytes a moment ago
        db.session.rollback()
        target.unlink(missing_ok=True)
        existing = _by_content(digest)
        if existing is None:
            raise
        return existing, True
    log.warning("quarantined %s: %s", name, reason)
    return row, False


def _by_content(digest: str) -> QuarantinedObject | None:
    return db.session.scalar(select(QuarantinedObject).where(QuarantinedObject.content_sha256 == digest))


def _attr(ds, keyword: str) -> str | None:
    try:
        value = ds.get(keyword) if ds is not None else None
        return str(value)[:128] if value else None
    except Exception:  # the element itself may be what is broken; the row is still written
        return None
