"""Projection X-ray radiation dose: TID 10001 content read into records. TID 10002 accumulated dose
per plane with TID 10004 (fluoroscopy and acquisition totals), TID 10005 (mammography AGD per
breast) and TID 10007 (integrated projection radiography totals); TID 10003 irradiation events
with source (10003B), detector (10003A) and mechanical (10003C) data folded in.

Per-pulse values: TID 10003B allows kVp, tube current, pulse width and exposure once per pulse
(several content items, or several values in one). The record keeps the mean in the scalar field
and the list, in the stored unit, in ``per_pulse``.
"""
from __future__ import annotations

import re

from doseapp.extract import units
from doseapp.extract.records import AccumulatedPlaneRecord, BreastDoseRecord, XrayEventRecord
from doseapp.extract.sr import Ctx, Node

# Numeric items of an irradiation event: concept key -> (record field, unit kind).
_EVENT_NUMS = {
    "122130": ("dap_gym2", "dap_gym2"),
    "113738": ("dose_rp_gy", "dose_gy"),
    "111636": ("entrance_exposure_at_rp_mgy", "dose_mgy"),
    "111631": ("agd_mgy", "dose_mgy"),
    "111634": ("half_value_layer_mm", "hvl_mm"),
    "111046": ("percent_fibroglandular_tissue", "percent"),
    "113791": ("pulse_rate_per_s", "rate_per_s"),
    "113768": ("number_of_pulses", "count"),
    "113733": ("kvp", "kv"),
    "113734": ("tube_current_ma", "current_ma"),
    "113767": ("average_tube_current_ma", "current_ma"),
    "113793": ("pulse_width_ms", "time_ms"),
    "113736": ("exposure_uas", "charge_uas"),
    "113735": ("exposure_time_ms", "time_ms"),
    "113824": ("exposure_time_ms", "time_ms"),
    "113742": ("irradiation_duration_s", "time_s"),
    "113766": ("focal_spot_size_mm", "length_mm"),
    "113790": ("collimated_field_area_m2", "area_m2"),
    "113788": ("collimated_field_height_mm", "length_mm"),
    "113789": ("collimated_field_width_mm", "length_mm"),
    "112011": ("positioner_primary_angle_deg", "angle_deg"),
    "112012": ("positioner_secondary_angle_deg", "angle_deg"),
    "113739": ("positioner_primary_end_angle_deg", "angle_deg"),
    "113740": ("positioner_secondary_end_angle_deg", "angle_deg"),
    "113770": ("column_angulation_deg", "angle_deg"),
    "113754": ("table_head_tilt_angle_deg", "angle_deg"),
    "113755": ("table_horizontal_rotation_angle_deg", "angle_deg"),
    "113756": ("table_cradle_tilt_angle_deg", "angle_deg"),
    "113751": ("table_longitudinal_position_mm", "length_mm"),
    "113752": ("table_lateral_position_mm", "length_mm"),
    "113753": ("table_height_position_mm", "length_mm"),
    # Philips Allura Xper sends table height under its private code only.
    "99PHI-IXR-XPER:021": ("philips_table_height_mm", "length_mm"),
    "111633": ("compression_thickness_mm", "length_mm"),
    "111647": ("compression_force_n", "force_n"),
    "113748": ("distance_source_to_isocenter_mm", "length_mm"),
    "113750": ("distance_source_to_detector_mm", "length_mm"),
    "113737": ("distance_source_to_reference_point_mm", "length_mm"),
    "113792": ("distance_source_to_table_plane_mm", "length_mm"),
    "113845": ("exposure_index", "index"),
    "113846": ("target_exposure_index", "index"),
    "113847": ("deviation_index", "index"),
}
_PER_PULSE = {"kvp", "tube_current_ma", "pulse_width_ms", "exposure_uas"}
_EVENT_CODES = {
    "113764": "acquisition_plane",
    "113721": "event_type",
    "123014": "target_region",
    "113732": "fluoro_mode",
    "111632": "anode_target_material",
    "113745": "patient_table_relationship",
}
_EVENT_TEXTS = {
    "125203": "acquisition_protocol",
    "113769": "irradiation_event_uid",
    "121106": "comment",
}
_LATERALITY = ("G-C171", "272741003", "111027")
_ANATOMY = ("T-D0005", "91723000")
_IMAGE_VIEW = "111031"
_VIEW_MODIFIER = "111032"
_ORIENTATION = "113743"
_ORIENTATION_MODIFIER = "113744"

