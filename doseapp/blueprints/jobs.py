"""Background jobs: list, live progress (HTMX polling a small partial), cancellation."""
from __future__ import annotations

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from doseapp.runtime import queues
from doseapp.models import Job, db

bp = Blueprint("jobs", __name__, url_prefix="/jobs")


def _visible(query):
    # Admins see every job; others see their own.
    return query if current_user.has_role("admin") else query.where(Job.user_id == current_user.id)


def _job_or_404(job_id: int) -> Job:
    job = db.session.scalar(_visible(select(Job).where(Job.id == job_id)))
    if job is None:
        abort(404)
    return job


@bp.route("/")
def index():
    rows = db.session.scalars(_visible(select(Job)).order_by(Job.id.desc()).limit(100)).all()
    return render_template("jobs/index.html", jobs=rows)


@bp.route("/<int:job_id>")
def status(job_id: int):
    job = _job_or_404(job_id)
    if request.headers.get("HX-Request"):
        return render_template("jobs/_row.html", job=job)
    return render_template("jobs/detail.html", job=job)


@bp.route("/<int:job_id>/cancel", methods=["POST"])
def cancel(job_id: int):
    job = _job_or_404(job_id)
    queues.cancel(job)
    if request.headers.get("HX-Request"):
        return render_template("jobs/_row.html", job=job)
    return redirect(url_for("jobs.index"))


@bp.route("/system-check", methods=["POST"])
def system_check():
    job = queues.enqueue("system_check", title="System check: count every table", user_id=current_user.id)
    return redirect(url_for("jobs.status", job_id=job.id))
