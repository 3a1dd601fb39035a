"""Upkeep of received objects: queue pending ones once Redis is back, recover spool files a killed
receiver wrote but never queued, and the cleanups of kept objects (by age, and when full)."""
from __future__ import annotations

import logging
import os
import shutil
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


FULL_MARGIN_PERCENT = 5  # a full node is cleaned down to this many points under its threshold


def cleanup_kept(now: float | None = None) -> dict:
    """The cleanups of kept objects, for the nodes that ask: objects older than the node's retention
    period; then, for a node whose storage is full, the oldest objects until it is not. The files
    deleted leave the query/retrieve index. Returns {AE title: counts} for those nodes."""
    from sqlalchemy import or_

    from doseapp.dicomnet.object_index import forget

    instance = Path(current_app.config["INSTANCE"])
    report = {}
    asking = or_(DicomStoreScp.cleanup_enabled.is_(True), DicomStoreScp.cleanup_when_full.is_(True))
    for node in db.session.scalars(select(DicomStoreScp).where(asking).order_by(DicomStoreScp.id)).all():
        objects = storage.objects_dir(instance, node.aetitle)
        removed: list[str] = []
        freed = 0
        if node.cleanup_enabled:
            _, freed = storage.remove_older_than(objects, node.retention_days, now, removed)
            if removed:
                log.info("Retention cleanup of %s: %d file(s), %.1f MB", node.aetitle, len(removed), freed / 1e6)
        counts = {"files_removed": len(removed), "bytes_freed": freed}
        if node.cleanup_when_full:
            full = _cleanup_full(node, instance, objects)
            removed += full.pop("paths")
            counts["files_removed"] += full["files_removed"]
            counts["bytes_freed"] += full["bytes_freed"]
            counts["full"] = full
        if removed:
            forget(removed)  # the deleted files leave the query/retrieve index
        report[node.aetitle] = counts
    return report


def _cleanup_full(node: DicomStoreScp, instance: Path, objects: Path) -> dict:
    """Delete the node's oldest kept objects if its storage is full: its spool and kept objects at
    `cleanup_full_percent` of its storage limit (what the receiver counts against the limit) or,
    with no limit, the disk that holds them that full. Deletes down to FULL_MARGIN_PERCENT points
    under the threshold, so the cleanup does not run again at the next object."""
    if node.storage_limit_mb:
        capacity = node.storage_limit_mb * 1024 * 1024
        used = storage.tree_size(storage.spool_dir(instance, node.aetitle), objects)
    else:
        disk = shutil.disk_usage(objects if objects.exists() else instance)
        capacity, used = disk.total, disk.used
    threshold = capacity * node.cleanup_full_percent / 100
    found = {"used_bytes": used, "capacity_bytes": capacity, "files_removed": 0, "bytes_freed": 0, "paths": []}
    if used < threshold:
        return found
    target = capacity * max(node.cleanup_full_percent - FULL_MARGIN_PERCENT, 0) / 100
    paths, freed = storage.remove_oldest(objects, int(used - target) + 1)
    log.warning("%s was full (%.1f MB of %.1f MB, threshold %d%%): removed the %d oldest kept object(s), %.1f MB",
                node.aetitle, used / 1e6, capacity / 1e6, node.cleanup_full_percent, len(paths), freed / 1e6)
    return found | {"files_removed": len(paths), "bytes_freed": freed, "paths": paths}


def cleanup_job(ctx) -> dict:
    """The hourly job: delete objects kept by Store SCP nodes past each node's retention period, and
    the oldest of a node whose storage is full."""
    report = cleanup_kept()
    removed = sum(r["files_removed"] - r.get("full", {}).get("files_removed", 0) for r in report.values())
    full = sum(r.get("full", {}).get("files_removed", 0) for r in report.values())
    ctx.row.message = (f"{plural(removed, 'kept object')} past retention removed"
                       + (f", {plural(full, 'oldest kept object')} removed from full storage." if full else "."))
    return report
