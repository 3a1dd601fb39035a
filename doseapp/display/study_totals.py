"""All-time study counts per (modality, equipment row): the one figure on the home page that reads
every study, so it is kept between requests, and checked against the database on every request.

Counting 500,000 studies by system takes 0.2-0.5 s (a whole index read); the check takes a few
milliseconds: the largest study, object and audit ids, the number of studies and the creation time of
the newest study. What changes the counts changes one of those:
- an import adds a study (larger study id) or an object to a stored study (larger object id);
- a delete (a study, a system's studies) and a modality change (by hand or the Dual re-sort job) write
  an audit entry in the same transaction (larger audit id);
- an import that replaces studies (cumulative reports, images taken over by a report) adds one and
  deletes others: the number of studies is then not the old one plus the new ones.
New studies alone are added to the kept counts (one GROUP BY over the ids above the last seen);
anything else recounts. Display names are not kept here at all: the page reads them each time, so a
rename shows on the next request. MAX_AGE recounts anyway now and then, for changes made outside
doseapp (SQL by hand)."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from sqlalchemy import func, select

from doseapp.models import AuditEntry, Study, db
from doseapp.models.study import ProcessedObject

MAX_AGE = 600  # seconds


@dataclass(frozen=True)
class Marks:
    study_id: int
    studies: int
    object_id: int
    audit_id: int
    newest_created: object  # the newest study's created_at: tells a refilled database from the old one


@dataclass(frozen=True)
class _Kept:
    marks: Marks
    counts: dict  # (modality, equipment_id) -> studies
    at: float     # time.monotonic() of the full count


_kept: dict[str, _Kept] = {}
_lock = threading.Lock()


def clear() -> None:
    """Forget the kept counts (tests that change rows behind doseapp's back)."""
    _kept.clear()


def _marks() -> Marks:
    newest = select(func.max(Study.id)).scalar_subquery()
    row = db.session.execute(select(
        newest, select(func.count()).select_from(Study).scalar_subquery(),
        select(func.max(ProcessedObject.id)).scalar_subquery(), select(func.max(AuditEntry.id)).scalar_subquery(),
        select(Study.created_at).where(Study.id == newest).scalar_subquery())).one()
    return Marks(row[0] or 0, row[1] or 0, row[2] or 0, row[3] or 0, row[4])


def _count(where=()) -> dict:
    # Grouped in the order of ix_study_modality_equipment_datetime, which holds both columns: the
    # count reads that index alone.
    rows = db.session.execute(select(Study.modality, Study.equipment_id, func.count()).where(*where)
                              .group_by(Study.modality, Study.equipment_id)).all()
    return {(m, e): n for m, e, n in rows}


def _objects_joining_old_studies(kept: _Kept, marks: Marks) -> int:
    """Objects imported since into studies that were already counted (a continued report may turn a
    radiography study into fluoroscopy)."""
    return db.session.scalar(select(func.count()).select_from(ProcessedObject).where(
        ProcessedObject.id > kept.marks.object_id, ProcessedObject.id <= marks.object_id,
        ProcessedObject.study_id <= kept.marks.study_id)) or 0


def counts() -> dict[tuple[str, int | None], int]:
    """{(modality, equipment_id): number of studies}, as the database holds them now."""
    key = str(db.engine.url)
    # The marks are read before the counts: whatever is committed in between is counted and also
    # seen as a change on the next request, where the sum check below finds it counted twice and
    # recounts. Nothing committed is ever left out.
    marks = _marks()
    kept = _kept.get(key)
    if kept is not None and kept.marks == marks and time.monotonic() - kept.at < MAX_AGE:
        return kept.counts
    with _lock:  # one count at a time per process; a request that waited may find it done
        kept = _kept.get(key)
        if kept is not None and time.monotonic() - kept.at < MAX_AGE:
            if kept.marks == marks:
                return kept.counts
            added = _added_since(kept, marks)
            if added is not None:
                merged = dict(kept.counts)
                for k, n in added.items():
                    merged[k] = merged.get(k, 0) + n
                _kept[key] = _Kept(marks, merged, kept.at)
                return merged
        result = _count()
        _kept[key] = _Kept(marks, result, time.monotonic())
        return result


def _added_since(kept: _Kept, marks: Marks) -> dict | None:
    """The counts of the studies added since `kept`, when adding studies is all that happened; else None."""
    if marks.audit_id != kept.marks.audit_id or marks.study_id < kept.marks.study_id:
        return None  # a delete or a modality change; or a database emptied and refilled
    if _objects_joining_old_studies(kept, marks):
        return None
    same_row = db.session.scalar(select(Study.created_at).where(Study.id == kept.marks.study_id))
    if same_row != kept.marks.newest_created:
        return None  # the study that was the newest is gone, or is another one (a database refilled)
    added = _count([Study.id > kept.marks.study_id, Study.id <= marks.study_id])
    if sum(kept.counts.values()) + sum(added.values()) != marks.studies:
        return None  # studies were deleted (replaced by an import), or came in out of id order
    return added
