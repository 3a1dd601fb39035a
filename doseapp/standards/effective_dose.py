"""Effective dose estimate of one CT event: DLP × k, k the published coefficient for the body region
and age band (data/ct_effective_dose_coefficients.csv: AAPM Report 96 Table 1). A population
estimate for a reference patient, never this patient's dose; pure numbers in, numbers and words out.
"""
from __future__ import annotations

import csv
import functools
import re
from dataclasses import dataclass
from pathlib import Path

from doseapp.standards.ssde import phantom_cm

DATA = Path(__file__).parent / "data" / "ct_effective_dose_coefficients.csv"
LABEL = "Effective dose estimate (population, not this patient's dose)"

# Target region (CID 4030 meanings as scanners send them, lower case) -> table region. Heart: the
# chest coefficient, as is usual for cardiac CT (AAPM 96 has no cardiac row).
REGIONS = {
    "head": "head", "brain": "head", "skull": "head",
    "chest": "chest", "thorax": "chest", "lung": "chest", "heart": "chest",
    "abdomen": "abdomen and pelvis", "pelvis": "abdomen and pelvis",
    "abdomen and pelvis": "abdomen and pelvis",
    "chest, abdomen and pelvis": "trunk", "chest and abdomen": "trunk", "chest, abdomen": "trunk",
    "thorax, abdomen and pelvis": "trunk",
}
# Words that name a region clearly in a study description (used only without a target region).
_WORDS = {"head": "head", "brain": "head", "chest": "chest", "thorax": "chest",
          "abdomen": "abdomen", "abdo": "abdomen", "pelvis": "abdomen"}


@dataclass(frozen=True)
class Estimate:
    msv: float | None
    coefficient: float | None  # mSv/(mGy·cm)
    region: str  # the region and age band used, or "no estimate: why"


@functools.cache
def coefficients() -> dict[tuple[str, str], tuple[float, int]]:
    """(region, age band) -> (k, phantom cm), from the shipped table."""
    with DATA.open(encoding="utf-8") as fh:
        rows = csv.DictReader(line for line in fh if not line.startswith("#"))
        return {(r["region"], r["age_band"]): (float(r["k_msv_per_mgycm"]), int(r["phantom_cm"])) for r in rows}


def age_band(age_years: float | None) -> str:
    """The table's column nearest the age: 0, 1, 5, 10 y or adult (15 y and over; unknown age too)."""
    if age_years is None or age_years >= 15:
        return "adult"
    if age_years < 0.5:
        return "0"
    if age_years < 3:
        return "1"
    if age_years < 7.5:
        return "5"
    return "10"


def region_of(target_region: str | None, study_description: str | None = None) -> str | None:
    """The table region for the event's target region; the study description only when the event
    names none and the description clearly names one region (or chest with abdomen: trunk)."""
    if target_region:
        return REGIONS.get(target_region.strip().lower())
    words = {_WORDS[w] for w in re.findall(r"[a-z]+", (study_description or "").lower()) if w in _WORDS}
    if words == {"chest", "abdomen"}:
        return "trunk"
    if len(words) == 1:
        word = words.pop()
        return "abdomen and pelvis" if word == "abdomen" else word
    return None


def estimate(*, dlp_mgycm: float | None, target_region: str | None, age_years: float | None,
             phantom_type: str | None = None, study_description: str | None = None) -> Estimate:
    """The event's effective dose estimate (mSv), the coefficient and the region/age band used."""
    region = region_of(target_region, study_description)
    if region is None:
        named = target_region or (f"none; study description '{study_description}'" if study_description else "none")
        return Estimate(None, None, f"no estimate: target region '{named}' has no coefficient")
    if dlp_mgycm is None:
        return Estimate(None, None, f"no estimate: {region}, but the report gives no DLP")
    band = age_band(age_years)
    k, phantom = coefficients()[(region, band)]
    reported = phantom_cm(phantom_type)
    if reported is not None and reported != phantom:
        return Estimate(None, None, f"no estimate: {region} coefficients assume the {phantom} cm phantom, "
                                    f"CTDIvol was given for the {reported} cm one")
    words = f"{region}, {'adult' if band == 'adult' else band + ' y'}"
    if age_years is None:
        words += " (age not known: adult coefficient)"
    if target_region is None:
        words += " (from the study description)"
    return Estimate(dlp_mgycm * k, k, words)
