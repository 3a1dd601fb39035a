"""Recomputing the CT estimates (per event SSDE and effective dose estimate, per study mean CTDIvol,
mean SSDE, SSDE method and summed estimate) of studies already stored: after an upgrade, or when
the method or the coefficient table changes. In batches of studies by id (keyset), each batch one
transaction, so a 500,000-study database is never in memory at once. The same computation as at
import (doseapp.ingest.summary), from the stored values only: running it twice changes nothing.
Each batch's DRL ratios (study.drl_ratio) are refreshed in the same transaction, since they read
the mean CTDIvol and SSDE. The RQ job ("ct_estimates") and `doseapp ct-estimates recompute` share it."""
from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Callable

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from doseapp.ingest.summary import summarise_ct_estimates
from doseapp.models import CtEvent, Study, db
from doseapp.standards import flags
from doseapp.display.timefmt import plural

KIND = "ct_estimates"
QUEUE = "default"
BATCH = 500


@dataclass
class Outcome:
    total: int = 0
    done: int = 0
    with_ssde: int = 0
    with_estimate: int = 0

    def words(self) -> str:
        return (f"{self.done} of {plural(self.total, 'study')}: {self.with_ssde} with an SSDE, "
                f"{self.with_estimate} with an effective dose estimate")

    def as_dict(self) -> dict:
        return asdict(self)


def _selection(since: dt.date | None):
    """CT studies (those with CT events: a study whose modality an admin set otherwise keeps them)."""
    q = select(Study.id).where(select(CtEvent.id).where(CtEvent.study_id == Study.id).exists())
    return q.where(Study.study_date >= since) if since is not None else q


def recompute(since: dt.date | None = None, progress: Callable[[Outcome], None] | None = None,
              batch: int = BATCH) -> Outcome:
    """Recompute every CT study (from `since`, by study date), committing per batch of `batch`."""
    base = _selection(since)
    outcome = Outcome(total=db.session.scalar(select(func.count()).select_from(base.subquery())) or 0)
    if progress:
        progress(outcome)
    last = 0
    while True:
        ids = db.session.scalars(base.where(Study.id > last).order_by(Study.id).limit(batch)).all()
        if not ids:
            break
        studies = db.session.scalars(select(Study).where(Study.id.in_(ids))
                                     .options(selectinload(Study.ct_events))).all()
        for study in studies:
            summarise_ct_estimates(study)
            outcome.with_ssde += study.mean_ssde_mgy is not None
            outcome.with_estimate += study.effective_dose_msv is not None
        db.session.flush()
        # The DRL ratio reads the mean CTDIvol and SSDE just recomputed; refresh_studies commits the
        # batch, and the session keeps no strong reference: the batch's rows are let go.
        flags.refresh_studies(ids)
        outcome.done += len(ids)
        last = ids[-1]
        del studies
        if progress:
            progress(outcome)
    return outcome


def recompute_job(ctx) -> dict:
    """The "ct_estimates" job (parameters: optional since, yyyy-mm-dd), with progress."""
    since = ctx.parameters.get("since")
    outcome = recompute(dt.date.fromisoformat(since) if since else None,
                        lambda o: ctx.progress(o.done, o.total, o.words()))
    ctx.row.message = outcome.words() + "."
    return outcome.as_dict()


def enqueue_recompute(*, since: str | None = None, user_id: int | None = None):
    """Queue the recomputation. Raises redis.RedisError when Redis is down."""
    from doseapp.runtime.queues import enqueue

    return enqueue(KIND, queue=QUEUE, title="CT SSDE and effective dose estimates", user_id=user_id,
                   parameters={"since": since} if since else {})
