"""Home page: studies per modality, and per modality a table of systems with their activity.

The system tables come from one GROUP BY over (modality, equipment_id, study_datetime), which the
index ix_study_modality_equipment_datetime covers, so the page stays quick with years of studies;
rows sharing a display name are merged, as the display name is what people call a system."""
from __future__ import annotations

import datetime as dt
import time

from flask import Blueprint, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import case, func, select

from doseapp import roles
from doseapp.models import Study, db
from doseapp.models.equipment import Equipment
from doseapp.models.study import MODALITIES

bp = Blueprint("home", __name__)

MODALITY_NAMES = {"CT": "CT", "RF": "Fluoroscopy", "MG": "Mammography", "DX": "Radiography"}
SYSTEM_SORTS = ("name", "total", "latest", "today", "week")


def modality_study_counts() -> dict[str, int]:
    rows = db.session.execute(select(Study.modality, func.count()).group_by(Study.modality)).all()
    found = dict(rows)
    return {m: found.get(m, 0) for m in MODALITIES}


def ago(when: dt.datetime | None, now: dt.datetime) -> str:
    """'3 days ago', '1 year, 4 months ago': calendar arithmetic on naive local times, so DST cannot shift it."""
    if when is None:
        return "no date"
    if when > now:
        return "in the future"
    months = (now.year - when.year) * 12 + now.month - when.month - (now.day < when.day)
    if months >= 1:
        years, months = divmod(months, 12)
        parts = [f"{years} year{'s' * (years != 1)}"] * bool(years) + [f"{months} month{'s' * (months != 1)}"] * bool(months)
        return ", ".join(parts) + " ago"
    delta = now - when
    if delta.days >= 1:
        return f"{delta.days} day{'s' * (delta.days != 1)} ago"
    hours = delta.seconds // 3600
    if hours >= 1:
        return f"{hours} hour{'s' * (hours != 1)} ago"
    return f"{delta.seconds // 60} minutes ago"


# The per-system table is computed at most once a minute per process: counting every study takes a
# full index scan, and the page says when it was computed.
CACHE_SECONDS = 60
_cache: dict = {}


def clear_cache() -> None:
    _cache.clear()


def system_tables(today: dt.date | None = None) -> tuple[dict[str, list[dict]], dt.datetime]:
    """Per modality, one row per display name: total studies, latest study, studies today and in
    the last 7 days (today and the six days before); and when this was computed."""
    today = today or dt.date.today()
    key = (str(db.engine.url), today)
    hit = _cache.get(key)
    if hit and time.monotonic() - hit[0] < CACHE_SECONDS:
        return hit[1], hit[2]
    midnight = dt.datetime.combine(today, dt.time())
    week_start = midnight - dt.timedelta(days=6)
    # Totals and latest from the covering (modality, equipment_id, study_datetime) index; the recent
    # counts from a range of the (modality, study_datetime) index, a small part of it.
    totals = db.session.execute(select(Study.modality, Study.equipment_id, func.count(), func.max(Study.study_datetime))
                                .group_by(Study.modality, Study.equipment_id)).all()
    recent = {(m, e): (int(t or 0), int(w or 0)) for m, e, t, w in db.session.execute(
        select(Study.modality, Study.equipment_id, func.sum(case((Study.study_datetime >= midnight, 1), else_=0)),
               func.count()).where(Study.modality.in_(MODALITIES), Study.study_datetime >= week_start)
        .group_by(Study.modality, Study.equipment_id))}
    names = dict(db.session.execute(select(Equipment.id, Equipment.display_name)).all())
    tables: dict[str, dict[str, dict]] = {m: {} for m in MODALITIES}
    for mod, eq_id, total, latest in totals:
        if mod not in tables:
            continue
        name = names.get(eq_id, "Unknown system")
        row = tables[mod].setdefault(name, {"name": name, "total": 0, "latest": None, "today": 0, "week": 0})
        n_today, n_week = recent.get((mod, eq_id), (0, 0))
        row["total"] += total
        row["today"] += n_today
        row["week"] += n_week
        if latest is not None and (row["latest"] is None or latest > row["latest"]):
            row["latest"] = latest
    result = {m: list(rows.values()) for m, rows in tables.items() if rows}
    computed = dt.datetime.now()
    _cache.clear()
    _cache[key] = (time.monotonic(), result, computed)
    return result, computed


def _sorted(rows: list[dict], key: str) -> list[dict]:
    desc = key.startswith("-")
    key = key.lstrip("-")
    if key == "name":
        return sorted(rows, key=lambda r: r["name"].lower(), reverse=desc)
    oldest = dt.datetime.min
    return sorted(rows, key=lambda r: (r[key] if r[key] is not None else oldest), reverse=desc)


@bp.route("/")
def index():
    if not roles.allowed(current_user, roles.BROWSE):
        return render_template("home/index.html", counts=None, names=MODALITY_NAMES)
    order = request.args.get("o", "name")
    if order.lstrip("-") not in SYSTEM_SORTS:
        order = "name"
    tables, computed = system_tables()
    tables = {m: [dict(r) for r in rows] for m, rows in tables.items()}  # the cached rows stay as they are
    counts = {m: sum(r["total"] for r in tables.get(m, [])) for m in MODALITIES}
    now = computed
    slugs = {"CT": "ct", "RF": "rf", "MG": "mg", "DX": "dx"}
    for mod, rows in tables.items():
        for r in rows:
            r["ago"] = ago(r["latest"], now)
            r["url"] = url_for("studies.study_list", modality=slugs[mod], display_name=r["name"])
        tables[mod] = _sorted(rows, order)
    return render_template("home/index.html", counts=counts, names=MODALITY_NAMES, tables=tables, order=order,
                           now=now, slugs=slugs)


@bp.route("/home/counts")
def modality_counts():
    """HTMX partial: the study counts, refreshed without reloading the page."""
    tables, _ = system_tables()
    counts = {m: sum(r["total"] for r in tables.get(m, [])) for m in MODALITIES}
    return render_template("home/_counts.html", counts=counts, names=MODALITY_NAMES)
