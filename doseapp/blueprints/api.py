"""Machine-readable endpoints. Health is public so load balancers and compose can probe it."""
from __future__ import annotations

from flask import Blueprint, jsonify
from sqlalchemy import text

from doseapp import __version__
from doseapp.models import db
from doseapp.runtime.queues import redis_connection

bp = Blueprint("api", __name__, url_prefix="/api")


@bp.route("/health")
def health():
    checks = {}
    try:
        db.session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # reported, not hidden: the probe's whole point
        checks["database"] = f"error: {exc.__class__.__name__}"
    try:
        redis_connection().ping()
        checks["redis"] = "ok"
    except Exception as exc:
        checks["redis"] = f"error: {exc.__class__.__name__}"
    healthy = all(v == "ok" for v in checks.values())
    return jsonify(status="ok" if healthy else "degraded", version=__version__, **checks), (200 if healthy else 503)
