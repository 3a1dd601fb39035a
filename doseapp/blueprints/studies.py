"""Study lists (CT, fluoroscopy, mammography, radiography, nuclear medicine) and study detail pages.

The list is one page for people and HTMX alike: the filter form, ordering links and paging links
ask for the same URL; an HTMX request gets only the list part, anything else the whole page, so a
bookmarked or reloaded URL (or a browser without JavaScript) shows the same studies."""
from __future__ import annotations

from urllib.parse import urlencode

from flask import Blueprint, abort, current_app, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from doseapp import filters, roles
from doseapp.display import i18n
from doseapp.display.event_tables import event_table
from doseapp.display.materials import short_material
from doseapp.display.estimate_words import estimate_words, ssde_words
from doseapp.display.terms import term_words
from doseapp.lazy_text import lazy_gettext as _l
from doseapp.models import Study, SystemSettings, db
from doseapp.models.ct import CtEvent
from doseapp.models.users import UserPreferences
from doseapp.security.safe_urls import same_site_or
from doseapp.studies import linked_studies, study_reports

bp = Blueprint("studies", __name__)

SLUGS = {"ct": "CT", "rf": "RF", "mg": "MG", "dx": "DX", "nm": "NM"}
# Shown in the request's language (issue 22): lazy, so each page says them in its own.
NAMES = {"CT": "CT", "RF": _l("Fluoroscopy"), "MG": _l("Mammography"), "DX": _l("Radiography"),
         "NM": _l("Nuclear medicine")}
PER_PAGE_CHOICES = (10, 25, 50, 100, 200)
# At or below this many matching studies, sorting the matches beats walking the ordering index
# (SQLite; measured at 500,000 studies: walking finds a page in under 2 ms whenever a few thousand
# studies of the modality match, but reads the whole modality when almost none do).
FEW_ROWS = 1000
MODALITY_URL = "<any(ct,rf,mg,dx,nm):modality>"
# The admin "delete one study" page (configuration helper's blueprint); the column shows if it exists.
DELETE_ENDPOINTS = ("studies.delete", "studyadmin.delete")


def items_per_page(asked: str | None) -> int:
    """The user's items per page; a new choice from the list form is remembered (OpenREM's UserProfile)."""
    prefs = db.session.get(UserPreferences, current_user.id) if current_user.is_authenticated else None
    current = prefs.items_per_page if prefs and prefs.items_per_page else 25
    try:
        wanted = int(asked) if asked else None
    except ValueError:
        wanted = None
    if wanted in PER_PAGE_CHOICES and wanted != current and current_user.is_authenticated:
        if prefs is None:
            prefs = UserPreferences(user_id=current_user.id)
            db.session.add(prefs)
        prefs.items_per_page = wanted
        db.session.commit()
        current = wanted
    return current


def page_number(text: str | None) -> int:
    try:
        return max(1, int(text or 1))
    except ValueError:
        return 1


def fetch_page(q: filters.StudyQuery, page: int, per_page: int) -> tuple[int, list[Study]]:
    """The number of matching studies and the studies on one page (a page past the end is empty)."""
    count = db.session.scalar(q.count())
    # Two steps: the page's ids first (the ordering index alone can answer that, however deep the
    # page), then those studies with their equipment.
    if count == 0 or (page - 1) * per_page >= count:
        return count, []
    dialect = db.engine.dialect.name
    few = count <= FEW_ROWS
    ids = db.session.scalars(q.select([Study.id], dialect, few).limit(per_page).offset((page - 1) * per_page)).all()
    if not ids:
        return count, []
    by_id = {s.id: s for s in db.session.scalars(select(Study).where(Study.id.in_(ids))).unique()}
    return count, [by_id[i] for i in ids]


def page_links(page: int, pages: int) -> list[int | None]:
    """1 2 … 7 8 [9] 10 11 … 59 60: None marks a gap."""
    keep = {1, 2, pages - 1, pages} | set(range(page - 2, page + 3))
    out, last = [], 0
    for n in sorted(k for k in keep if 1 <= k <= pages):
        if n > last + 1:
            out.append(None)
        out.append(n)
        last = n
    return out


