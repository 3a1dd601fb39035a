"""The import job: one file, as `doseapp import --queue` and the DICOM receiver enqueue it."""
from __future__ import annotations

from pathlib import Path

from sqlalchemy import exists, select

from doseapp.models import ProcessedObject, db


def import_file(ctx) -> dict:
    """Import one file; the result (imported, duplicate, rejected, failed) is the job's result. A file
    that failed is in quarantine with its reason: the job is failed, not retried (a retry would only
    fail again, and the quarantine keeps the object)."""
    from doseapp.ingest import ImportResult, import_file as do_import

    p = ctx.parameters
    if p.get("owned") and _taken_after_import(p):
        result = ImportResult(p["path"], "duplicate", "already imported, by an earlier run of this job")
    else:
        result = do_import(p["path"], source=p.get("source", "cli"), owned=p.get("owned", False),
                           layout=p.get("layout"), calling_ae=p.get("calling_ae"))
    if result.status == "held":
        from doseapp.runtime.queues import enqueue

        # Builds the held Toshiba studies that have settled by the time it runs (the periodic run
        # picks up the rest).
        enqueue("toshiba_settle", queue="import", title="Build settled Toshiba CT studies")
    if result.status == "imported":
        from doseapp.skin.jobs import after_import

        after_import(result)  # a fluoroscopy study's skin dose map, as its own job
    ctx.row.message = f"{result.status}: {result.reason}" if result.reason else result.status
    # One object: done is done. Written by the finishing commit, not a progress commit of its own
    # (a busy receiver queues tens of these a second).
    ctx.row.progress_done = ctx.row.progress_total = 1
    if result.status == "failed":
        ctx.fail(f"Failed: {result.reason}")
    return result.as_dict()


def _taken_after_import(p: dict) -> bool:
    """A received file that is gone while its object is imported: a run of this job that was stopped
    (its worker killed) after the import committed and the file was filed away, now run again."""
    uid = p.get("sop_instance_uid")
    return bool(uid) and not Path(p["path"]).exists() and bool(
        db.session.scalar(select(exists().where(ProcessedObject.sop_instance_uid == uid))))
