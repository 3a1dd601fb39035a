"""Skin dose maps as background work: the RQ job functions (one study, many studies) and the triggers
that start them when a fluoroscopy study is imported, its patient size changes or an admin changes
a system's trust decision. Settings (Config → Skin dose maps) decide whether the triggers act."""
from __future__ import annotations

import datetime as dt
import logging

import redis
from sqlalchemy import delete, select, update

from doseapp.models import SkinDoseMap, Study, SystemSettings, db
from doseapp.skin import batch, store
from doseapp.display.timefmt import plural

log = logging.getLogger(__name__)

MAP_KIND, BATCH_KIND = "skin_map", "skin_map_batch"
QUEUE = "default"


def settings_allow(*, on_import: bool = False) -> bool:
    """Whether maps are switched on (and, with `on_import`, calculated on import)."""
    s = SystemSettings.get()
    return bool(s.enable_skin_dose_maps and (s.calc_skin_dose_on_import or not on_import))


# --- the jobs ------------------------------------------------------------------------------------

def map_job(ctx) -> dict:
    """The "skin_map" job: compute and keep one study's map (parameters: study_id)."""
    study_id = int(ctx.parameters["study_id"])
    study = db.session.get(Study, study_id)
    ctx.row.progress_done = ctx.row.progress_total = 1
    if study is None:  # replaced by a cumulative report, or deleted, since the job was queued
        ctx.row.message = f"Study {study_id} is no longer there; nothing to do."
        return {"study_id": study_id, "gone": True}
    row = store.compute_and_commit(study)
    ctx.row.message = (f"Peak skin dose {row.peak_skin_dose_gy:.4g} Gy ({row.peak_surface})" if row.status == "ok"
                       else f"No map: {row.reason}")
    return store.as_dict(row)


def batch_job(ctx) -> dict:
    """The "skin_map_batch" job: (re)compute many studies with progress. Parameters: scope (all or
    stale), and optionally system (display name), since (yyyy-mm-dd), equipment_ids, study_ids."""
    p = ctx.parameters
    since = dt.date.fromisoformat(p["since"]) if p.get("since") else None
    ctx.progress(0, None, "Choosing the studies")
    ids = batch.select_ids(p.get("scope", "all"), system=p.get("system"), since=since,
                           equipment_ids=p.get("equipment_ids"), study_ids=p.get("study_ids"))
    ctx.progress(0, len(ids), f"0 of {plural(len(ids), 'study')}")
    outcome = batch.recompute(ids, lambda done, total, o: ctx.progress(done, total, f"{done} of {plural(total, 'study')}: {o.words()}"))
    ctx.row.message = f"{plural(outcome.total, 'study')}: {outcome.words()}."
    if outcome.failed:
        first = outcome.errors[0]
        ctx.fail(f"{outcome.failed} of {outcome.total} studies failed (study {first['study_id']}: {first['error']}); "
                 f"{outcome.words()}.")
    return outcome.as_dict()


def waiting_map_job(study_id: int):
    """The study's map job that is queued or running, if any (a page reloaded while it waits must
    not queue a second one). Few map jobs are ever active at once, so they are read and matched here."""
    from doseapp.models import Job

    active = db.session.scalars(select(Job).where(Job.kind == MAP_KIND, Job.status.in_(("queued", "started")))
                                .order_by(Job.id.desc()).limit(200))
    return next((j for j in active if (j.parameters or {}).get("study_id") == study_id), None)


def enqueue_skin_map(study_id: int, *, user_id: int | None = None):
    """Queue one study's map (the study page's first look at a study without a current map).
    Raises redis.RedisError when Redis is down."""
    from doseapp.runtime.queues import enqueue

    return enqueue(MAP_KIND, queue=QUEUE, title=f"Skin dose map of study {study_id}", user_id=user_id,
                   parameters={"study_id": study_id})


def enqueue_batch(title: str, *, user_id: int | None = None, **parameters):
    """Queue a batch job (parameters as batch_job's). Raises redis.RedisError when Redis is down."""
    from doseapp.runtime.queues import enqueue

    return enqueue(BATCH_KIND, queue=QUEUE, title=title, user_id=user_id,
                   parameters={k: v for k, v in parameters.items() if v is not None})


# --- triggers ------------------------------------------------------------------------------------

def imported_fluoro_ids(results) -> list[int]:
    """Ids of the fluoroscopy studies that these import results created or added events to."""
    ids: list[int] = []
    for r in results:
        s = r.study or {}
        if r.status == "imported" and s.get("modality") == "RF" and s.get("id") not in ids:
            ids.append(s["id"])
    return ids


def after_import(result) -> None:
    """Queue the map of the fluoroscopy study an import (in a worker, or a quarantine retry) wrote,
    when the settings ask for maps on import. The map is always computed again: a continued report
    adds events to a stored study. Redis down: the import stands, and says its map was not queued."""
    from doseapp.runtime.queues import enqueue

    ids = imported_fluoro_ids([result])
    if not ids or not settings_allow(on_import=True):
        return
    try:
        enqueue_skin_map(ids[0])
    except redis.RedisError as exc:
        log.warning("skin dose map of study %s not queued: %s", ids[0], exc)
        result.warnings.append(f"skin dose map not queued (the job queue did not answer: {exc}); "
                               "`doseapp skin-maps recompute --stale` makes it")


def compute_imported(results) -> batch.BatchOutcome | None:
    """`doseapp import` runs in-process: the maps of the fluoroscopy studies it wrote, computed now
    (when the settings ask for maps on import)."""
    ids = imported_fluoro_ids(results)
    if not ids or not settings_allow(on_import=True):
        return None
    return batch.recompute(ids)


def sized_ids_with_maps(study_ids) -> list[int]:
    """Of these studies (whose patient size changed), those with a kept map: it is now out of date."""
    ids = sorted(set(study_ids))
    out: list[int] = []
    for start in range(0, len(ids), 500):
        out += db.session.scalars(select(SkinDoseMap.study_id).where(SkinDoseMap.study_id.in_(ids[start:start + 500]))).all()
    return sorted(out)


def after_size_change(study_ids, *, user_id: int | None = None):
    """Queue the recomputation of the maps that a patient size import made out of date (a size CSV
    import job). Returns the job, or None when there is nothing to do or maps are switched off."""
    ids = sized_ids_with_maps(study_ids)
    if not ids or not settings_allow():
        return None
    return enqueue_batch(f"Skin dose maps of {len(ids)} studies with a new patient size", user_id=user_id,
                         scope="all", study_ids=ids)


def after_trust_change(equipment_ids: list[int], *, user_id: int | None = None):
    """An admin changed these systems' trust decision: with maps on, queue their fluoroscopy
    studies' maps again (returns the job); with maps off, drop their kept maps, which no longer
    follow the decision (they are made again when maps are switched on and asked for). Commits."""
    if settings_allow():
        return enqueue_batch(f"Skin dose maps of {len(equipment_ids)} system(s) after a trust change",
                             user_id=user_id, scope="all", equipment_ids=list(equipment_ids))
    studies = select(Study.id).where(Study.equipment_id.in_(equipment_ids))
    db.session.execute(delete(SkinDoseMap).where(SkinDoseMap.study_id.in_(studies))
                       .execution_options(synchronize_session=False))
    db.session.execute(update(Study).where(Study.equipment_id.in_(equipment_ids), Study.peak_skin_dose_gy.isnot(None))
                       .values(peak_skin_dose_gy=None).execution_options(synchronize_session=False))
    db.session.commit()
    return None
