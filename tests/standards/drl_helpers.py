"""Studies with known values for the DRL tests: two CT systems, a standard name, values set directly."""
from __future__ import annotations

import datetime as dt
import itertools

from doseapp.models import Equipment, StandardName, Study, db

_uid = itertools.count(1)
RECENT = dt.datetime.combine(dt.date.today() - dt.timedelta(days=10), dt.time(9, 30))


def system(name: str) -> Equipment:
    eq = Equipment(identity_hash=f"{name:0<64}"[:64], display_name=name, manufacturer="ACME")
    db.session.add(eq)
    db.session.flush()
    return eq


def standard_name(modality: str, name: str) -> StandardName:
    row = StandardName(modality=modality, name=name)
    db.session.add(row)
    db.session.flush()
    return row


def study(name: StandardName | None, eq: Equipment, *, when: dt.datetime = RECENT, **values) -> Study:
    row = Study(study_instance_uid=f"1.2.826.0.1.{next(_uid)}", modality=values.pop("modality", "CT"),
                equipment_id=eq.id, standard_name_id=name.id if name else None, study_datetime=when,
                study_date=when.date(), **values)
    db.session.add(row)
    return row
