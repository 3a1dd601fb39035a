"""Rule keys in words, for e-mails and the subscription page.

The rule catalogue (labels, units) belongs to the alerts package (doseapp.alerts.rules); this is the one
place the e-mails read it from. A key the catalogue no longer knows is shown in words."""
from __future__ import annotations

from flask_babel import gettext
from sqlalchemy import select

from doseapp.models import AlertRule, db

ALL_RULES = "*"


def rule_labels() -> dict[str, str]:
    """Every known rule key (the AlertRule rows) → its label, in key order."""
    keys = db.session.scalars(select(AlertRule.key).order_by(AlertRule.key)).all()
    return {key: rule_label(key) for key in keys}


def rule_label(key: str) -> str:
    if key == ALL_RULES:
        return gettext("Every rule")
    from doseapp.alerts.rules import BY_KEY

    rule = BY_KEY.get(key)
    return rule.title if rule is not None else key.replace("_", " ")
