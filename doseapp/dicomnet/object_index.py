"""The index of kept objects: what our own C-FIND answers, and where C-MOVE / C-GET find the files.

Every object a Store SCP node keeps (received or retrieved, and not deleted by the keep/delete
policy) gets a row at each level: study, series, instance. Identifiers go in as the privacy settings
store them (security.privacy.apply): a hashed or dropped ID is never in the index in clear. Files the
retention cleanup deletes leave the index with them (forget), and `reindex` rebuilds it from the
folders (for objects kept before the index existed).
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

import pydicom
from sqlalchemy import delete, func, select, update

from doseapp.models import DicomStoredInstance, DicomStoredSeries, DicomStoredStudy, SystemSettings, db
from doseapp.models.base import utcnow

log = logging.getLogger(__name__)


def _text(ds, keyword: str, size: int) -> str | None:
    try:
        value = ds.get(keyword)
    except Exception:  # a broken element is left out of the index, the object is still kept
        return None
    if value is None or value == "":
        return None
    text = str(value).strip(" \x00")
    return text[:size] or None


def _int(ds, keyword: str) -> int | None:
    try:
        value = ds.get(keyword)
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _study_values(ds, settings: SystemSettings) -> dict:
    from doseapp.security.privacy import apply

    protected = apply({"patient_name": _text(ds, "PatientName", 256), "patient_id": _text(ds, "PatientID", 128),
                       "patient_birth_date": _text(ds, "PatientBirthDate", 8),
                       "accession_number": _text(ds, "AccessionNumber", 128)}, settings)
    return {"patient_id": protected["patient_id"], "patient_name": protected["patient_name"],
            "patient_birth_date": protected["patient_birth_date"],
            "accession_number": (protected["accession_number"] or None) and protected["accession_number"][:128],
            "patient_sex": _text(ds, "PatientSex", 16),
            "study_date": _text(ds, "StudyDate", 8), "study_time": _text(ds, "StudyTime", 16),
            "study_id": _text(ds, "StudyID", 16), "study_description": _text(ds, "StudyDescription", 256),
            "referring_physician": _text(ds, "ReferringPhysicianName", 256)}


def record(path: Path, ds, node_aetitle: str | None, settings: SystemSettings | None = None) -> DicomStoredInstance | None:
    """Index the kept file `path` (its data set `ds`). An instance already indexed moves to the new
    path (the same object kept again). Commits. Returns the row, or None for an object without the
    UIDs an index needs."""
    study_uid, series_uid = _text(ds, "StudyInstanceUID", 64), _text(ds, "SeriesInstanceUID", 64)
    sop_uid, sop_class = _text(ds, "SOPInstanceUID", 64), _text(ds, "SOPClassUID", 64)
    if not (study_uid and series_uid and sop_uid and sop_class):
        log.warning("%s is kept but not indexed: it lacks a study, series or SOP instance UID", path)
        return None
    settings = settings or SystemSettings.get()
    study = db.session.scalar(select(DicomStoredStudy).where(DicomStoredStudy.study_instance_uid == study_uid))
    values = _study_values(ds, settings)
    if study is None:
        study = DicomStoredStudy(study_instance_uid=study_uid, series_count=0, instance_count=0)
        db.session.add(study)
    for key, value in values.items():  # the latest object's header wins, but never blanks a value
        if value is not None:
            setattr(study, key, value)
    study.updated_at = utcnow()
    db.session.flush()
    series = db.session.scalar(select(DicomStoredSeries).where(DicomStoredSeries.series_instance_uid == series_uid))
    if series is None:
        series = DicomStoredSeries(series_instance_uid=series_uid, study_pk=study.id, instance_count=0)
        db.session.add(series)
    series.modality = _text(ds, "Modality", 16) or series.modality
    series.series_number = _int(ds, "SeriesNumber") if _int(ds, "SeriesNumber") is not None else series.series_number
    series.series_description = _text(ds, "SeriesDescription", 256) or series.series_description
    series.series_date = _text(ds, "SeriesDate", 8) or series.series_date
    series.series_time = _text(ds, "SeriesTime", 16) or series.series_time
    db.session.flush()
    instance = db.session.scalar(select(DicomStoredInstance).where(DicomStoredInstance.sop_instance_uid == sop_uid))
    if instance is None:
        instance = DicomStoredInstance(sop_instance_uid=sop_uid, series_pk=series.id)
        db.session.add(instance)
    elif instance.series_pk != series.id:
        instance.series_pk = series.id
    meta = getattr(ds, "file_meta", None)
    instance.sop_class_uid = sop_class
    instance.transfer_syntax_uid = _text(meta, "TransferSyntaxUID", 64) if meta is not None else None
    instance.instance_number = _int(ds, "InstanceNumber")
    instance.content_date = _text(ds, "ContentDate", 8)
    instance.content_time = _text(ds, "ContentTime", 16)
    instance.path = str(path)
    try:
        instance.size_bytes = os.stat(path).st_size
    except OSError:
        instance.size_bytes = None
    instance.node_aetitle = node_aetitle
    instance.received_at = utcnow()
    db.session.flush()
    _recount([study.id])
    db.session.commit()
    return instance


def _recount(study_ids: list[int]) -> None:
    """Series and instance counts, and ModalitiesInStudy, of these studies from their rows; studies
    left with no instance leave the index."""
    if not study_ids:
        return
    series_ids = select(DicomStoredSeries.id).where(DicomStoredSeries.study_pk.in_(study_ids))
    per_series = (select(func.count()).select_from(DicomStoredInstance)
                  .where(DicomStoredInstance.series_pk == DicomStoredSeries.id).scalar_subquery())
    db.session.execute(update(DicomStoredSeries).where(DicomStoredSeries.id.in_(series_ids))
                       .values(instance_count=per_series).execution_options(synchronize_session=False))
    db.session.execute(delete(DicomStoredSeries).where(DicomStoredSeries.study_pk.in_(study_ids),
                                                       DicomStoredSeries.instance_count == 0)
                       .execution_options(synchronize_session=False))
    for study_id in study_ids:
        rows = db.session.execute(select(DicomStoredSeries.modality, DicomStoredSeries.instance_count)
                                  .where(DicomStoredSeries.study_pk == study_id)).all()
        if not rows:
            db.session.execute(delete(DicomStoredStudy).where(DicomStoredStudy.id == study_id))
            continue
        modalities = "\\".join(sorted({m for m, _ in rows if m}))[:128] or None
        db.session.execute(update(DicomStoredStudy).where(DicomStoredStudy.id == study_id).values(
            series_count=len(rows), instance_count=sum(n for _, n in rows), modalities=modalities))
    db.session.expire_all()


def forget(paths: list[str]) -> int:
    """Take deleted files out of the index; returns how many instances left it. Commits."""
    removed = 0
    for start in range(0, len(paths), 500):
        chunk = [str(p) for p in paths[start:start + 500]]
        study_ids = db.session.scalars(
            select(DicomStoredSeries.study_pk).join(DicomStoredInstance, DicomStoredInstance.series_pk == DicomStoredSeries.id)
            .where(DicomStoredInstance.path.in_(chunk)).distinct()).all()
        removed += db.session.execute(delete(DicomStoredInstance).where(DicomStoredInstance.path.in_(chunk))
                                      .execution_options(synchronize_session=False)).rowcount or 0
        _recount(list(study_ids))
        db.session.commit()
    return removed


def forget_missing() -> int:
    """Take out of the index every instance whose file is no longer there; returns how many."""
    gone = [path for path in db.session.scalars(select(DicomStoredInstance.path)) if not os.path.exists(path)]
    return forget(gone)


def reindex(root: Path, node_aetitle: str | None = None) -> dict:
    """Index every readable DICOM file under `root` (a node's objects folder), and drop index rows
    whose files are gone. Returns counts."""
    settings = SystemSettings.get()
    indexed = skipped = 0
    for folder, _dirs, files in os.walk(root):
        for name in sorted(files):
            path = Path(folder) / name
            try:
                ds = pydicom.dcmread(path, stop_before_pixels=True)
            except Exception:
                skipped += 1
                continue
            if record(path, ds, node_aetitle, settings) is None:
                skipped += 1
            else:
                indexed += 1
    return {"indexed": indexed, "skipped": skipped, "forgotten": forget_missing()}
