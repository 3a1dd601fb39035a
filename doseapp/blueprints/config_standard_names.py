"""Config page for standard names (issue 17): per modality, the names with their rules and study
counts, the values no rule maps (bulk-assigned with checkboxes), pattern rules, rename and delete,
and the mapping as CSV. Every change is audited (doseapp.standards.names) and queues the job that
names the stored studies again."""
from __future__ import annotations

from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from doseapp import audit
from doseapp.blueprints.config import bp
from doseapp.display.dashboard import MODALITY_NAMES
from doseapp.models import Job, StandardName, StandardNameRule, db
from doseapp.models.study import MODALITIES
from doseapp.exports import standard_names_csv as name_csv
from doseapp.standards import names
from doseapp.standards.name_jobs import KIND, after_rules_changed

MODALITY_LABELS = {m: MODALITY_NAMES[m] for m in ("CT", "RF", "DX", "MG", "NM")}  # in the page's language
RECENT_JOBS = 5
MAX_UPLOAD = 2 * 1024 * 1024


def _modality(value: str | None) -> str:
    value = (value or "CT").upper()
    return value if value in MODALITIES else "CT"


def _page(modality: str):
    return redirect(url_for("config.standard_names", modality=modality))


def _changed(modality: str, words: str, shown: str):
    """Commit, queue the job that names the stored studies (`words`, English, says why), and say so
    (`shown`: the same in the page's language)."""
    db.session.commit()
    job = after_rules_changed(user_id=current_user.id, why=words)
    flash(_("%(change)s. The stored studies are being named again (a background job).", change=shown) if job else
          _("%(change)s. The job queue did not answer: use “Apply standard names” to name the stored studies.",
            change=shown))
    return _page(modality)


@bp.route("/standard-names")
def standard_names():
    modality = _modality(request.args.get("modality"))
    jobs = db.session.scalars(select(Job).where(Job.kind == KIND).order_by(Job.id.desc()).limit(RECENT_JOBS)).all()
    return render_template("config/standard_names.html", modality=modality, modalities=MODALITY_LABELS,
                           names=names.names_with_counts(modality), unmapped=names.unmapped_values(modality),
                           fields=names.fields_for(modality), labels=names.FIELD_LABELS, jobs=jobs)


@bp.route("/standard-names/assign", methods=["POST"])
def standard_names_assign():
    """Map the ticked unmapped values (exact rules) to an existing standard name or a new one."""
    modality = _modality(request.form.get("modality"))
    picks = [p.split(":", 1) for p in request.form.getlist("pick") if ":" in p]
    name = (request.form.get("new_name") or "").strip()
    if not name and request.form.get("name_id", "").isdigit():
        sn = db.session.get(StandardName, int(request.form["name_id"]))
        name = sn.name if sn is not None and sn.modality == modality else ""
    if not picks or not name:
        flash(_("Tick one or more values, and choose a standard name or type a new one."))
        return _page(modality)
    try:
        for field_name, value in picks:
            names.add_rule(modality, name, field_name, "exact", value)
    except names.RuleError as exc:
        db.session.rollback()
        flash(_("Nothing was changed: %(reason)s", reason=exc))
        return _page(modality)
    return _changed(modality, f"{len(picks)} value(s) mapped to {name}",
                    _("%(count)s value(s) mapped to %(name)s", count=len(picks), name=name))


@bp.route("/standard-names/rules", methods=["POST"])
def standard_name_rule_add():
    modality = _modality(request.form.get("modality"))
    name = (request.form.get("new_name") or "").strip()
    if not name and request.form.get("name_id", "").isdigit():
        sn = db.session.get(StandardName, int(request.form["name_id"]))
        name = sn.name if sn is not None and sn.modality == modality else ""
    match = "exact" if request.form.get("match") == "exact" else "pattern"
    try:
        names.add_rule(modality, name, request.form.get("field", ""), match, request.form.get("value", "").strip())
    except names.RuleError as exc:
        db.session.rollback()
        flash(_("Not added: %(reason)s", reason=exc))
        return _page(modality)
    return _changed(modality, f"Rule added to {name}", _("Rule added to %(name)s", name=name))


@bp.route("/standard-names/rules/<int:rule_id>/delete", methods=["POST"])
def standard_name_rule_delete(rule_id: int):
    rule = db.session.get(StandardNameRule, rule_id) or abort(404)
    modality = rule.standard_name.modality
    names.delete_rule(rule)
    return _changed(modality, "Rule deleted", _("Rule deleted"))


@bp.route("/standard-names/<int:name_id>/rename", methods=["POST"])
def standard_name_rename(name_id: int):
    sn = db.session.get(StandardName, name_id) or abort(404)
    try:
        names.rename(sn, request.form.get("name", ""))
    except names.RuleError as exc:
        db.session.rollback()
        flash(_("Not renamed: %(reason)s", reason=exc))
        return _page(sn.modality)
    db.session.commit()
    flash(_("Standard name saved."))
    return _page(sn.modality)


@bp.route("/standard-names/<int:name_id>/delete", methods=["POST"])
def standard_name_delete(name_id: int):
    sn = db.session.get(StandardName, name_id) or abort(404)
    modality, label = sn.modality, sn.name
    names.delete_name(sn)
    return _changed(modality, f"Standard name {label} deleted", _("Standard name %(name)s deleted", name=label))


@bp.route("/standard-names/apply", methods=["POST"])
def standard_names_apply():
    job = after_rules_changed(user_id=current_user.id)
    if job is None:
        flash(_("The job queue did not answer; try again when it runs."))
        return _page(_modality(request.form.get("modality")))
    return redirect(url_for("jobs.status", job_id=job.id))


@bp.route("/standard-names/export.csv")
def standard_names_export():
    return Response(name_csv.export_text(), mimetype="text/csv",
                    headers={"Content-Disposition": 'attachment; filename="standard-names.csv"'})


@bp.route("/standard-names/import", methods=["POST"])
def standard_names_import():
    modality = _modality(request.form.get("modality"))
    upload = request.files.get("file")
    raw = upload.read(MAX_UPLOAD + 1) if upload else b""
    if not raw:
        flash(_("Choose a CSV file to import."))
        return _page(modality)
    if len(raw) > MAX_UPLOAD:
        flash(_("The file is larger than 2 MB: not a standard name mapping."))
        return _page(modality)
    try:
        result = name_csv.import_rows(name_csv.parse(raw))
    except name_csv.ImportErrors as exc:
        db.session.rollback()
        return render_template("config/standard_names_import_errors.html", import_problems=exc.problems,
                               modality=modality), 400
    audit.record("standard_name.import", upload.filename or "upload", result)
    return _changed(modality, f"Imported: {result['added']} rule(s) added, {result['already']} already there",
                    _("Imported: %(added)s rule(s) added, %(already)s already there", added=result["added"],
                      already=result["already"]))
