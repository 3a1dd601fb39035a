"""The NHSBSP dose-audit CSV for NCCPM (testdata/README.md): 15 columns, one row per exposure."""
from __future__ import annotations

import math
import re
from functools import lru_cache

from doseapp.display.materials import short_material as _short_material
from doseapp.extract.units import shift

# Materials repeat for every exposure of a system: remembered, a lookup instead of a parse per exposure.
short_material = lru_cache(maxsize=1024)(_short_material)

HEADER = ["Survey number", "Patient number", "View code", "kV", "Anode", "Filter", "Thickness", "mAs",
          "large cassette used", "auto/man", "Auto mode", "Density setting", "Age", "Comment",
          "AEC density mode"]

# NCCPM view codes (medio-lateral oblique is OB); order is also the row order within a study.
VIEW_CODES = {
    "cranio-caudal": "CC", "medio-lateral oblique": "OB", "medio-lateral": "ML", "latero-medial": "LM",
    "latero-medial oblique": "LMO", "caudo-cranial": "FB", "caudo-cranial (from below)": "FB",
    "superolateral to inferomedial oblique": "SIO", "inferomedial to superolateral oblique": "ISO",
    "cranio-caudal exaggerated laterally": "XCCL", "exaggerated cranio-caudal laterally": "XCCL",
    "cranio-caudal exaggerated medially": "XCCM", "exaggerated cranio-caudal medially": "XCCM",
}
_VIEW_ORDER = {code: n for n, code in enumerate(dict.fromkeys(VIEW_CODES.values()))}
EXCLUDE = ("scout", "postclip", "prefire", "biopsy", "postfire", "stereo", "specimen", "specimin", "artefact")
_EXCLUDED = re.compile("|".join(EXCLUDE))  # one search for all the words (a protocol containing any)
ANODES = {"W", "Mo", "Rh"}
# What the rules below read: the export selects only these.
STUDY_READS = ["patient_age_years"]
EVENT_READS = ["acquisition_protocol", "laterality", "image_view", "anode_target_material", "filters",
               "date_time_started", "exposure_control_mode", "kvp", "compression_thickness_mm", "exposure_uas"]
FILTERS = {"Al", "Mo", "Rh", "Ag"}


def _view(text: str | None) -> str | None:
    if not text:
        return None
    return VIEW_CODES.get(" ".join(text.strip().lower().replace("_", " ").split()))


def _side(laterality: str | None) -> str | None:
    first = (laterality or "").strip()[:1].upper()
    return first if first in ("R", "L") else None


def _filter(event) -> str | None:
    for f in event.filters or []:
        m = short_material(f.get("material"))
        if m in FILTERS:
            return m
    return None


def study_rows(study, events, patient_number: int) -> list[list]:
    """The rows of one study (empty when every exposure is excluded), from its exposures `events`."""
    kept = []
    for e in events:
        if e.acquisition_protocol and _EXCLUDED.search(e.acquisition_protocol.lower()):
            continue
        side, view = _side(e.laterality), _view(e.image_view)
        anode, filt = short_material(e.anode_target_material), _filter(e)
        if not side or not view or anode not in ANODES or not filt:
            continue
        kept.append((0 if side == "R" else 1, _VIEW_ORDER[view], e.date_time_started is None,
                     e.date_time_started or 0, e.id, side + view, anode, filt, e))
    kept.sort(key=lambda k: k[:5])
    seen: dict[str, int] = {}
    age = None if study.patient_age_years is None else math.floor(study.patient_age_years)
    rows = []
    for *_, code, anode, filt, e in kept:
        seen[code] = seen.get(code, 0) + 1
        mode = (e.exposure_control_mode or "").lower()
        auto = "AUTO" if "auto" in mode else "MANUAL" if "manual" in mode else None
        rows.append([1, patient_number, code if seen[code] == 1 else f"{code}{seen[code]}", e.kvp, anode, filt,
                     e.compression_thickness_mm, None if e.exposure_uas is None else shift(e.exposure_uas, -3),
                     None, auto, None, None, age, None, None])
    return rows
