"""One row per study: patient-study facts, privacy-controlled identifiers and the summary columns
that every list, filter, chart and export reads (computed at ingest, indexed)."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Boolean, Date, DateTime, Float, ForeignKey, Index, Integer, String, Text, Time, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from doseapp.models.base import db, utcnow

MODALITIES = ("CT", "RF", "DX", "MG", "NM")


# What the DRL comparison (doseapp.standards.comparison) reads of a study: modality and period, then
# the grouping, the patient group's age and weight, and the value of each DRL quantity of CT, RF, DX
# and MG. NM's two (nm_activity_mbq, nm_activity_per_kg_mbq, issue 20) are not in the covering index:
# the NM comparison reads its rows, as all comparisons did before 0013 (about 3 µs a row on SQLite,
# docs/performance.md), at NM volumes a few per cent of CT's; no index rebuild for every site.
DRL_COMPARISON_COLUMNS = ("modality", "study_datetime", "standard_name_id", "equipment_id", "patient_age_years",
                          "patient_weight_kg", "total_dlp_mgycm", "mean_ctdivol_mgy", "mean_ssde_mgy",
                          "total_dap_gym2", "total_dose_rp_gy", "agd_left_mgy", "agd_right_mgy")


class Study(db.Model):
    __tablename__ = "study"

    id: Mapped[int] = mapped_column(primary_key=True)
    study_instance_uid: Mapped[str] = mapped_column(String(128), index=True)
    # CT, RF, DX, MG or NM: which list the study appears on. A PET/CT or SPECT/CT exam is two rows of
    # one StudyInstanceUID, its CT part (modality CT) and its NM part (modality NM), shown together.
    modality: Mapped[str] = mapped_column(String(4))
    equipment_id: Mapped[int | None] = mapped_column(ForeignKey("equipment.id"), index=True)
    # What the dose data came from: rdsr, esr, mg_image, dx_image, philips_sc, toshiba, rrdsr, nm_image.
    source_kind: Mapped[str | None] = mapped_column(String(16))

    study_date: Mapped[dt.date | None] = mapped_column(Date)
    study_time: Mapped[dt.time | None] = mapped_column(Time)
    # study_date + study_time, for sorting and date filters in one index.
    study_datetime: Mapped[dt.datetime | None] = mapped_column(DateTime)
    study_id: Mapped[str | None] = mapped_column(Text)
    accession_number: Mapped[str | None] = mapped_column(String(128), index=True)
    accession_hashed: Mapped[bool] = mapped_column(Boolean, default=False)
    study_description: Mapped[str | None] = mapped_column(Text)
    procedure_code_value: Mapped[str | None] = mapped_column(Text)
    procedure_code_meaning: Mapped[str | None] = mapped_column(Text)
    requested_procedure_code_value: Mapped[str | None] = mapped_column(Text)
    requested_procedure_code_meaning: Mapped[str | None] = mapped_column(Text)
    referring_physician_name: Mapped[str | None] = mapped_column(Text)
    performing_physician_name: Mapped[str | None] = mapped_column(Text)
    reading_physician_name: Mapped[str | None] = mapped_column(Text)
    operator_name: Mapped[str | None] = mapped_column(Text)
    comment: Mapped[str | None] = mapped_column(Text)

    # Patient identifiers: stored, hashed (SHA-256 hex) or left None per SystemSettings.
    patient_name: Mapped[str | None] = mapped_column(Text)
    patient_name_hashed: Mapped[bool] = mapped_column(Boolean, default=False)
    patient_id: Mapped[str | None] = mapped_column(Text)
    patient_id_hashed: Mapped[bool] = mapped_column(Boolean, default=False)
    patient_birth_date: Mapped[dt.date | None] = mapped_column(Date)
    # Always recorded when present (not identifying on their own).
    patient_sex: Mapped[str | None] = mapped_column(String(16))
    patient_age: Mapped[str | None] = mapped_column(String(16))  # DICOM AS, e.g. "067Y"
    patient_age_years: Mapped[float | None] = mapped_column(Float)  # decimal age
    patient_height_m: Mapped[float | None] = mapped_column(Float)
    patient_weight_kg: Mapped[float | None] = mapped_column(Float)
    # The not-patient pattern(s) that matched name or ID at import; None = a patient.
    not_patient_indicator: Mapped[str | None] = mapped_column(Text)

    # --- summary columns (computed at ingest) ---
    number_of_events: Mapped[int] = mapped_column(Integer, default=0)
    # CT
    total_dlp_mgycm: Mapped[float | None] = mapped_column(Float)
    ct_sequenced_count: Mapped[int | None] = mapped_column(Integer)
    ct_spiral_count: Mapped[int | None] = mapped_column(Integer)
    ct_constant_angle_count: Mapped[int | None] = mapped_column(Integer)
    ct_stationary_count: Mapped[int | None] = mapped_column(Integer)
    ct_free_count: Mapped[int | None] = mapped_column(Integer)
    ct_cone_beam_count: Mapped[int | None] = mapped_column(Integer)
    # Projection X-ray: totals over planes, then plane A (single or frontal) and plane B (lateral).
    total_dap_gym2: Mapped[float | None] = mapped_column(Float)
    total_dose_rp_gy: Mapped[float | None] = mapped_column(Float)
    dap_a_gym2: Mapped[float | None] = mapped_column(Float)
    dap_b_gym2: Mapped[float | None] = mapped_column(Float)
    dose_rp_a_gy: Mapped[float | None] = mapped_column(Float)
    dose_rp_b_gy: Mapped[float | None] = mapped_column(Float)
    fluoro_dap_total_gym2: Mapped[float | None] = mapped_column(Float)
    fluoro_dose_rp_total_gy: Mapped[float | None] = mapped_column(Float)
    fluoro_time_total_s: Mapped[float | None] = mapped_column(Float)
    acquisition_dap_total_gym2: Mapped[float | None] = mapped_column(Float)
    acquisition_dose_rp_total_gy: Mapped[float | None] = mapped_column(Float)
    acquisition_time_total_s: Mapped[float | None] = mapped_column(Float)
    acquisition_count: Mapped[int | None] = mapped_column(Integer)
    fluoro_event_count: Mapped[int | None] = mapped_column(Integer)
    # Peak skin dose (Gy) of the study's skin dose map (doseapp.skin); None when there is no map.
    peak_skin_dose_gy: Mapped[float | None] = mapped_column(Float, index=True)
    # Mammography: accumulated average glandular dose per breast.
    agd_left_mgy: Mapped[float | None] = mapped_column(Float)
    agd_right_mgy: Mapped[float | None] = mapped_column(Float)
    agd_both_mgy: Mapped[float | None] = mapped_column(Float)
    # Standard name (doseapp.standards): from the study's description, requested procedure or
    # procedure, else from its events' acquisition protocols; None when no rule matches.
    standard_name_id: Mapped[int | None] = mapped_column(ForeignKey("standard_name.id"))
    # The study's highest quantity / applicable DRL (doseapp.standards); None when no DRL applies.
    drl_ratio: Mapped[float | None] = mapped_column(Float)
    # CT: mean CTDIvol and mean SSDE over the study's scans (spiral, sequenced, cone beam: not the
    # localizers or bolus-tracking), how the SSDE was had, and the summed effective dose estimate.
    mean_ctdivol_mgy: Mapped[float | None] = mapped_column(Float)
    mean_ssde_mgy: Mapped[float | None] = mapped_column(Float)
    ssde_method: Mapped[str | None] = mapped_column(Text)
    effective_dose_msv: Mapped[float | None] = mapped_column(Float)
    # NM: administered activity (MBq) summed over the administrations, the radiopharmaceutical(s) and
    # radionuclide(s) (comma-joined when several), the stated effective dose summed, and the
    # activity per kg of the patient's weight.
    nm_activity_mbq: Mapped[float | None] = mapped_column(Float)
    nm_radiopharmaceutical: Mapped[str | None] = mapped_column(Text)
    nm_radionuclide: Mapped[str | None] = mapped_column(Text)
    nm_effective_dose_msv: Mapped[float | None] = mapped_column(Float)
    nm_activity_per_kg_mbq: Mapped[float | None] = mapped_column(Float)

    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    equipment = relationship("Equipment", lazy="joined")
    # Read-only: standard_name_id is what doseapp.standards.names writes.
    standard_name = relationship("StandardName", viewonly=True)
    # Events in the order they were made (a report may list them otherwise), then as stored; events
    # with no time last, on SQLite as on PostgreSQL (which disagree on where NULL sorts).
    ct_events = relationship("CtEvent", back_populates="study", cascade="all, delete-orphan", passive_deletes=True,
                             order_by="[CtEvent.date_time_started.is_(None), CtEvent.date_time_started, CtEvent.id]")
    xray_events = relationship("XrayEvent", back_populates="study", cascade="all, delete-orphan", passive_deletes=True,
                               order_by="[XrayEvent.date_time_started.is_(None), XrayEvent.date_time_started, "
                                        "XrayEvent.id]")
    planes = relationship("AccumulatedPlane", back_populates="study", cascade="all, delete-orphan",
                          passive_deletes=True, order_by="AccumulatedPlane.id")
    breast_doses = relationship("BreastDose", back_populates="study", cascade="all, delete-orphan",
                                passive_deletes=True)
    nm_administrations = relationship("NmAdministration", back_populates="study", cascade="all, delete-orphan",
                                      passive_deletes=True,
                                      order_by="[NmAdministration.start_datetime.is_(None), "
                                               "NmAdministration.start_datetime, NmAdministration.id]")
    nm_series = relationship("NmSeries", back_populates="study", cascade="all, delete-orphan", passive_deletes=True,
                             order_by="[NmSeries.series_datetime.is_(None), NmSeries.series_datetime, NmSeries.id]")
    # Never deleted by the ORM: a study's events point at its objects (FromReport), and deleting the
    # objects first, by themselves, would leave them pointing at nothing. The database deletes both.
    objects = relationship("ProcessedObject", back_populates="study", cascade="save-update, merge",
                           passive_deletes="all",
                           order_by=lambda: (ProcessedObject.imported_at, ProcessedObject.id))

    __table_args__ = (
        # The default list: one modality, newest first; date filters use the same index.
        Index("ix_study_modality_datetime", "modality", "study_datetime"),
        Index("ix_study_equipment_datetime", "equipment_id", "study_datetime"),
        # The home page's per-system counts: one GROUP BY read from this index alone.
        Index("ix_study_modality_equipment_datetime", "modality", "equipment_id", "study_datetime"),
        Index("ix_study_modality_age", "modality", "patient_age_years"),
        # Text filters read the distinct values from these (see doseapp/filters.py, loose index scan).
        Index("ix_study_modality_description", "modality", "study_description"),
        Index("ix_study_modality_procedure", "modality", "procedure_code_meaning"),
        Index("ix_study_modality_requested", "modality", "requested_procedure_code_meaning"),
        Index("ix_study_modality_weight", "modality", "patient_weight_kg"),
        # Identifier searches scan these (contains cannot seek) instead of the whole, wide table.
        Index("ix_study_modality_accession", "modality", "accession_number", "accession_hashed"),
        Index("ix_study_modality_patient_name", "modality", "patient_name", "patient_name_hashed"),
        Index("ix_study_modality_patient_id", "modality", "patient_id", "patient_id_hashed"),
        Index("ix_study_modality_dlp", "modality", "total_dlp_mgycm"),
        Index("ix_study_modality_dap", "modality", "total_dap_gym2"),
        Index("ix_study_modality_dose_rp", "modality", "total_dose_rp_gy"),
        Index("ix_study_modality_agd", "modality", "agd_both_mgy"),
        Index("ix_study_modality_psd", "modality", "peak_skin_dose_gy"),
        Index("ix_study_modality_events", "modality", "number_of_events"),
        Index("ix_study_modality_nm_activity", "modality", "nm_activity_mbq"),
        Index("ix_study_modality_nm_radiopharmaceutical", "modality", "nm_radiopharmaceutical"),
        Index("ix_study_modality_nm_radionuclide", "modality", "nm_radionuclide"),
        Index("ix_study_not_patient", "modality", "not_patient_indicator"),
        # DRL comparison: one modality's studies grouped by standard name and system over a period.
        Index("ix_study_modality_standard_name", "modality", "standard_name_id", "equipment_id", "study_datetime"),
        # ... and the comparison itself reads everything it needs from this one (a covering index: every
        # quantity's column, the age and weight of the patient groups), never the wide rows (migration 0013).
        Index("ix_study_drl_comparison", *DRL_COMPARISON_COLUMNS),
        Index("ix_study_modality_drl_ratio", "modality", "drl_ratio"),
        Index("ix_study_modality_ssde", "modality", "mean_ssde_mgy"),
        Index("ix_study_patient_id", "patient_id"),
        Index("ix_study_patient_name", "patient_name"),
    )


# Newest-first / highest-first list orderings on PostgreSQL. Lists put empty values last both ways;
# PostgreSQL sorts NULL as the largest value, so `DESC NULLS LAST` cannot be read from the ascending
# indexes above and would sort every study of the modality (SQLite sorts NULL as the smallest, so
# its DESC order is already NULLS LAST and the ascending index read backwards serves it). SQLite
# cannot declare NULLS LAST in an index, hence PostgreSQL only (see doseapp.database.schema_objects).
DESCENDING_SORTS = {"datetime": "study_datetime", "dlp": "total_dlp_mgycm", "dap": "total_dap_gym2",
                    "dose_rp": "total_dose_rp_gy", "agd": "agd_both_mgy", "events": "number_of_events",
                    "age": "patient_age_years", "psd": "peak_skin_dose_gy", "activity": "nm_activity_mbq"}
for _name, _column in DESCENDING_SORTS.items():
    Index(f"ix_study_modality_{_name}_desc_pg", Study.modality, getattr(Study, _column).desc().nulls_last(),
          Study.id.desc()).ddl_if(dialect="postgresql")

# Identifier search is "contains" (OpenREM's rule), which no B-tree can seek. On PostgreSQL a trigram
# index answers `ILIKE '%term%'` for terms of three or more characters in about a millisecond at
# 500,000 studies, where scanning the modality's identifiers took 150-400 ms. Needs the pg_trgm
# extension; the migration creates it when the database user may (see 0003).
TRIGRAM_SEARCHED = ("accession_number", "patient_name", "patient_id")
for _column in TRIGRAM_SEARCHED:
    Index(f"ix_study_{_column}_trgm_pg", getattr(Study, _column), postgresql_using="gin",
          postgresql_ops={_column: "gin_trgm_ops"}).ddl_if(dialect="postgresql")


class ProcessedObject(db.Model):
    """SOP Instance UIDs already imported into a study: the first test for duplicates, and each
    report's provenance (its rows point here, see models.base.FromReport)."""
    __tablename__ = "processed_object"

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("study.id", ondelete="CASCADE"))
    sop_instance_uid: Mapped[str] = mapped_column(String(128), index=True)
    sop_class_uid: Mapped[str | None] = mapped_column(String(128))
    imported_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # The report's own totals as it sent them (a study may hold several reports' events): its
    # irradiation events, and for CT its accumulated DLP. None for objects recorded before these were.
    event_count: Mapped[int | None] = mapped_column(Integer)
    total_dlp_mgycm: Mapped[float | None] = mapped_column(Float)

    study = relationship("Study", back_populates="objects")
    __table_args__ = (UniqueConstraint("study_id", "sop_instance_uid"),)


class QuarantinedObject(db.Model):
    """An object we could not import, kept on disk with its reason until retried or removed."""
    __tablename__ = "quarantined_object"

    id: Mapped[int] = mapped_column(primary_key=True)
    path: Mapped[str] = mapped_column(Text)
    original_name: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    detail: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str | None] = mapped_column(String(64))  # "cli", "scp:<AE>", "qr:<node>"
    calling_ae: Mapped[str | None] = mapped_column(String(16))  # the sender's AE title, for received objects
    # The same bytes are quarantined once: a folder imported again, or an object sent again, finds this row.
    content_sha256: Mapped[str | None] = mapped_column(String(64), unique=True, index=True)
    sop_instance_uid: Mapped[str | None] = mapped_column(String(128), index=True)
    sop_class_uid: Mapped[str | None] = mapped_column(String(128))
    study_instance_uid: Mapped[str | None] = mapped_column(String(128))
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    retry_count: Mapped[int] = mapped_column(Integer, default=0)
    extra: Mapped[dict | None] = mapped_column(JSON)