_PLANE_NUMS = {
    "113722": ("dap_total_gym2", "dap_gym2"),
    "113725": ("dose_rp_total_gy", "dose_gy"),
    "113726": ("fluoro_dap_total_gym2", "dap_gym2"),
    "113728": ("fluoro_dose_rp_total_gy", "dose_gy"),
    "113730": ("total_fluoro_time_s", "time_s"),
    "113727": ("acquisition_dap_total_gym2", "dap_gym2"),
    "113729": ("acquisition_dose_rp_total_gy", "dose_gy"),
    "113855": ("total_acquisition_time_s", "time_s"),
}
_CALIBRATION_ITEMS = {
    "113794": "dose_measurement_device",
    "113723": "date",
    "122322": "factor",
    "113763": "uncertainty_percent",
    "113724": "responsible_party",
    "113720": "protocol",
}
_II_DIAMETER = re.compile(r"<iiDiameter\s+SRData=\"\s*([0-9.]+)\s*\"")


def accumulated_plane(node: Node,
                      ctx: Ctx) -> tuple[AccumulatedPlaneRecord, list[BreastDoseRecord]]:
    """One Accumulated X-Ray Dose Data container: the plane's totals and, for mammography, the
    accumulated AGD of each breast."""
    plane = AccumulatedPlaneRecord()
    breasts: list[BreastDoseRecord] = []
    for child in node.children:
        key = child.key
        if key in _PLANE_NUMS:
            name, kind = _PLANE_NUMS[key]
            value = ctx.value(child, kind)
            if value is not None:
                setattr(plane, name, value)
        elif key == "113764":
            plane.acquisition_plane = ctx.meaning(child)
        elif key == "113731":
            plane.total_number_of_radiographic_frames = ctx.integer(child)
        elif key == "113780":
            plane.reference_point_definition = ctx.text(child)
        elif key == "122505":
            plane.calibration = (plane.calibration or []) + [_calibration(child, ctx)]
        elif key == "111637":
            breasts.append(_breast_dose(child, ctx))
    return plane, breasts


def _breast_dose(node: Node, ctx: Ctx) -> BreastDoseRecord:
    laterality = None
    for child in node.children:
        if child.key in _LATERALITY:
            laterality = ctx.meaning(child)
    if laterality is None:
        ctx.warn("accumulated average glandular dose without laterality")
    return BreastDoseRecord(laterality=laterality or "Unknown", agd_mgy=ctx.value(node, "dose_mgy"))


def _calibration(node: Node, ctx: Ctx) -> dict:
    """A Calibration container as a JSON-ready dict (date as ISO text)."""
    out: dict = {}
    for child in [node, *node.children]:
        name = _CALIBRATION_ITEMS.get(child.key)
        if name is None:
            continue
        if name == "date":
            when = ctx.datetime(child)
            out[name] = when.isoformat() if when else None
        elif name == "factor":
            out[name] = ctx.value(child, "ratio")
        elif name == "uncertainty_percent":
            out[name] = ctx.value(child, "percent")
        else:
            out[name] = ctx.text(child)
    return out


