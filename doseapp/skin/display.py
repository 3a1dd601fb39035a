"""What the study page says about a stored skin dose map: the top-left text (also drawn into saved
PNGs) and the JSON the 3D view is built from. No patient identifiers, only the map and its inputs."""
from __future__ import annotations

import re

import numpy as np
from flask_babel import gettext as _, ngettext

from doseapp.display import i18n
from doseapp.models import SkinDoseMap
from doseapp.skin import figure
from doseapp.skin.result import SURFACES
from doseapp.skin.store import dose_array

# Orientation codes (DICOM patient position) in words. English where there is no request; pages
# show them in the reader's language (orientation_words).
ORIENTATIONS = {
    "HFS": "head first, on the back (HFS)", "FFS": "feet first, on the back (FFS)",
    "HFP": "head first, face down (HFP)", "FFP": "feet first, face down (FFP)",
    "HFDL": "head first, on the left side (HFDL)", "HFDR": "head first, on the right side (HFDR)",
    "FFDL": "feet first, on the left side (FFDL)", "FFDR": "feet first, on the right side (FFDR)",
}


def orientation_words(code: str) -> str:
    return {"HFS": _("head first, on the back (HFS)"), "FFS": _("feet first, on the back (FFS)"),
            "HFP": _("head first, face down (HFP)"), "FFP": _("feet first, face down (FFP)"),
            "HFDL": _("head first, on the left side (HFDL)"), "HFDR": _("head first, on the right side (HFDR)"),
            "FFDL": _("feet first, on the left side (FFDL)"),
            "FFDR": _("feet first, on the right side (FFDR)")}.get(code, ORIENTATIONS.get(code, code))


def _number(value: float, digits: int) -> str:
    """`value` with `digits` decimals: doseapp's own English form, or as the page's language writes it."""
    return i18n.number(value, digits) if i18n.page_locale() is not None else f"{value:.{digits}f}"


def dose_words(gy: float | None) -> str:
    """A dose for busy readers: Gy, with mGy beside small ones."""
    if gy is None:
        return "—"
    if gy < 0.1:
        return _("%(gy)s Gy (%(mgy)s mGy)", gy=_number(gy, 4), mgy=_number(gy * 1000, 1))
    return _("%(gy)s Gy", gy=_number(gy, 2))


def _source(text: str | None) -> str:
    """Where a size or the orientation came from (skin.engine's words), in brackets."""
    if not text:
        return ""
    words = {"extracted": _("extracted"), "assumed": _("assumed"), "supine assumed": _("supine assumed"),
             "head first assumed": _("head first assumed")}.get(text, text)
    return " " + _("(%(source)s)", source=words)


def phantom_words(text: str | None) -> str:
    """skin.phantom's description (with skin.engine's patient support after it) in the page's language;
    the support's name (a product and where it was measured) stays as it is."""
    if not text:
        return ""
    body, _sep, support = text.partition("; on the ")
    m = re.fullmatch(r"whole body (?P<h>\d+) cm, torso (?P<w>\d+) × (?P<d>\d+) cm \(stadium cross-sections\)", body)
    if m:
        body = _("whole body %(height)s cm, torso %(width)s × %(depth)s cm (stadium cross-sections)",
                 height=m["h"], width=m["w"], depth=m["d"])
    m = re.fullmatch(r"openSkin phantom: (?P<w>\d+) × (?P<l>\d+) cm torso \(cuboid with half-cylinder sides\) and head",
                     body)
    if m:
        body = _("openSkin phantom: %(width)s × %(length)s cm torso (cuboid with half-cylinder sides) and head",
                 width=m["w"], length=m["l"])
    return _("%(phantom)s; on the %(support)s", phantom=body, support=support) if support else body


def summary_lines(row: SkinDoseMap) -> list[str]:
    """The map's top-left text, one line each: peak skin dose and its surface, phantom, height and mass
    (extracted or assumed), orientation, events used and skipped, cells over 3, 5 and 10 Gy. In the
    page's language (English outside a request)."""
    peak = dose_words(row.peak_skin_dose_gy)
    lines = [_("Peak skin dose %(dose)s, %(surface)s surface", dose=peak, surface=surface_words(row.peak_surface))
             if row.peak_surface else _("Peak skin dose %(dose)s", dose=peak)]
    if row.phantom_description:
        lines.append(_("Phantom: %(phantom)s", phantom=phantom_words(row.phantom_description)))
    height = _("%(value)s m", value=_number(row.patient_height_m, 3)) if row.patient_height_m else "—"
    mass = _("%(value)s kg", value=_number(row.patient_mass_kg, 1)) if row.patient_mass_kg else "—"
    lines.append(_("Patient height %(height)s%(height_source)s, mass %(mass)s%(mass_source)s", height=height,
                   height_source=_source(row.height_source), mass=mass, mass_source=_source(row.mass_source)))
    if row.orientation:
        lines.append(_("Orientation: %(orientation)s%(source)s", orientation=orientation_words(row.orientation),
                       source=_source(row.orientation_source)))
    lines.append(_("Events: %(used)s used, %(skipped)s skipped", used=row.events_used or 0,
                   skipped=row.events_skipped or 0))
    cell = row.cell_size_cm or 1
    lines.append(_("Cells over 3 Gy: %(over3)s, over 5 Gy: %(over5)s, over 10 Gy: %(over10)s (%(size)s cm cells)",
                   over3=row.cells_over_3gy or 0, over5=row.cells_over_5gy or 0, over10=row.cells_over_10gy or 0,
                   size=f"{cell:g}" if i18n.page_locale() is None else i18n.number(cell, 0 if cell == int(cell) else 1)))
    return lines


