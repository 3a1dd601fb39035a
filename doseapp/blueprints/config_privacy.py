"""Config pages for privacy and DICOM objects: not-patient patterns, patient-ID settings and the
DICOM object delete settings. Every change is written to the audit log with the change."""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _, ngettext
from sqlalchemy import select

from doseapp import audit
from doseapp.blueprints.config import bp
from doseapp.lazy_text import lazy_gettext as _l
from doseapp.security import privacy
from doseapp.models import NotPatientPattern, SystemSettings, db

FIELDS = {"id": "patient ID", "name": "patient name"}


def _field(field: str) -> str:
    """FIELDS[field] in the page's language."""
    return {"id": _("patient ID"), "name": _("patient name")}.get(field, FIELDS.get(field, field))


def _field_names() -> dict[str, str]:
    """FIELDS in the page's language, for the pages (FIELDS itself stays English: audit text)."""
    return {f: _field(f) for f in FIELDS}
MAX_PATTERN = 255

# The forms' fields, in the seed's words (seed §3.1 and §3.4).
DELETE_FIELDS = (
    ("del_no_match", _l("Delete objects that don't match any import functions?")),
    ("del_rdsr", _l("Delete radiation dose structured reports after processing?")),
    ("del_mg_im", _l("Delete mammography images after processing?")),
    ("del_dx_im", _l("Delete radiography images after processing?")),
    ("del_ct_phil", _l("Delete Philips CT dose info images after processing?")),
    ("del_nm_im", _l("Delete nuclear medicine and PET images after processing?")),
)
PID_FIELDS = ("name_stored", "name_hashed", "id_stored", "id_hashed", "dob_stored", "accession_hashed")


def _pattern_or_404(pattern_id: int) -> NotPatientPattern:
    row = db.session.get(NotPatientPattern, pattern_id)
    if row is None:
        abort(404)
    return row


def _check_pattern(field: str, text: str, exclude_id: int | None = None) -> str | None:
    if field not in FIELDS:
        return "Choose patient ID or patient name."
    if not text:
        return "Enter a pattern."
    if len(text) > MAX_PATTERN:
        return f"A pattern is at most {MAX_PATTERN} characters."
    clash = db.session.scalar(select(NotPatientPattern).where(NotPatientPattern.field == field,
                                                              NotPatientPattern.pattern == text))
    if clash is not None and clash.id != exclude_id:
        return f"The {FIELDS[field]} pattern {text} is there already."
    return None


@bp.route("/not-patient")
def patterns():
    rows = db.session.scalars(select(NotPatientPattern).order_by(NotPatientPattern.pattern)).all()
    return render_template("config/patterns.html", fields=_field_names(), legacy=privacy.LEGACY_PATTERNS,
                           by_field={f: [r for r in rows if r.field == f] for f in FIELDS})


@bp.route("/not-patient/new", methods=["GET", "POST"])
def pattern_new():
    field = request.values.get("field", "id")
    text, error = "", None
    if request.method == "POST":
        text = (request.form.get("pattern") or "").strip()
        error = _check_pattern(field, text)
        if error is None:
            db.session.add(NotPatientPattern(field=field, pattern=text))
            audit.record("pattern.add", f"{FIELDS[field]} pattern {text}", {"field": field, "pattern": text})
            db.session.commit()
            flash(_("Added the %(field)s pattern %(pattern)s.", field=_field(field), pattern=text))
            return redirect(url_for("config.patterns"))
    return render_template("config/pattern_edit.html", field=field if field in FIELDS else "id",
                           fields=_field_names(), pattern=text, row=None, error=error), (400 if error else 200)


@bp.route("/not-patient/<int:pattern_id>", methods=["GET", "POST"])
def pattern_edit(pattern_id: int):
    row = _pattern_or_404(pattern_id)
    text, error = row.pattern, None
    if request.method == "POST":
        text = (request.form.get("pattern") or "").strip()
        error = _check_pattern(row.field, text, exclude_id=row.id)
        if error is None:
            before = row.pattern
            row.pattern = text
            audit.record("pattern.modify", f"{FIELDS[row.field]} pattern {text}",
                         {"field": row.field, "before": before, "after": text})
            db.session.commit()
            flash(_("The %(field)s pattern is now %(pattern)s.", field=_field(row.field), pattern=text))
            return redirect(url_for("config.patterns"))
    return render_template("config/pattern_edit.html", field=row.field, fields=_field_names(), pattern=text,
                           row=row, error=error), (400 if error else 200)


@bp.route("/not-patient/<int:pattern_id>/delete", methods=["GET", "POST"])
def pattern_delete(pattern_id: int):
    row = _pattern_or_404(pattern_id)
    if request.method == "POST":
        audit.record("pattern.delete", f"{FIELDS[row.field]} pattern {row.pattern}",
                     {"field": row.field, "pattern": row.pattern})
        db.session.delete(row)
        db.session.commit()
        flash(_("Deleted the %(field)s pattern %(pattern)s.", field=_field(row.field), pattern=row.pattern))
        return redirect(url_for("config.patterns"))
    return render_template("config/pattern_delete.html", row=row, fields=_field_names())


@bp.route("/not-patient/legacy", methods=["GET", "POST"])
def patterns_legacy():
    if request.method == "POST":
        added = privacy.add_legacy_patterns()  # commits; the audit entry follows in a commit of its own
        audit.record("pattern.load_legacy", "patterns of OpenREM 0.7", {"added": added})
        db.session.commit()
        flash(ngettext("Added %(num)d pattern that reproduces OpenREM 0.7's test-patient check.",
                       "Added %(num)d patterns that reproduce OpenREM 0.7's test-patient check.", added))
        return redirect(url_for("config.patterns"))
    return render_template("config/patterns_legacy.html", legacy=privacy.LEGACY_PATTERNS, fields=_field_names())


@bp.route("/patient-id", methods=["GET", "POST"])
def patient_id_settings():
    settings = SystemSettings.get()
    if request.method == "POST":
        before = {f: getattr(settings, f) for f in PID_FIELDS}
        for f in PID_FIELDS:
            setattr(settings, f, request.form.get(f) == "on")
        after = {f: getattr(settings, f) for f in PID_FIELDS}
        if after != before:
            audit.record("settings.patient_id", "Patient ID settings", audit.changes(before, after))
        db.session.commit()
        flash(_("Patient ID settings saved. They apply to studies imported from now on."))
        return redirect(url_for("config.patient_id_settings"))
    db.session.commit()  # the settings row, if it was just created
    return render_template("config/patient_id.html", s=settings)


@bp.route("/dicom-delete", methods=["GET", "POST"])
def dicom_delete_settings():
    settings = SystemSettings.get()
    names = [f for f, _ in DELETE_FIELDS]
    if request.method == "POST":
        before = {f: getattr(settings, f) for f in names}
        for f in names:
            setattr(settings, f, request.form.get(f) == "on")
        after = {f: getattr(settings, f) for f in names}
        if after != before:
            audit.record("settings.dicom_delete", "DICOM object delete settings", audit.changes(before, after))
        db.session.commit()
        flash(_("DICOM object delete settings saved."))
        return redirect(url_for("config.dicom_delete_settings"))
    db.session.commit()
    return render_template("config/dicom_delete.html", s=settings, fields=DELETE_FIELDS)
