"""Patient size imports on the web: upload a CSV, say which columns hold what, run it as a job with a
progress bar and an Abort button, and keep the completed imports (time taken, rows, log, delete).

Each import is a Job row of kind "size_import" (parameters: the column mapping; result: the counts;
result_path: the log). The upload waits in the instance's size_imports folder, named in the user's
session, until the columns are chosen; the job deletes it once imported.
"""
from __future__ import annotations

import re
import secrets
from pathlib import Path

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, send_file, session, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from werkzeug.utils import secure_filename

from doseapp.runtime import queues
from doseapp.ingest.size_csv import HEIGHT_CM, WEIGHT_KG, SizeCsvError, check_file, log_folder, read_header
from doseapp.models import Job, db

bp = Blueprint("imports", __name__, url_prefix="/imports/size")

KIND = "size_import"
_SESSION_KEY = "size_upload"
_TOKEN = re.compile(r"^[0-9a-f]{16}$")


def _upload_folder() -> Path:
    folder = log_folder() / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _pending() -> tuple[Path, str] | None:
    """The CSV this user uploaded and has not started yet: (path, original name)."""
    info = session.get(_SESSION_KEY) or {}
    token = info.get("token", "")
    if not _TOKEN.match(token):
        return None
    path = _upload_folder() / f"{token}.csv"
    return (path, info.get("name") or "upload.csv") if path.exists() else None


def _job(job_id: int) -> Job:
    job = db.session.get(Job, job_id)
    if job is None or job.kind != KIND:
        abort(404)
    return job


@bp.route("/")
def index():
    jobs = db.session.scalars(select(Job).where(Job.kind == KIND).order_by(Job.id.desc()).limit(200)).all()
    running = [j for j in jobs if j.active]
    done = [j for j in jobs if not j.active]
    return render_template("imports/size_index.html", running=running, done=done, pending=_pending(),
                           can_upload=current_user.has_role("importsize"),
                           ranges={"height": HEIGHT_CM, "weight": WEIGHT_KG})


@bp.route("/upload", methods=["POST"])
def upload():
    file = request.files.get("csv_file")
    if file is None or not file.filename:
        flash(_("Choose a CSV file to upload."))
        return redirect(url_for("imports.index"))
    token = secrets.token_hex(8)
    path = _upload_folder() / f"{token}.csv"
    largest = current_app.config["MAX_UPLOAD_BYTES"]  # DOSEAPP_MAX_UPLOAD_MB
    data = file.stream.read(largest + 1)
    if len(data) > largest:
        flash(_("The file is larger than %(mb)s MB; split it into smaller files.", mb=largest // (1024 * 1024)))
        return redirect(url_for("imports.index"))
    path.write_bytes(data)
    try:
        # The whole file, not just its header: a file refused later would fail as a job instead of
        # being named here. Reading the largest upload (50 MB) takes about two seconds.
        check_file(path)
    except (SizeCsvError, OSError) as exc:
        path.unlink(missing_ok=True)
        flash(_("That file cannot be used: %(reason)s", reason=exc))
        return redirect(url_for("imports.index"))
    old = _pending()
    if old:
        old[0].unlink(missing_ok=True)
    session[_SESSION_KEY] = {"token": token, "name": secure_filename(file.filename) or "upload.csv"}
    return redirect(url_for("imports.map_columns"))


@bp.route("/map", methods=["GET", "POST"])
def map_columns():
    pending = _pending()
    if pending is None:
        return render_template("imports/size_map.html", columns=None, name=None)
    path, name = pending
    columns = read_header(path)
    if request.method == "GET":
        return render_template("imports/size_map.html", columns=columns, name=name)
    form = request.form
    id_col, height_col, weight_col = form.get("id_col", ""), form.get("height_col", ""), form.get("weight_col", "")
    problems = []
    if id_col not in columns:
        problems.append(_("Choose the column that identifies the study."))
    if not height_col and not weight_col:
        problems.append(_("Choose a height column, a weight column, or both."))
    if any(c and c not in columns for c in (height_col, weight_col)):
        problems.append(_("Choose columns from the file."))
    if problems:
        for p in problems:
            flash(p)
        return render_template("imports/size_map.html", columns=columns, name=name), 400
    session.pop(_SESSION_KEY, None)
    si_uid = form.get("id_type") == "si_uid"
    queues.enqueue(KIND, title=f"Patient size import: {name}", user_id=current_user.id, parameters={
        "csv_path": str(path), "original_name": name, "id_col": id_col, "height_col": height_col or None,
        "weight_col": weight_col or None, "si_uid": si_uid, "overwrite": form.get("overwrite") == "yes"})
    return redirect(url_for("imports.index"))


@bp.route("/<int:size_import_id>/row")
def row(size_import_id: int):
    return render_template("imports/_size_row.html", job=_job(size_import_id))


@bp.route("/<int:size_import_id>/abort", methods=["POST"])
def abort_import(size_import_id: int):
    job = _job(size_import_id)
    queues.cancel(job)
    csv_path = (job.parameters or {}).get("csv_path")
    if job.status == "cancelled" and csv_path:  # never started: its upload is no longer needed
        Path(csv_path).unlink(missing_ok=True)
    if request.headers.get("HX-Request"):
        return render_template("imports/_size_row.html", job=job)
    return redirect(url_for("imports.index"))


@bp.route("/<int:size_import_id>/delete", methods=["POST"])
def delete(size_import_id: int):
    job = _job(size_import_id)
    if job.active:
        flash(_("Abort a running import before deleting it."))
        return redirect(url_for("imports.index"))
    if request.form.get("confirm") != "yes":
        flash(_("Tick \"Delete?\" beside the import to confirm."))
        return redirect(url_for("imports.index"))
    if job.result_path:
        Path(job.result_path).unlink(missing_ok=True)
    db.session.delete(job)
    db.session.commit()
    flash(_("Import record and its log deleted."))
    return redirect(url_for("imports.index"))


@bp.route("/<int:size_import_id>/log")
def log(size_import_id: int):
    job = _job(size_import_id)
    if not job.result_path or not Path(job.result_path).exists():
        abort(404)
    name = Path((job.parameters or {}).get("original_name") or "sizes").stem
    return send_file(job.result_path, mimetype="text/plain", as_attachment=True,
                     download_name=f"size-import-{job.id}-{name}.log")
