"""DICOM networking: our Store SCP nodes, remote nodes, queries and the transaction log."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from doseapp.models.base import db, utcnow


class DicomStoreScp(db.Model):
    """A Store SCP that doseapp runs (the supervisor keeps enabled nodes alive)."""
    __tablename__ = "dicom_store_scp"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    aetitle: Mapped[str] = mapped_column(String(16))
    port: Mapped[int] = mapped_column(Integer)
    bind_address: Mapped[str] = mapped_column(String(64), default="0.0.0.0")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # Empty = accept any calling AE title / address (one per line otherwise).
    allowed_aetitles: Mapped[str | None] = mapped_column(Text)
    allowed_addresses: Mapped[str | None] = mapped_column(Text)
    # Written by the supervisor.
    status: Mapped[str | None] = mapped_column(String(32))
    status_message: Mapped[str | None] = mapped_column(Text)
    pid: Mapped[int | None] = mapped_column(Integer)
    last_seen: Mapped[dt.datetime | None] = mapped_column(DateTime)


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

    studies = relationship("DicomQueryStudy", back_populates="query", cascade="all, delete-orphan",
                           passive_deletes=True)


class DicomQueryStudy(db.Model):
    __tablename__ = "dicom_query_study"

    id: Mapped[int] = mapped_column(primary_key=True)
    query_id: Mapped[int] = mapped_column(ForeignKey("dicom_query.id", ondelete="CASCADE"), index=True)
    study_instance_uid: Mapped[str | None] = mapped_column(String(128))
    study_date: Mapped[str | None] = mapped_column(String(16))
    modality: Mapped[str | None] = mapped_column(String(16))
    modalities_in_study: Mapped[str | None] = mapped_column(Text)
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

    series = relationship("DicomQuerySeries", back_populates="images")


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

    __table_args__ = (Index("ix_dicom_transaction_at", "at"),)
