"""Serialising imports of one StudyInstanceUID, so two objects of one study arriving together never
make two studies. PostgreSQL: a transaction-scoped advisory lock on the UID (works across machines).
SQLite: one file lock per instance (SQLite serialises writers anyway; this makes the
check-then-write of ingest atomic too)."""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os

from flask import current_app
from sqlalchemy import text

from doseapp.models import db


def _advisory_key(study_uid: str) -> int:
    return int.from_bytes(hashlib.sha256(study_uid.encode()).digest()[:8], "big", signed=True)


@contextlib.contextmanager
def study_lock(study_uid: str):
    """Hold the lock for `study_uid` for the rest of the current transaction (PostgreSQL) or for
    the `with` block (SQLite). Commit or roll back inside the block."""
    if db.engine.dialect.name == "postgresql":
        db.session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _advisory_key(study_uid)})
        yield
        return
    path = current_app.config["INSTANCE"] / "import.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
