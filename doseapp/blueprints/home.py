"""Home page: the dashboard (per modality today / this week / this month and 12 weeks of studies,
systems gone quiet, failed imports and quarantine) and per modality a table of systems with their
activity. The queries are in doseapp.display.dashboard; this module adds who may see what."""
from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode

from flask import Blueprint, g, render_template, request, url_for
from flask_babel import gettext as _, ngettext
from flask_login import current_user
from sqlalchemy import func, select

from doseapp import listing, roles
from doseapp.blueprints.jobs import _visible as visible_jobs  # the Jobs page's rule: admins all, others theirs
from doseapp.display import dashboard, study_counts
from doseapp.display.dashboard import MODALITY_NAMES, SLUGS
from doseapp.display.sparkline import sparkline
from doseapp.display.timefmt import local_now, local_today
from doseapp.models import Job, db

bp = Blueprint("home", __name__)

SYSTEM_SORTS = ("name", "total", "latest", "today", "week")
IMPORT_KIND = "import_file"


def ago(when: dt.datetime | None, now: dt.datetime) -> str:
    """'3 days ago', '1 year, 4 months ago': calendar arithmetic on naive local times, so DST cannot shift it."""
    if when is None:
        return _("no date")
    if when > now:
        return _("in the future")
    months = (now.year - when.year) * 12 + now.month - when.month - (now.day < when.day)
    if months >= 1:
        years, months = divmod(months, 12)
        in_years = ngettext("%(num)d year", "%(num)d years", years)
        in_months = ngettext("%(num)d month", "%(num)d months", months)
        if years and months:
            return _("%(years)s, %(months)s ago", years=in_years, months=in_months)
        return _("%(time)s ago", time=in_years if years else in_months)
    delta = now - when
    if delta.days >= 1:
        return ngettext("%(num)d day ago", "%(num)d days ago", delta.days)
    hours = delta.seconds // 3600
    if hours >= 1:
        return ngettext("%(num)d hour ago", "%(num)d hours ago", hours)
    return ngettext("%(num)d minute ago", "%(num)d minutes ago", delta.seconds // 60)


def clear_cache() -> None:
    """Forget the kept study counts (tests that change studies behind doseapp's back)."""
    study_counts.clear()


def _sorted(rows: list[dict], key: str) -> list[dict]:
    desc = key.startswith("-")
    key = key.lstrip("-")
    if key == "name":
        return sorted(rows, key=lambda r: r["name"].lower(), reverse=desc)
    oldest = dt.datetime.min
    return sorted(rows, key=lambda r: (r[key] if r[key] is not None else oldest), reverse=desc)


def failed_imports(today: dt.date) -> dict:
    """Failed import jobs made today and since yesterday, among the jobs this user sees (as the Jobs
    page counts them, so each number is what its link shows)."""
    yesterday = today - dt.timedelta(days=1)
    base = visible_jobs(select(func.count()).select_from(Job)).where(Job.kind == IMPORT_KIND, Job.status == "failed")
    return {"today": db.session.scalar(base.where(*listing.day_range(Job.created_at, today, None))) or 0,
            "since_yesterday": db.session.scalar(base.where(*listing.day_range(Job.created_at, yesterday, None))) or 0,
            "first_day": today, "yesterday": yesterday}


def _list_url(mod: str, first: dt.date | None = None, last: dt.date | None = None, **more) -> str:
    """A modality's study list, filtered to the days from `first` to `last` and by `more`."""
    # The page has a few hundred of these: the list's address is built once per modality.
    bases = g.setdefault("home_list_urls", {})
    if mod not in bases:
        bases[mod] = url_for("studies.study_list", modality=SLUGS[mod])
    dates = {"date_from": first.isoformat(), "date_until": last.isoformat()} if first else {}
    query = urlencode({**dates, **more})
    return f"{bases[mod]}?{query}" if query else bases[mod]


@bp.route("/")
def index():
    if not roles.allowed(current_user, roles.BROWSE):
        return render_template("home/index.html", board=None, counts=None, names=MODALITY_NAMES,
                               imports=_imports_if_allowed(local_today()))
    order = request.args.get("o", "name")
    if order.lstrip("-") not in SYSTEM_SORTS:
        order = "name"
    board = dashboard.build()
    now = local_now().replace(tzinfo=None)  # the hospital's wall clock, as the studies' times are
    tables = {}
    for mod, rows in board.tables.items():
        tables[mod] = _sorted([{"name": r.name, "total": r.total, "latest": r.latest, "today": r.today,
                                "week": r.week, "ago": ago(r.latest, now), "url": _list_url(mod, display_name=r.name)}
                               for r in rows], order)
    sparks = {c.modality: sparkline([w.count for w in c.weeks]) for c in board.cards}
    return render_template("home/index.html", board=board, counts=board.counts, names=MODALITY_NAMES,
                           tables=tables, order=order, now=now, slugs=SLUGS, sparks=sparks, list_url=_list_url,
                           imports=_imports_if_allowed(board.today), quiet_floor=dashboard.QUIET_FLOOR_DAYS,
                           history_days=dashboard.HISTORY_DAYS)


def _imports_if_allowed(today: dt.date) -> dict | None:
    # Failed imports are shown to those who may open the quarantine (admins): everyone's import jobs
    # are theirs to see. Others' own failed jobs are in the "needs attention" line.
    return failed_imports(today) if roles.allowed(current_user, roles.ACCESS["quarantine.index"]) else None


@bp.route("/home/counts")
def modality_counts():
    """HTMX partial: the study counts, refreshed without reloading the page."""
    counts = dashboard.modality_counts()
    return render_template("home/_counts.html", counts=counts, names=MODALITY_NAMES)
