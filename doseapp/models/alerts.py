"""High-dose alerts: the admin-configured rules, the alerts they raised (with their review state),
who wants e-mail about which rule, and the outgoing e-mails (kept until sent, retried on failure)."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from doseapp.models.base import db, utcnow

ALERT_STATES = ("new", "reviewed", "reported")


class AlertRule(db.Model):
    """One rule (keyed, e.g. "rf_dap_study"): on/off, its threshold in stored units, and for
    cumulative rules the period summed over."""
    __tablename__ = "alert_rule"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(32), unique=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    threshold: Mapped[float | None] = mapped_column(Float)
    period_weeks: Mapped[int] = mapped_column(Integer, default=12)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Alert(db.Model):
    """A rule's finding on one study (raised once per rule and study)."""
    __tablename__ = "alert"

    id: Mapped[int] = mapped_column(primary_key=True)
    rule_key: Mapped[str] = mapped_column(String(32))
    study_id: Mapped[int] = mapped_column(ForeignKey("study.id", ondelete="CASCADE"), index=True)
    modality: Mapped[str] = mapped_column(String(4))
    value: Mapped[float | None] = mapped_column(Float)
    threshold: Mapped[float | None] = mapped_column(Float)
    unit: Mapped[str | None] = mapped_column(String(16))
    # What raised it, in plain data: contributing study ids for cumulative rules, Dose Check values...
    detail: Mapped[dict | None] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(16), default="new")
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    state_changed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    state_changed_by: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))

    study = relationship("Study")
    __table_args__ = (
        UniqueConstraint("rule_key", "study_id"),
        Index("ix_alert_state_created", "state", "created_at"),
        Index("ix_alert_modality_state", "modality", "state"),
    )


class AlertSubscription(db.Model):
    """A user's e-mail choice for one rule ("*": every rule): immediately or in a daily digest."""
    __tablename__ = "alert_subscription"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    rule_key: Mapped[str] = mapped_column(String(32))
    mode: Mapped[str] = mapped_column(String(16), default="immediate")  # immediate, digest or off (overrides "*")
    __table_args__ = (UniqueConstraint("user_id", "rule_key"),)


class EmailMessage(db.Model):
    """An e-mail to send: kept until the server takes it, retried with back-off, never dropped."""
    __tablename__ = "email_message"

    id: Mapped[int] = mapped_column(primary_key=True)
    recipient: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(16), default="immediate")  # immediate, digest, test
    status: Mapped[str] = mapped_column(String(16), default="queued")  # queued, sent, failed (retrying)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime)

    alerts = relationship("Alert", secondary="email_message_alert")
    __table_args__ = (Index("ix_email_message_status_next", "status", "next_attempt_at"),)


class EmailMessageAlert(db.Model):
    """Which alerts an e-mail tells of (so an alert can show "not sent yet")."""
    __tablename__ = "email_message_alert"

    email_message_id: Mapped[int] = mapped_column(ForeignKey("email_message.id", ondelete="CASCADE"),
                                                  primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alert.id", ondelete="CASCADE"), primary_key=True, index=True)
