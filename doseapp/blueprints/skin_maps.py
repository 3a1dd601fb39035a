"""The skin dose map section of the fluoroscopy study page (issue 16 item 4; seed §7.1-7.3).

The study page asks for the section by HTMX once it is on screen. The section shows the stored map
(2D Bokeh image, 3D view, the top-left text), the reason there is none, or, while the map is missing
or out of date, a "Calculating" panel that starts the calculation (an RQ job) and polls this same
partial until the stored map is current. The 3D view reads the map as JSON from its own route."""
from __future__ import annotations

import json

import redis
from bokeh.embed import components
from flask import Blueprint, abort, current_app, jsonify, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from doseapp import roles
from doseapp.blueprints.studies import load_study
from doseapp.models import SystemSettings, db
from doseapp.skin import display, figure, store
from doseapp.skin.result import SURFACES
from doseapp.skin.jobs import enqueue_skin_map, waiting_map_job

bp = Blueprint("skinmaps", __name__)
bp.add_app_template_filter(display.event_reason, "skin_event_reason")

# The skin dose map settings page (jobs/settings helper); the config index if it does not exist.
SETTINGS_ENDPOINTS = ("config.skin_dose_map_settings", "config.skin_map_settings", "config.skin_maps")
POLL_SECONDS = 2
SLOW_POLL_SECONDS = 10
FAST_POLLS = 45  # then poll more slowly and point at the Jobs page


def maps_enabled() -> bool:
    return bool(SystemSettings.get().enable_skin_dose_maps)


def settings_url() -> str:
    """Where an admin switches maps on ("" for anyone else: they cannot)."""
    endpoint = next((e for e in SETTINGS_ENDPOINTS if e in current_app.view_functions), "config.index")
    admin = roles.allowed(current_user, roles.any_of("admin"))
    return url_for(endpoint) if admin and roles.allowed(current_user, roles.ACCESS[endpoint]) else ""


def start_calculation(study) -> None:
    """Queue the study's map calculation (an RQ job; the section polls until it is kept), unless
    its job is already waiting or running."""
    if waiting_map_job(study.id) is not None:
        return
    try:
        enqueue_skin_map(study.id, user_id=getattr(current_user, "id", None))
    except redis.RedisError:
        # The queue is not answering. A map takes a second or two (bench/skin_map.py: 1.4 s at
        # most on the test files), so this one degraded case makes it here rather than never.
        store.compute_for_study(study)
        db.session.commit()


@bp.route("/rf/<int:study_id>/skin-map")
def section(study_id: int):
    study = load_study(study_id, "RF")
    if not maps_enabled():
        return render_template("studies/_skin_map.html", state="disabled", study=study, settings_url=settings_url())
    row = store.stored(study.id)
    if not store.is_current(row, study):
        try:
            polls = max(0, int(request.args.get("poll", 0)))
        except ValueError:
            polls = 0
        if polls == 0:
            start_calculation(study)
            row = store.stored(study.id)
        if not store.is_current(row, study):
            return render_template("studies/_skin_map.html", state="calculating", study=study, polls=polls,
                                   every=POLL_SECONDS if polls < FAST_POLLS else SLOW_POLL_SECONDS,
                                   poll_url=url_for("skinmaps.section", study_id=study.id, poll=polls + 1))
    if row.status != "ok" or row.dose_map is None:
        return render_template("studies/_skin_map.html", state="no_map", study=study, row=row,
                               reason=display.no_map_text(row))
    dose = store.dose_array(row)
    ph = display.phantom_of(row)
    fig = figure.build(dose, ph.surface if ph is not None else None, valid=ph.valid if ph is not None else None,
                       cell_size_cm=row.cell_size_cm or 1.0, words=figure_words(),
                       surface_names={name: display.surface_words(name).capitalize() for name in SURFACES})
    script, div = components(fig)
    low, high = figure.default_window(dose)
    return render_template("studies/_skin_map.html", state="ok", study=study, row=row, script=script, div=div,
                           lines=display.summary_lines(row), palettes=figure.PALETTES, palette_labels=palette_labels(),
                           view_words=view_words(),
                           palettes_json=json.dumps({k: list(c) for k, (_, c) in figure.PALETTES.items()}), palette=figure.DEFAULT_PALETTE,
                           low=low, high=high, has_overlay=ph is not None,
                           json_url=url_for("skinmaps.data", study_id=study.id))


def figure_words() -> dict[str, str]:
    """The 2D figure's axis titles and hover labels (skin.figure.WORDS) in the page's language."""
    return {"across": _("Round the body from the front, to the left (cm)"), "down": _("From the top of the head (cm)"),
            "dose": _("Dose"), "from_head": _("From the head"), "round_body": _("Round the body")}


def palette_labels() -> dict[str, str]:
    """The colour schemes' names (skin.figure.PALETTES) in the page's language."""
    return {"viridis": _("Viridis (colour-blind safe)"), "hot": _("Hot (black, red, yellow, white)"),
            "grey": _("Greyscale (as openSkin)"), "turbo": _("Rainbow")}


def view_words() -> dict[str, str]:
    """What static/js/skinmap.js writes (on the 3D view, the full screen button, the saved PNGs'
    colour line), in the page's language; the script keeps its English for any word missing."""
    return {"L": _("L"), "Head": _("Head"), "Feet": _("Feet"), "Front": _("Front"),
            "the front": _("Seen from the front"), "the back": _("Seen from the back"),
            "the left": _("Seen from the left"), "the right": _("Seen from the right"),
            "the head end": _("Seen from the head end"), "the feet end": _("Seen from the feet end"),
            "Full screen": _("Full screen"), "Leave full screen": _("Leave full screen"),
            "no3d": _("No 3D view: the phantom of this map cannot be rebuilt."),
            "colours": _("Colours: %(palette)s, from %(low)s Gy to %(high)s Gy", palette="{palette}", low="{low}",
                         high="{high}")}


@bp.route("/rf/<int:study_id>/skin-map.json")
def data(study_id: int):
    """The stored map for the 3D view. ``state``: "off" (maps switched off), "calculating" (none kept
    yet, or out of date), "no_map" (with ``reason``) or "ok"."""
    study = load_study(study_id, "RF")
    if not maps_enabled():
        return jsonify({"state": "off", "ok": False})
    row = store.stored(study.id)
    if not store.is_current(row, study):
        return jsonify({"state": "calculating", "ok": False})
    out = display.map_json(row)
    out["state"] = "ok" if out["ok"] else "no_map"
    return jsonify(out)
