"""Rule keys in words, for e-mails and the subscription page.

The rule catalogue (labels, units) belongs to the alerts package; until it is wired here the labels are
the keys in words. This is the one place to read it from."""
from __future__ import annotations

from sqlalchemy import select

from doseapp.models import AlertRule, db

ALL_RULES = "*"


def rule_labels() -> dict[str, str]:
    """Every known rule key (the AlertRule rows) → its label, in key order."""
    keys = db.session.scalars(select(AlertRule.key).order_by(AlertRule.key)).all()
    return {key: rule_label(key) for key in keys}


def rule_label(key: str) -> str:
    if key == ALL_RULES:
        return "Every rule"
    try:  # the alerts package's catalogue, when it has one
        from doseapp.alerts.catalogue import label  # type: ignore[import-not-found]
    except ImportError:
        return key.replace("_", " ")
    return label(key)
