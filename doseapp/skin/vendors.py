"""How each manufacturer reports the beam geometry, in one table.

DICOM (the X-Ray Radiation Dose SR, TID 10003) defines the positioner angles relative to the patient
(primary: RAO negative, LAO positive; secondary: caudal negative, cranial positive) and the table
positions relative to "the table's own origin" — and vendors differ in what they put there:

- Siemens Artis (and Canon / Toshiba Alphenix/Infinix the same way): the value sent as *lateral*
  position runs along the table and the one sent as *longitudinal* runs across it; the table height
  is the isocentre's height above the table top. The longitudinal origin is near the head end of the
  table (openSkin's convention, known to work for the Artis Zee: the table origin 5 cm beyond the top
  of the head).
- Philips Allura Xper and Azurion: the same swap of lateral and longitudinal, but positions are room
  coordinates (about 1.8–2.4 m along, table top about 0.9 m above the floor), so the origin tells
  nothing about where the patient lies. Beams keep their positions relative to each other, and the
  study's dose-weighted centre is placed on the chest (where cardiac and most body work aims);
  raising the table lowers the isocentre in the patient. openSkin reads these as Siemens axes and
  puts every beam 1.8 m from the patient: all-zero maps.
- GE (Innova / OEC): positions as DICOM defines them (longitudinal along the table), origin unknown:
  relative like Philips.
- Anything else: not in the table, so not trusted until an administrator marks the system trusted;
  then the numbers decide (room-sized positions are read as Philips-like, small ones Siemens-like).
"""
from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class GeometryRule:
    name: str
    manufacturer: str  # regular expression, matched case-insensitively against the manufacturer
    model: str = ".*"
    along: tuple[str, float] = ("table_lateral_position_mm", 1.0)  # runs head-to-feet along the table
    across: tuple[str, float] = ("table_longitudinal_position_mm", -1.0)  # runs to the patient's left
    origin: str = "head end"  # "head end": origin 5 cm beyond the top of the head; "relative"
    height: str = "isocentre above table"  # or "table above floor"
    trusted: bool = True
    note: str = ""
    # Rotational runs sent without an end angle: (start angle, end angle) pairs the system runs.
    rotations: tuple[tuple[float, float], ...] = ()


SIEMENS_AXES = dict(along=("table_lateral_position_mm", 1.0), across=("table_longitudinal_position_mm", -1.0))
DICOM_AXES = dict(along=("table_longitudinal_position_mm", 1.0), across=("table_lateral_position_mm", 1.0))

RULES: tuple[GeometryRule, ...] = (
    GeometryRule("Siemens Artis", r"siemens", **SIEMENS_AXES,
                 note="lateral and longitudinal swapped; origin at the head end; height is the isocentre's above the table"),
    GeometryRule("Canon / Toshiba", r"canon|toshiba", **SIEMENS_AXES,
                 note="as Siemens"),
    GeometryRule("Philips Allura / Azurion", r"philips", **SIEMENS_AXES, origin="relative", height="table above floor",
                 note="lateral and longitudinal swapped; room coordinates, so beams are placed relative to "
                      "the study's dose-weighted centre on the chest",
                 # Allura Xper FD10/FD20 rotational scans: propeller -120 to +120, roll -45 to +135.
                 rotations=((-120.0, 120.0), (-45.0, 135.0))),
    GeometryRule("GE", r"^ge\b|general electric|ge healthcare|ge medical|ge oec", **DICOM_AXES, origin="relative",
                 height="table above floor", note="DICOM axes; origin unknown, beams placed relative to each other"),
)

UNKNOWN_SIEMENS_LIKE = GeometryRule("unknown system (Siemens-like positions)", ".*", **SIEMENS_AXES, trusted=False,
                                    note="not in the vendor table; small positions read as Siemens'")
UNKNOWN_ROOM = GeometryRule("unknown system (room-coordinate positions)", ".*", **SIEMENS_AXES, origin="relative",
                            height="table above floor", trusted=False,
                            note="not in the vendor table; room-sized positions read as Philips'")


def rule_for(manufacturer: str | None, model: str | None, events) -> GeometryRule:
    """The geometry rule for a system; unknown systems get an untrusted rule chosen by the numbers."""
    for rule in RULES:
        if manufacturer and re.search(rule.manufacturer, manufacturer, re.I) and re.search(rule.model, model or "", re.I):
            return rule
    along = [abs(e.table_lateral_position_mm) for e in events if e.table_lateral_position_mm is not None]
    heights = [e.table_height_position_mm for e in events if e.table_height_position_mm is not None]
    room = (along and max(along) > 1200) or (heights and max(heights) > 600)
    return UNKNOWN_ROOM if room else UNKNOWN_SIEMENS_LIKE