def surface_words(word: str | None) -> str:
    """A phantom surface (skin.result.SURFACES) in the page's language."""
    return {"anterior": _("anterior"), "posterior": _("posterior"), "left": _("left"), "right": _("right"),
            "superior": _("superior"), "inferior": _("inferior")}.get(word or "", word or "")


# skin.engine's reasons an event is left out of a map, and the map-level reasons built from them.
def event_reason(text: str) -> str:
    return {"no dose at the reference point": _("no dose at the reference point"),
            "no dose-area product or field size": _("no dose-area product or field size"),
            "a rotational run without its end angle or frames": _("a rotational run without its end angle or frames"),
            "no source-to-isocentre distance": _("no source-to-isocentre distance"),
            "no positioner angle": _("no positioner angle"),
            "no table position": _("no table position")}.get(text, text)


def reason_words(text: str | None) -> str:
    """Why a study has no map (skin.engine's words) in the page's language; unknown parts as they are."""
    if not text:
        return _("the calculation gave no reason")
    fixed = {"an administrator marked this system as not trusted for skin dose maps":
             _("an administrator marked this system as not trusted for skin dose maps"),
             "the study has no irradiation events": _("the study has no irradiation events"),
             "no event has a dose at the reference point": _("no event has a dose at the reference point")}
    if text in fixed:
        return fixed[text]
    m = re.fullmatch(r"this system \((?P<who>.+)\) is not in the vendor geometry table; an administrator can mark it "
                     r"trusted on the display names page \(Skin dose maps\)", text)
    if m:
        return _("this system (%(system)s) is not in the vendor geometry table; an administrator can mark it trusted "
                 "on the display names page (Skin dose maps)", system=m["who"])
    parts = []
    for part in text.split("; "):
        m = re.fullmatch(r"(?P<why>.+) in (?P<n>\d+) of (?P<total>\d+) events?", part)
        other = re.fullmatch(r"the other (?P<n>\d+) recorded no dose", part)
        if m:
            parts.append(ngettext("%(reason)s in %(count)s of %(total)s event", "%(reason)s in %(count)s of %(total)s events",
                                  int(m["total"]), reason=event_reason(m["why"]), count=m["n"], total=m["total"]))
        elif other:
            parts.append(ngettext("the other %(count)s recorded no dose", "the other %(count)s recorded no dose",
                                  int(other["n"]), count=other["n"]))
        else:
            parts.append(part)
    return "; ".join(parts)


def no_map_text(row: SkinDoseMap) -> str:
    return _("No skin dose map: %(reason)s", reason=reason_words(row.reason))


def phantom_of(row: SkinDoseMap):
    """The phantom the map was computed on (points, normals and surface names per cell), or None
    when the engine cannot rebuild it or it does not match the stored array."""
    try:
        from doseapp.skin import phantom
        ph = phantom.build(row.phantom or "doseapp", row.patient_height_m, row.patient_mass_kg, row.orientation)
    except (ImportError, ValueError, TypeError, KeyError):
        return None
    if (ph.rows, ph.cols) != (row.rows, row.cols):
        return None
    return ph


def map_json(row: SkinDoseMap) -> dict:
    """The JSON of the study page's 3D view: the dose (Gy, rows x cols), the phantom's cell centres (cm)
    and normals, flat in row-major order, each cell's surface (index into ``surfaces``), the palettes,
    the first window and the summary text."""
    dose = dose_array(row)
    out = {"ok": row.status == "ok" and dose is not None, "reason": row.reason, "rows": row.rows, "cols": row.cols,
           "cell_size_cm": row.cell_size_cm, "text": summary_lines(row) if row.status == "ok" else [no_map_text(row)],
           "peak_skin_dose_Gy": row.peak_skin_dose_gy, "peak_surface": row.peak_surface,
           "palettes": {k: {"label": label, "colours": list(cols)} for k, (label, cols) in figure.PALETTES.items()},
           "palette": figure.DEFAULT_PALETTE, "surfaces": list(SURFACES)}
    if not out["ok"]:
        return out
    out["window"] = list(figure.default_window(dose))
    out["dose"] = [[float(v) for v in r] for r in dose]
    ph = phantom_of(row)
    if ph is not None:
        out["points"] = np.round(np.asarray(ph.points, dtype=float), 1).ravel().tolist()
        out["normals"] = np.round(np.asarray(ph.normals, dtype=float), 2).ravel().tolist()
        index = {name: i for i, name in enumerate(SURFACES)}
        out["surface"] = [index.get(str(s), -1) for s in np.asarray(ph.surface).ravel()]
        valid = getattr(ph, "valid", None)  # cells that are not skin (openSkin's unused head cells)
        out["valid"] = [1] * len(out["surface"]) if valid is None else [int(v) for v in np.asarray(valid).ravel()]
    return out
