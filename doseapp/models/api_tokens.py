"""Per-user API tokens for the JSON API. Only a SHA-256 of the token is stored: tokens are long
random strings, so a fast hash is enough, and a copy of the database does not give API access."""
from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from sqlalchemy import DateTime, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from doseapp.models.base import db, utcnow

TOKEN_PREFIX = "dose_"


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class ApiToken(db.Model):
    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    # The first characters, shown in listings so a person can tell their tokens apart.
    hint: Mapped[str] = mapped_column(String(16))
    name: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(DateTime)

    user = relationship("User")

    @classmethod
    def issue(cls, user, name: str | None = None) -> tuple["ApiToken", str]:
        """A new token for `user`: returns the row (not yet committed) and the token, shown once."""
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        row = cls(user_id=user.id, digest=token_digest(token), hint=token[:10], name=name)
        db.session.add(row)
        return row, token
