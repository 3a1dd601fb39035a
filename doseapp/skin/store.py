"""The database edge of skin dose maps: compute a study's map, keep it, read it back.

The engine stays pure; this module turns a study's rows into its inputs and its result into a
``SkinDoseMap`` row (the array zlib-compressed float32) and the study's ``peak_skin_dose_gy``.
"""
from __future__ import annotations

import zlib

import numpy as np
from sqlalchemy.exc import IntegrityError

from doseapp.models import SkinDoseMap, Study, db
from doseapp.models.base import utcnow
from doseapp.skin.engine import patient_size
from doseapp.skin.result import METHOD_VERSION, SkinMapResult, summary_fields


def stored(study_id: int) -> SkinDoseMap | None:
    """The kept map (or no-map reason) of a study, if one was computed."""
    return db.session.execute(db.select(SkinDoseMap).filter_by(study_id=study_id)).scalar_one_or_none()


def is_current(row: SkinDoseMap | None, study: Study) -> bool:
    """True when the kept result still answers for the study: same method version, and the patient
    size the engine would take now (the study's, or the defaults when it has none it can use) is the
    one the map used."""
    if row is None or row.method_version != METHOD_VERSION:
        return False
    height, height_source, mass, mass_source = patient_size(study)
    return (height_source, mass_source) == (row.height_source, row.mass_source) \
        and _same(height, row.patient_height_m) and _same(mass, row.patient_mass_kg)


def _same(now: float, used: float | None) -> bool:
    return used is not None and abs(now - used) < 1e-9


def trusted_for(study: Study) -> bool | None:
    """The admin's decision for the study's system, or None to follow the vendor geometry table."""
    return study.equipment.skin_map_trusted if study.equipment is not None else None


def compute_for_study(study: Study, *, phantom: str = "doseapp") -> SkinDoseMap:
    """Compute the study's map now and keep it (replacing any earlier one). Caller commits."""
    from doseapp.skin import compute
    result = compute(study, list(study.xray_events), study.equipment, phantom=phantom,
                     trusted=trusted_for(study))
    return save(study, result)


def compute_and_commit(study: Study) -> SkinDoseMap:
    """Compute and keep the study's map, committed. Two computations of one study at once (an API
    request and a job) both insert a row: the loser's insert fails on the unique study id, so it
    computes again onto the winner's row (the result is the same)."""
    from doseapp.alerts.evaluate import after_skin_map

    study_id = study.id
    try:
        row = compute_for_study(study)
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        study = db.session.get(Study, study_id)
        row = compute_for_study(study)
        db.session.commit()
    after_skin_map(study_id)  # the peak skin dose alert rules
    return row


def current(study: Study, *, recompute: bool = False) -> SkinDoseMap:
    """The study's kept map when it is current (and not `recompute`), else a new one, committed."""
    row = stored(study.id)
    if recompute or not is_current(row, study):
        row = compute_and_commit(study)
    return row


def fluoroscopy_study(key: str) -> Study | None:
    """The fluoroscopy study a user names: by database id (all digits) or Study Instance UID. Rows
    stored before continued reports were joined may share a UID: the first RF one answers."""
    from sqlalchemy import select

    if key.isdigit():
        study = db.session.get(Study, int(key))
        if study is not None:
            return study if study.modality == "RF" else None
    return db.session.scalar(select(Study).where(Study.study_instance_uid == key, Study.modality == "RF")
                             .order_by(Study.id).limit(1))


def save(study: Study, result: SkinMapResult) -> SkinDoseMap:
    """Keep a result as the study's map and copy its peak onto the study. Caller commits."""
    row = stored(study.id) or SkinDoseMap(study_id=study.id)
    row.status = "ok" if result.ok else "no_map"
    row.reason = result.reason
    row.method_version = result.method_version
    row.trusted = result.trusted
    for name in ("phantom", "phantom_description", "peak_skin_dose_gy", "peak_surface", "cells_over_3gy",
                 "cells_over_5gy", "cells_over_10gy", "cell_size_cm", "patient_height_m", "patient_mass_kg",
                 "height_source", "mass_source", "orientation", "orientation_source", "events_used",
                 "dose_fraction", "geometry", "seconds"):
        setattr(row, name, getattr(result, name))
    row.events_skipped = result.events_skipped
    row.skipped = list(result.skipped)
    if result.ok and result.dose is not None:
        row.rows, row.cols = (int(n) for n in result.dose.shape)
        row.dose_map = zlib.compress(np.ascontiguousarray(result.dose, dtype="<f4").tobytes(), 6)
    else:
        row.rows = row.cols = None
        row.dose_map = None
    row.computed_at = utcnow()
    if row.id is None:
        db.session.add(row)
    study.peak_skin_dose_gy = result.peak_skin_dose_gy if result.ok else None
    return row


def dose_array(row: SkinDoseMap) -> np.ndarray | None:
    """The kept map as a (rows, cols) float array in Gy, or None when there is no map."""
    if row.dose_map is None or not row.rows or not row.cols:
        return None
    return np.frombuffer(zlib.decompress(row.dose_map), dtype="<f4").reshape(row.rows, row.cols)


def as_dict(row: SkinDoseMap) -> dict:
    """The JSON the CLI (`doseapp skin-map --json`) and `GET /api/v1/studies/<id>/skin-map` return."""
    fields = summary_fields(row)
    fields["skipped"] = row.skipped or []
    return {"ok": row.status == "ok", "reason": row.reason, "study_id": row.study_id, **fields,
            "rows": row.rows, "cols": row.cols, "cell_size_cm": row.cell_size_cm,
            "computed_at": row.computed_at.isoformat() if row.computed_at else None}
