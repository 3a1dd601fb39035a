"""What a skin dose calculation returns: the map, or the reason there is none."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# Bump when a change to the method changes numbers: stored maps of an older version are recomputed.
METHOD_VERSION = "1.0"

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
        return {
            "ok": self.ok,
            "reason": self.reason,
            "peak_skin_dose_Gy": self.peak_skin_dose_gy,
            "peak_surface": self.peak_surface,
            "cells_over_3Gy": self.cells_over_3gy,
            "cells_over_5Gy": self.cells_over_5gy,
            "cells_over_10Gy": self.cells_over_10gy,
            "events_used": self.events_used,
            "events_skipped": self.events_skipped,
            "skipped": self.skipped,
            "phantom": self.phantom,
            "phantom_description": self.phantom_description,
            "patient_height_m": self.patient_height_m,
            "patient_mass_kg": self.patient_mass_kg,
            "height_source": self.height_source,
            "mass_source": self.mass_source,
            "orientation": self.orientation,
            "orientation_source": self.orientation_source,
            "dose_fraction": self.dose_fraction,
            "geometry": self.geometry,
            "seconds": self.seconds,
            "method_version": self.method_version,
        }
