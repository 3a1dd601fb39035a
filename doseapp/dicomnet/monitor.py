"""What the dashboard, the node list and GET /api/dicom/status show about each Store SCP node."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from doseapp.dicomnet.nodes import services
from doseapp.models import DicomPendingObject, DicomStoreScp, DicomTransaction, Job, QuarantinedObject, db
from doseapp.models.base import utcnow
from doseapp.display.timefmt import local_today, utc_start_of

OK_STATUSES = ("success", "accepted")
STALE_HEARTBEAT = dt.timedelta(seconds=30)


def _count(*where, model=DicomTransaction) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def node_stats(node: DicomStoreScp) -> dict:
    """Status and counts for one node, as plain values (JSON-ready)."""
    now = utcnow()
    today = utc_start_of(local_today())  # "today" where the users are
    stores = (DicomTransaction.scp_id == node.id, DicomTransaction.operation == "C-STORE",
              DicomTransaction.status == "success")
    errors = (DicomTransaction.scp_id == node.id, DicomTransaction.status.notin_(OK_STATUSES))
    running = node.status == "running"
    heartbeat_ok = bool(node.last_seen and now - node.last_seen < STALE_HEARTBEAT)
    last_error = db.session.scalar(select(DicomTransaction).where(*errors).order_by(DicomTransaction.id.desc())
                                   .limit(1))
    # An object acknowledged and then not importable is this node's error too, though DICOM saw none.
    source = f"scp:{node.aetitle}"
    failed_imports = (Job.kind == "import_file", Job.status == "failed", Job.parameters["source"].as_string() == source)
    failed_today = _count(*failed_imports, Job.ended_at >= today, model=Job)
    failed_total = _count(*failed_imports, model=Job)
    return {
        "id": node.id, "name": node.name, "aetitle": node.aetitle, "host": node.bind_address, "port": node.port,
        "enabled": node.enabled, "auto_start": node.auto_start, "desired_state": node.desired_state,
        "services": services(node),
        "status": node.status or "not started",
        "alive": running and node.echo_status == "alive",
        "echo_status": node.echo_status if running else None,
        "last_echo_at": _iso(node.last_echo_at),
        "status_message": node.status_message,
        "last_error": node.last_error,
        "last_error_at": _iso(node.last_error_at),
        # An error is past once a keep-alive echo has answered after it.
        "last_error_past": bool(node.last_error and running and node.echo_status == "alive" and node.last_echo_at
                                and (node.last_error_at is None or node.last_echo_at > node.last_error_at)),
        "uptime_seconds": int((now - node.started_at).total_seconds()) if running and node.started_at else None,
        "active_associations": node.active_associations if running and heartbeat_ok else 0,
        "objects_received_today": _count(*stores, DicomTransaction.at >= today),
        "objects_received_total": _count(*stores),
        "errors_today": _count(*errors, DicomTransaction.at >= today) + failed_today,
        "errors_total": _count(*errors) + failed_total,
        "failed_imports_today": failed_today,
        "failed_imports_total": failed_total,
        "in_quarantine": _count(QuarantinedObject.source == source, model=QuarantinedObject),
        "last_failure": ({"at": _iso(last_error.at), "operation": last_error.operation, "status": last_error.status,
                          "error": last_error.error} if last_error else None),
        "storage_used_bytes": node.storage_used_bytes,
        "storage_limit_bytes": node.storage_limit_mb * 1024 * 1024 if node.storage_limit_mb else None,
        "pending_objects": db.session.scalar(select(func.count()).select_from(DicomPendingObject)
                                             .where(DicomPendingObject.scp_id == node.id)) or 0,
    }


def all_stats() -> list[dict]:
    return [node_stats(n) for n in db.session.scalars(select(DicomStoreScp).order_by(DicomStoreScp.name))]


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") + "Z" if value else None


def human_bytes(value: int | None) -> str:
    if value is None:
        return "—"
    for unit in ("bytes", "kB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1000
    return str(value)


def human_duration(seconds: int | None) -> str:
    if seconds is None:
        return "—"
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {secs} s"
