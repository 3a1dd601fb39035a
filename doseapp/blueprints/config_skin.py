"""Config page for skin dose maps (seed §7.2): switch maps on (calculation and display) and calculation
on import, both audited; recalculate every map, or the missing and out-of-date ones, as a background
job. Each system's trust decision is set with its display name (config_equipment)."""
from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func, select

from doseapp import audit
from doseapp.blueprints.config import bp
from doseapp.lazy_text import lazy_gettext as _l
from doseapp.models import Job, SkinDoseMap, Study, SystemSettings, db
from doseapp.skin.jobs import BATCH_KIND, enqueue_batch
from doseapp.skin.result import METHOD_VERSION

FIELDS = (("enable_skin_dose_maps", _l("Enable skin dose maps"),
           _l("Calculate skin dose maps of fluoroscopy studies and show them on the study pages.")),
          ("calc_skin_dose_on_import", _l("Calculate skin dose maps on import"),
           _l("Calculate a study's map as soon as it is imported (and again when its patient size changes), "
              "rather than when it is first looked at.")))
RECENT_JOBS = 5


def _counts() -> dict:
    fluoro = db.session.scalar(select(func.count()).where(Study.modality == "RF"))
    kept = dict(db.session.execute(select(SkinDoseMap.status, func.count()).join(Study, Study.id == SkinDoseMap.study_id)
                                   .where(Study.modality == "RF").group_by(SkinDoseMap.status)).all())
    old = db.session.scalar(select(func.count()).select_from(SkinDoseMap).where(SkinDoseMap.method_version != METHOD_VERSION))
    return {"fluoro": fluoro, "ok": kept.get("ok", 0), "no_map": kept.get("no_map", 0),
            "none": fluoro - sum(kept.values()), "old_method": old}


@bp.route("/skin-maps", methods=["GET", "POST"])
def skin_map_settings():
    settings = SystemSettings.get()
    names = [f for f, _, _ in FIELDS]
    if request.method == "POST":
        before = {f: getattr(settings, f) for f in names}
        for f in names:
            setattr(settings, f, request.form.get(f) == "on")
        audit.record_change("settings.skin_dose_maps", "Skin dose map settings", before,
                            {f: getattr(settings, f) for f in names})
        db.session.commit()
        flash(_("Skin dose map settings saved."))
        return redirect(url_for("config.skin_map_settings"))
    db.session.commit()  # the settings row, if it was just created
    jobs = db.session.scalars(select(Job).where(Job.kind == BATCH_KIND).order_by(Job.id.desc()).limit(RECENT_JOBS)).all()
    return render_template("config/skin_maps.html", s=settings, fields=FIELDS, counts=_counts(), jobs=jobs,
                           method_version=METHOD_VERSION)


@bp.route("/skin-maps/recalculate", methods=["POST"])
def skin_maps_recalculate():
    """Every fluoroscopy study's map again (scope=all), or only the missing and out-of-date (stale)."""
    if not SystemSettings.get().enable_skin_dose_maps:
        db.session.commit()
        flash(_("Skin dose maps are switched off: enable them first."))
        return redirect(url_for("config.skin_map_settings"))
    scope = "stale" if request.form.get("scope") == "stale" else "all"
    title = "Recalculate all skin dose maps" if scope == "all" else "Calculate missing and out-of-date skin dose maps"
    job = enqueue_batch(title, user_id=current_user.id, scope=scope)
    return redirect(url_for("jobs.status", job_id=job.id))
