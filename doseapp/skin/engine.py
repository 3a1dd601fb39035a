"""The skin dose calculation: every beam position of every event onto every skin cell at once.

For each cell the beam reaches (inside the collimated field, on a surface facing the source), the
dose is the air kerma free in air at the reference point, corrected by the inverse square of the
distance from the focal spot, times the transmission of the table and mattress measured for this
model's table when the ray crosses the table on its way in (more table for oblique rays), times the
water backscatter factor for the beam's HVL and the equivalent square field on the skin, times the
water-to-air mass energy-absorption coefficient ratio (physics.py says where each comes from).
Rotational runs are stepped frame by frame with the whole dose shared among all frames.
"""
from __future__ import annotations

import math
import time
from collections import Counter
from dataclasses import dataclass

import numpy as np

from doseapp.skin import physics, vendors
from doseapp.skin.phantom import REFERENCE_HEIGHT_CM, REFERENCE_MASS_KG, Phantom, build
from doseapp.skin.result import SkinMapResult

MATTRESS_CM = 4.0
TABLE_CM = 0.5
TABLE_WIDTH_CM = 45.0
OPENSKIN_TABLE_LENGTH_CM = 150.0
TABLE_ORIGIN_BEYOND_HEAD_CM = 5.0
DEFAULT_KV = 80.0
CHEST_FRACTION = 0.30  # where a "relative" origin puts the study's centre: 30 % of the height down
CHUNK = 48  # beam positions evaluated together (memory: CHUNK x cells x 3 doubles)


@dataclass
class Beam:
    """One beam position in patient coordinates (cm): focal spot, unit direction, field, dose."""

    event: int
    source: np.ndarray
    direction: np.ndarray
    across: np.ndarray  # unit vectors of the field's sides
    down: np.ndarray
    half_across: float  # half field sides at the reference distance
    half_down: float
    reference_cm: float  # focal spot to reference point
    kerma_gy: float  # air kerma at the reference point for this position
    kv: float
    cu_mm: float


def _f(value) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def patient_size(study) -> tuple[float, str, float, str]:
    """(height m, its source, mass kg, its source): the study's when plausible, else the defaults."""
    height = _f(getattr(study, "patient_height_m", None))
    mass = _f(getattr(study, "patient_weight_kg", None))
    h_ok = height is not None and 0.4 <= height <= 2.5
    m_ok = mass is not None and 2.0 <= mass <= 350.0
    return (height if h_ok else REFERENCE_HEIGHT_CM / 100, "extracted" if h_ok else "assumed",
            mass if m_ok else REFERENCE_MASS_KG, "extracted" if m_ok else "assumed")


def orientation(events) -> tuple[str, str]:
    """HFS/FFS/HFP/FFP from the first event that says, and where that came from."""
    first = next((e for e in events if e.patient_table_relationship), None)
    modifier = next((e for e in events if e.patient_orientation_modifier), None)
    ptr = (first.patient_table_relationship or "").lower().replace("-", "").replace(" ", "") if first else ""
    mod = (modifier.patient_orientation_modifier or "").lower() if modifier else ""
    head = "F" if ptr.startswith("feet") else "H"
    face = "P" if mod.startswith("prone") else "S"
    known_head = ptr.startswith(("feet", "head"))
    known_face = mod.startswith(("prone", "supine"))
    if known_head and known_face:
        source = "extracted"
    elif known_head:
        source = "supine assumed"
    elif known_face:
        source = "head first assumed"
    else:
        source = "assumed"
    return head + "F" + face, source


def _copper_mm(event) -> float:
    total = 0.0
    for item in event.filters or []:
        if "copper" in (item.get("material") or "").lower():
            total += _f(item.get("thickness_min_mm")) or _f(item.get("thickness_max_mm")) or 0.0
    return total


def _frames(event, openskin: bool) -> int:
    pulses = _f(event.number_of_pulses)
    if pulses and pulses >= 1:
        return int(pulses)
    exposure, width = _f(event.exposure_time_ms), _f(event.pulse_width_ms)
    if exposure and width:
        return max(1, int(exposure / width) if openskin else int(round(exposure / width)))
    duration, rate = _f(event.irradiation_duration_s), _f(event.pulse_rate_per_s)
    if duration and rate:
        return max(1, int(round(duration * rate)))
    return 0


