"""The "export" job: parameters say what to export; the file goes to <instance>/exports/."""
from __future__ import annotations

from pathlib import Path

from flask import current_app

from doseapp import audit, filters, roles
from doseapp.exports.run import TYPE_LABELS, file_name, run_export
from doseapp.models import User, db
from doseapp.display.timefmt import plural

QUEUE = "export"
KIND = "export"


def export_folder() -> Path:
    folder = Path(current_app.config["INSTANCE"]) / "exports"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def may_export_pid(user) -> bool:
    """Identifiers go only to users with both an exporting role and the pid role."""
    return bool(user is not None and roles.allowed(user, roles.EXPORT) and user.has_role("pid"))


def record_identifier_export(title: str, modality: str, fmt: str, name: bool, pat_id: bool, args: dict) -> None:
    """Put the start of an export with identifiers in the audit log, with its filter — but not the
    values of the patient name and ID filters: they are identifiers themselves, and the log is read
    by admins who may not hold the pid role. The caller commits."""
    hidden = {p for f in filters.FILTERS if f.needs == filters.PID for p in f.params()}
    shown = {k: "(patient identifier, not recorded)" if k in hidden else v for k, v in args.items()}
    audit.record("export.start_identifiers", title, {"modality": modality, "format": fmt, "names": bool(name),
                                                     "ids": bool(pat_id), "filter": shown})


def parameters(modality: str, fmt: str, args: dict, *, name=False, pat_id=False, bom=False,
               headings: str = "en") -> dict:
    return {"modality": modality.upper(), "format": fmt, "args": dict(args), "name": bool(name),
            "pat_id": bool(pat_id), "bom": bool(bom), "headings": headings}


def run_job(ctx) -> dict:
    p = ctx.parameters
    user = db.session.get(User, ctx.row.user_id) if ctx.row.user_id else None
    name, pat_id = p.get("name", False), p.get("pat_id", False)
    if (name or pat_id) and not may_export_pid(user):
        # Checked again here: roles may have changed since the export was asked for.
        raise PermissionError("patient identifiers need the exporter and pid roles")
    out = export_folder() / file_name(p["modality"], p["format"])
    ctx.row.result_path = None
    result = run_export(p["modality"], p["format"], p.get("args") or {}, out=out, user=user, name=name,
                        pat_id=pat_id, bom=p.get("bom", False), headings=p.get("headings", "en"),
                        date_format=current_app.config.get("XLSX_DATE_FORMAT", "dd/mm/yyyy"),
                        progress=lambda done, total: ctx.progress(done, total, f"{done} of {plural(total, 'study')}"))
    ctx.row.result_path = result["path"]
    ctx.row.message = f"{plural(result['records'], 'study')} exported ({TYPE_LABELS[p['format']]})."
    return {"records": result["records"], "seconds": result["seconds"], "file": out.name}
