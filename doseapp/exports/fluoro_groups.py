"""Grouping of similar fluoroscopy exposures for the XLSX "All data" sheet (seed §8.1.1).

An exposure joins a group when, compared with the group's FIRST exposure, it has the same plane,
protocol, field size, pulse rate, filter material and thickness and event type, and both positioner
angles within 5°. A factor the RDSR does not give (None) is not compared. Each group reports its
common factors, the number of exposures, and min, max and mean of the rest (per-pulse values already
averaged with zeros excluded by columns.mean_nonzero).
"""
from __future__ import annotations

from doseapp.exports.columns import Col, dap_cgycm2, filter_materials, filter_thickness, mean_nonzero
from doseapp.extract.units import significant

ANGLE_TOLERANCE_DEG = 5.0

COMMON: list[tuple[str, callable, str]] = [
    ("Plane", lambda e: e.acquisition_plane, "text"),
    ("Type", lambda e: e.event_type, "text"),
    ("Protocol", lambda e: e.acquisition_protocol, "text"),
    ("Field size (mm)", lambda e: e.ii_field_size_mm, "num"),
    ("Pulse rate (/s)", lambda e: e.pulse_rate_per_s, "num"),
    ("Filter material", filter_materials, "text"),
    ("Filter thickness (mm)", filter_thickness, "num"),
]
ANGLES = [("Primary angle (deg)", lambda e: e.positioner_primary_angle_deg),
          ("Secondary angle (deg)", lambda e: e.positioner_secondary_angle_deg)]
VARYING: list[tuple[str, callable]] = ANGLES + [
    ("kVp (kV)", lambda e: mean_nonzero(e, "kvp")),
    ("mA (mA)", lambda e: mean_nonzero(e, "tube_current_ma")),
    ("Pulse width (ms)", lambda e: mean_nonzero(e, "pulse_width_ms")),
    ("No. pulses", lambda e: e.number_of_pulses),
    ("Exposure time (ms)", lambda e: e.exposure_time_ms),
    ("Duration (s)", lambda e: e.irradiation_duration_s),
    ("DAP (cGy.cm^2)", lambda e: dap_cgycm2(e.dap_gym2)),
    ("Dose RP (Gy)", lambda e: e.dose_rp_gy),
]


def _same(a, b) -> bool:
    return a is None or b is None or a == b


def _near(a, b) -> bool:
    return a is None or b is None or abs(a - b) <= ANGLE_TOLERANCE_DEG


def group(events) -> list[list]:
    """Events (in time order) -> groups, each a list of events whose first is the reference."""
    groups: list[tuple[tuple, tuple, list]] = []
    for e in events:
        key = tuple(get(e) for _, get, _ in COMMON)
        angles = tuple(get(e) for _, get in ANGLES)
        for gkey, gangles, members in groups:
            if all(_same(a, b) for a, b in zip(key, gkey)) and all(_near(a, b) for a, b in zip(angles, gangles)):
                members.append(e)
                break
        else:
            groups.append((key, angles, [e]))
    return [members for _, _, members in groups]


def group_columns() -> list[Col]:
    """The columns of one group (headers without the G<n> prefix)."""
    cols = [Col(h, get, kind) for h, get, kind in COMMON]
    cols.append(Col("No. exposures", len, "num"))
    for h, _ in VARYING:
        for stat in ("min", "max", "mean"):
            cols.append(Col(f"{h} {stat}", None, "num"))
    return cols


def group_values(members: list) -> list:
    first = members[0]
    out = [get(first) for _, get, _ in COMMON]
    out.append(len(members))
    for _, get in VARYING:
        vals = [v for v in (get(m) for m in members) if v is not None]
        out.extend((min(vals), max(vals), significant(sum(vals) / len(vals))) if vals else (None, None, None))
    return out
