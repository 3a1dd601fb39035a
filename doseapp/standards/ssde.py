"""Size-specific dose estimate (SSDE) of one CT event: pure numbers in, a value and its method in
words out (IEC 62985 asks that a monitoring system show how every SSDE was had).

Conversion factor f = a·exp(−b·Dw), Dw in cm: the exponential fits of AAPM Report 204 (2011) to its
conversion tables, for CTDIvol measured in the 32 cm and the 16 cm phantom; AAPM Report 220 (2014)
says Dw, the water-equivalent diameter, is the size to put in. Order of sources: the SSDE the
scanner reported; else computed from the water-equivalent diameter the report gives; else none,
with the reason. Patient AP/lateral dimensions are not in a dose report, and TG-204's table of
effective diameter by age is not shipped (not verified against the report): see
docs/ssde-and-effective-dose.md.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

# AAPM Report 204, exponential fits (a, b) of the conversion factor to the effective diameter in cm.
FIT = {32: (3.704369, 0.03671937), 16: (1.874799, 0.03871313)}
# The diameters TG-204's tables cover (cm); no factor is extrapolated outside them.
DW_RANGE_CM = (8.0, 45.0)
LOCALIZER = "constant angle acquisition"
# Our own method texts start with these; anything else in ssde_method came from the report itself.
REPORTED = "reported by the scanner"
COMPUTED_PREFIXES = ("TG-220 ", "TG-204 ", "no SSDE")


@dataclass(frozen=True)
class Ssde:
    mgy: float | None
    method: str


def phantom_cm(phantom_type: str | None) -> int | None:
    """32 or 16 from the CTDIw phantom type (CID 4052: "IEC Body Dosimetry Phantom" is the 32 cm,
    "IEC Head Dosimetry Phantom" the 16 cm one); None when not reported or not recognised."""
    text = (phantom_type or "").lower()
    if "body" in text or "32" in text:
        return 32
    if "head" in text or "16" in text:
        return 16
    return None


def conversion_factor(dw_cm: float, phantom: int) -> float:
    """TG-204's f(Dw) for CTDIvol in the given phantom (32 or 16 cm)."""
    a, b = FIT[phantom]
    return a * math.exp(-b * dw_cm)


def _cm(value: float) -> str:
    return f"{value:.1f}"


def _age(age_years: float | None) -> str:
    return f"{age_years:.3g} y"


def reported_part(ssde_mgy: float | None, ssde_method: str | None) -> tuple[float | None, str | None]:
    """What the report itself said, from a stored row: (SSDE, the method the RDSR names). A row
    whose method is one of ours was computed (nothing reported), one "reported by the scanner (…)"
    keeps its value; any other row is as extraction stored it. So recomputation is idempotent."""
    method = (ssde_method or "").strip()
    if method.startswith(COMPUTED_PREFIXES):
        return None, None
    if method.startswith(REPORTED):
        inner = method[len(REPORTED):].strip()
        inner = inner[1:-1] if inner.startswith("(") and inner.endswith(")") else inner
        return ssde_mgy, (inner if inner and inner != "method not named" else None)
    return ssde_mgy, (method or None)


def estimate(*, ctdivol_mgy: float | None, phantom_type: str | None, acquisition_type: str | None,
             reported_ssde_mgy: float | None = None, reported_method: str | None = None,
             wed_mm: float | None = None, age_years: float | None = None) -> Ssde:
    """The event's SSDE and how it was had (or why there is none)."""
    if reported_ssde_mgy is not None:
        return Ssde(reported_ssde_mgy, f"{REPORTED} ({reported_method or 'method not named'})")
    if (acquisition_type or "").strip().lower() == LOCALIZER:
        return Ssde(None, "no SSDE: a localizer (constant angle acquisition) is not a scan")
    if ctdivol_mgy is None:
        return Ssde(None, "no SSDE: the report gives no CTDIvol")
    phantom = phantom_cm(phantom_type)
    if wed_mm is not None:
        dw = wed_mm / 10.0
        if phantom is None:
            return Ssde(None, f"no SSDE: water-equivalent diameter {_cm(dw)} cm, but the CTDIvol phantom "
                              f"(16 or 32 cm) is not reported ({phantom_type or 'none'})")
        if not DW_RANGE_CM[0] <= dw <= DW_RANGE_CM[1]:
            return Ssde(None, f"no SSDE: water-equivalent diameter {_cm(dw)} cm is outside the "
                              f"{DW_RANGE_CM[0]:.0f}–{DW_RANGE_CM[1]:.0f} cm of the TG-204 factors")
        return Ssde(ctdivol_mgy * conversion_factor(dw, phantom),
                    f"TG-220 from reported water-equivalent diameter {_cm(dw)} cm, {phantom} cm phantom")
    if age_years is None:
        who = "the patient's age is not known"
    elif age_years < 18:
        who = (f"the patient is a child (age {_age(age_years)}), and the TG-204 effective diameter by "
               "age is not used (table not verified)")
    else:
        who = f"the patient is an adult (age {_age(age_years)})"
    return Ssde(None, f"no SSDE: the report gives no water-equivalent diameter and {who}")
