"""Config page for diagnostic reference levels (/config/drl): which shipped national sets are on, the
minimum sample, the flag factor and the default period; local DRLs added, edited and deleted. Every
change is in the audit log with before and after; a change queues the refresh of every study's DRL
ratio (doseapp.standards.flags). The shipped national rows are listed read-only with their source."""
from __future__ import annotations

import redis
from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from doseapp import audit
from doseapp.blueprints.config import bp
from doseapp.models import Equipment, Job, ReferenceLevel, StandardName, SystemSettings, db
from doseapp.standards import drl
from doseapp.standards.flags import KIND, enqueue_refresh

LEVEL_FIELDS = ("standard_name_id", "quantity", "value", "age_min_years", "age_max_years", "weight_min_kg",
                "weight_max_kg", "equipment_id", "source", "note")
SETTING_FIELDS = ("drl_sets", "drl_min_sample", "drl_flag_factor", "drl_period_days")


def _snapshot(level: ReferenceLevel) -> dict:
    return {f: getattr(level, f) for f in LEVEL_FIELDS}


def _queue_refresh() -> None:
    try:
        job = enqueue_refresh(user_id=current_user.id)
        flash(_("The DRL ratio of every study is being worked out again (job %(job)s).", job=job.id))
    except redis.RedisError:
        flash(_("The job queue did not answer: run `doseapp drl refresh` to update the studies' DRL ratios."))


def _number(form, name: str, *, whole=False, positive=False) -> float | int | None:
    text = (form.get(name) or "").strip()
    if not text:
        return None
    try:
        value = int(text) if whole else float(text)
    except ValueError:
        field = name.replace("_", " ")
        raise ValueError(_("%(field)s must be a whole number.", field=field) if whole
                         else _("%(field)s must be a number.", field=field)) from None
    if value != value or value in (float("inf"), float("-inf")) or value < 0 or (positive and value <= 0):
        field = name.replace("_", " ")
        raise ValueError(_("%(field)s must be above zero.", field=field) if positive
                         else _("%(field)s must be at least zero.", field=field))
    return value


def _page(edit: ReferenceLevel | None = None, status: int = 200):
    settings = SystemSettings.get()
    names = db.session.scalars(select(StandardName).order_by(StandardName.modality, StandardName.name)).all()
    systems = db.session.scalars(select(Equipment).order_by(Equipment.display_name)).all()
    jobs = db.session.scalars(select(Job).where(Job.kind == KIND).order_by(Job.id.desc()).limit(3)).all()
    db.session.commit()
    return render_template("config/drl.html", s=settings, sets=drl.national_sets(),
                           enabled=set(drl.enabled_set_keys(settings)), local=drl.local_levels(), names=names,
                           systems=systems, units=drl.UNITS, quantities=drl.QUANTITIES, edit=edit, jobs=jobs), status


@bp.route("/drl", methods=["GET", "POST"])
def drl_settings():
    """GET: the page (`?edit=<id>` fills the form with a local DRL). POST: the settings."""
    settings = SystemSettings.get()
    if request.method == "GET":
        edit = db.session.get(ReferenceLevel, request.args.get("edit", type=int) or 0)
        return _page(edit)
    before = {f: getattr(settings, f) for f in SETTING_FIELDS}
    try:
        min_sample = _number(request.form, "drl_min_sample", whole=True, positive=True)
        factor = _number(request.form, "drl_flag_factor", positive=True)
        days = _number(request.form, "drl_period_days", whole=True, positive=True)
    except ValueError as exc:
        db.session.rollback()
        flash(_("Not saved: %(reason)s", reason=exc))
        return redirect(url_for("config.drl_settings"))
    chosen = [k for k in drl.national_sets() if request.form.get(f"set_{k}") == "on"]
    settings.drl_sets = None if chosen == list(drl.national_sets()) else chosen
    settings.drl_min_sample = min_sample or settings.drl_min_sample
    settings.drl_flag_factor = factor or settings.drl_flag_factor
    settings.drl_period_days = days or settings.drl_period_days
    after = {f: getattr(settings, f) for f in SETTING_FIELDS}
    audit.record_change("settings.drl", "Diagnostic reference level settings", before, after)
    db.session.commit()
    flash(_("Reference level settings saved."))
    if before["drl_sets"] != after["drl_sets"]:  # the ratios depend on the levels, not on the factor
        _queue_refresh()
    return redirect(url_for("config.drl_settings"))


