"""CT irradiation events (TID 10013 with 10014 and 10015 folded in) and their X-ray sources."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, DateTime, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from doseapp.models.base import FromReport, db


class CtEvent(FromReport, db.Model):
    __tablename__ = "ct_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("study.id", ondelete="CASCADE"), index=True)
    irradiation_event_uid: Mapped[str | None] = mapped_column(String(128), index=True)
    date_time_started: Mapped[dt.datetime | None] = mapped_column(DateTime)
    acquisition_protocol: Mapped[str | None] = mapped_column(Text)
    # CID 10013: Sequenced, Spiral, Constant Angle, Stationary, Free, Cone Beam Acquisition.
    acquisition_type: Mapped[str | None] = mapped_column(String(64))
    target_region: Mapped[str | None] = mapped_column(Text)
    series_description: Mapped[str | None] = mapped_column(Text)
    procedure_context: Mapped[str | None] = mapped_column(Text)
    comment: Mapped[str | None] = mapped_column(Text)

    ctdivol_mgy: Mapped[float | None] = mapped_column(Float)
    dlp_mgycm: Mapped[float | None] = mapped_column(Float)
    ctdiw_phantom_type: Mapped[str | None] = mapped_column(Text)
    ctdifreeair_mgy: Mapped[float | None] = mapped_column(Float)
    mean_ctdifreeair_mgy: Mapped[float | None] = mapped_column(Float)
    effective_dose_msv: Mapped[float | None] = mapped_column(Float)
    exposure_time_s: Mapped[float | None] = mapped_column(Float)
    scanning_length_mm: Mapped[float | None] = mapped_column(Float)
    length_of_reconstructable_volume_mm: Mapped[float | None] = mapped_column(Float)
    exposed_range_mm: Mapped[float | None] = mapped_column(Float)
    top_z_location_mm: Mapped[float | None] = mapped_column(Float)
    bottom_z_location_mm: Mapped[float | None] = mapped_column(Float)
    nominal_single_collimation_mm: Mapped[float | None] = mapped_column(Float)
    nominal_total_collimation_mm: Mapped[float | None] = mapped_column(Float)
    pitch_factor: Mapped[float | None] = mapped_column(Float)
    number_of_xray_sources: Mapped[int | None] = mapped_column(Integer)
    xray_modulation_type: Mapped[str | None] = mapped_column(Text)
    # Size-specific dose estimate (AAPM 204/220).
    ssde_mgy: Mapped[float | None] = mapped_column(Float)
    water_equivalent_diameter_mm: Mapped[float | None] = mapped_column(Float)
    ssde_method: Mapped[str | None] = mapped_column(Text)
    # Standard name from the acquisition protocol (doseapp.standards).
    standard_name_id: Mapped[int | None] = mapped_column(ForeignKey("standard_name.id"))
    # Population estimate from DLP x a published coefficient (doseapp.standards); never the patient's
    # dose. effective_dose_msv above is what the scanner reported, when it did.
    effective_dose_estimate_msv: Mapped[float | None] = mapped_column(Float)
    effective_dose_coefficient: Mapped[float | None] = mapped_column(Float)  # mSv/(mGy·cm)
    effective_dose_region: Mapped[str | None] = mapped_column(Text)

    # NEMA XR-25 dose check (TID 10015).
    dose_check_dlp_alert_configured: Mapped[bool | None] = mapped_column(Boolean)
    dose_check_ctdivol_alert_configured: Mapped[bool | None] = mapped_column(Boolean)
    dose_check_dlp_alert_value_mgycm: Mapped[float | None] = mapped_column(Float)
    dose_check_ctdivol_alert_value_mgy: Mapped[float | None] = mapped_column(Float)
    dose_check_accumulated_dlp_forward_estimate_mgycm: Mapped[float | None] = mapped_column(Float)
    dose_check_accumulated_ctdivol_forward_estimate_mgy: Mapped[float | None] = mapped_column(Float)
    dose_check_alert_reason: Mapped[str | None] = mapped_column(Text)
    dose_check_alert_person: Mapped[str | None] = mapped_column(Text)
    dose_check_dlp_notification_configured: Mapped[bool | None] = mapped_column(Boolean)
    dose_check_ctdivol_notification_configured: Mapped[bool | None] = mapped_column(Boolean)
    dose_check_dlp_notification_value_mgycm: Mapped[float | None] = mapped_column(Float)
    dose_check_ctdivol_notification_value_mgy: Mapped[float | None] = mapped_column(Float)
    dose_check_dlp_forward_estimate_mgycm: Mapped[float | None] = mapped_column(Float)
    dose_check_ctdivol_forward_estimate_mgy: Mapped[float | None] = mapped_column(Float)
    dose_check_notification_reason: Mapped[str | None] = mapped_column(Text)
    dose_check_notification_person: Mapped[str | None] = mapped_column(Text)

    study = relationship("Study", back_populates="ct_events")
    standard_name = relationship("StandardName", viewonly=True)
    sources = relationship("CtSource", back_populates="event", cascade="all, delete-orphan",
                           passive_deletes=True, order_by="CtSource.id")

    __table_args__ = (
        # (protocol, study_id): the protocol filter reads matching studies from the index alone.
        Index("ix_ct_event_protocol", "acquisition_protocol", "study_id"),
        Index("ix_ct_event_standard_name", "standard_name_id", "study_id"),
    )


class CtSource(db.Model):
    """One X-ray source of a CT event (two rows for a dual-source scanner)."""
    __tablename__ = "ct_source"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("ct_event.id", ondelete="CASCADE"), index=True)
    identification: Mapped[str | None] = mapped_column(String(64))
    kvp: Mapped[float | None] = mapped_column(Float)
    max_tube_current_ma: Mapped[float | None] = mapped_column(Float)
    tube_current_ma: Mapped[float | None] = mapped_column(Float)
    exposure_time_per_rotation_s: Mapped[float | None] = mapped_column(Float)
    filter_aluminium_equivalent_mm: Mapped[float | None] = mapped_column(Float)

    event = relationship("CtEvent", back_populates="sources")
