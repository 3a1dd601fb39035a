"""Nuclear medicine and PET: radiopharmaceutical administrations (TID 10022, with the patient
characteristics of TID 10023) and the NM/PET image series of a study. Activities in MBq."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from doseapp.models.base import FromReport, db


class NmAdministration(FromReport, db.Model):
    """One administration. ``from_report`` False: read from an image header's Radiopharmaceutical
    Information Sequence, kept only until the study's radiopharmaceutical dose report arrives."""
    __tablename__ = "nm_administration"

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("study.id", ondelete="CASCADE"), index=True)
    from_report: Mapped[bool] = mapped_column(Boolean, default=True)
    event_uid: Mapped[str | None] = mapped_column(String(128), index=True)
    radiopharmaceutical: Mapped[str | None] = mapped_column(Text)
    radionuclide: Mapped[str | None] = mapped_column(Text)
    radionuclide_half_life_s: Mapped[float | None] = mapped_column(Float)
    specific_activity_bq_per_mmol: Mapped[float | None] = mapped_column(Float)
    volume_ml: Mapped[float | None] = mapped_column(Float)
    start_datetime: Mapped[dt.datetime | None] = mapped_column(DateTime)
    stop_datetime: Mapped[dt.datetime | None] = mapped_column(DateTime)
    administered_activity_mbq: Mapped[float | None] = mapped_column(Float)
    pre_administration_activity_mbq: Mapped[float | None] = mapped_column(Float)
    pre_administration_datetime: Mapped[dt.datetime | None] = mapped_column(DateTime)
    pre_administration_device: Mapped[str | None] = mapped_column(Text)
    post_administration_activity_mbq: Mapped[float | None] = mapped_column(Float)
    post_administration_datetime: Mapped[dt.datetime | None] = mapped_column(DateTime)
    post_administration_device: Mapped[str | None] = mapped_column(Text)
    route: Mapped[str | None] = mapped_column(Text)
    site: Mapped[str | None] = mapped_column(Text)
    extravasation_symptoms: Mapped[str | None] = mapped_column(Text)
    estimated_extravasation_percent: Mapped[float | None] = mapped_column(Float)
    effective_dose_msv: Mapped[float | None] = mapped_column(Float)
    effective_dose_authority: Mapped[str | None] = mapped_column(Text)
    # [{"organ": ..., "laterality": ..., "dose_mgy": ..., "reference_authority": ...}]
    organ_doses: Mapped[list | None] = mapped_column(JSON)
    person_name: Mapped[str | None] = mapped_column(Text)
    person_role: Mapped[str | None] = mapped_column(Text)
    brand_name: Mapped[str | None] = mapped_column(Text)
    comment: Mapped[str | None] = mapped_column(Text)
    associated_procedure: Mapped[str | None] = mapped_column(Text)
    patient_state: Mapped[str | None] = mapped_column(Text)
    body_surface_area_m2: Mapped[float | None] = mapped_column(Float)
    bmi_kg_m2: Mapped[float | None] = mapped_column(Float)
    glucose_mmol_l: Mapped[float | None] = mapped_column(Float)
    fasting_duration_h: Mapped[float | None] = mapped_column(Float)
    hydration_volume_ml: Mapped[float | None] = mapped_column(Float)

    study = relationship("Study", back_populates="nm_administrations")


class NmSeries(FromReport, db.Model):
    """One NM or PET image series (the first image of it that arrived describes it)."""
    __tablename__ = "nm_series"

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("study.id", ondelete="CASCADE"), index=True)
    series_instance_uid: Mapped[str | None] = mapped_column(String(128), index=True)
    modality: Mapped[str | None] = mapped_column(String(16))
    series_datetime: Mapped[dt.datetime | None] = mapped_column(DateTime)
    series_description: Mapped[str | None] = mapped_column(Text)
    protocol_name: Mapped[str | None] = mapped_column(Text)
    image_type: Mapped[str | None] = mapped_column(Text)
    series_type: Mapped[str | None] = mapped_column(Text)
    units: Mapped[str | None] = mapped_column(String(32))
    decay_correction: Mapped[str | None] = mapped_column(String(32))
    corrected_image: Mapped[str | None] = mapped_column(Text)
    number_of_slices: Mapped[int | None] = mapped_column(Integer)
    acquisition_datetime: Mapped[dt.datetime | None] = mapped_column(DateTime)
    # How many images of the series were imported (each image is recorded once, by its SOP Instance UID).
    image_count: Mapped[int] = mapped_column(Integer, default=1)

    study = relationship("Study", back_populates="nm_series")
