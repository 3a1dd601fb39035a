"""Background jobs: list (filtered and paged, filters in the address bar), live progress (HTMX polling
a small partial), cancellation; and the count of failures the top bar and the home page show."""
from __future__ import annotations

import datetime as dt

from flask import Blueprint, abort, g, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import func, select

from doseapp import listing
from doseapp.blueprints.job_messages import job_words
from doseapp.blueprints.job_titles import job_title
from doseapp.ingest.quarantine import count as quarantined
from doseapp.lazy_text import lazy_gettext as _l
from doseapp.runtime import queues
from doseapp.runtime.kinds import KIND_NAMES
from doseapp.runtime.scheduler import PERIODIC
from doseapp.models import Job, db
from doseapp.models.jobs import JOB_STATUSES
from doseapp.display.timefmt import local_today, utc_start_of

bp = Blueprint("jobs", __name__, url_prefix="/jobs")

PAGE_SIZE = 50
# The scheduler adds one of these every minute or few: shown only when asked for, or they bury the rest.
PERIODIC_KINDS = tuple(kind for kind, _, _ in PERIODIC)
STATE_WORDS = {"queued": _l("waiting"), "started": _l("running"), "finished": _l("finished"), "failed": _l("failed"),
               "cancelled": _l("cancelled")}


@bp.app_template_filter("kind_name")
def kind_name(kind: str) -> str:
    return KIND_NAMES.get(kind, kind.replace("_", " "))


bp.add_app_template_filter(job_title, "job_title")
bp.add_app_template_filter(job_words, "job_words")


@bp.app_template_filter("job_state")
def job_state(status: str) -> str:
    return STATE_WORDS.get(status, status)


def _visible(query):
    # Admins see every job; others see their own.
    return query if current_user.has_role("admin") else query.where(Job.user_id == current_user.id)


def _job_or_404(job_id: int) -> Job:
    job = db.session.scalar(_visible(select(Job).where(Job.id == job_id)))
    if job is None:
        abort(404)
    return job


def failures_since() -> dt.date:
    """The first day the top bar's count of failed jobs covers (yesterday: a night's failures show)."""
    return local_today() - dt.timedelta(days=1)


def problem_counts() -> dict[str, int]:
    """What needs someone's attention, among what this user may act on: jobs of theirs (everyone's,
    for admins) that failed since yesterday; for admins, the objects in quarantine. Counted once a request."""
    if "problem_counts" not in g:
        since = utc_start_of(failures_since())
        failed = db.session.scalar(_visible(select(func.count()).select_from(Job))
                                   .where(Job.status == "failed", Job.ended_at >= since)) or 0
        g.problem_counts = {"failed_jobs": failed,
                            "quarantine": quarantined() if current_user.has_role("admin") else 0}
    return g.problem_counts


@bp.app_context_processor
def _problems_in_templates():
    return {"problem_counts": problem_counts, "failures_since": failures_since}


@bp.route("/")
def index():
    args = request.args
    kind = args.get("kind", "") if args.get("kind") in KIND_NAMES else ""
    state = args.get("state", "") if args.get("state") in JOB_STATUSES else ""
    periodic = args.get("periodic") == "1"
    first, last, errors = listing.days_asked(args)
    chosen = _visible(select(Job)).where(*listing.day_range(Job.created_at, first, last))
    if kind:
        chosen = chosen.where(Job.kind == kind)
    elif not periodic:
        chosen = chosen.where(Job.kind.notin_(PERIODIC_KINDS))
    # Counts per state for the other filters, so each state's link says what it would show.
    by_state = _state_counts(chosen)
    if state:
        chosen = chosen.where(Job.status == state)
    found = listing.paginate(chosen, [Job.id.desc()], args.get("page", 1, type=int), PAGE_SIZE)
    keep = {k: v for k, v in args.items() if k != "page" and v}
    return render_template("jobs/index.html", jobs=found.rows, total=found.total, page=found.page,
                           pages=found.pages, keep=keep, args=args, errors=errors, by_state=by_state,
                           kinds=sorted(KIND_NAMES.items(), key=lambda kv: kv[1]), states=STATE_WORDS,
                           periodic_names=[KIND_NAMES[k] for k in PERIODIC_KINDS])


def _state_counts(chosen) -> dict[str, int]:
    sub = chosen.subquery()
    return dict(db.session.execute(select(sub.c.status, func.count()).group_by(sub.c.status)).all())


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
