"""Read-only JSON API, version 1: the study lists and study details as data.

Credentials: the browser session, or `Authorization: Bearer <token>` (made by `doseapp token create
USER`). The user's roles apply exactly as on the web pages. Without credentials the answer is 401
JSON, never a redirect to the login page. Every route is GET, so CSRF (which guards state-changing
methods only) never applies; nothing here needs exempting, and a bearer request carries no cookie."""
from __future__ import annotations

import datetime as dt

from flask import Blueprint, jsonify, request, url_for
from flask_login import current_user
from sqlalchemy import select

from doseapp import filters, roles
from doseapp.extensions import login_manager
from doseapp.models import ApiToken, Study, db
from doseapp.models.api_tokens import token_digest
from doseapp.blueprints.studies import fetch_page
from doseapp.studies import sees_patterns, study_detail, study_summary

bp = Blueprint("api_v1", __name__, url_prefix="/api/v1")

DEFAULT_PER_PAGE = 25
MAX_PER_PAGE = 500


def _bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


@login_manager.request_loader
def _user_from_bearer(req):
    """Flask-Login asks this when the session has no user: a valid API token on an API URL logs
    its owner in for this one request (no session cookie is written)."""
    if req.blueprint != bp.name:
        return None
    token = _bearer_token()
    if token is None:
        return None
    row = db.session.scalar(select(ApiToken).where(ApiToken.digest == token_digest(token)))
    if row is None or not row.user.active:
        return None
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    if row.last_used_at is None or now - row.last_used_at > dt.timedelta(minutes=1):
        row.last_used_at = now  # at most once a minute: no write per request
        db.session.commit()
    return row.user


@bp.before_app_request
def _api_credentials():
    """Runs before the app-wide access check: API callers get JSON 401/403, not the login page."""
    if request.blueprint != bp.name or request.endpoint is None:
        return None
    if not current_user.is_authenticated:
        why = "The API token is not valid." if _bearer_token() else \
            "Log in, or send an API token as 'Authorization: Bearer <token>'."
        resp = jsonify(error="unauthorised", detail=why)
        resp.status_code = 401
        resp.headers["WWW-Authenticate"] = 'Bearer realm="doseapp"'
        return resp
    requirement = roles.ACCESS[request.endpoint]
    if not roles.allowed(current_user, requirement):
        return jsonify(error="forbidden", detail=f"This needs the {roles.describe(requirement)} role."), 403
    return None


def _with_identifiers(summary: dict, study: Study) -> dict:
    """Patient name and ID only for the pid role (hashed values stay hashed)."""
    if roles.allowed(current_user, filters.PID):
        summary |= {"patient_name": study.patient_name, "patient_name_hashed": study.patient_name_hashed,
                    "patient_id": study.patient_id, "patient_id_hashed": study.patient_id_hashed}
    return summary


def _error(status: int, error: str, detail: str):
    return jsonify(error=error, detail=detail), status


@bp.route("/studies")
def studies():
    """`?modality=CT&<list filters>&o=<order>&page=N&per_page=M` → {count, results, next}.
    Without modality: studies of every modality, with the filters all modalities share."""
    modality = (request.args.get("modality") or "").upper() or None
    if modality is not None and modality not in filters.MODALITIES:
        return _error(400, "bad_request", f"modality must be one of {', '.join(filters.MODALITIES)}.")
    q = filters.study_query(modality, request.args, current_user)
    if q.refused:
        return _error(403, "forbidden", f"Filters {', '.join(sorted(q.refused))} need the pid role.")
    if q.errors:
        return _error(400, "bad_request", "; ".join(f"{p} needs {why}" for p, why in q.errors.items()))
    try:
        page = int(request.args.get("page") or 1)
        per_page = int(request.args.get("per_page") or DEFAULT_PER_PAGE)
    except ValueError:
        return _error(400, "bad_request", "page and per_page must be whole numbers.")
    if page < 1 or not 1 <= per_page <= MAX_PER_PAGE:
        return _error(400, "bad_request", f"page starts at 1; per_page is 1 to {MAX_PER_PAGE}.")
    count, rows = fetch_page(q, page, per_page)
    nxt = None
    if page * per_page < count:
        args = request.args.to_dict() | {"page": page + 1}
        nxt = url_for("api_v1.studies", _external=True, **args)
    return jsonify(count=count, results=[_with_identifiers(study_summary(s, patterns=sees_patterns(current_user)), s)
                                                  for s in rows], next=nxt)


