"""The import job: one file, as `doseapp import --queue` and the DICOM receiver enqueue it."""
from __future__ import annotations


def import_file(ctx) -> dict:
    """Import one file; the result (imported, duplicate, rejected, failed) is the job's result."""
    from doseapp.ingest import import_file as do_import

    p = ctx.parameters
    result = do_import(p["path"], source=p.get("source", "cli"), owned=p.get("owned", False),
                       layout=p.get("layout"))
    ctx.row.message = f"{result.status}: {result.reason}" if result.reason else result.status
    # One object: done is done. Written by the finishing commit, not a progress commit of its own
    # (a busy receiver queues tens of these a second).
    ctx.row.progress_done = ctx.row.progress_total = 1
    return result.as_dict()
