from __future__ import annotations

import pytest
from sqlalchemy import func, select

from doseapp.ingest import import_file
from doseapp.models import Study, db
from tests.conftest import TESTDATA


@pytest.fixture
def imp(app):
    """Import test files by name; returns the ImportResult (or a list for several names)."""
    def _import(*names, source="cli", owned=False):
        results = [import_file(TESTDATA / n if not str(n).startswith("/") else n, source=source, owned=owned)
                   for n in names]
        return results[0] if len(results) == 1 else results
    return _import


def study_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Study))


def only_study(uid_suffix: str | None = None) -> Study:
    rows = db.session.scalars(select(Study)).all()
    if uid_suffix:
        rows = [s for s in rows if s.study_instance_uid.endswith(uid_suffix)]
    assert len(rows) == 1, [s.study_instance_uid for s in rows]
    return rows[0]
