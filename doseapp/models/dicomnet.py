"""DICOM networking: our Store SCP nodes, remote nodes, queries and the transaction log."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import (JSON, BigInteger, Boolean, DateTime, Float, ForeignKey, Index, Integer, String, Text, collate,
                        func)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from doseapp.models.base import db, utcnow


# Storage layouts and file names for kept objects (DRAW's settings).
STORAGE_STRUCTURES = ("flat", "patient", "study", "series", "date")
FILE_NAMINGS = ("sop_uid", "instance_number", "timestamp", "sequential")


class DicomStoreScp(db.Model):
    """A Store SCP that doseapp runs: the supervisor keeps a process for each enabled node whose
    desired state is "running". Settings follow DRAW's DICOM server module."""
    __tablename__ = "dicom_store_scp"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    aetitle: Mapped[str] = mapped_column(String(16))
    port: Mapped[int] = mapped_column(Integer)
    bind_address: Mapped[str] = mapped_column(String(64), default="0.0.0.0")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # Start at supervisor start-up; Start/Stop buttons set desired_state ("running" / "stopped").
    auto_start: Mapped[bool] = mapped_column(Boolean, default=True)
    desired_state: Mapped[str] = mapped_column(String(16), default="running")
    # Network (seconds; max PDU in bytes, 0 = unlimited).
    max_associations: Mapped[int] = mapped_column(Integer, default=10)
    acse_timeout: Mapped[int] = mapped_column(Integer, default=30)
    dimse_timeout: Mapped[int] = mapped_column(Integer, default=30)
    network_timeout: Mapped[int] = mapped_column(Integer, default=60)
    max_pdu: Mapped[int] = mapped_column(Integer, default=16384)
    # Guards against connections that hold a place without sending: seconds a new connection has to
    # send its association request, and connections one address may hold open at once.
    request_timeout: Mapped[int] = mapped_column(Integer, default=10)
    connections_per_address: Mapped[int] = mapped_column(Integer, default=8)
    # Objects larger than this are refused (Out of Resources); None = no limit but the storage limit.
    max_object_mb: Mapped[int | None] = mapped_column(Integer)
    # Lists of UIDs; None = the defaults (every storage class; uncompressed and common compressed).
    sop_classes: Mapped[list | None] = mapped_column(JSON)
    transfer_syntaxes: Mapped[list | None] = mapped_column(JSON)
    # Security: calling AE validation against DicomAllowedAe; addresses one per line (empty = all).
    require_calling_ae: Mapped[bool] = mapped_column(Boolean, default=False)
    allowed_addresses: Mapped[str | None] = mapped_column(Text)
    # Storage of kept objects under <instance>/objects/<AE title>/.
    storage_structure: Mapped[str] = mapped_column(String(16), default="date")
    file_naming: Mapped[str] = mapped_column(String(16), default="sop_uid")
    storage_limit_mb: Mapped[int | None] = mapped_column(Integer)  # None = no limit but the disk
    cleanup_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    retention_days: Mapped[int] = mapped_column(Integer, default=30)
    # Cleanup "when full" (DRAW): once kept objects fill this percentage of the storage limit (or of
    # the disk, with no limit), the oldest are deleted until they are under it again.
    cleanup_when_full: Mapped[bool] = mapped_column(Boolean, default=False)
    cleanup_full_percent: Mapped[int] = mapped_column(Integer, default=90)
    # The DIMSE services the node offers besides C-ECHO and C-STORE (DRAW Step 8): query/retrieve
    # over the objects it keeps. A service switched off is not offered at association.
    find_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    move_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    get_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # Written by the supervisor (status, pid, keep-alive) and the node process (heartbeat).
    status: Mapped[str | None] = mapped_column(String(32))
    status_message: Mapped[str | None] = mapped_column(Text)
    pid: Mapped[int | None] = mapped_column(Integer)
    last_seen: Mapped[dt.datetime | None] = mapped_column(DateTime)
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    echo_status: Mapped[str | None] = mapped_column(String(32))  # alive | not responding
    last_echo_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[dt.datetime | None] = mapped_column(DateTime)  # past once an echo succeeds later
    active_associations: Mapped[int] = mapped_column(Integer, default=0)
    storage_used_bytes: Mapped[int | None] = mapped_column(BigInteger)

    allowed_aes = relationship("DicomAllowedAe", back_populates="scp", cascade="all, delete-orphan",
                               passive_deletes=True, order_by="DicomAllowedAe.aetitle")


