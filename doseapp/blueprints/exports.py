"""The exports page and the routes that start exports from a study list.

Each export is a Job row of kind "export" (parameters: modality, format, the list's filter
arguments, identifier flags; result: records, seconds, file; result_path: the file). Users see
their own exports; admins see everyone's, but a file with patient names or IDs goes only to a user
holding the pid role now, and every such start and download is in the audit log.
"""
from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _, ngettext
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from doseapp import audit, filters
from doseapp.display import i18n
from doseapp.blueprints.job_titles import export_label
from doseapp.runtime import queues
from doseapp.exports.jobs import (KIND, QUEUE, export_folder, may_export_pid, parameters,
                                  record_identifier_export)
from doseapp.exports import openskin as openskin_csv
from doseapp.exports.run import MG_ONLY, TYPE_LABELS
from doseapp.models import Job, Study, db

bp = Blueprint("exports", __name__, url_prefix="/exports")

SLUGS = {"ct": "CT", "rf": "RF", "mg": "MG", "dx": "DX", "nm": "NM"}
MODALITY_URL = "<any(ct,rf,mg,dx,nm):modality>"
FORMAT_URL = "<any(csv,'csv-wide',xlsx,nhsbsp):fmt>"
MIMETYPES = {".csv": "text/csv", ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


def _is_admin() -> bool:
    return current_user.has_role("admin")


def _visible():
    stmt = select(Job).where(Job.kind == KIND)
    if not _is_admin():
        stmt = stmt.where(Job.user_id == current_user.id)
    return stmt


def has_identifiers(job: Job) -> bool:
    p = job.parameters or {}
    return bool(p.get("name") or p.get("pat_id"))


def may_download(job: Job) -> bool:
    """Identifiers reach only the pid role, whoever started the export (admins see all exports)."""
    return not has_identifiers(job) or current_user.has_role("pid")


def _job(export_id: int) -> Job:
    job = db.session.get(Job, export_id)
    if job is None or job.kind != KIND or not (_is_admin() or job.user_id == current_user.id):
        abort(404)
    return job


def _tables_context() -> dict:
    jobs = db.session.scalars(_visible().order_by(Job.id.desc()).limit(500)).all()
    return dict(running=[j for j in jobs if j.active],
                failed=[j for j in jobs if j.status in ("failed", "cancelled")],
                done=[j for j in jobs if j.status == "finished"],
                labels=TYPE_LABELS, show_owner=_is_admin(), may_download=may_download)


@bp.route("/")
def index():
    return render_template("exports/index.html", **_tables_context())


@bp.route("/tables")
def tables():
    """The three tables, for the HTMX refresh every 2 s while an export runs."""
    return render_template("exports/_tables.html", **_tables_context())




def _start(modality: str, fmt: str, name: bool, pat_id: bool):
    mod = SLUGS[modality]
    if fmt in MG_ONLY and mod != "MG":
        flash(_("The %(export)s is for mammography only.", export=export_label(fmt)))
        return redirect(url_for("exports.index"))
    # The list's filter arguments, as the list page sends them (form fields or query string).
    given = {**request.args.to_dict(), **request.form.to_dict()}
    allowed = filters.param_names(mod, current_user) | {"o"}
    args = {k: v for k, v in given.items() if k in allowed and v.strip()}
    q = filters.study_query(mod, args, current_user)
    if q.errors:
        flash(_("Fix the filter first: %(errors)s", errors=", ".join(q.errors)))
        return redirect(url_for("exports.index"))
    which = " with names and ID" if name and pat_id else " with names" if name else " with ID" if pat_id else ""
    title = f"{mod} {TYPE_LABELS[fmt]}{which}"
    if name or pat_id:  # committed with the job by enqueue
        record_identifier_export(title, mod, fmt, name, pat_id, q.values)
    queues.enqueue(KIND, queue=QUEUE, title=title, user_id=current_user.id,
                   modality=mod, parameters=parameters(mod, fmt, q.values, name=name, pat_id=pat_id,
                                                       bom=request.form.get("bom") == "1",
                                                       headings=i18n.export_headings_language(current_user)))
    flash(_("%(modality)s %(export)s started: it appears below when done.", modality=mod, export=export_label(fmt)))
    return redirect(url_for("exports.index"))


@bp.route(f"/start/{MODALITY_URL}/{FORMAT_URL}", methods=["POST"])
def start(modality: str, fmt: str):
    return _start(modality, fmt, False, False)


@bp.route(f"/start-pid/{MODALITY_URL}/{FORMAT_URL}", methods=["POST"])
def start_pid(modality: str, fmt: str):
    """Exports with patient names and/or IDs (and date of birth): exporter (or admin) AND pid."""
    if not may_export_pid(current_user):
        flash(_("Exports with patient identifiers need both the exporter and the pid roles."))
        return redirect(url_for("home.index"))
    if fmt == "nhsbsp":
        flash(_("The NHSBSP export never includes patient identifiers."))
        return redirect(url_for("exports.index"))
    name, pat_id = request.form.get("name") == "1", request.form.get("pat_id") == "1"
    if not (name or pat_id):
        name = pat_id = True
    return _start(modality, fmt, name, pat_id)


@bp.route("/<int:export_id>/abort", methods=["POST"])
def abort_export(export_id: int):
    queues.cancel(_job(export_id))
    if request.headers.get("HX-Request"):
        return render_template("exports/_tables.html", **_tables_context())
    flash(_("Export aborted: nothing will be kept from it."))
    return redirect(url_for("exports.index"))


@bp.route("/<int:export_id>/download")
def download(export_id: int):
    job = _job(export_id)
    path = Path(job.result_path) if job.result_path else None
    # Only files in the exports folder are ever sent.
    if job.status != "finished" or path is None or not path.is_file() or path.parent != export_folder():
        abort(404)
    if not may_download(job):
        abort(403, description=_("This export holds patient names or IDs: downloading it needs the pid role."))
    if has_identifiers(job):
        audit.record("export.download_identifiers", job.title,
                     {"export_id": job.id, "file": path.name, "owner": job.user.username if job.user else None})
        db.session.commit()
    return send_file(path, mimetype=MIMETYPES.get(path.suffix, "application/octet-stream"), as_attachment=True,
                     download_name=path.name)


@bp.app_template_global()
def openskin_layout() -> dict:
    """What the study page says about the openSkin file: the copper-only warning and the columns, in the
    page's language (the file itself has no header row; its warning is the English of COPPER_WARNING)."""
    warning = _("Only copper filters are considered in this export - aluminium or other filters are not "
                "considered. This is related to the way openSkin works.")
    return {"warning": warning, "columns": [_(c.header) for c in openskin_csv.OPENSKIN_EVENT]}


@bp.route("/openskin/<int:study_id>")
def openskin(study_id: int):
    """One fluoroscopy study as the CSV standalone openSkin reads (doseapp/exports/openskin.py): small,
    so written here, not as a job; each download is in the audit log."""
    study = db.session.scalar(select(Study).where(Study.id == study_id, Study.modality == "RF")
                              .options(selectinload(Study.xray_events)))
    if study is None:
        abort(404)
    name = openskin_csv.file_name()
    body = openskin_csv.csv_text(study)
    audit.record("export.openskin", f"RF study {study.id}",
                 {"study_id": study.id, "study_instance_uid": study.study_instance_uid,
                  "events": len(study.xray_events), "file": name})
    db.session.commit()
    return Response(body, mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@bp.route("/delete", methods=["POST"])
def delete():
    ids = [int(i) for i in request.form.getlist("export_id") if i.isdigit()]
    removed = 0
    for job in db.session.scalars(_visible().where(Job.id.in_(ids))).all():
        if job.active:
            continue
        if job.result_path and Path(job.result_path).parent == export_folder():
            Path(job.result_path).unlink(missing_ok=True)
        db.session.delete(job)
        removed += 1
    db.session.commit()
    flash(ngettext("%(num)d export deleted.", "%(num)d exports deleted.", removed) if removed
          else _("Tick the exports to delete first."))
    return redirect(url_for("exports.index"))
