"""System-wide settings (one row) and the not-patient indicator patterns."""
from __future__ import annotations

from sqlalchemy import JSON, Boolean, Float, Integer, String, Text, UniqueConstraint
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from doseapp.models.base import db


class SystemSettings(db.Model):
    """The single settings row (id 1). Defaults are OpenREM's: keep every object, store no identifiers."""
    __tablename__ = "system_settings"

    id: Mapped[int] = mapped_column(primary_key=True)
    # DICOM object delete policy (seed §3.1): after processing, delete ...
    del_no_match: Mapped[bool] = mapped_column(Boolean, default=False)
    del_rdsr: Mapped[bool] = mapped_column(Boolean, default=False)
    del_mg_im: Mapped[bool] = mapped_column(Boolean, default=False)
    del_dx_im: Mapped[bool] = mapped_column(Boolean, default=False)
    del_ct_phil: Mapped[bool] = mapped_column(Boolean, default=False)
    del_nm_im: Mapped[bool] = mapped_column(Boolean, default=False)  # NM and PET images
    # Patient identifiable data (seed §3.4): store? and if stored, keyed hash?
    name_stored: Mapped[bool] = mapped_column(Boolean, default=False)
    name_hashed: Mapped[bool] = mapped_column(Boolean, default=True)
    id_stored: Mapped[bool] = mapped_column(Boolean, default=False)
    id_hashed: Mapped[bool] = mapped_column(Boolean, default=True)
    accession_hashed: Mapped[bool] = mapped_column(Boolean, default=False)
    dob_stored: Mapped[bool] = mapped_column(Boolean, default=False)
    # Skin dose maps (seed §7.2).
    enable_skin_dose_maps: Mapped[bool] = mapped_column(Boolean, default=True)
    calc_skin_dose_on_import: Mapped[bool] = mapped_column(Boolean, default=True)
    # Diagnostic reference levels (doseapp.standards): the national sets in use (None: all shipped),
    # the fewest studies a median is compared on, the factor over the DRL that marks one study, and
    # the default comparison period in days.
    drl_sets: Mapped[list | None] = mapped_column(JSON)
    drl_min_sample: Mapped[int] = mapped_column(Integer, default=10)
    drl_flag_factor: Mapped[float] = mapped_column(Float, default=1.5)
    drl_period_days: Mapped[int] = mapped_column(Integer, default=365)
    # Outgoing e-mail for alerts: the SMTP server, its security (none, starttls, tls), credentials
    # and the sender address; and the hour (server local time) the daily digest goes out.
    smtp_host: Mapped[str | None] = mapped_column(String(255))
    smtp_port: Mapped[int | None] = mapped_column(Integer)
    smtp_security: Mapped[str] = mapped_column(String(8), default="starttls")
    smtp_username: Mapped[str | None] = mapped_column(Text)
    smtp_password: Mapped[str | None] = mapped_column(Text)
    smtp_sender: Mapped[str | None] = mapped_column(String(254))
    alert_digest_hour: Mapped[int] = mapped_column(Integer, default=7)
    # First-run admin questions answered (OpenREM's AdminTaskQuestions).
    not_patient_question_answered: Mapped[bool] = mapped_column(Boolean, default=False)

    @classmethod
    def get(cls) -> "SystemSettings":
        """The settings row, created with defaults on first use (safe when two processes race)."""
        row = db.session.get(cls, 1)
        if row is None:
            try:
                with db.session.begin_nested():
                    row = cls(id=1)
                    db.session.add(row)
            except IntegrityError:
                row = db.session.get(cls, 1, populate_existing=True)
        return row


class NotPatientPattern(db.Model):
    """A case-insensitive wildcard (*, ?, [seq], [!seq]) that marks a name or ID as test/QA."""
    __tablename__ = "not_patient_pattern"

    id: Mapped[int] = mapped_column(primary_key=True)
    field: Mapped[str] = mapped_column(String(8))  # "name" or "id"
    pattern: Mapped[str] = mapped_column(Text)

    __table_args__ = (UniqueConstraint("field", "pattern"),)