class DicomAllowedAe(db.Model):
    """A calling AE title allowed to send to a node that requires calling-AE validation."""
    __tablename__ = "dicom_allowed_ae"

    id: Mapped[int] = mapped_column(primary_key=True)
    scp_id: Mapped[int] = mapped_column(ForeignKey("dicom_store_scp.id", ondelete="CASCADE"), index=True)
    aetitle: Mapped[str] = mapped_column(String(16))
    description: Mapped[str | None] = mapped_column(Text)
    expected_ip: Mapped[str | None] = mapped_column(String(64))  # if set, the AE must call from here
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    scp = relationship("DicomStoreScp", back_populates="allowed_aes")


class DicomPendingObject(db.Model):
    """An object on disk in the spool, acknowledged to the sender, whose import job could not be
    queued (Redis down). The supervisor's sweeper queues it later and deletes the row."""
    __tablename__ = "dicom_pending_object"

    id: Mapped[int] = mapped_column(primary_key=True)
    scp_id: Mapped[int | None] = mapped_column(ForeignKey("dicom_store_scp.id", ondelete="SET NULL"))
    path: Mapped[str] = mapped_column(Text)
    parameters: Mapped[dict] = mapped_column(JSON)
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)


class DicomRemoteNode(db.Model):
    """A remote DICOM node we query (C-FIND) and retrieve from (C-MOVE / C-GET)."""
    __tablename__ = "dicom_remote_node"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    aetitle: Mapped[str] = mapped_column(String(16))
    port: Mapped[int] = mapped_column(Integer)
    ip: Mapped[str | None] = mapped_column(String(64))
    hostname: Mapped[str | None] = mapped_column(String(255))
    calling_aetitle: Mapped[str | None] = mapped_column(String(16))
    use_modality_tag: Mapped[bool] = mapped_column(Boolean, default=False)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # What the remote offers: C-MOVE to one of our Store nodes, and/or C-GET on our own association.
    supports_move: Mapped[bool] = mapped_column(Boolean, default=True)
    supports_get: Mapped[bool] = mapped_column(Boolean, default=True)
    supports_find: Mapped[bool] = mapped_column(Boolean, default=True)
    # The C-FIND information model to query it with: "study" (Study Root) or "patient" (Patient Root).
    query_model: Mapped[str] = mapped_column(String(16), default="study")
    max_pdu: Mapped[int] = mapped_column(Integer, default=16384)  # bytes; 0 = unlimited
    # Seconds. A C-MOVE waits on the remote between sub-operations, hence the longer DIMSE timeout.
    acse_timeout: Mapped[int] = mapped_column(Integer, default=30)
    dimse_timeout: Mapped[int] = mapped_column(Integer, default=120)
    network_timeout: Mapped[int] = mapped_column(Integer, default=120)
    echo_status: Mapped[str | None] = mapped_column(String(32))  # alive | not responding
    last_echo_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class DicomQuery(db.Model):
    """One query-retrieve run: its parameters, stage and outcome."""
    __tablename__ = "dicom_query"

    id: Mapped[int] = mapped_column(primary_key=True)
    remote_node_id: Mapped[int | None] = mapped_column(ForeignKey("dicom_remote_node.id", ondelete="SET NULL"))
    store_scp_id: Mapped[int | None] = mapped_column(ForeignKey("dicom_store_scp.id", ondelete="SET NULL"))
    job_id: Mapped[int | None] = mapped_column(ForeignKey("job.id", ondelete="SET NULL"))
    parameters: Mapped[dict | None] = mapped_column(JSON)
    stage: Mapped[str | None] = mapped_column(Text)
    message: Mapped[str | None] = mapped_column(Text)
    complete: Mapped[bool] = mapped_column(Boolean, default=False)
    failed: Mapped[bool] = mapped_column(Boolean, default=False)
    move_complete: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    # Studies kept per modality after filtering ({"CT": 2, ...}), shown before Retrieve.
    summary: Mapped[dict | None] = mapped_column(JSON)
    # The retrieve: its job, method (move | get) and counts of objects asked for, received and failed.
    retrieve_job_id: Mapped[int | None] = mapped_column(ForeignKey("job.id", ondelete="SET NULL"))
    retrieve_method: Mapped[str | None] = mapped_column(String(8))
    objects_requested: Mapped[int | None] = mapped_column(Integer)
    objects_received: Mapped[int] = mapped_column(Integer, default=0)
    objects_failed: Mapped[int] = mapped_column(Integer, default=0)
    # Set when a scheduled query ran this one: its history.
    scheduled_query_id: Mapped[int | None] = mapped_column(
        ForeignKey("dicom_scheduled_query.id", ondelete="SET NULL"), index=True)

    studies = relationship("DicomQueryStudy", back_populates="query", cascade="all, delete-orphan",
                           passive_deletes=True)


