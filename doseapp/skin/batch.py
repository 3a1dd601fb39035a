"""Recomputing many studies' skin dose maps: which studies (all fluoroscopy studies, only the stale
ones, a system, a date, given ids) and the loop that computes them with progress. The background
job (skin/jobs.py) and `doseapp skin-maps recompute` share both."""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import asdict, dataclass, field
from typing import Callable

from sqlalchemy import func, select

from doseapp.models import Equipment, SkinDoseMap, Study, db
from doseapp.skin import store

log = logging.getLogger(__name__)

SCOPES = ("all", "stale")
_CHUNK = 500  # ids per IN list: SQLite allows 999 parameters per statement
MAX_ERRORS_KEPT = 20


class UnknownSystem(ValueError):
    """No system has the display name asked for."""


@dataclass
class BatchOutcome:
    total: int = 0
    maps: int = 0
    no_map: int = 0
    gone: int = 0  # deleted (or replaced by a cumulative report) before their turn
    failed: int = 0
    errors: list[dict] = field(default_factory=list)  # the first MAX_ERRORS_KEPT: {"study_id", "error"}

    def as_dict(self) -> dict:
        return asdict(self)

    def words(self) -> str:
        text = f"{self.maps} with a map, {self.no_map} without"
        if self.gone:
            text += f", {self.gone} no longer there"
        if self.failed:
            text += f", {self.failed} failed"
        return text


def select_ids(scope: str = "all", *, system: str | None = None, since: dt.date | None = None,
               equipment_ids: list[int] | None = None, study_ids: list[int] | None = None) -> list[int]:
    """Ids of the fluoroscopy studies to (re)compute, oldest first. `stale`: those without a kept map
    or whose kept map is no longer current (method version or patient size changed)."""
    if scope not in SCOPES:
        raise ValueError(f"scope is one of {', '.join(SCOPES)}, not {scope!r}")
    q = select(Study.id).where(Study.modality == "RF")
    if system:
        eq_ids = db.session.scalars(select(Equipment.id).where(
            func.lower(Equipment.display_name) == system.strip().lower())).all()
        if not eq_ids:
            raise UnknownSystem(f"no system has the display name {system!r}")
        q = q.where(Study.equipment_id.in_(eq_ids))
    if equipment_ids is not None:
        q = q.where(Study.equipment_id.in_(equipment_ids))
    if since is not None:
        q = q.where(Study.study_date >= since)
    ids = list(db.session.scalars(q.order_by(Study.id)))
    if study_ids is not None:
        wanted = set(study_ids)
        ids = [i for i in ids if i in wanted]
    return _stale(ids) if scope == "stale" else ids


def _stale(ids: list[int]) -> list[int]:
    out = []
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start:start + _CHUNK]
        rows = db.session.execute(select(Study, SkinDoseMap).outerjoin(SkinDoseMap, SkinDoseMap.study_id == Study.id)
                                  .where(Study.id.in_(chunk)).order_by(Study.id)).all()
        out += [study.id for study, row in rows if not store.is_current(row, study)]
    return out


def recompute(ids: list[int], progress: Callable[[int, int, BatchOutcome], None] | None = None) -> BatchOutcome:
    """Compute and keep the map of each study in `ids`, committing each. A study that fails (an
    engine fault) is counted and named in the outcome, and the others still run; `progress(done,
    total, outcome)` after each (it may raise to stop the run, as a cancelled job does)."""
    outcome = BatchOutcome(total=len(ids))
    for n, study_id in enumerate(ids, start=1):
        study = db.session.get(Study, study_id)
        if study is None:
            outcome.gone += 1
        else:
            try:
                row = store.compute_and_commit(study)
            except Exception as exc:  # one study's fault must not stop the others; it is reported
                db.session.rollback()
                log.exception("skin dose map of study %s failed", study_id)
                outcome.failed += 1
                if len(outcome.errors) < MAX_ERRORS_KEPT:
                    outcome.errors.append({"study_id": study_id, "error": f"{type(exc).__name__}: {exc}"})
            else:
                if row.status == "ok":
                    outcome.maps += 1
                else:
                    outcome.no_map += 1
        if progress is not None:
            progress(n, len(ids), outcome)
    return outcome
