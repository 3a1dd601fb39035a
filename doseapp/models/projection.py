"""Projection X-ray (fluoroscopy, radiography, mammography): irradiation events (TID 10003 with
source, detector and mechanical data folded in), accumulated dose per plane, and AGD per breast."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from doseapp.models.base import FromReport, db


class XrayEvent(FromReport, db.Model):
    __tablename__ = "xray_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("study.id", ondelete="CASCADE"), index=True)
    irradiation_event_uid: Mapped[str | None] = mapped_column(String(128), index=True)
    date_time_started: Mapped[dt.datetime | None] = mapped_column(DateTime)
    # "Single Plane", "Plane A", "Plane B".
    acquisition_plane: Mapped[str | None] = mapped_column(String(32))
    # Fluoroscopy, Stationary Acquisition, Stepping Acquisition, Rotational Acquisition.
    event_type: Mapped[str | None] = mapped_column(String(64))
    acquisition_protocol: Mapped[str | None] = mapped_column(Text)
    anatomical_structure: Mapped[str | None] = mapped_column(Text)  # target region
    laterality: Mapped[str | None] = mapped_column(String(32))  # Left, Right, Both, Unpaired
    image_view: Mapped[str | None] = mapped_column(Text)
    image_view_modifier: Mapped[str | None] = mapped_column(Text)
    patient_orientation: Mapped[str | None] = mapped_column(Text)
    patient_orientation_modifier: Mapped[str | None] = mapped_column(Text)
    patient_table_relationship: Mapped[str | None] = mapped_column(Text)
    series_description: Mapped[str | None] = mapped_column(Text)
    comment: Mapped[str | None] = mapped_column(Text)

    # Dose
    dap_gym2: Mapped[float | None] = mapped_column(Float)
    dose_rp_gy: Mapped[float | None] = mapped_column(Float)
    reference_point_definition: Mapped[str | None] = mapped_column(Text)
    entrance_exposure_at_rp_mgy: Mapped[float | None] = mapped_column(Float)  # mammo ESD
    agd_mgy: Mapped[float | None] = mapped_column(Float)
    half_value_layer_mm: Mapped[float | None] = mapped_column(Float)
    percent_fibroglandular_tissue: Mapped[float | None] = mapped_column(Float)

    # Source data (TID 10003B). Means where a system sends per-pulse values (kept in per_pulse).
    fluoro_mode: Mapped[str | None] = mapped_column(String(64))
    pulse_rate_per_s: Mapped[float | None] = mapped_column(Float)
    number_of_pulses: Mapped[float | None] = mapped_column(Float)
    kvp: Mapped[float | None] = mapped_column(Float)
    tube_current_ma: Mapped[float | None] = mapped_column(Float)
    pulse_width_ms: Mapped[float | None] = mapped_column(Float)
    exposure_uas: Mapped[float | None] = mapped_column(Float)
    exposure_time_ms: Mapped[float | None] = mapped_column(Float)
    irradiation_duration_s: Mapped[float | None] = mapped_column(Float)
    # {"kvp": [...], "tube_current_ma": [...], "pulse_width_ms": [...], "exposure_uas": [...]}
    per_pulse: Mapped[dict | None] = mapped_column(JSON)
    focal_spot_size_mm: Mapped[float | None] = mapped_column(Float)
    anode_target_material: Mapped[str | None] = mapped_column(String(64))
    # [{"type": ..., "material": ..., "thickness_min_mm": ..., "thickness_max_mm": ...}]
    filters: Mapped[list | None] = mapped_column(JSON)
    grid: Mapped[str | None] = mapped_column(Text)
    exposure_control_mode: Mapped[str | None] = mapped_column(Text)
    collimated_field_area_m2: Mapped[float | None] = mapped_column(Float)
    collimated_field_height_mm: Mapped[float | None] = mapped_column(Float)
    collimated_field_width_mm: Mapped[float | None] = mapped_column(Float)
    ii_field_size_mm: Mapped[float | None] = mapped_column(Float)

    # Mechanical data (TID 10003C) and distances (CID 10008).
    positioner_primary_angle_deg: Mapped[float | None] = mapped_column(Float)
    positioner_secondary_angle_deg: Mapped[float | None] = mapped_column(Float)
    positioner_primary_end_angle_deg: Mapped[float | None] = mapped_column(Float)
    positioner_secondary_end_angle_deg: Mapped[float | None] = mapped_column(Float)
    column_angulation_deg: Mapped[float | None] = mapped_column(Float)
    table_head_tilt_angle_deg: Mapped[float | None] = mapped_column(Float)
    table_horizontal_rotation_angle_deg: Mapped[float | None] = mapped_column(Float)
    table_cradle_tilt_angle_deg: Mapped[float | None] = mapped_column(Float)
    table_longitudinal_position_mm: Mapped[float | None] = mapped_column(Float)
    table_lateral_position_mm: Mapped[float | None] = mapped_column(Float)
    table_height_position_mm: Mapped[float | None] = mapped_column(Float)
    compression_thickness_mm: Mapped[float | None] = mapped_column(Float)
    radiological_thickness_mm: Mapped[float | None] = mapped_column(Float)
    compression_force_n: Mapped[float | None] = mapped_column(Float)
    magnification_factor: Mapped[float | None] = mapped_column(Float)
    distance_source_to_isocenter_mm: Mapped[float | None] = mapped_column(Float)
    distance_source_to_detector_mm: Mapped[float | None] = mapped_column(Float)
    distance_source_to_reference_point_mm: Mapped[float | None] = mapped_column(Float)
    distance_source_to_patient_mm: Mapped[float | None] = mapped_column(Float)
    distance_source_to_table_plane_mm: Mapped[float | None] = mapped_column(Float)

    # Detector data (TID 10003A).
    exposure_index: Mapped[float | None] = mapped_column(Float)
    target_exposure_index: Mapped[float | None] = mapped_column(Float)
    deviation_index: Mapped[float | None] = mapped_column(Float)
    relative_xray_exposure: Mapped[float | None] = mapped_column(Float)
    # Standard name from the acquisition protocol (DX and MG events; doseapp.standards).
    standard_name_id: Mapped[int | None] = mapped_column(ForeignKey("standard_name.id"))

    study = relationship("Study", back_populates="xray_events")
    standard_name = relationship("StandardName", viewonly=True)

    __table_args__ = (
        # (protocol, study_id): the protocol filter reads matching studies from the index alone.
        Index("ix_xray_event_protocol", "acquisition_protocol", "study_id"),
        Index("ix_xray_event_standard_name", "standard_name_id", "study_id"),
        # Mammography filters (view, exposure control mode, compressed thickness) read study ids here.
        Index("ix_xray_event_view", "image_view", "study_id"),
        Index("ix_xray_event_ecm", "exposure_control_mode", "study_id"),
        Index("ix_xray_event_thickness", "compression_thickness_mm", "study_id"),
    )


class AccumulatedPlane(FromReport, db.Model):
    """Accumulated dose for one plane (TID 10002/10004/10007), as the system reported it."""
    __tablename__ = "accumulated_plane"

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("study.id", ondelete="CASCADE"), index=True)
    acquisition_plane: Mapped[str | None] = mapped_column(String(32))
    dap_total_gym2: Mapped[float | None] = mapped_column(Float)
    dose_rp_total_gy: Mapped[float | None] = mapped_column(Float)
    fluoro_dap_total_gym2: Mapped[float | None] = mapped_column(Float)
    fluoro_dose_rp_total_gy: Mapped[float | None] = mapped_column(Float)
    total_fluoro_time_s: Mapped[float | None] = mapped_column(Float)
    acquisition_dap_total_gym2: Mapped[float | None] = mapped_column(Float)
    acquisition_dose_rp_total_gy: Mapped[float | None] = mapped_column(Float)
    total_acquisition_time_s: Mapped[float | None] = mapped_column(Float)
    total_number_of_radiographic_frames: Mapped[int | None] = mapped_column(Integer)
    reference_point_definition: Mapped[str | None] = mapped_column(Text)
    calibration: Mapped[list | None] = mapped_column(JSON)

    study = relationship("Study", back_populates="planes")


class BreastDose(FromReport, db.Model):
    """Accumulated average glandular dose for one breast (TID 10005)."""
    __tablename__ = "breast_dose"

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("study.id", ondelete="CASCADE"), index=True)
    laterality: Mapped[str] = mapped_column(String(32))  # Left breast, Right breast, Both breasts
    agd_mgy: Mapped[float | None] = mapped_column(Float)

    study = relationship("Study", back_populates="breast_doses")