class DicomQueryStudy(db.Model):
    __tablename__ = "dicom_query_study"

    id: Mapped[int] = mapped_column(primary_key=True)
    query_id: Mapped[int] = mapped_column(ForeignKey("dicom_query.id", ondelete="CASCADE"), index=True)
    study_instance_uid: Mapped[str | None] = mapped_column(String(128))
    study_date: Mapped[str | None] = mapped_column(String(16))
    study_time: Mapped[str | None] = mapped_column(String(32))
    modality: Mapped[str | None] = mapped_column(String(16))  # the modality queried for when found
    modalities_in_study: Mapped[str | None] = mapped_column(Text)
    # False when the remote did not return ModalitiesInStudy and it was rebuilt from the series.
    modalities_returned: Mapped[bool] = mapped_column(Boolean, default=True)
    study_description: Mapped[str | None] = mapped_column(Text)
    accession_number: Mapped[str | None] = mapped_column(String(128))
    number_of_series: Mapped[int | None] = mapped_column(Integer)
    sop_classes_in_study: Mapped[str | None] = mapped_column(Text)
    station_name: Mapped[str | None] = mapped_column(Text)
    # Why the filtering logic dropped it, or None if kept.
    excluded_reason: Mapped[str | None] = mapped_column(Text)

    query = relationship("DicomQuery", back_populates="studies")
    series = relationship("DicomQuerySeries", back_populates="study", cascade="all, delete-orphan",
                          passive_deletes=True)


class DicomQuerySeries(db.Model):
    __tablename__ = "dicom_query_series"

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("dicom_query_study.id", ondelete="CASCADE"), index=True)
    series_instance_uid: Mapped[str | None] = mapped_column(String(128))
    series_number: Mapped[int | None] = mapped_column(Integer)
    series_time: Mapped[str | None] = mapped_column(String(32))
    modality: Mapped[str | None] = mapped_column(String(16))
    series_description: Mapped[str | None] = mapped_column(Text)
    number_of_instances: Mapped[int | None] = mapped_column(Integer)
    station_name: Mapped[str | None] = mapped_column(Text)
    sop_class_uid: Mapped[str | None] = mapped_column(String(128))
    image_level_move: Mapped[bool] = mapped_column(Boolean, default=False)
    excluded_reason: Mapped[str | None] = mapped_column(Text)

    study = relationship("DicomQueryStudy", back_populates="series")
    images = relationship("DicomQueryImage", back_populates="series", cascade="all, delete-orphan",
                          passive_deletes=True)


class DicomQueryImage(db.Model):
    __tablename__ = "dicom_query_image"

    id: Mapped[int] = mapped_column(primary_key=True)
    series_id: Mapped[int] = mapped_column(ForeignKey("dicom_query_series.id", ondelete="CASCADE"), index=True)
    sop_instance_uid: Mapped[str | None] = mapped_column(String(128))
    instance_number: Mapped[int | None] = mapped_column(Integer)
    sop_class_uid: Mapped[str | None] = mapped_column(String(128))
    excluded_reason: Mapped[str | None] = mapped_column(Text)

    series = relationship("DicomQuerySeries", back_populates="images")


class DicomScheduledQuery(db.Model):
    """A saved query that the scheduler runs every `interval_minutes` for the last `days_back` days
    (0 = today only), retrieving what it selects; its runs are DicomQuery rows pointing here."""
    __tablename__ = "dicom_scheduled_query"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    remote_node_id: Mapped[int] = mapped_column(ForeignKey("dicom_remote_node.id", ondelete="CASCADE"))
    store_scp_id: Mapped[int | None] = mapped_column(ForeignKey("dicom_store_scp.id", ondelete="SET NULL"))
    # The query options, as the query page and `doseapp qr` take them (see dicomnet/qr_options.py).
    parameters: Mapped[dict] = mapped_column(JSON)
    interval_minutes: Mapped[int] = mapped_column(Integer, default=60)
    days_back: Mapped[int] = mapped_column(Integer, default=1)
    retrieve: Mapped[bool] = mapped_column(Boolean, default=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    last_run_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    next_run_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    runs = relationship("DicomQuery", order_by="DicomQuery.id.desc()", viewonly=True)


class DicomTransaction(db.Model):
    """The DICOM transaction log: every association and DIMSE operation, in and out."""
    __tablename__ = "dicom_transaction"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    direction: Mapped[str] = mapped_column(String(8))  # "in" or "out"
    operation: Mapped[str] = mapped_column(String(16))  # ASSOCIATE, C-ECHO, C-STORE, C-FIND, C-MOVE, C-GET
    scp_id: Mapped[int | None] = mapped_column(ForeignKey("dicom_store_scp.id", ondelete="SET NULL"))
    remote_node_id: Mapped[int | None] = mapped_column(ForeignKey("dicom_remote_node.id", ondelete="SET NULL"))
    calling_aetitle: Mapped[str | None] = mapped_column(String(16))
    called_aetitle: Mapped[str | None] = mapped_column(String(16))
    peer_address: Mapped[str | None] = mapped_column(String(64))
    peer_port: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str | None] = mapped_column(String(32))
    sop_class_uid: Mapped[str | None] = mapped_column(String(128))
    sop_instance_uid: Mapped[str | None] = mapped_column(String(128))
    study_instance_uid: Mapped[str | None] = mapped_column(String(128))
    message: Mapped[str | None] = mapped_column(Text)
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    duration_ms: Mapped[float | None] = mapped_column(Float)
    error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_dicom_transaction_at", "at"),
                      Index("ix_dicom_transaction_scp_op_at", "scp_id", "operation", "at"))


