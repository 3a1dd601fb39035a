"""The quarantine: objects that could not be imported, kept on disk with their reason until someone
retries or deletes them. The importer puts objects there (ingest/files.py); the web page and
`doseapp quarantine` list, retry, delete and export them, all through this module."""
from __future__ import annotations

import datetime as dt
import shutil
from dataclasses import dataclass
from pathlib import Path

from flask import current_app
from sqlalchemy import func, select

from doseapp import audit, listing
from doseapp.ingest.files import ImportResult, import_file
from doseapp.models import QuarantinedObject, db
from doseapp.display.timefmt import plural

KIND = "quarantine_retry"  # the background job that retries many objects
CHUNK = 500


def folder() -> Path:
    return current_app.config["INSTANCE"] / "quarantine"


# --- choosing objects ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Selection:
    """Which quarantined objects: from a source, with words in the reason, quarantined on these days,
    or these ids. Empty means all."""
    source: str = ""
    reason: str = ""
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    ids: tuple[int, ...] = ()

    @classmethod
    def parse(cls, values) -> tuple["Selection", list[str]]:
        """From address-bar style values (source, reason, from, to, id); with the errors in words."""
        first, last, errors = listing.days_asked(values)
        ids = tuple(int(v) for v in _many(values, "id") if str(v).strip().isdigit())
        return cls((values.get("source") or "").strip(), (values.get("reason") or "").strip(), first, last,
                   ids), errors

    def where(self) -> list:
        where = listing.day_range(QuarantinedObject.received_at, self.date_from, self.date_to)
        if self.source:
            where.append(QuarantinedObject.source == self.source)
        if self.reason:
            where.append(func.lower(QuarantinedObject.reason).contains(self.reason.lower(), autoescape=True))
        if self.ids:
            where.append(QuarantinedObject.id.in_(self.ids))
        return where

    def query(self):
        return select(QuarantinedObject).where(*self.where())

    def as_values(self) -> dict[str, str]:
        """The address-bar values that give this selection back (blank ones left out)."""
        values = {"source": self.source, "reason": self.reason,
                  "from": self.date_from.isoformat() if self.date_from else "",
                  "to": self.date_to.isoformat() if self.date_to else "", "id": list(self.ids)}
        return {k: v for k, v in values.items() if v}

    @property
    def everything(self) -> bool:
        return not (self.source or self.reason or self.date_from or self.date_to or self.ids)


def _many(values, key: str) -> list:
    getlist = getattr(values, "getlist", None)
    if getlist is not None:
        return getlist(key)
    value = values.get(key)
    return value if isinstance(value, (list, tuple)) else ([value] if value else [])


def sources() -> list[str]:
    """The sources objects in quarantine came from, for the filter's menu."""
    return sorted(s for s in db.session.scalars(select(QuarantinedObject.source).distinct()) if s)


def count(selection: Selection | None = None) -> int:
    where = selection.where() if selection else []
    return db.session.scalar(select(func.count()).select_from(QuarantinedObject).where(*where)) or 0


def ids_of(selection: Selection) -> list[int]:
    return list(db.session.scalars(select(QuarantinedObject.id).where(*selection.where())
                                   .order_by(QuarantinedObject.id)))


def describe(row: QuarantinedObject) -> dict:
    """A row as plain values (the command line's JSON, the audit log's details)."""
    return {"id": row.id, "file": row.original_name, "reason": row.reason, "source": row.source,
            "calling_ae": row.calling_ae, "quarantined_at": row.received_at.isoformat(timespec="seconds") + "Z",
            "retries": row.retry_count, "sop_instance_uid": row.sop_instance_uid,
            "study_instance_uid": row.study_instance_uid, "sop_class_uid": row.sop_class_uid,
            "stored_as": row.path, "sha256": row.content_sha256}


# --- acting on them ----------------------------------------------------------------------------------