def xray_event(node: Node, ctx: Ctx) -> XrayEventRecord:
    """One Irradiation Event X-Ray Data container (TID 10003) as a record."""
    event = XrayEventRecord()
    nums: dict[str, list[float]] = {}
    codes: dict[str, str | None] = {}
    grids: list[str] = []
    modifiers: list[str] = []
    anatomy = None
    for child in node.children:
        key = child.key
        if key in _EVENT_NUMS:
            if child.value is not None:
                nums.setdefault(_EVENT_NUMS[key][0], []).extend(
                    ctx.values(child, _EVENT_NUMS[key][1]))
        elif key in _EVENT_TEXTS:
            setattr(event, _EVENT_TEXTS[key], ctx.text(child))
        elif key in _EVENT_CODES:
            codes[_EVENT_CODES[key]] = ctx.meaning(child)
        elif key == "111526":
            event.date_time_started = ctx.datetime(child)
        elif key == "113780":
            event.reference_point_definition = ctx.text(child)
        elif key in _LATERALITY:
            event.laterality = ctx.meaning(child)
        elif key in _ANATOMY:
            anatomy = ctx.meaning(child)
            lat = _modifier(child, _LATERALITY, ctx)
            if lat:
                event.laterality = lat
        elif key == _IMAGE_VIEW:
            event.image_view = ctx.meaning(child)
            modifiers += [ctx.meaning(m) for m in child.children if m.key == _VIEW_MODIFIER]
        elif key == _VIEW_MODIFIER:
            modifiers.append(ctx.meaning(child))
        elif key == _ORIENTATION:
            event.patient_orientation = ctx.meaning(child)
            event.patient_orientation_modifier = _modifier(child, (_ORIENTATION_MODIFIER,), ctx)
        elif key == _ORIENTATION_MODIFIER:
            event.patient_orientation_modifier = ctx.meaning(child)
        elif key == "111635":
            grids.append(ctx.meaning(child))
        elif key == "113771":
            event.filters = (event.filters or []) + [_filter(child, ctx)]
    for name, value in codes.items():
        if name == "target_region":
            anatomy = value or anatomy
        else:
            setattr(event, name, value)
    event.anatomical_structure = anatomy
    event.image_view_modifier = ", ".join(m for m in modifiers if m) or None
    event.grid = ", ".join(g for g in grids if g) or None
    _numbers(event, nums, ctx)
    if event.ii_field_size_mm is None and event.comment and "iiDiameter" in event.comment:
        # Siemens Artis systems give the image intensifier / detector size only in the comment.
        match = _II_DIAMETER.search(event.comment)
        if match:
            event.ii_field_size_mm = float(match.group(1))
    return event


def _modifier(node: Node, keys: tuple[str, ...], ctx: Ctx) -> str | None:
    for child in node.children:
        if child.key in keys:
            return ctx.meaning(child)
    return None


def _numbers(event: XrayEventRecord, nums: dict[str, list[float]], ctx: Ctx) -> None:
    per_pulse = {}
    for name, values in nums.items():
        if not values:
            continue
        pulsed = name in _PER_PULSE
        value, problem = units.combine(values, per_pulse=pulsed)
        if problem:
            ctx.warn(f"{name}: {problem}; not stored")
            continue
        if pulsed and len(values) > 1:
            per_pulse[name] = values
        if name == "number_of_pulses" and value is not None and value != int(value):
            ctx.warn(f"number of pulses {value!r} is not a whole number")
        if name in ("average_tube_current_ma", "philips_table_height_mm"):
            continue
        setattr(event, name, value)
    if event.tube_current_ma is None and "average_tube_current_ma" in nums:
        event.tube_current_ma, _ = units.combine(nums["average_tube_current_ma"], per_pulse=True)
    if event.table_height_position_mm is None and nums.get("philips_table_height_mm"):
        event.table_height_position_mm, _ = units.combine(nums["philips_table_height_mm"])
    event.per_pulse = per_pulse or None


def _filter(node: Node, ctx: Ctx) -> dict:
    """An X-Ray Filters container as a JSON-ready dict. Minimum and maximum thickness given the
    wrong way round are swapped (the names say which is which), with a warning."""
    out = {"type": None, "material": None, "thickness_min_mm": None, "thickness_max_mm": None}
    for child in node.children:
        key = child.key
        if key == "113772":
            out["type"] = ctx.meaning(child)
        elif key == "113757":
            out["material"] = ctx.meaning(child)
        elif key == "113758":
            out["thickness_min_mm"] = ctx.value(child, "length_mm")
        elif key == "113773":
            out["thickness_max_mm"] = ctx.value(child, "length_mm")
    low, high = out["thickness_min_mm"], out["thickness_max_mm"]
    if low is not None and high is not None and low > high:
        out["thickness_min_mm"], out["thickness_max_mm"] = high, low
        ctx.warn(f"filter {out['material']!r}: minimum thickness {low} mm above maximum "
                 f"{high} mm; swapped")
    return out

