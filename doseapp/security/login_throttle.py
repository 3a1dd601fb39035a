"""Login throttling: after too many failed logins in a window, a user name (and, with a higher limit,
an address) is refused until the oldest of those failures leaves the window.

Failures are rows of LoginAttempt, so every web process sees the same count and nothing needs Redis.
Refused attempts are not counted (and check no password): an attacker cannot keep a name locked
forever by hammering it, nor learn anything from a refusal.
"""
from __future__ import annotations

import datetime as dt
import logging
import math
from dataclasses import dataclass

from flask import current_app
from flask_babel import ngettext
from sqlalchemy import delete, select

from doseapp import audit
from doseapp.models import LoginAttempt, db
from doseapp.models.base import utcnow

log = logging.getLogger(__name__)

WINDOW = dt.timedelta(minutes=15)
NAME_LENGTH = 150  # LoginAttempt.username
ADDRESS_LENGTH = 64


@dataclass(frozen=True)
class Refusal:
    message: str
    retry_after_s: int


def _limits() -> tuple[int, int]:
    cfg = current_app.config
    return cfg["LOGIN_FAILURES_PER_NAME"], cfg["LOGIN_FAILURES_PER_ADDRESS"]


def _recent(column, value: str, now: dt.datetime) -> list[dt.datetime]:
    return list(db.session.scalars(select(LoginAttempt.at).where(column == value, LoginAttempt.at > now - WINDOW)
                                   .order_by(LoginAttempt.at)))


def _free_at(times: list[dt.datetime], limit: int) -> dt.datetime | None:
    """When fewer than `limit` of these failures remain in the window (None: already)."""
    if limit <= 0 or len(times) < limit:
        return None
    return times[len(times) - limit] + WINDOW


def _key(username: str, address: str) -> tuple[str, str]:
    return username[:NAME_LENGTH], (address or "unknown")[:ADDRESS_LENGTH]


def refusal(username: str, address: str) -> Refusal | None:
    """Why a login for `username` from `address` is refused now, or None if it may be tried."""
    username, address = _key(username, address)
    name_limit, address_limit = _limits()
    now = utcnow()
    for column, value, limit, what in ((LoginAttempt.username, username, name_limit, "for this user name"),
                                       (LoginAttempt.address, address, address_limit, "from this network address")):
        free = _free_at(_recent(column, value, now), limit)
        if free is not None:
            seconds = max(1, math.ceil((free - now).total_seconds()))
            log.warning("login refused for %r from %s: too many failed logins %s", username, address, what)
            minutes = math.ceil(seconds / 60)
            if column is LoginAttempt.username:
                said = ngettext("Too many failed logins for this user name. Try again in %(num)d minute.",
                                "Too many failed logins for this user name. Try again in %(num)d minutes.", minutes)
            else:
                said = ngettext("Too many failed logins from this network address. Try again in %(num)d minute.",
                                "Too many failed logins from this network address. Try again in %(num)d minutes.",
                                minutes)
            return Refusal(said, seconds)
    return None


def record_failure(username: str, address: str, reason: str) -> None:
    """Count a failed login and put it in the audit log (never the password); prunes attempts that
    have left the window. The caller commits."""
    username, address = _key(username, address)
    now = utcnow()
    db.session.execute(delete(LoginAttempt).where(LoginAttempt.at <= now - WINDOW))
    db.session.add(LoginAttempt(at=now, username=username, address=address))
    db.session.flush()
    audit.record("login.failed", username, {"address": address, "reason": reason})
    name_limit, address_limit = _limits()
    for column, value, limit, what in ((LoginAttempt.username, username, name_limit, "user name"),
                                       (LoginAttempt.address, address, address_limit, "address")):
        # Once, when the limit is reached: refusals after it are not rows of their own.
        if limit > 0 and len(_recent(column, value, now)) == limit:
            audit.record("login.throttled", username, {"address": address, "by": what, "failures": limit,
                                                       "minutes": int(WINDOW.total_seconds() // 60)})


def forget(username: str) -> None:
    """After a successful login the user name starts afresh (the address count stays). Caller commits."""
    db.session.execute(delete(LoginAttempt).where(LoginAttempt.username == username[:NAME_LENGTH]))
