"""Counts of studies per (modality, equipment row): over all time, and per day over the last weeks.
The all-time count reads every study, so the counts are kept between requests and checked against
the database on every request.

Counting 500,000 studies by system takes 0.1-0.5 s (a whole index read); the check reads four
values at the ends of primary keys, a millisecond: the largest study, object and audit ids, and the
creation time of the newest study. What changes the counts changes one of those:
- an import adds a study (larger study id) or an object to a stored study (larger object id);
- a delete (a study, a system's studies) and a modality change (by hand or the Dual re-sort job) write
  an audit entry in the same transaction (larger audit id);
- an import that replaces studies (cumulative reports, images taken over by a report) adds one and
  deletes others: the number of studies is then not the old one plus the new ones.
New studies alone are added to the kept counts (one GROUP BY over the ids above the last seen);
anything else counts again. Display names are not kept here at all: the page reads them each time,
so a rename shows on the next request. MAX_AGE counts again anyway now and then, for changes made
outside doseapp (SQL by hand)."""
from __future__ import annotations

import datetime as dt
import threading
import time
from dataclasses import dataclass

from sqlalchemy import func, select

from doseapp.models import AuditEntry, Equipment, Study, db
from doseapp.models.study import MODALITIES, ProcessedObject

MAX_AGE = 600  # seconds


@dataclass(frozen=True)
class Marks:
    study_id: int
    object_id: int
    audit_id: int
    newest_created: object  # the newest study's created_at: tells a refilled database from the old one


@dataclass(frozen=True)
class Counts:
    """Studies per (modality, equipment_id) over all time with the latest one's date and time, and
    per (modality, equipment_id, day) from `first` to `last` (both included)."""
    first: dt.date
    last: dt.date
    totals: dict
    latest: dict
    days: dict


@dataclass(frozen=True)
class _Kept:
    marks: Marks
    counts: Counts
    at: float  # time.monotonic() of the full count


_kept: dict[str, _Kept] = {}
_lock = threading.Lock()


def clear() -> None:
    """Forget the kept counts (tests that change rows behind doseapp's back)."""
    _kept.clear()


def _marks() -> Marks:
    newest = select(func.max(Study.id)).scalar_subquery()
    row = db.session.execute(select(
        newest, select(func.max(ProcessedObject.id)).scalar_subquery(),
        select(func.max(AuditEntry.id)).scalar_subquery(),
        select(Study.created_at).where(Study.id == newest).scalar_subquery())).one()
    return Marks(row[0] or 0, row[1] or 0, row[2] or 0, row[3])


def _totals(where=()) -> tuple[dict, dict]:
    """{(modality, equipment_id): studies} and {(modality, equipment_id): latest study_datetime}."""
    # Grouped in the order of ix_study_modality_equipment_datetime, which holds every column read:
    # the count reads that index alone.
    rows = db.session.execute(select(Study.modality, Study.equipment_id, func.count(), func.max(Study.study_datetime))
                              .where(*where).group_by(Study.modality, Study.equipment_id)).all()
    return {(m, e): n for m, e, n, _ in rows}, {(m, e): t for m, e, _, t in rows if t is not None}


def _day(value) -> dt.date:
    # date() gives a date on PostgreSQL and 'yyyy-mm-dd' text on SQLite.
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(value)


def _days(first: dt.date, last: dt.date, new=None) -> dict:
    """{(modality, equipment_id, day): studies} from `first` to `last`; of the `new` studies only
    (a condition on their ids), when given."""
    start = dt.datetime.combine(first, dt.time())
    end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time())
    day = func.date(Study.study_datetime)
    if new is not None:
        # A few new studies: found by their ids (the primary key), whatever their systems.
        picks = [new]
    else:
        # `equipment_id IN (every equipment id)` turns one range over all systems into a range per
        # system on the (modality, equipment_id, study_datetime) index, which holds every column
        # read; studies without equipment (none are made so, but the column allows it) come apart.
        picks = [[Study.equipment_id.in_(select(Equipment.id).scalar_subquery())], [Study.equipment_id.is_(None)]]
    found = {}
    for where in picks:
        for m, e, d, n in db.session.execute(
                select(Study.modality, Study.equipment_id, day, func.count())
                .where(Study.modality.in_(MODALITIES), Study.study_datetime >= start, Study.study_datetime < end,
                       *where)
                .group_by(Study.modality, Study.equipment_id, day)):
            found[(m, e, _day(d))] = n
    return found


