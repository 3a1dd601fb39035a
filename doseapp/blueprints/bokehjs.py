"""BokehJS served from the installed bokeh package: hospital intranets have no CDN."""
from __future__ import annotations

from bokeh.util.paths import bokehjs_path
from flask import Blueprint, send_from_directory

bp = Blueprint("bokehjs", __name__)


@bp.route("/bokehjs/<path:filename>")
def file(filename: str):
    return send_from_directory(bokehjs_path() / "js", filename, max_age=86400)
