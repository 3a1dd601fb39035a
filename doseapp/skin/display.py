"""What the study page says about a stored skin dose map: the top-left text (also drawn into saved
PNGs) and the JSON the 3D view is built from. No patient identifiers, only the map and its inputs."""
from __future__ import annotations

import numpy as np

from doseapp.models import SkinDoseMap
from doseapp.skin import figure
from doseapp.skin.result import SURFACES
from doseapp.skin.store import dose_array

ORIENTATIONS = {
    "HFS": "head first, on the back (HFS)", "FFS": "feet first, on the back (FFS)",
    "HFP": "head first, face down (HFP)", "FFP": "feet first, face down (FFP)",
    "HFDL": "head first, on the left side (HFDL)", "HFDR": "head first, on the right side (HFDR)",
    "FFDL": "feet first, on the left side (FFDL)", "FFDR": "feet first, on the right side (FFDR)",
}


def dose_words(gy: float | None) -> str:
    """A dose for busy readers: Gy, with mGy beside small ones."""
    if gy is None:
        return "—"
    if gy < 0.1:
        return f"{gy:.4f} Gy ({gy * 1000:.1f} mGy)"
    return f"{gy:.2f} Gy"


def _source(text: str | None) -> str:
    return f" ({text})" if text else ""


def summary_lines(row: SkinDoseMap) -> list[str]:
    """The map's top-left text, one line each: peak skin dose and its surface, phantom, height and mass
    (extracted or assumed), orientation, events used and skipped, cells over 3, 5 and 10 Gy."""
    lines = [f"Peak skin dose {dose_words(row.peak_skin_dose_gy)}"
             + (f", {row.peak_surface} surface" if row.peak_surface else "")]
    if row.phantom_description:
        lines.append(f"Phantom: {row.phantom_description}")
    height = f"{row.patient_height_m:.3f} m" if row.patient_height_m else "—"
    mass = f"{row.patient_mass_kg:.1f} kg" if row.patient_mass_kg else "—"
    lines.append(f"Patient height {height}{_source(row.height_source)}, mass {mass}{_source(row.mass_source)}")
    if row.orientation:
        lines.append(f"Orientation: {ORIENTATIONS.get(row.orientation, row.orientation)}{_source(row.orientation_source)}")
    lines.append(f"Events: {row.events_used or 0} used, {row.events_skipped or 0} skipped")
    lines.append(f"Cells over 3 Gy: {row.cells_over_3gy or 0}, over 5 Gy: {row.cells_over_5gy or 0}, "
                 f"over 10 Gy: {row.cells_over_10gy or 0} ({row.cell_size_cm or 1:g} cm cells)")
    return lines


def no_map_text(row: SkinDoseMap) -> str:
    return "No skin dose map: " + (row.reason or "the calculation gave no reason")


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
