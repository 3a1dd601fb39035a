"""Users, their roles (a user may hold several) and per-user display and chart options."""
from __future__ import annotations

import datetime as dt

from flask_login import UserMixin
from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from doseapp.models.base import db, utcnow


class User(UserMixin, db.Model):
    __tablename__ = "user"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(150), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_login: Mapped[dt.datetime | None] = mapped_column(DateTime)

    role_rows = relationship("UserRole", cascade="all, delete-orphan", passive_deletes=True,
                             lazy="selectin")
    preferences = relationship("UserPreferences", uselist=False, cascade="all, delete-orphan",
                               passive_deletes=True)

    @property
    def is_active(self) -> bool:  # Flask-Login
        return self.active

    @property
    def roles(self) -> set[str]:
        return {r.role for r in self.role_rows}

    def has_role(self, role: str) -> bool:
        return role in self.roles

    def set_roles(self, roles) -> None:
        wanted = set(roles)
        self.role_rows = [r for r in self.role_rows if r.role in wanted]
        for role in sorted(wanted - self.roles):
            self.role_rows.append(UserRole(role=role))

    def set_password(self, password: str) -> None:
        # scrypt: memory-hard, and in Werkzeug itself, so no extra dependency.
        self.password_hash = generate_password_hash(password, method="scrypt")

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)


class UserRole(db.Model):
    __tablename__ = "user_role"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(16))

    __table_args__ = (UniqueConstraint("user_id", "role"),)


class UserPreferences(db.Model):
    """Items per page and chart options (OpenREM's UserProfile), one row per user."""
    __tablename__ = "user_preferences"

    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), primary_key=True)
    items_per_page: Mapped[int] = mapped_column(Integer, default=25)
    charts_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # {"CT": {"acquisition_mean_dlp": true, ...}, "average": "mean", "histogram_bins": 20, ...}
    chart_options: Mapped[dict | None] = mapped_column(JSON)
