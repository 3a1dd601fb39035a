"""Patient privacy at ingest: not-patient indicators first, then identifiers stored plain, as a
keyed hash, or not at all, per the system settings.

Hashes are HMAC-SHA256 with a secret kept in the instance folder, not OpenREM's plain SHA-256: with
a plain hash anyone holding a list of hospital numbers can hash them all and find the patients.
The same secret hashes search terms, so exact-match search on hashed identifiers still works.
"""
from __future__ import annotations

import fnmatch
import hashlib
import hmac
import os
import secrets
from pathlib import Path

from flask import current_app
from sqlalchemy import select

from doseapp.models import NotPatientPattern, SystemSettings, db

# The patterns that reproduce OpenREM 0.7's hard-coded test-patient check, offered as one click.
LEGACY_PATTERNS = {"name": ("*phy*", "*test*", "*qa*"), "id": ("*phy*", "*test*", "*qa*")}

_KEY_FILE = "pid_hash_key"


def hash_key(instance: Path | None = None) -> bytes:
    """The instance's identifier-hashing secret, created on first use (readable by its owner only)."""
    path = Path(instance or current_app.config["INSTANCE"]) / _KEY_FILE
    if not path.exists():
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(32))
        except FileExistsError:
            pass  # another process made it first; use theirs
    return bytes.fromhex(path.read_text().strip())


def keyed_hash(value: str, key: bytes | None = None) -> str:
    return hmac.new(key or hash_key(), value.encode("utf-8"), hashlib.sha256).hexdigest()


# The patient level of a Store SCP node's kept objects when patient IDs are not stored: one folder
# for all, so the folder names say nothing the database does not (docs/decisions.md).
ID_NOT_STORED_FOLDER = "PATIENT_ID_NOT_STORED"


def folder_name(patient_id: str | None, settings: SystemSettings) -> str | None:
    """What names a patient's folder of kept objects: the ID as the database stores it (in clear,
    or as the same keyed hash), or ID_NOT_STORED_FOLDER when IDs are not stored; None for no ID."""
    if not patient_id:
        return None
    if not settings.id_stored:
        return ID_NOT_STORED_FOLDER
    return keyed_hash(patient_id) if settings.id_hashed else patient_id


def not_patient_indicator(name: str | None, patient_id: str | None) -> str | None:
    """The configured patterns that match the name or ID ("id: *phy*; name: *test*"), or None.
    Matching is case-insensitive, with *, ?, [seq] and [!seq] wildcards."""
    patterns = db.session.execute(select(NotPatientPattern.field, NotPatientPattern.pattern)
                                  .order_by(NotPatientPattern.field, NotPatientPattern.id)).all()
    values = {"name": (name or "").lower(), "id": (patient_id or "").lower()}
    hits = [f"{field}: {pattern}" for field, pattern in patterns
            if values[field] and fnmatch.fnmatchcase(values[field], pattern.lower())]
    return "; ".join(hits) or None


def add_legacy_patterns() -> int:
    """Add OpenREM 0.7's test-patient patterns that are not there yet; returns how many were added."""
    have = set(db.session.execute(select(NotPatientPattern.field, NotPatientPattern.pattern)).all())
    added = 0
    for field, patterns in LEGACY_PATTERNS.items():
        for pattern in patterns:
            if (field, pattern) not in have:
                db.session.add(NotPatientPattern(field=field, pattern=pattern))
                added += 1
    db.session.commit()
    return added


def apply(study_values: dict, settings: SystemSettings) -> dict:
    """Replace raw identifiers in a study's column values by what the settings allow to store."""
    out = dict(study_values)
    name, pid = out.get("patient_name"), out.get("patient_id")
    out["not_patient_indicator"] = not_patient_indicator(name, pid)
    key = hash_key() if (settings.name_hashed or settings.id_hashed or settings.accession_hashed) else None
    out["patient_name"], out["patient_name_hashed"] = _protect(name, settings.name_stored, settings.name_hashed, key)
    out["patient_id"], out["patient_id_hashed"] = _protect(pid, settings.id_stored, settings.id_hashed, key)
    if not settings.dob_stored:
        out["patient_birth_date"] = None
    accession = out.get("accession_number")
    out["accession_hashed"] = bool(accession and settings.accession_hashed)
    if out["accession_hashed"]:
        out["accession_number"] = keyed_hash(accession, key)
    return out


def _protect(value: str | None, stored: bool, hashed: bool, key: bytes | None) -> tuple[str | None, bool]:
    if not value or not stored:
        return None, False
    if hashed:
        return keyed_hash(value, key), True
    return value, False
