"""Config pages for X-ray systems: display names and user-defined modality (view for everyone who
browses, edit for admins), re-sorting Dual systems, and the per-source review with its deletes."""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _, ngettext
from flask_login import current_user
from sqlalchemy import delete, func, select

from doseapp import audit
from doseapp.lazy_text import lazy_gettext as _l
from doseapp.runtime import queues
from doseapp.blueprints.config import bp
from doseapp.config_modality import MODALITY_CHOICES, relabel, studies_to_resort
from doseapp.models import Equipment, Study, db

# The tables of the view page (seed §3.2.3's five, and nuclear medicine), with their jump-link anchors.
TABLES = (("CT", "CT", "ct"), ("MG", _l("Mammography"), "mg"), ("DX", _l("DX and CR"), "dx"),
          ("RF", _l("Fluoroscopy"), "rf"), ("NM", _l("Nuclear medicine and PET"), "nm"), (None, _l("Others"), "other"))
MODALITY_NAMES = {"CT": "CT", "MG": _l("mammography"), "DX": _l("DX (including CR)"), "RF": _l("fluoroscopy"),
                  "NM": _l("nuclear medicine and PET")}
REVIEW_PAGE_SIZE = 25
# A system's skin dose maps (openSkin's safe list, seed §7): the form's value -> the stored decision.
TRUST_CHOICES = (("", _l("Keep as it is")), ("vendor", _l("Follow the vendor geometry table")), ("trusted", _l("Trusted")),
                 ("untrusted", _l("Not trusted")))
TRUST_VALUES = {"vendor": None, "trusted": True, "untrusted": False}
TRUST_WORDS = {None: "vendor table", True: "trusted", False: "not trusted"}  # as the audit log records them
TRUST_SHOWN = {None: _l("vendor table"), True: _l("trusted"), False: _l("not trusted")}  # as the pages show them


def _equipment_or_404(equipment_id: int) -> Equipment:
    row = db.session.get(Equipment, equipment_id)
    if row is None:
        abort(404)
    return row


def _tables() -> list[dict]:
    """Each equipment row in the table of every modality it has studies of; rows without any
    studies of the five modalities go to Others."""
    counts: dict[int, dict[str, int]] = {}
    # Grouped in the order of ix_study_modality_equipment_datetime: read from that index alone.
    for modality, eq_id, n in db.session.execute(
            select(Study.modality, Study.equipment_id, func.count()).group_by(Study.modality, Study.equipment_id)):
        if eq_id is not None:
            counts.setdefault(eq_id, {})[modality] = n
    equipment = db.session.scalars(select(Equipment).order_by(Equipment.display_name, Equipment.id)).all()
    tables = []
    for modality, title, anchor in TABLES:
        if modality is None:
            rows = [(e, sum(counts.get(e.id, {}).values())) for e in equipment
                    if not set(counts.get(e.id, {})) & set(MODALITY_NAMES)]
        else:
            rows = [(e, counts[e.id][modality]) for e in equipment if counts.get(e.id, {}).get(modality)]
        tables.append({"modality": modality, "title": title, "anchor": anchor, "rows": rows})
    return tables


@bp.route("/display-names")
def display_names():
    return render_template("config/display_names.html", tables=_tables(), trust_words=TRUST_SHOWN,
                           editable=current_user.has_role("admin"))


