"""The audit log: one row per configuration change (who, when, what, on what, details)."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from doseapp.models.base import db, utcnow


class AuditEntry(db.Model):
    __tablename__ = "audit_entry"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    # The user id may go (SET NULL) but the name stays: the log must outlive the account.
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    username: Mapped[str] = mapped_column(String(150))  # "command line (os user)" outside the web
    action: Mapped[str] = mapped_column(String(64))     # e.g. "equipment.rename", "user.create"
    target: Mapped[str | None] = mapped_column(Text)    # what was changed, in words
    details: Mapped[dict | None] = mapped_column(JSON)  # before/after values

    __table_args__ = (Index("ix_audit_entry_action_at", "action", "at"),
                      Index("ix_audit_entry_username_at", "username", "at"))
