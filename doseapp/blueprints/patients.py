"""Patient dose history (issue 18 item 4; pid role): find a patient by ID or name, then every study
of theirs across modalities with its dose, the cumulative fluoroscopy totals, a chart and an export.

No identifier ever goes into a URL (URLs end up in access logs and browser history, which people
without pid read): the search term is POSTed, and a history is addressed by one of the patient's
studies (`?study=<id>`), whose stored ID (or name) says who the patient is. Searches, history views
and exports are in the audit log without the identifier (docs/decisions.md)."""
from __future__ import annotations

import datetime as dt

from bokeh.embed import components
from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from doseapp import audit
from doseapp.blueprints.studies import NAMES, SLUGS, page_number
from doseapp.exports.jobs import may_export_pid
from doseapp.models import Study, db
from doseapp.patients import chart, history
from doseapp.patients import export as history_export
from doseapp.security.headers import with_nonce

bp = Blueprint("patients", __name__, url_prefix="/patients")

PER_PAGE = 100
SLUG = {modality: slug for slug, modality in SLUGS.items()}  # every modality with a study page
MIMETYPES = {"csv": "text/csv", "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


def _anchor(study_id: str | None) -> tuple[Study | None, history.PatientKey | None]:
    try:
        sid = int(study_id or "")
    except ValueError:
        return None, None
    study = db.session.get(Study, sid)
    if study is None:
        abort(404)
    return study, history.key_of(study)


def _search():
    term = (request.form.get("q") or "").strip()
    if not term:
        flash(_("Type a patient ID or name to search for."))
        return redirect(url_for("patients.history_page"))
    found, more = history.find_patients(term)
    # The term itself is an identifier: the log says that a search happened and what it found.
    audit.record("patient.search", "Patient dose history search",
                 {"term": "(patient identifier, not recorded)", "patients_found": len(found)})
    db.session.commit()
    if len(found) == 1:
        return redirect(url_for("patients.history_page", study=found[0].study_id))
    return render_template("patients/history.html", state="candidates", candidates=found, more=more,
                           searched=True, kept=True)


@bp.route("/history", methods=["GET", "POST"])
def history_page():
    kept = history.identifiers_kept()
    if request.method == "POST":
        if not kept:
            return render_template("patients/history.html", state="not_kept", kept=False), 200
        return _search()
    study, key = _anchor(request.args.get("study"))
    if study is None:
        return render_template("patients/history.html", state="search", kept=kept)
    if key is None:
        return render_template("patients/history.html", state="no_identifier", study=study, kept=kept,
                               slug=SLUG[study.modality])
    period, problems = history.period_from(request.args.get("weeks"), request.args.get("until"))
    rows = history.studies(key)
    per_page, page = PER_PAGE, page_number(request.args.get("page"))
    pages = max(1, -(-len(rows) // per_page))
    page = min(page, pages)
    shown = rows[(page - 1) * per_page: page * per_page]
    script = div = None
    if chart.has_points(rows):
        script, div = components(chart.build(rows))
        # The page is not an HTMX swap, so the chart's inline script carries the nonce itself.
        script = with_nonce(script)
    audit.record("patient.history_view", f"Dose history of the patient of study {study.id}",
                 {"study_id": study.id, "studies": len(rows), "by": key.field, "hashed": key.hashed})
    db.session.commit()
    names = sorted({history.PatientKey("name", r.patient_name, r.patient_name_hashed).shown()
                    for r in rows if r.patient_name})
    return render_template("patients/history.html", state="history", kept=kept, study=study, key=key, rows=shown,
                           count=len(rows), names=names, page=page, pages=pages, period=period, period_problems=problems,
                           all_time=history.fluoro_totals(rows), in_period=history.fluoro_totals(rows, period),
                           other_totals=[(m, history.dose_totals(rows, m), history.dose_totals(rows, m, period))
                                         for m in ("CT", "NM")],
                           undated=sum(1 for r in rows if r.study_date is None), script=script, div=div,
                           slug=SLUG, modality_names=NAMES, may_export=may_export_pid(current_user),
                           max_weeks=history.MAX_WEEKS)


@bp.route("/history/export/<any(csv,xlsx):fmt>", methods=["POST"])
def export(fmt: str):
    """The history as CSV or XLSX: identifiers in it, so an exporting role and pid (as the list exports)."""
    back = url_for("patients.history_page", study=request.form.get("study") or None)
    if not may_export_pid(current_user):
        flash(_("Exporting a patient's history needs both the exporter and the pid roles."))
        return redirect(back)
    study, key = _anchor(request.form.get("study"))
    if key is None:
        flash(_("Choose a patient first."))
        return redirect(url_for("patients.history_page"))
    rows = history.studies(key)
    name = f"patient-dose-history-{dt.datetime.now():%Y%m%d-%H%M%S}.{fmt}"
    if fmt == "csv":
        body = history_export.csv_bytes(rows)
    else:
        body = history_export.xlsx_bytes(rows, current_app.config.get("XLSX_DATE_FORMAT", "dd/mm/yyyy"))
    audit.record("patient.history_export", f"Dose history of the patient of study {study.id}",
                 {"study_id": study.id, "studies": len(rows), "format": fmt, "file": name})
    db.session.commit()
    return Response(body, mimetype=MIMETYPES[fmt], headers={"Content-Disposition": f'attachment; filename="{name}"'})