@bp.route(f"/{MODALITY_URL}/")
def study_list(modality: str):
    from doseapp.alerts.review import studies_with_alerts

    mod = SLUGS[modality]
    q = filters.study_query(mod, request.args, current_user)
    per_page = items_per_page(request.args.get("per_page"))
    page = page_number(request.args.get("page"))
    count, rows = fetch_page(q, page, per_page)
    pages = max(1, -(-count // per_page))
    base = url_for("studies.study_list", modality=modality)

    def link(**changes) -> str:
        args = dict(q.values)
        args.update({k: v for k, v in changes.items() if v is not None})
        args = {k: v for k, v in args.items() if v not in ("", None) and not (k == "page" and v == 1)}
        return base + ("?" + urlencode(args) if args else "")

    def sort_link(key: str) -> str:
        desc_first = key in ("date", "events", "dlp", "ssde", "dap", "dose_rp", "psd", "agd", "age", "activity")
        if q.order == key:
            nxt = f"-{key}"
        elif q.order == f"-{key}":
            nxt = key
        else:
            nxt = f"-{key}" if desc_first else key
        return link(o=nxt, page=None)

    delete_endpoint = next((e for e in DELETE_ENDPOINTS if e in current_app.view_functions), None)
    show_delete = delete_endpoint is not None and roles.allowed(current_user, roles.ACCESS[delete_endpoint])
    ctx = dict(modality=modality, mod=mod, name=NAMES[mod], q=q, rows=rows, count=count, page=page,
               pages=pages, per_page=per_page, per_page_choices=PER_PAGE_CHOICES, link=link,
               sort_link=sort_link, page_links=page_links(page, pages), show_delete=show_delete, delete_endpoint=delete_endpoint,
               form_filters=filters.filters_for(mod, current_user), list_url=request.full_path.rstrip("?"),
               date_limits=(filters.FIRST_DATE, filters.LAST_DATE),
               alerted=studies_with_alerts(s.id for s in rows))
    htmx = request.headers.get("HX-Request") and not request.headers.get("HX-History-Restore-Request")
    resp = current_app.make_response(render_template("studies/_list.html" if htmx else "studies/list.html", **ctx))
    resp.headers["Vary"] = "HX-Request"
    return resp


def load_study(study_id: int, mod: str | None = None) -> Study:
    study = db.session.scalar(
        select(Study).where(Study.id == study_id)
        .options(selectinload(Study.ct_events).selectinload(CtEvent.sources), selectinload(Study.xray_events),
                 selectinload(Study.planes), selectinload(Study.breast_doses), selectinload(Study.objects),
                 selectinload(Study.nm_administrations), selectinload(Study.nm_series)))
    if study is None or (mod is not None and study.modality != mod):
        abort(404)
    return study


def fluoro_summary(study: Study) -> list[dict]:
    """Per irradiation type: events, DAP, dose at RP, duration (switch/pedal time) and exposure time."""
    groups: dict[str, dict] = {}
    for e in study.xray_events:
        kind = e.event_type or "Not recorded"
        g = groups.setdefault(kind, {"type": kind, "events": 0, "dap_gym2": None, "dose_rp_gy": None,
                                     "duration_s": None, "exposure_time_ms": None})
        g["events"] += 1
        for key, value in (("dap_gym2", e.dap_gym2), ("dose_rp_gy", e.dose_rp_gy),
                           ("duration_s", e.irradiation_duration_s), ("exposure_time_ms", e.exposure_time_ms)):
            if value is not None:
                g[key] = (g[key] or 0.0) + value
    return list(groups.values())


@bp.route(f"/{MODALITY_URL}/<int:study_id>")
def detail(modality: str, study_id: int):
    mod = SLUGS[modality]
    study = load_study(study_id, mod)
    back = same_site_or(request.args.get("back"), url_for("studies.study_list", modality=modality))
    reports = study_reports(study)
    # NM has administrations and series (studies/_nm.html), not irradiation events.
    table = None if mod == "NM" else event_table(mod, study.ct_events if mod == "CT" else study.xray_events)
    linked = [(s, next(slug for slug, m in SLUGS.items() if m == s.modality)) for s in linked_studies(study)
              if s.modality in SLUGS.values()]
    # Fluoroscopy: the skin dose map section loads after the page (its partial says when maps are off).
    skin_map_url = url_for("skinmaps.section", study_id=study.id) if mod == "RF" else None
    return render_template("studies/detail.html", study=study, modality=modality, mod=mod, name=NAMES[mod],
                           skin_map_url=skin_map_url, skin_maps_on=mod == "RF" and SystemSettings.get().enable_skin_dose_maps,
                           fluoro=fluoro_summary(study) if mod == "RF" else None, back=back, table=table,
                           reports=reports, report_of={r["id"]: r["label"] for r in reports if len(reports) > 1},
                           linked=linked)


# --- display helpers: stored units in, display units out ----------------------------------------

@bp.app_template_filter("num")
def num(value, digits: int = 2) -> str:
    """A number for a table cell: fixed decimals, or an em dash for 'not recorded'."""
    if value is None:
        return "—"
    if i18n.page_locale() is not None:  # decimal comma where the page's language uses one (issue 22)
        return i18n.number(value, digits)
    return f"{value:.{digits}f}"


bp.add_app_template_filter(short_material, "short_material")
bp.add_app_template_filter(term_words, "term")
bp.add_app_template_filter(ssde_words, "ssde_words")
bp.add_app_template_filter(estimate_words, "estimate_words")


@bp.app_template_filter("dap_cgycm2")
def dap_cgycm2(value, digits: int = 2) -> str:
    """Stored DAP (Gy·m²) shown in cGy·cm², as OpenREM shows it."""
    return num(None if value is None else value * filters.DAP_DISPLAY_PER_STORED, digits)
