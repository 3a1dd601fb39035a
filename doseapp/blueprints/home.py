"""Home page: what is in the database, and where to go next."""
from __future__ import annotations

from flask import Blueprint, render_template
from flask_login import current_user
from sqlalchemy import func, select

from doseapp import roles
from doseapp.models import Study, db
from doseapp.models.study import MODALITIES

bp = Blueprint("home", __name__)

MODALITY_NAMES = {"CT": "CT", "RF": "Fluoroscopy", "MG": "Mammography", "DX": "Radiography"}


def modality_study_counts() -> dict[str, int]:
    rows = db.session.execute(select(Study.modality, func.count()).group_by(Study.modality)).all()
    found = dict(rows)
    return {m: found.get(m, 0) for m in MODALITIES}


@bp.route("/")
def index():
    counts = modality_study_counts() if roles.allowed(current_user, roles.BROWSE) else None
    return render_template("home/index.html", counts=counts, names=MODALITY_NAMES)


@bp.route("/home/counts")
def modality_counts():
    """HTMX partial: the study counts, refreshed without reloading the page."""
    return render_template("home/_counts.html", counts=modality_study_counts(), names=MODALITY_NAMES)
