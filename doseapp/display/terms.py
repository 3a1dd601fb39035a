"""DICOM code meanings that study pages show as words, in the reader's language: irradiation event
types (CID 10002), CT acquisition types (CID 10013) and acquisition planes (CID 10003). They are
stored as the report sent them (exports and the API keep them so); a meaning not listed here, or sent
in another spelling, is shown as it came."""
from __future__ import annotations

from flask_babel import gettext as _


def term_words(value: str | None) -> str | None:
    """`value` in the page's language when it is one of the code meanings above."""
    if not value:
        return value
    words = {
        "fluoroscopy": _("Fluoroscopy"), "stationary acquisition": _("Stationary Acquisition"),
        "stepping acquisition": _("Stepping Acquisition"), "rotational acquisition": _("Rotational Acquisition"),
        "sequenced acquisition": _("Sequenced Acquisition"), "spiral acquisition": _("Spiral Acquisition"),
        "constant angle acquisition": _("Constant Angle Acquisition"), "free acquisition": _("Free Acquisition"),
        "cone beam acquisition": _("Cone Beam Acquisition"),
        "single plane": _("Single Plane"), "biplane": _("Biplane"), "plane a": _("Plane A"), "plane b": _("Plane B"),
    }
    return words.get(value.strip().lower(), value)
