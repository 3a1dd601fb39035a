"""Equipment identity: one row per unique combination of the identity fields."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from doseapp.models import Equipment, db
from doseapp.models.equipment import IDENTITY_FIELDS, identity_hash


def equipment_for(values: dict) -> Equipment:
    """The equipment row for these identity values, created (with the default display name) if new.
    Safe when two imports create the same new system at once: the loser re-reads the winner's row."""
    digest = identity_hash(values)
    row = db.session.scalar(select(Equipment).where(Equipment.identity_hash == digest))
    if row is not None:
        return row
    row = Equipment(identity_hash=digest, display_name=Equipment.default_display_name(values),
                    institution_address=values.get("institution_address"),
                    **{f: values.get(f) or None for f in IDENTITY_FIELDS})
    try:
        with db.session.begin_nested():
            db.session.add(row)
    except IntegrityError:
        row = db.session.scalar(select(Equipment).where(Equipment.identity_hash == digest))
    return row