@bp.route("/display-names/edit", methods=["GET", "POST"])
def display_names_edit():
    ids = sorted({int(i) for i in request.values.getlist("ids") if str(i).isdigit()})
    chosen = db.session.scalars(select(Equipment).where(Equipment.id.in_(ids)).order_by(Equipment.id)).all()
    error = None
    if request.method == "POST" and chosen:
        new_name = (request.form.get("display_name") or "").strip()
        new_modality = request.form.get("user_defined_modality", "")
        new_trust = request.form.get("skin_map_trusted", "")
        if new_modality not in dict(MODALITY_CHOICES):
            error = _("Choose one of the listed modality types.")
        elif new_trust not in dict(TRUST_CHOICES):
            error = _("Choose one of the listed skin dose map choices.")
        elif len(new_name) > 255:
            error = _("A display name is at most 255 characters.")
        elif not new_name and not new_modality and not new_trust:
            error = _("Nothing to change: enter a display name, or choose a modality type or skin dose map choice.")
        else:
            job = _apply_changes(chosen, new_name, new_modality, new_trust)
            if job is not None:
                return redirect(url_for("jobs.status", job_id=job.id))
            return redirect(url_for("config.display_names"))
    return render_template("config/display_names_edit.html", chosen=chosen, choices=MODALITY_CHOICES,
                           trust_choices=TRUST_CHOICES, trust_words=TRUST_SHOWN,
                           error=error), (400 if error else 200)


def _apply_changes(chosen: list[Equipment], new_name: str, new_modality: str, new_trust: str = ""):
    """Rename, set the modality and/or the skin dose map trust of the chosen systems, with audit
    entries; DX/RF relabel their studies at once, Dual and automatic start the re-sorting job, a
    trust change the recomputation of the systems' maps (the job returned)."""
    ids = [e.id for e in chosen]
    if new_name:
        before = sorted({e.display_name for e in chosen})
        for e in chosen:
            e.display_name = new_name
        audit.record("equipment.rename", new_name, {"equipment_ids": ids, "before": before, "after": new_name})
        flash(ngettext("%(num)d system now named %(name)s.", "%(num)d systems now named %(name)s.", len(chosen),
                       name=new_name))
    job = None
    if new_modality:
        stored = None if new_modality == "auto" else new_modality
        before = {e.id: e.user_defined_modality for e in chosen}
        for e in chosen:
            e.user_defined_modality = stored
        details = {"equipment_ids": ids, "before": before, "after": stored}
        if stored in ("DX", "RF"):
            details["studies_relabelled"] = moved = relabel(ids, stored)
            flash(ngettext("User defined modality set to %(modality)s; %(num)d study relabelled.",
                           "User defined modality set to %(modality)s; %(num)d studies relabelled.", moved,
                           modality=stored))
        audit.record("equipment.modality", ", ".join(sorted({e.display_name for e in chosen})), details)
    changed_trust = _set_trust(chosen, new_trust) if new_trust else []
    db.session.commit()
    if new_modality in ("Dual", "auto"):
        job = _start_resort(ids)
    if changed_trust:
        from doseapp.skin.jobs import after_trust_change

        job = after_trust_change(changed_trust, user_id=current_user.id) or job
    return job


def _set_trust(chosen: list[Equipment], new_trust: str) -> list[int]:
    """Set the systems' skin dose map trust decision, audited; returns the ids of those it changed."""
    stored = TRUST_VALUES[new_trust]
    changed = [e for e in chosen if e.skin_map_trusted is not stored]
    if changed:
        before = {e.id: TRUST_WORDS[e.skin_map_trusted] for e in changed}
        for e in changed:
            e.skin_map_trusted = stored
        audit.record("equipment.skin_map_trust", ", ".join(sorted({e.display_name for e in changed})),
                     {"equipment_ids": [e.id for e in changed], "before": before, "after": TRUST_WORDS[stored]})
        n = len(changed)
        flash({None: ngettext("Skin dose maps of %(num)d system: vendor table.",
                              "Skin dose maps of %(num)d systems: vendor table.", n),
               True: ngettext("Skin dose maps of %(num)d system: trusted.",
                              "Skin dose maps of %(num)d systems: trusted.", n),
               False: ngettext("Skin dose maps of %(num)d system: not trusted.",
                               "Skin dose maps of %(num)d systems: not trusted.", n)}[stored])
    return [e.id for e in changed]


def _start_resort(ids: list[int]):
    return queues.enqueue("reprocess_dual", title=f"Re-sort DX/RF studies of {len(ids)} system(s)",
                          user_id=current_user.id, parameters={"equipment_ids": ids})