def _detector_direction(primary: float, secondary: float) -> np.ndarray:
    """Unit vector from the isocentre to the detector for DICOM positioner angles (degrees)."""
    a, b = math.radians(primary), math.radians(secondary)
    return np.array([math.sin(a) * math.cos(b), -math.sin(b), math.cos(a) * math.cos(b)])


def _field_axes(direction: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    along_body = np.array([0.0, 1.0, 0.0])
    across = np.cross(direction, along_body)
    if np.linalg.norm(across) < 1e-6:
        across = np.array([1.0, 0.0, 0.0])
    across /= np.linalg.norm(across)
    down = np.cross(direction, across)
    return across, down / np.linalg.norm(down)


def _reason(counts: Counter, total: int) -> str:
    return "; ".join(f"{why} in {n} of {total} event{'s' if total != 1 else ''}" for why, n in counts.most_common())


def compute(study, events, equipment=None, *, phantom: str = "doseapp", trusted: bool | None = None) -> SkinMapResult:
    """Skin dose map of a study from its x-ray events (records or rows with the model's names)."""
    started = time.perf_counter()
    events = list(events)
    height_m, height_source, mass_kg, mass_source = patient_size(study)
    pat_pos, pat_pos_source = orientation(events)
    manufacturer = getattr(equipment, "manufacturer", None)
    model = getattr(equipment, "model_name", None)
    rule = vendors.rule_for(manufacturer, model, events)
    result = SkinMapResult(ok=False, phantom=phantom, patient_height_m=height_m, patient_mass_kg=mass_kg,
                           height_source=height_source, mass_source=mass_source, orientation=pat_pos,
                           orientation_source=pat_pos_source, geometry=rule.name)

    def finish(reason: str | None = None) -> SkinMapResult:
        result.reason = reason
        result.ok = reason is None
        result.seconds = round(time.perf_counter() - started, 4)
        return result

    if trusted is False:
        result.trusted = False
        return finish("an administrator marked this system as not trusted for skin dose maps")
    if trusted is None and not rule.trusted:
        result.trusted = False
        who = " ".join(x for x in (manufacturer, model) if x) or "unknown manufacturer and model"
        return finish(f"this system ({who}) is not in the vendor geometry table; an administrator can "
                      "mark it trusted on the display names page (Skin dose maps)")
    if not events:
        return finish("the study has no irradiation events")

    body = build(phantom, height_m, mass_kg, pat_pos)
    beams, skipped = _beams(events, rule, body, pat_pos, openskin=phantom == "openskin",
                            height_cm=height_m * 100)
    result.skipped = skipped
    with_dose = [e for e in events if (_f(e.dose_rp_gy) or 0) > 0]
    mapped_kerma = sum(b.kerma_gy for b in beams)
    total_kerma = sum(_f(e.dose_rp_gy) or 0 for e in events)
    if not beams:
        if not with_dose:
            return finish("no event has a dose at the reference point")
        counts = Counter(s["reason"] for s in skipped)
        zero = len(events) - len(with_dose) - sum(1 for s in skipped if s["reason"] == "no dose at the reference point")
        tail = f"; the other {zero} recorded no dose" if zero else ""
        return finish(_reason(counts, len(events)) + tail)
    used_events = {b.event for b in beams}
    result.events_used = len({i for i, e in enumerate(events, 1) if i in used_events or not (_f(e.dose_rp_gy) or 0)}
                             - {s["event"] for s in skipped})
    support = physics.patient_support(model)
    dose = _map(body, beams, pat_pos, openskin=phantom == "openskin", support=support)
    if not np.any(dose > 0):
        return finish("every beam missed the phantom: the table positions do not put the patient in the beam")
    result.dose = dose
    result.points, result.normals, result.surface = body.points, body.normals, body.surface
    # Say which measured table transmission the map used (openSkin's option always uses its own).
    result.phantom_description = body.description if phantom == "openskin" else f"{body.description}; on the {support.name}"
    peak = np.unravel_index(int(np.argmax(dose)), dose.shape)
    result.peak_cell = (int(peak[0]), int(peak[1]))
    result.peak_skin_dose_gy = float(dose[peak])
    result.peak_surface = str(body.surface[peak])
    for threshold in (3, 5, 10):
        setattr(result, f"cells_over_{threshold}gy", int(round(float(body.areas[dose >= threshold].sum()))))
    result.dose_fraction = round(mapped_kerma / total_kerma, 4) if total_kerma else None
    return finish()


def _beams(events, rule: vendors.GeometryRule, body: Phantom, pat_pos: str, *, openskin: bool,
           height_cm: float) -> tuple[list[Beam], list[dict]]:
    """Every beam position of the study, and the events left out with their reasons."""
    skipped: list[dict] = []
    usable = []
    for number, event in enumerate(events, 1):
        kerma = _f(event.dose_rp_gy)
        if kerma is None:
            skipped.append({"event": number, "reason": "no dose at the reference point"})
            continue
        if kerma <= 0:
            continue
        why = _missing_geometry(event, rule)
        if why:
            skipped.append({"event": number, "reason": why})
            continue
        usable.append((number, event, kerma))
    if not usable:
        return [], skipped
    centre = _relative_centre(usable, rule) if rule.origin == "relative" else None
    beams: list[Beam] = []
    for number, event, kerma in usable:
        iso = _isocentre(event, rule, body, pat_pos, centre, height_cm, openskin)
        sid_iso = _source_to_isocentre_cm(event)
        # Focal spot to reference point: as sent, else the IEC point 15 cm before the isocentre
        # (openSkin always takes the latter).
        srp = None if openskin else _f(event.distance_source_to_reference_point_mm)
        ref = srp / 10 if srp else sid_iso - 15.0
        area = _field_area_cm2(event, kerma, ref)
        if area is None:
            skipped.append({"event": number, "reason": "no dose-area product or field size"})
            continue
        half_a, half_d = _field_halves(event, area)
        kv = _f(event.kvp) or DEFAULT_KV
        cu = _copper_mm(event)
        primary = _f(event.positioner_primary_angle_deg) or 0.0
        secondary = _f(event.positioner_secondary_angle_deg) or 0.0
        angles = [(primary, secondary)]
        share = kerma
        if "rotational" in (event.event_type or "").lower():
            end = _f(event.positioner_primary_end_angle_deg)
            if end is None:
                end = next((stop for start, stop in rule.rotations if abs(primary - start) < 0.5), None)
            frames = _frames(event, openskin)
            if end is None or frames < 2:
                skipped.append({"event": number, "reason": "a rotational run without its end angle or frames"})
                continue
            end2 = _f(event.positioner_secondary_end_angle_deg)
            end2 = secondary if end2 is None else end2
            if openskin:
                # openSkin steps (end - start) / frames and evaluates frames - 1 positions of
                # 1/frames of the dose each (one frame's dose is left out), and keeps the field
                # aimed as at the start while the focal spot moves round: reproduced as it is.
                step = (end - primary) / frames
                start_detector = _detector_direction(primary, secondary)
                across, down = _field_axes(start_detector)
                for k in range(frames - 1):
                    source = iso - sid_iso * _detector_direction(primary + k * step, secondary)
                    beams.append(Beam(number, source, start_detector, across, down, half_a, half_d, ref,
                                      kerma / frames, kv, cu))
                continue
            else:
                t = np.linspace(0.0, 1.0, frames)
                angles = [(primary + (end - primary) * f, secondary + (end2 - secondary) * f) for f in t]
                share = kerma / frames
        for a, b in angles:
            detector = _detector_direction(a, b)
            source = iso - sid_iso * detector
            across, down = _field_axes(detector)
            beams.append(Beam(number, source, detector, across, down, half_a, half_d, ref, share, kv, cu))
    return beams, skipped


def _source_to_isocentre_cm(event) -> float:
    sid = _f(event.distance_source_to_isocenter_mm)
    if sid:
        return sid / 10
    return (_f(event.distance_source_to_reference_point_mm) + 150) / 10  # checked by _missing_geometry


def _missing_geometry(event, rule) -> str | None:
    if not _f(event.distance_source_to_isocenter_mm):
        srp = _f(event.distance_source_to_reference_point_mm)
        if not (srp and "isocenter" in (event.reference_point_definition or "").lower().replace("isocentre", "isocenter")):
            return "no source-to-isocentre distance"
    if _f(event.positioner_primary_angle_deg) is None:
        return "no positioner angle"
    if _f(getattr(event, rule.along[0])) is None or _f(getattr(event, rule.across[0])) is None \
            or _f(event.table_height_position_mm) is None:
        return "no table position"
    return None


def _relative_centre(usable, rule) -> tuple[float, float, float]:
    """Dose-weighted median table position of the study (along, across, height), in cm."""
    def median(values, weights):
        order = np.argsort(values)
        cum = np.cumsum(np.asarray(weights)[order])
        return float(np.asarray(values)[order][np.searchsorted(cum, cum[-1] / 2)])
    weights = [k for _, _, k in usable]
    along = [rule.along[1] * _f(getattr(e, rule.along[0])) / 10 for _, e, _ in usable]
    across = [rule.across[1] * _f(getattr(e, rule.across[0])) / 10 for _, e, _ in usable]
    height = [_f(e.table_height_position_mm) / 10 for _, e, _ in usable]
    return median(along, weights), median(across, weights), median(height, weights)


def _isocentre(event, rule, body: Phantom, pat_pos: str, centre, height_cm: float, openskin: bool) -> np.ndarray:
    """The isocentre in patient coordinates."""
    along = rule.along[1] * _f(getattr(event, rule.along[0])) / 10
    across = rule.across[1] * _f(getattr(event, rule.across[0])) / 10
    table_height = _f(event.table_height_position_mm) / 10
    prone = pat_pos.endswith("P")
    thickness = body.thickness_cm
    if rule.origin == "relative":
        y = CHEST_FRACTION * height_cm + (along - centre[0])
        x = across - centre[1]
        shift = table_height - centre[2]
        # Raising the table (above the floor) lowers the isocentre in the patient.
        z = thickness / 2 + (shift if prone else -shift) if rule.height == "table above floor" \
            else thickness / 2 + (-shift if prone else shift)
    else:
        y = along - TABLE_ORIGIN_BEYOND_HEAD_CM
        x = across
        z = (thickness + MATTRESS_CM - table_height) if prone else (table_height - MATTRESS_CM)
    if pat_pos[:2] == "FF" or prone:
        x = -x  # lying the other way round (or face down) puts the table's left on the patient's right
    if pat_pos[:2] == "FF" and prone:
        x = -x
    return np.array([x, y, z])


def _field_area_cm2(event, kerma: float, reference_cm: float) -> float | None:
    dap = _f(event.dap_gym2)
    if dap and dap > 0:
        return dap / kerma * 1e4
    collimated = _f(event.collimated_field_area_m2)
    sid = _f(event.distance_source_to_detector_mm)
    if collimated and sid:
        return collimated * 1e4 * (reference_cm * 10 / sid) ** 2  # the collimated area is at the detector
    return None


def _field_halves(event, area_cm2: float) -> tuple[float, float]:
    """Half sides of the field at the reference point: square, unless the system sent a consistent
    height and width (then their aspect ratio)."""
    side = math.sqrt(area_cm2)
    h, w = _f(event.collimated_field_height_mm), _f(event.collimated_field_width_mm)
    collimated = _f(event.collimated_field_area_m2)
    if h and w and collimated and abs(h * w / 1e6 - collimated) < 0.2 * collimated:
        aspect = math.sqrt(w / h)
        return side * aspect / 2, side / aspect / 2
    return side / 2, side / 2


def _map(body: Phantom, beams: list[Beam], pat_pos: str, *, openskin: bool,
         support: physics.PatientSupport) -> np.ndarray:
    """Sum every beam's dose onto the phantom's cells.

    Work is done as (cells x beams) matrices built from dot products (p - s) . v = p . v - s . v, so
    a chunk of beams costs a few matrix products instead of per-beam loops over the cells.
    """
    points = body.points.reshape(-1, 3)
    normals = body.normals.reshape(-1, 3)
    valid = body.valid.reshape(-1)[:, None]
    dose = np.zeros(points.shape[0])
    prone = pat_pos.endswith("P")
    # The table top in patient coordinates, and which side of it the patient is on.
    table_z = body.thickness_cm + MATTRESS_CM if prone else -MATTRESS_CM
    patient_side = -1.0 if prone else 1.0
    p_dot_p = np.einsum("ij,ij->i", points, points)[:, None]
    n_dot_p = np.einsum("ij,ij->i", normals, points)[:, None]
    for start in range(0, len(beams), CHUNK):
        chunk = beams[start:start + CHUNK]
        src = np.array([b.source for b in chunk])  # (B, 3)
        axes = {name: np.array([getattr(b, name) for b in chunk]) for name in ("direction", "across", "down")}

        def along(v):  # (p - s) . v for every cell and beam
            return points @ v.T - np.einsum("ij,ij->i", src, v)[None, :]

        depth = along(axes["direction"])
        ref = np.array([b.reference_cm for b in chunk])[None, :]
        reach = depth / ref
        in_field = (depth > 0) \
            & (np.abs(along(axes["across"])) <= np.array([b.half_across for b in chunk])[None, :] * reach) \
            & (np.abs(along(axes["down"])) <= np.array([b.half_down for b in chunk])[None, :] * reach)
        facing = (n_dot_p - normals @ src.T) <= 0
        hit = in_field & facing & valid
        if not hit.any():
            continue
        distance2 = p_dot_p - 2 * points @ src.T + np.einsum("ij,ij->i", src, src)[None, :]
        kerma = np.array([b.kerma_gy for b in chunk])[None, :] * ref ** 2 / distance2
        # Table and mattress: rays from a focal spot on the far side of the table cross it.
        below = ((src[:, 2] - table_z) * patient_side < 0)[None, :]
        ray_z = points[:, 2:3] - src[None, :, 2]
        if openskin:
            kerma = kerma * _openskin_table(chunk, points, src, ray_z, table_z)
            # openSkin's field size for backscatter: the side of a square of the cells the beam hits.
            field = np.sqrt(hit.sum(axis=0))
            bsf = np.array([physics.backscatter_openskin(b.kv, b.cu_mm, field[i]) for i, b in enumerate(chunk)])[None, :]
        else:
            cos_t = np.abs(ray_z) / np.sqrt(distance2)
            quality = {(b.kv, b.cu_mm) for b in chunk}
            transmission = {q: physics.table_transmission(*q, support) for q in quality}
            normal_t = np.array([transmission[b.kv, b.cu_mm] for b in chunk])[None, :]
            kerma = np.where(below, kerma * normal_t ** (1.0 / np.maximum(cos_t, 0.17)), kerma)
            # Backscatter tables are for square fields: a rectangle a × b scatters back like the square
            # of the same area-to-perimeter ratio, side 2ab / (a + b) (equal to the side for a square).
            half_a = np.array([b.half_across for b in chunk])
            half_d = np.array([b.half_down for b in chunk])
            side = (4 * half_a * half_d / (half_a + half_d))[None, :] * reach
            bsf = physics.skin_factor_many([b.kv for b in chunk], [b.cu_mm for b in chunk], side)
        dose += np.sum(np.where(hit, kerma * bsf, 0.0), axis=1)
    return dose.reshape(body.rows, body.cols)


def _openskin_table(chunk, points, src, ray_z, table_z) -> np.ndarray:
    """openSkin's table correction: the central ray's angle, for every cell whose ray crosses the
    150 x 45 cm table top going upwards."""
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (table_z - src[None, :, 2]) / ray_z
    cross_x = src[None, :, 0] + t * (points[:, 0:1] - src[None, :, 0])
    cross_y = src[None, :, 1] + t * (points[:, 1:2] - src[None, :, 1]) + TABLE_ORIGIN_BEYOND_HEAD_CM
    on_table = (t > 0) & (np.abs(cross_x) <= TABLE_WIDTH_CM / 2) & (cross_y >= 0) \
        & (cross_y <= OPENSKIN_TABLE_LENGTH_CM) & (ray_z >= 0)
    factors = []
    for b in chunk:
        sin_alpha = b.direction[2]
        transmission = physics.table_transmission_openskin(b.kv, b.cu_mm)
        factors.append(transmission ** (1.0 / sin_alpha) if sin_alpha > 0 else 1.0)
    return np.where(on_table, np.array(factors)[None, :], 1.0)
