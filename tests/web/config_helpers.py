"""Helpers for the config page tests: log in through the real login form, post with the page's
CSRF token, import the shared test files."""
from __future__ import annotations

import re

from sqlalchemy import select

from doseapp.ingest import import_file
from doseapp.models import AuditEntry, Study, db
from doseapp.users import create_user
from tests.conftest import TESTDATA

PASSWORD = "long-enough-1"


def token(client, path: str) -> str:
    html = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def login(client, username: str, roles=("admin",)):
    create_user(username, PASSWORD, list(roles))
    resp = client.post("/login", data={"username": username, "password": PASSWORD,
                                       "csrf_token": token(client, "/login")})
    assert resp.status_code == 302, resp.data
    return resp


def post(client, path: str, data: dict | None = None, form_page: str | None = None, **kw):
    """POST with the CSRF token of the page the form is on (default: the same path)."""
    data = dict(data or {})
    data["csrf_token"] = token(client, form_page or path)
    return client.post(path, data=data, **kw)


def imp(*names) -> list:
    return [import_file(TESTDATA / n, source="cli") for n in names]


def studies_of(uid_part: str = "") -> list[Study]:
    db.session.expire_all()
    return [s for s in db.session.scalars(select(Study).order_by(Study.id)) if uid_part in s.study_instance_uid]


def audit_rows(action: str | None = None) -> list[AuditEntry]:
    db.session.expire_all()
    q = select(AuditEntry).order_by(AuditEntry.id)
    if action:
        q = q.where(AuditEntry.action == action)
    return list(db.session.scalars(q))
