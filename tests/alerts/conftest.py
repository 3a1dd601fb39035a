from __future__ import annotations

import pytest

from tests.conftest import TESTDATA

RF_FILES = sorted(TESTDATA.glob("RF-RDSR-*.dcm"))


@pytest.fixture
def rule(app):
    """Switch a rule on with a threshold in its display unit (as `doseapp alerts rule set` does)."""
    from doseapp.alerts.settings import set_rule

    def _set(key, threshold=None, weeks=None, on=True):
        return set_rule(key, threshold=threshold, weeks=weeks, enabled=on)[0]
    return _set


@pytest.fixture
def id_privacy(app):
    """Set how patient IDs are kept: "plain", "hashed" or "none"."""
    from doseapp.models import SystemSettings, db

    def _set(how):
        s = SystemSettings.get()
        s.id_stored, s.id_hashed = how != "none", how == "hashed"
        db.session.commit()
    return _set


def alerts(rule_key=None):
    from sqlalchemy import select

    from doseapp.models import db
    from doseapp.models.alerts import Alert

    stmt = select(Alert).order_by(Alert.id)
    if rule_key:
        stmt = stmt.where(Alert.rule_key == rule_key)
    return db.session.scalars(stmt).all()