def _level_from_form(level: ReferenceLevel, form) -> None:
    name = db.session.get(StandardName, _number(form, "standard_name_id", whole=True) or 0)
    if name is None:
        raise ValueError(_("choose a standard name."))
    quantity = form.get("quantity", "")
    if quantity not in drl.QUANTITIES.get(name.modality, ()):
        raise ValueError(_("%(modality)s reference levels are for %(quantities)s.", modality=name.modality,
                           quantities=", ".join(drl.QUANTITIES[name.modality])))
    value = _number(form, "value", positive=True)
    if value is None:
        raise ValueError(_("give the value in %(unit)s.", unit=drl.UNITS[quantity][1]))
    bands = {f: _number(form, f) for f in ("age_min_years", "age_max_years", "weight_min_kg", "weight_max_kg")}
    for lo, hi in (("age_min_years", "age_max_years"), ("weight_min_kg", "weight_max_kg")):
        if bands[lo] is not None and bands[hi] is not None and bands[lo] >= bands[hi]:
            raise ValueError(_("%(low)s must be below %(high)s.", low=lo.replace("_", " "), high=hi.replace("_", " ")))
    equipment_id = _number(form, "equipment_id", whole=True) or None
    if equipment_id is not None and db.session.get(Equipment, equipment_id) is None:
        raise ValueError(_("there is no such system."))
    level.standard_name_id, level.quantity = name.id, quantity
    level.value = value / drl.UNITS[quantity][2]
    for f, v in bands.items():
        setattr(level, f, v)
    level.equipment_id = equipment_id
    level.source = (form.get("source") or "").strip()[:500] or "local DRL"
    level.note = (form.get("note") or "").strip()[:2000] or None


@bp.route("/drl/levels", methods=["POST"])
def drl_level_save():
    """Add a local DRL, or edit one (`id` in the form)."""
    level_id = request.form.get("id", type=int)
    level = db.session.get(ReferenceLevel, level_id) if level_id else ReferenceLevel()
    if level is None:
        flash(_("That local DRL is no longer there."))
        return redirect(url_for("config.drl_settings"))
    before = _snapshot(level) if level_id else {}
    try:
        _level_from_form(level, request.form)
    except ValueError as exc:
        db.session.rollback()
        flash(_("Not saved: %(reason)s", reason=exc))
        return redirect(url_for("config.drl_settings", **({"edit": level_id} if level_id else {})))
    if not level_id:
        db.session.add(level)
    db.session.flush()
    name = db.session.get(StandardName, level.standard_name_id)
    audit.record_change("drl.edit" if level_id else "drl.add", f"Local DRL {level.id}: {name.modality} {name.name} "
                        f"{level.quantity}", before, _snapshot(level))
    db.session.commit()
    flash(_("Local DRL saved."))
    _queue_refresh()
    return redirect(url_for("config.drl_settings"))


@bp.route("/drl/levels/delete", methods=["POST"])
def drl_level_delete():
    level = db.session.get(ReferenceLevel, request.form.get("id", type=int) or 0)
    if level is None:
        flash(_("That local DRL is no longer there."))
        return redirect(url_for("config.drl_settings"))
    name = db.session.get(StandardName, level.standard_name_id)
    audit.record("drl.delete", f"Local DRL {level.id}: {name.modality} {name.name} {level.quantity}",
                 audit.changes(_snapshot(level), {}))
    db.session.delete(level)
    db.session.commit()
    flash(_("Local DRL deleted."))
    _queue_refresh()
    return redirect(url_for("config.drl_settings"))


@bp.route("/drl/refresh", methods=["POST"])
def drl_refresh():
    """Work out every study's DRL ratio again (a background job)."""
    _queue_refresh()
    return redirect(url_for("config.drl_settings"))