class DicomStoredStudy(db.Model):
    """The index of objects our Store SCP nodes keep (received or retrieved, and not deleted by the
    keep/delete policy): one row per study, what our own C-FIND / C-MOVE / C-GET SCP answers from.
    Identifiers are held as the privacy settings store them (in clear, as the keyed hash, or not at
    all), never more. Dates are DICOM DA strings (YYYYMMDD), so ranges compare as text."""
    __tablename__ = "dicom_stored_study"

    id: Mapped[int] = mapped_column(primary_key=True)
    study_instance_uid: Mapped[str] = mapped_column(String(64), unique=True)
    patient_id: Mapped[str | None] = mapped_column(String(128), index=True)
    patient_name: Mapped[str | None] = mapped_column(String(256))
    patient_birth_date: Mapped[str | None] = mapped_column(String(8))
    patient_sex: Mapped[str | None] = mapped_column(String(16))
    study_date: Mapped[str | None] = mapped_column(String(8), index=True)
    study_time: Mapped[str | None] = mapped_column(String(16))
    accession_number: Mapped[str | None] = mapped_column(String(128), index=True)
    study_id: Mapped[str | None] = mapped_column(String(16))
    study_description: Mapped[str | None] = mapped_column(String(256))
    referring_physician: Mapped[str | None] = mapped_column(String(256))
    modalities: Mapped[str | None] = mapped_column(String(128))  # backslash-separated, sorted
    series_count: Mapped[int] = mapped_column(Integer, default=0)
    instance_count: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


# C-FIND's patient name matching is case-insensitive (find_scp._text_match): a name prefix (`KALO*`)
# is a range of this index on each database (migration 0015). PostgreSQL: lower(patient_name) LIKE
# 'kalo%' needs text_pattern_ops to use a B-tree whatever the database's collation. SQLite cannot use
# an index for lower(x) LIKE; its LIKE already ignores ASCII case, and uses an index on the column
# COLLATE NOCASE for `patient_name LIKE 'KALO%'`.
Index("ix_dicom_stored_study_patient_name_lower_pg", func.lower(DicomStoredStudy.patient_name),
      postgresql_ops={"lower_1": "text_pattern_ops"}).ddl_if(dialect="postgresql")
Index("ix_dicom_stored_study_patient_name_nocase_sqlite",
      collate(DicomStoredStudy.patient_name, "NOCASE")).ddl_if(dialect="sqlite")


class DicomStoredSeries(db.Model):
    """A series in the index of kept objects (see DicomStoredStudy)."""
    __tablename__ = "dicom_stored_series"

    id: Mapped[int] = mapped_column(primary_key=True)
    study_pk: Mapped[int] = mapped_column(ForeignKey("dicom_stored_study.id", ondelete="CASCADE"), index=True)
    series_instance_uid: Mapped[str] = mapped_column(String(64), unique=True)
    modality: Mapped[str | None] = mapped_column(String(16))
    series_number: Mapped[int | None] = mapped_column(Integer)
    series_description: Mapped[str | None] = mapped_column(String(256))
    series_date: Mapped[str | None] = mapped_column(String(8))
    series_time: Mapped[str | None] = mapped_column(String(16))
    instance_count: Mapped[int] = mapped_column(Integer, default=0)


class DicomStoredInstance(db.Model):
    """One kept object file in the index (see DicomStoredStudy): where it is and what it is."""
    __tablename__ = "dicom_stored_instance"

    id: Mapped[int] = mapped_column(primary_key=True)
    series_pk: Mapped[int] = mapped_column(ForeignKey("dicom_stored_series.id", ondelete="CASCADE"), index=True)
    sop_instance_uid: Mapped[str] = mapped_column(String(64), unique=True)
    sop_class_uid: Mapped[str] = mapped_column(String(64))
    transfer_syntax_uid: Mapped[str | None] = mapped_column(String(64))
    instance_number: Mapped[int | None] = mapped_column(Integer)
    content_date: Mapped[str | None] = mapped_column(String(8))
    content_time: Mapped[str | None] = mapped_column(String(16))
    path: Mapped[str] = mapped_column(Text)
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    node_aetitle: Mapped[str | None] = mapped_column(String(16))
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
