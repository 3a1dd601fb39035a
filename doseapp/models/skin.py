"""Skin dose maps: one stored result per fluoroscopy study (the map, or the reason there is none)."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from doseapp.models.base import db, utcnow


class SkinDoseMap(db.Model):
    """The skin dose map of one study, as the engine made it (``doseapp.skin``).

    ``status`` is "ok" (a map) or "no_map" (``reason`` says why). Doses are Gy. The array is
    ``dose_map``: zlib-compressed little-endian float32, ``rows`` x ``cols``, rows along the patient
    from the head end, columns round the body (see ``doseapp.skin.phantom``).
    """

    __tablename__ = "skin_dose_map"
    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("study.id", ondelete="CASCADE"), unique=True, index=True)
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    method_version: Mapped[str] = mapped_column(String(32))
    phantom: Mapped[str | None] = mapped_column(String(32))
    phantom_description: Mapped[str | None] = mapped_column(Text)
    peak_skin_dose_gy: Mapped[float | None] = mapped_column(Float)
    peak_surface: Mapped[str | None] = mapped_column(String(16))
    cells_over_3gy: Mapped[int | None] = mapped_column(Integer)
    cells_over_5gy: Mapped[int | None] = mapped_column(Integer)
    cells_over_10gy: Mapped[int | None] = mapped_column(Integer)
    cell_size_cm: Mapped[float | None] = mapped_column(Float)
    patient_height_m: Mapped[float | None] = mapped_column(Float)
    patient_mass_kg: Mapped[float | None] = mapped_column(Float)
    height_source: Mapped[str | None] = mapped_column(String(16))  # "extracted" or "assumed"
    mass_source: Mapped[str | None] = mapped_column(String(16))
    orientation: Mapped[str | None] = mapped_column(String(8))  # HFS, FFS, HFP, FFP
    orientation_source: Mapped[str | None] = mapped_column(String(32))
    events_used: Mapped[int | None] = mapped_column(Integer)
    events_skipped: Mapped[int | None] = mapped_column(Integer)
    skipped: Mapped[list | None] = mapped_column(JSON)  # [{"event": n, "reason": "..."}]
    dose_fraction: Mapped[float | None] = mapped_column(Float)  # share of the study's RP dose mapped
    geometry: Mapped[str | None] = mapped_column(Text)  # the vendor geometry rule used
    rows: Mapped[int | None] = mapped_column(Integer)
    cols: Mapped[int | None] = mapped_column(Integer)
    dose_map: Mapped[bytes | None] = mapped_column(LargeBinary)
    seconds: Mapped[float | None] = mapped_column(Float)
    computed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    trusted: Mapped[bool] = mapped_column(Boolean, default=True)