@bp.route("/display-names/<int:equipment_id>/reprocess", methods=["GET", "POST"])
def display_names_reprocess(equipment_id: int):
    eq = _equipment_or_404(equipment_id)
    if request.method == "POST":
        return redirect(url_for("jobs.status", job_id=_start_resort([eq.id]).id))
    return render_template("config/reprocess_confirm.html", eq=eq, count=len(studies_to_resort([eq.id])))


# --- per-source review and deletes ----------------------------------------------------------------

def _review_modality(eq: Equipment) -> str | None:
    m = request.values.get("modality") or None
    return m if m in MODALITY_NAMES else None


def _source_query(eq: Equipment, modality: str | None):
    q = select(Study).where(Study.equipment_id == eq.id)
    return q.where(Study.modality == modality) if modality else q


@bp.route("/equipment/<int:equipment_id>/review")
def equipment_review(equipment_id: int):
    eq = _equipment_or_404(equipment_id)
    modality = _review_modality(eq)
    total = db.session.scalar(select(func.count()).where(Study.equipment_id == eq.id))
    shown = db.session.scalar(select(func.count()).select_from(_source_query(eq, modality).subquery()))
    page = max(1, request.args.get("page", 1, type=int) or 1)
    pages = max(1, -(-shown // REVIEW_PAGE_SIZE))
    page = min(page, pages)
    studies = db.session.scalars(_source_query(eq, modality)
                                 .order_by(Study.study_datetime.desc(), Study.id.desc())
                                 .offset((page - 1) * REVIEW_PAGE_SIZE).limit(REVIEW_PAGE_SIZE)).all()
    return render_template("config/equipment_review.html", eq=eq, modality=modality,
                           modality_name=MODALITY_NAMES.get(modality), total=total, shown=shown,
                           studies=studies, page=page, pages=pages)


@bp.route("/equipment/<int:equipment_id>/delete-studies", methods=["GET", "POST"])
def equipment_delete_studies(equipment_id: int):
    """Delete the studies of the shown modality (or all, without one); with table_entry=1 also the
    equipment row, if no studies of other modalities remain. Confirmed by a second page."""
    eq = _equipment_or_404(equipment_id)
    modality = _review_modality(eq)
    with_entry = request.values.get("table_entry") == "1"
    count = db.session.scalar(select(func.count()).select_from(_source_query(eq, modality).subquery()))
    if request.method == "GET" or request.form.get("confirm") != "yes":
        return render_template("config/equipment_delete_confirm.html", eq=eq, modality=modality,
                               modality_name=MODALITY_NAMES.get(modality), count=count,
                               with_entry=with_entry)
    cond = [Study.equipment_id == eq.id] + ([Study.modality == modality] if modality else [])
    # One statement: the database cascades to events, planes and objects (ON DELETE CASCADE).
    deleted = db.session.execute(delete(Study).where(*cond).execution_options(synchronize_session=False)).rowcount
    remaining = db.session.scalar(select(func.count()).where(Study.equipment_id == eq.id))
    name = eq.display_name
    entry_removed = with_entry and remaining == 0
    details = {"equipment_id": eq.id, "modality": modality, "studies_deleted": deleted,
               "studies_remaining": remaining, "table_entry_removed": entry_removed}
    audit.record("equipment.delete_studies", name, details)
    if entry_removed:
        db.session.delete(eq)
    db.session.commit()
    said = [ngettext("Deleted %(num)d study of %(name)s.", "Deleted %(num)d studies of %(name)s.", deleted, name=name)]
    if with_entry:  # a second whole sentence
        said.append(_("The table entry was removed.") if entry_removed else
                    ngettext("The table entry was kept: %(num)d study of other modalities remains.",
                             "The table entry was kept: %(num)d studies of other modalities remain.", remaining))
    flash(" ".join(said))
    if entry_removed:
        return redirect(url_for("config.display_names"))
    return redirect(url_for("config.equipment_review", equipment_id=eq.id, modality=modality))
