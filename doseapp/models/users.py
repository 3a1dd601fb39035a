"""Users, their roles (a user may hold several), per-user display and chart options, and the
recent failed logins that login throttling counts."""
from __future__ import annotations

import datetime as dt
import secrets

from flask_login import UserMixin
from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from doseapp.models.base import db, utcnow

PASSWORD_METHOD = "scrypt"  # memory-hard, and in Werkzeug itself, so no extra dependency
_dummy_hash: str | None = None


def new_session_token() -> str:
    return secrets.token_urlsafe(24)


def spend_password_check(password: str) -> None:
    """The work of checking a password, against nobody's hash: a login for an unknown user name
    takes as long as one for a real user, so timing does not tell which names exist."""
    global _dummy_hash
    if _dummy_hash is None:
        _dummy_hash = generate_password_hash(secrets.token_hex(16), method=PASSWORD_METHOD)
    check_password_hash(_dummy_hash, password)


class User(UserMixin, db.Model):
    __tablename__ = "user"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(150), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_login: Mapped[dt.datetime | None] = mapped_column(DateTime)
    # Part of every session's user id (get_id): a new token ends every session made with the old
    # one. Session cookies are signed, not stored, so this is the only way to end one elsewhere.
    session_token: Mapped[str] = mapped_column(String(64), default=new_session_token)
    # Where alert e-mails go (doseapp alerts); None: none are sent to this user.
    email: Mapped[str | None] = mapped_column(String(254))
    # The language pages are shown in (a code of doseapp.display.i18n.LANGUAGES); None: the site's.
    locale: Mapped[str | None] = mapped_column(String(16))
    # Exports' column headings in the user's language; False (the default): English, as scripts read them.
    export_headings_translated: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")

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

    def get_id(self) -> str:  # Flask-Login keeps this in the session; extensions._load_user checks it
        return f"{self.id}:{self.session_token}"

    def end_sessions(self) -> None:
        """Make every existing session of this user invalid (takes effect when committed)."""
        self.session_token = new_session_token()

    def set_password(self, password: str) -> None:
        """A new password ends every session that was opened with the old one."""
        self.password_hash = generate_password_hash(password, method=PASSWORD_METHOD)
        self.end_sessions()

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


class LoginAttempt(db.Model):
    """A failed login, kept for the throttling window (doseapp/security/login_throttle.py), then
    pruned. In the database, not in a process, so every web process counts the same attempts."""
    __tablename__ = "login_attempt"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    username: Mapped[str] = mapped_column(String(150))
    address: Mapped[str] = mapped_column(String(64))

    __table_args__ = (Index("ix_login_attempt_username_at", "username", "at"),
                      Index("ix_login_attempt_address_at", "address", "at"))