def _objects_joining_old_studies(kept: _Kept, marks: Marks) -> int:
    """Objects imported since into studies that were already counted (a continued report may turn a
    radiography study into fluoroscopy)."""
    return db.session.scalar(select(func.count()).select_from(ProcessedObject).where(
        ProcessedObject.id > kept.marks.object_id, ProcessedObject.id <= marks.object_id,
        ProcessedObject.study_id <= kept.marks.study_id)) or 0


def counts(first: dt.date, last: dt.date) -> Counts:
    """The studies per system over all time and per day from `first` to `last`, as the database
    holds them now."""
    key = str(db.engine.url)
    # The marks are read before the counts: whatever is committed in between is counted and also
    # seen as a change on the next request, where the sum check below finds it counted twice and
    # counts again. Nothing committed is ever left out.
    marks = _marks()
    kept = _kept.get(key)
    if kept is not None and kept.marks == marks and time.monotonic() - kept.at < MAX_AGE \
            and (kept.counts.first, kept.counts.last) == (first, last):
        return kept.counts
    with _lock:  # one count at a time per process; a request that waited may find it done
        kept = _kept.get(key)
        if kept is None or time.monotonic() - kept.at >= MAX_AGE:
            found = Counts(first, last, *_totals(), _days(first, last))
            _kept[key] = _Kept(marks, found, time.monotonic())
            return found
        totals, latest, days = kept.counts.totals, kept.counts.latest, kept.counts.days
        new_window = (kept.counts.first, kept.counts.last) != (first, last)  # another day
        if kept.marks != marks:
            new = _added_since(kept, marks)
            if new is None:
                found = Counts(first, last, *_totals(), _days(first, last))
                _kept[key] = _Kept(marks, found, time.monotonic())
                return found
            added, added_latest = _totals(new)
            totals = _merged(totals, added)
            latest = {**latest, **{k: max(t, latest.get(k, t)) for k, t in added_latest.items()}}
            days = days if new_window else _merged(days, _days(first, last, new))
        found = Counts(first, last, totals, latest, _days(first, last) if new_window else days)
        _kept[key] = _Kept(marks, found, kept.at)
        return found


def _merged(kept: dict, added: dict) -> dict:
    merged = dict(kept)
    for k, n in added.items():
        merged[k] = merged.get(k, 0) + n
    return merged


def _added_since(kept: _Kept, marks: Marks) -> list | None:
    """The condition that picks the studies added since `kept`, when adding studies is all that
    happened; else None."""
    if marks.audit_id != kept.marks.audit_id or marks.study_id < kept.marks.study_id:
        return None  # a delete or a modality change; or a database emptied and refilled
    if _objects_joining_old_studies(kept, marks):
        return None
    same_row = db.session.scalar(select(Study.created_at).where(Study.id == kept.marks.study_id))
    if same_row != kept.marks.newest_created:
        return None  # the study that was the newest is gone, or is another one (a database refilled)
    new = [Study.id > kept.marks.study_id, Study.id <= marks.study_id]
    added = db.session.scalar(select(func.count()).select_from(Study).where(*new)) or 0
    # Counting every study (a few ms on SQLite, 30-100 ms on PostgreSQL) is done only here, when
    # studies came in, not on every request.
    if sum(kept.counts.totals.values()) + added != db.session.scalar(select(func.count()).select_from(Study)):
        return None  # studies were deleted (replaced by an import), or came in out of id order
    return new