@bp.route("/studies/<path:study_key>/skin-map")
def skin_map(study_key: str):
    """The skin dose map summary of one fluoroscopy study (database id or Study Instance UID), as
    `doseapp skin-map --json` prints it; "ok": false with the reason when the study can have none.
    A study without a current kept map has it computed and kept in this request: the engine takes
    well under a second per study (bench/skin_map.py), about what a chart costs, and the next
    request reads it; queueing a job would only make the caller poll for it."""
    from doseapp.skin import store
    from doseapp.skin.jobs import settings_allow

    study = store.fluoroscopy_study(study_key)
    if study is None:
        return _error(404, "not_found", "There is no fluoroscopy study with this id or Study Instance UID.")
    if not settings_allow():
        return _error(409, "skin_maps_off", "Skin dose maps are switched off in the settings (Config → Skin dose maps).")
    return jsonify(store.as_dict(store.current(study)))


@bp.route("/studies/<path:study_instance_uid>")
def study(study_instance_uid: str):
    """One study by Study Instance UID: the summary with its events, planes and breast doses (NM: its
    administrations and series). A hybrid exam (PET/CT) has a study per modality: `?modality=NM` picks
    one; `linked_studies` names the others."""
    stmt = select(Study).where(Study.study_instance_uid == study_instance_uid)
    modality = (request.args.get("modality") or "").upper()
    if modality:
        stmt = stmt.where(Study.modality == modality)
    row = db.session.scalar(stmt.order_by(Study.id).limit(1))
    if row is None:
        return _error(404, "not_found", "There is no study with this Study Instance UID.")
    return jsonify(_with_identifiers(study_detail(row, patterns=sees_patterns(current_user)), row))


@bp.route("/drl-comparison")
def drl_comparison():
    """`?modality=CT&quantity=dlp&standard_name=CT Head&date_from=&date_until=` → a list, per standard
    name, patient group and system: {system, standard_name, patient_group, quantity, unit, n, median,
    p75, drl, drl_source, ratio, exceeds, too_few}, values in stored units (doseapp.standards)."""
    from doseapp.standards.comparison import BadArgs, read_args
    from doseapp.models import SystemSettings
    from doseapp.standards.comparison import compare

    settings = SystemSettings.get()
    try:
        modality, quantity, name, period = read_args(request.args, settings)
    except BadArgs as exc:
        return _error(400, "bad_request", str(exc))
    rows = compare(modality, quantity, standard_name=name, period=period, settings=settings)
    db.session.commit()
    return jsonify([r.as_dict() for r in rows])


@bp.route("/alerts")
def alerts():
    """`?state=new&modality=RF&rule=rf_dap_study&system=...&date_from=&date_until=&page=N&per_page=M`
    → {count, results, next}; each result as `doseapp alerts list --json` prints it."""
    from sqlalchemy import func, select

    from doseapp.alerts.review import BadFilter, alert_query, as_dict

    try:
        stmt = alert_query(request.args)
        page = int(request.args.get("page") or 1)
        per_page = int(request.args.get("per_page") or DEFAULT_PER_PAGE)
    except BadFilter as exc:
        return _error(400, "bad_request", str(exc))
    except ValueError:
        return _error(400, "bad_request", "page and per_page must be whole numbers.")
    if page < 1 or not 1 <= per_page <= MAX_PER_PAGE:
        return _error(400, "bad_request", f"page starts at 1; per_page is 1 to {MAX_PER_PAGE}.")
    count = db.session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    rows = db.session.execute(stmt.limit(per_page).offset((page - 1) * per_page)).all()
    nxt = None
    if page * per_page < count:
        nxt = url_for("api_v1.alerts", _external=True, **(request.args.to_dict() | {"page": page + 1}))
    return jsonify(count=count, results=[as_dict(a, s) for a, s in rows], next=nxt)
