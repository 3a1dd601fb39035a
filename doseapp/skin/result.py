"""What a skin dose calculation returns: the map, or the reason there is none."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# Bump when a change to the method changes numbers: stored maps of an older version are recomputed.
METHOD_VERSION = "1.1"

SURFACES = ("anterior", "posterior", "left", "right", "superior", "inferior")


@dataclass
class SkinMapResult:
    """One study's skin dose map.

    ``dose`` is Gy per cell, shape (rows, cols): rows run along the patient from the top of the head
    (row 0) to the feet, columns run round the body from the right edge of the anterior surface
    across it to the patient's left, down the left side, across the back and up the right side
    (``doseapp.skin.phantom``), so the back is in the middle columns. ``points`` and
    ``normals`` (rows, cols, 3), in cm, place each cell on the phantom for the 3D view (x to the
    patient's left, y towards the feet, z anterior). ``surface`` (rows, cols) names each cell's
    surface, one of ``SURFACES``.
    """

    ok: bool
    reason: str | None = None
    dose: np.ndarray | None = None
    points: np.ndarray | None = None
    normals: np.ndarray | None = None
    surface: np.ndarray | None = None
    cell_size_cm: float = 1.0
    phantom: str = "doseapp"
    phantom_description: str | None = None
    peak_skin_dose_gy: float | None = None
    peak_surface: str | None = None
    peak_cell: tuple[int, int] | None = None
    cells_over_3gy: int | None = None
    cells_over_5gy: int | None = None
    cells_over_10gy: int | None = None
    patient_height_m: float | None = None
    patient_mass_kg: float | None = None
    height_source: str | None = None
    mass_source: str | None = None
    orientation: str | None = None
    orientation_source: str | None = None
    events_used: int = 0
    skipped: list[dict] = field(default_factory=list)  # [{"event": 1-based number, "reason": text}]
    dose_fraction: float | None = None  # mapped share of the study's total dose at RP
    geometry: str | None = None  # the vendor geometry rule that placed the beams
    trusted: bool = True
    seconds: float = 0.0
    method_version: str = METHOD_VERSION

    @property
    def events_skipped(self) -> int:
        return len(self.skipped)

    def summary(self) -> dict:
        """The fields of the CLI/API JSON that a fresh result has (no arrays)."""
        return {"ok": self.ok, **summary_fields(self)}


# The CLI/API JSON keys and the attribute each comes from: the same on a fresh SkinMapResult and on
# a kept SkinDoseMap row (doseapp.skin.store.as_dict), so both answers have one shape.
SUMMARY_FIELDS = (
    ("reason", "reason"), ("peak_skin_dose_Gy", "peak_skin_dose_gy"), ("peak_surface", "peak_surface"),
    ("cells_over_3Gy", "cells_over_3gy"), ("cells_over_5Gy", "cells_over_5gy"),
    ("cells_over_10Gy", "cells_over_10gy"), ("events_used", "events_used"), ("events_skipped", "events_skipped"),
    ("skipped", "skipped"), ("phantom", "phantom"), ("phantom_description", "phantom_description"),
    ("patient_height_m", "patient_height_m"), ("patient_mass_kg", "patient_mass_kg"),
    ("height_source", "height_source"), ("mass_source", "mass_source"), ("orientation", "orientation"),
    ("orientation_source", "orientation_source"), ("dose_fraction", "dose_fraction"), ("geometry", "geometry"),
    ("seconds", "seconds"), ("method_version", "method_version"),
)


def summary_fields(source) -> dict:
    """SUMMARY_FIELDS read from a result or a kept row."""
    return {key: getattr(source, attr) for key, attr in SUMMARY_FIELDS}
