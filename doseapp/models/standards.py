"""Standard names (site vocabulary for examinations and acquisitions) and local diagnostic
reference levels. National DRL sets are shipped as data files (doseapp.standards.data), not rows."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import Float, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from doseapp.models.base import db, utcnow

# The values a rule may match: three study-level fields, the acquisition protocol of CT, DX and MG
# events, and the radiopharmaceutical of NM studies (doseapp.standards.names.fields_for).
RULE_FIELDS = ("study_description", "requested_procedure", "procedure", "acquisition_protocol", "radiopharmaceutical")
RULE_MATCHES = ("exact", "pattern")
# The quantities a reference level may be set for, in stored units (see README "Units").
DRL_QUANTITIES = ("ctdivol", "dlp", "ssde", "dap", "dose_rp", "agd", "activity", "activity_per_kg")


class StandardName(db.Model):
    """A name a site gives one kind of examination (or acquisition) of one modality, e.g. "CT Head"."""
    __tablename__ = "standard_name"

    id: Mapped[int] = mapped_column(primary_key=True)
    modality: Mapped[str] = mapped_column(String(4))
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    rules = relationship("StandardNameRule", back_populates="standard_name", cascade="all, delete-orphan",
                         passive_deletes=True, order_by="StandardNameRule.id")
    __table_args__ = (UniqueConstraint("modality", "name"),)


class StandardNameRule(db.Model):
    """One value (exact, or a case-insensitive wildcard pattern) of one field mapped to a standard name."""
    __tablename__ = "standard_name_rule"

    id: Mapped[int] = mapped_column(primary_key=True)
    standard_name_id: Mapped[int] = mapped_column(ForeignKey("standard_name.id", ondelete="CASCADE"), index=True)
    field: Mapped[str] = mapped_column(String(32))   # one of RULE_FIELDS
    match: Mapped[str] = mapped_column(String(8))    # "exact" or "pattern"
    value: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    standard_name = relationship("StandardName", back_populates="rules")
    __table_args__ = (UniqueConstraint("standard_name_id", "field", "match", "value"),)


class ReferenceLevel(db.Model):
    """A local diagnostic reference level: a standard name's quantity for a patient group (adults when
    no band is given; an age band [min, max) in years or a weight band [min, max) in kg), for every
    system or one. Values in stored units: CTDIvol/SSDE mGy, DLP mGy·cm, DAP Gy·m², dose at RP Gy,
    AGD mGy, administered activity MBq, activity per kg MBq/kg."""
    __tablename__ = "reference_level"

    id: Mapped[int] = mapped_column(primary_key=True)
    standard_name_id: Mapped[int] = mapped_column(ForeignKey("standard_name.id", ondelete="CASCADE"), index=True)
    quantity: Mapped[str] = mapped_column(String(16))  # one of DRL_QUANTITIES
    value: Mapped[float] = mapped_column(Float)
    age_min_years: Mapped[float | None] = mapped_column(Float)
    age_max_years: Mapped[float | None] = mapped_column(Float)
    weight_min_kg: Mapped[float | None] = mapped_column(Float)
    weight_max_kg: Mapped[float | None] = mapped_column(Float)
    equipment_id: Mapped[int | None] = mapped_column(ForeignKey("equipment.id", ondelete="CASCADE"))
    source: Mapped[str | None] = mapped_column(Text)  # e.g. "local audit 2026"
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    standard_name = relationship("StandardName")
    __table_args__ = (Index("ix_reference_level_name_quantity", "standard_name_id", "quantity"),)