def retry(row: QuarantinedObject):
    """Import one quarantined object again. Imported (or found to be a duplicate, or not a dose
    object): it leaves the quarantine. Failed again: it stays, with the new reason and one more retry."""
    name, row_id = row.original_name or row.path, row.id
    path = Path(row.path)
    if not path.is_file():
        return ImportResult(name, "failed", "the quarantined file is missing", quarantine_id=row_id)
    # The import consumes the file it is given; the quarantined copy stays until the import succeeds.
    attempt = path.with_name(path.name + ".retry")
    shutil.copy2(path, attempt)
    result = import_file(attempt, source=row.source or "quarantine", owned=True, calling_ae=row.calling_ae,
                         quarantine=False)
    if result.status == "held":  # a Toshiba dose screen: read it now, with what is held of its study
        from doseapp.ingest.toshiba import build_settled

        result = next(iter(build_settled(0, only={result.held_study})), result)
    row = db.session.get(QuarantinedObject, row_id)
    if result.status == "failed":
        attempt.unlink(missing_ok=True)
        row.retry_count += 1
        row.reason = result.reason
        result.quarantine_id = row_id
    else:
        path.unlink(missing_ok=True)
        db.session.delete(row)
    db.session.commit()
    if result.status == "imported":
        from doseapp.skin.jobs import after_import

        after_import(result)
    result.file = name
    return result


def retry_many(ids: list[int], progress=None) -> list:
    """Retry these objects in id order; `progress(done, total)` after each (it may stop the run)."""
    results = []
    for n, row_id in enumerate(ids, start=1):
        row = db.session.get(QuarantinedObject, row_id)
        if row is not None:  # deleted meanwhile: nothing to do
            results.append(retry(row))
        if progress is not None:
            progress(n, len(ids))
    return results


def retry_all() -> list:
    """Every object in quarantine, retried (`doseapp import --retry-quarantine`)."""
    return retry_many(ids_of(Selection()))


def retry_job(ctx) -> dict:
    """The background job for retrying many objects (parameters: ids)."""
    ids = [int(i) for i in ctx.parameters.get("ids", [])]
    ctx.progress(0, len(ids), f"Retrying {plural(len(ids), 'object')}")
    results = retry_many(ids, lambda done, total: ctx.progress(done, total, f"Retried {done} of {total}"))
    tally: dict[str, int] = {}
    for r in results:
        tally[r.status] = tally.get(r.status, 0) + 1
    left = tally.get("failed", 0)
    ctx.row.message = (f"{len(results) - left} of {len(results)} left the quarantine"
                       + (f"; {left} failed again and {'stays' if left == 1 else 'stay'}." if left else "."))
    return {"outcomes": tally, "failed_ids": [r.quarantine_id for r in results if r.status == "failed"][:1000]}


def delete(ids: list[int]) -> int:
    """Delete these objects, files and rows, with one audit entry naming them. Returns how many."""
    rows = []
    for start in range(0, len(ids), CHUNK):  # an IN list of every id at once is past SQLite's limit
        rows += db.session.scalars(select(QuarantinedObject).where(
            QuarantinedObject.id.in_(ids[start:start + CHUNK]))).all()
    if not rows:
        return 0
    kept = folder().resolve()
    for row in rows:
        path = Path(row.path)
        if path.resolve().parent == kept:  # only ever a file of our own quarantine folder
            path.unlink(missing_ok=True)
        db.session.delete(row)
    audit.record("quarantine.delete", f"{len(rows)} quarantined object(s)",
                 {"objects": [{k: v for k, v in describe(r).items() if k not in ("stored_as", "sha256")}
                              for r in sorted(rows, key=lambda r: r.id)]})
    db.session.commit()
    return len(rows)


def export(row: QuarantinedObject, out: Path) -> Path:
    """Copy an object's file out of the quarantine (to look at it, or send it to the vendor)."""
    path = Path(row.path)
    if not path.is_file():
        raise FileNotFoundError(f"the quarantined file of object {row.id} is missing ({path})")
    shutil.copy2(path, out)
    return out
