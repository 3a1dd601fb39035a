"""What every page shares beyond its own content: the top bar's modality links and their study
counts, the product version in the footer, the favicon and the help page."""
from __future__ import annotations

import functools
import importlib.metadata

from flask import Blueprint, current_app, g, render_template, send_from_directory
from flask_login import current_user

from doseapp import __version__, roles
from doseapp.display import dashboard
from doseapp.lazy_text import lazy_gettext as _l

bp = Blueprint("site", __name__)

# The top bar's order and words; the slugs are the list addresses (/ct/, /rf/...).
NAV_MODALITIES = (("CT", "ct", "CT"), ("RF", "rf", _l("Fluoroscopy")), ("MG", "mg", _l("Mammography")),
                  ("DX", "dx", _l("Radiography")), ("NM", "nm", _l("Nuclear medicine")))  # names in the request's language (issue 22)


def modality_counts() -> dict[str, int]:
    """Studies per modality, once a request: the home page's kept counts (doseapp/display/study_counts.py),
    checked against the database on each request (a millisecond), so the bar is never out of date
    and never counts every study itself."""
    if "nav_counts" not in g:
        g.nav_counts = dashboard.modality_counts()
    return g.nav_counts


def nav_modalities() -> list[dict]:
    """The modality links of the top bar for this user: none unless they may browse studies."""
    if not roles.allowed(current_user, roles.ACCESS["studies.study_list"]):
        return []
    counts = modality_counts()
    return [{"code": code, "slug": slug, "name": name, "count": counts.get(code, 0)}
            for code, slug, name in NAV_MODALITIES]


@functools.cache  # read from the package metadata on disk once per process
def product_version() -> str:
    """The installed package's version; the source's own when it runs uninstalled (PYTHONPATH)."""
    try:
        return importlib.metadata.version("doseapp")
    except importlib.metadata.PackageNotFoundError:
        return __version__


def allowed_entries(entries):
    """The (endpoint, label) menu entries this user may open."""
    return [(endpoint, label) for endpoint, label in entries
            if roles.allowed(current_user, roles.ACCESS[endpoint])]


@bp.app_context_processor
def _site_in_templates():
    return {"nav_modalities": nav_modalities, "allowed_entries": allowed_entries,
            "product_version": product_version()}


@bp.route("/favicon.ico")
def favicon():
    """Browsers ask for /favicon.ico whatever the page says; answer with the SVG icon."""
    return send_from_directory(current_app.static_folder, "favicon.svg", mimetype="image/svg+xml",
                               max_age=86400)


@bp.route("/help")
def help_page():
    return render_template("site/help.html", roles=roles.ROLES)
