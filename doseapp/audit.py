"""Recording configuration changes in the audit log.

record() adds the entry to the current session without committing, so the entry and the change it
describes are committed together (or rolled back together): the log never claims a change that did
not happen, nor misses one that did.
"""
from __future__ import annotations

import getpass
import json

from flask import has_request_context

from doseapp.models import AuditEntry, db


def _actor() -> tuple[int | None, str]:
    if has_request_context():
        from flask_login import current_user

        if getattr(current_user, "is_authenticated", False):
            return current_user.id, current_user.username
        return None, "anonymous"
    try:
        who = getpass.getuser()
    except Exception:  # no login name in some containers
        who = "unknown"
    return None, f"command line ({who})"


def _plain(value):
    """JSON-safe details: dates and other objects become their text."""
    return json.loads(json.dumps(value, default=str)) if value is not None else None


def record(action: str, target: str | None = None, details: dict | None = None,
           user=None) -> AuditEntry:
    """Add an audit entry for `action` on `target`, by `user` (a job's owner), else the logged-in
    user, else the command line."""
    user_id, username = (user.id, user.username) if user is not None else _actor()
    entry = AuditEntry(user_id=user_id, username=username, action=action, target=target,
                       details=_plain(details))
    db.session.add(entry)
    return entry


def changes(before: dict, after: dict) -> dict:
    """{field: [old, new]} for the fields whose value differs (a field missing on one side is None:
    before = {} for something new, after = {} for something deleted)."""
    return {k: [before.get(k), after.get(k)] for k in {**before, **after} if before.get(k) != after.get(k)}


def record_change(action: str, target: str | None, before: dict, after: dict) -> AuditEntry | None:
    """Record what changed between two snapshots of settings, as {field: [old, new]}; nothing when
    nothing did (a form saved unchanged)."""
    changed = changes(before, after)
    return record(action, target, changed) if changed else None
