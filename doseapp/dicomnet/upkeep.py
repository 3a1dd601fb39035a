"""Upkeep of received objects: queue pending ones once Redis is back, recover spool files a killed
receiver wrote but never queued, and the retention cleanup of kept objects."""
from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import redis
from flask import current_app
from sqlalchemy import delete, exists, select

from doseapp.dicomnet import storage
from doseapp.models import DicomPendingObject, DicomStoreScp, Job, db
from doseapp.display.timefmt import plural

log = logging.getLogger(__name__)

ORPHAN_AGE_SECONDS = 600  # a spool file this old with no job was written by a receiver that died


def sweep_pending(limit: int = 500) -> int:
    """Queue the import of objects received while Redis was down. Returns how many were queued;
    stops at the first Redis failure (it is still down)."""
    from doseapp.runtime.queues import add_job, push

    queued = 0
    rows = db.session.scalars(select(DicomPendingObject).order_by(DicomPendingObject.id).limit(limit)).all()
    for row in rows:
        job = add_job("import_file", queue="import", title=f"Import received {Path(row.path).name}", retries=3,
                      parameters=row.parameters)
        job_id = job.rq_spec[1]
        db.session.commit()
        try:
            push([job])
        except redis.RedisError as exc:
            db.session.rollback()
            # The job row was committed before Redis failed: it goes, the pending row stays.
            db.session.execute(delete(Job).where(Job.id == job_id))
            row = db.session.get(DicomPendingObject, row.id)
            row.attempts += 1
            row.last_error = f"{type(exc).__name__}: {exc}"
            db.session.commit()
            break
        db.session.delete(row)
        db.session.commit()
        queued += 1
    if queued:
        log.info("Queued %d object(s) received while the job queue was unavailable", queued)
    return queued


def recover_orphans(now: float | None = None) -> int:
    """Spool files of every node that no job or pending row knows of, older than ORPHAN_AGE_SECONDS,
    are queued for import (import is idempotent, so a copy the sender sent again is a duplicate);
    half-written temporary files that old are deleted (never acknowledged). Returns files queued."""
    now = now or time.time()
    spool_root = Path(current_app.config["INSTANCE"]) / "spool"
    queued = 0
    nodes = {storage.node_folder_name(n.aetitle): n for n in db.session.scalars(select(DicomStoreScp))}
    for folder in (spool_root.iterdir() if spool_root.exists() else []):
        node = nodes.get(folder.name)
        if not folder.is_dir() or node is None:
            continue
        for entry in os.scandir(folder):
            try:
                age = now - entry.stat().st_mtime
            except FileNotFoundError:
                continue
            if age < ORPHAN_AGE_SECONDS or not entry.is_file():
                continue
            if entry.name.startswith(storage.TMP_PREFIX):
                os.unlink(entry.path)
                continue
            title = f"Import received {entry.name}"
            # A job row that housekeeping marked failed (lost from the queue) does not count.
            live = Job.status.in_(("queued", "started", "finished"))
            known = db.session.scalar(select(exists().where(Job.title == title, live))) or db.session.scalar(
                select(exists().where(DicomPendingObject.path == entry.path)))
            if known:
                continue
            parameters = {"path": entry.path, "source": f"scp:{node.aetitle}", "owned": True,
                          "layout": {"node": folder.name, "structure": node.storage_structure,
                                     "naming": node.file_naming}}
            db.session.add(DicomPendingObject(scp_id=node.id, path=entry.path, parameters=parameters,
                                              last_error="found in the spool with no import job"))
            db.session.commit()
            queued += 1
    if queued:
        log.warning("Found %d received object(s) in the spool with no import job; queuing them", queued)
        sweep_pending()
    return queued


def cleanup_kept(now: float | None = None) -> dict:
    """Delete kept objects older than each node's retention period, for nodes with cleanup on."""
    instance = Path(current_app.config["INSTANCE"])
    report = {}
    for node in db.session.scalars(select(DicomStoreScp).where(DicomStoreScp.cleanup_enabled.is_(True))):
        removed, freed = storage.remove_older_than(storage.objects_dir(instance, node.aetitle),
                                                   node.retention_days, now)
        report[node.aetitle] = {"files_removed": removed, "bytes_freed": freed}
        if removed:
            from doseapp.dicomnet.object_index import forget_missing

            forget_missing()  # the deleted files leave the query/retrieve index
        if removed:
            log.info("Retention cleanup of %s: %d file(s), %.1f MB", node.aetitle, removed, freed / 1e6)
    return report


def cleanup_job(ctx) -> dict:
    """The hourly job: delete objects kept by Store SCP nodes past each node's retention period."""
    report = cleanup_kept()
    removed = sum(r["files_removed"] for r in report.values())
    ctx.row.message = f"{plural(removed, 'kept object')} past retention removed."
    return report
