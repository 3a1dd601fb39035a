"""CT radiation dose: TID 10011 content read into records. TID 10012 accumulated dose data,
TID 10013 irradiation events with TID 10014 scanning length, per-source parameters (dual source),
TID 10015 dose check details and the size-specific dose estimate.

Each handler walks the children of its container once and dispatches on the concept code; the
newer SNOMED CT concept codes are accepted beside the retired SRT ones.
"""
from __future__ import annotations

import re

from doseapp.extract.records import CtEventRecord, CtSourceRecord
from doseapp.extract.sr import Ctx, Node, walk

# Numeric items: concept code -> (record field, unit kind). Grouped by container for readability;
# one event's NUMs are looked up in the union, since vendors do not always nest them as specified.
_EVENT_NUMS = {
    # CT Acquisition Parameters (TID 10013) and Scanning Length (TID 10014)
    "113824": ("exposure_time_s", "time_s"),
    "113825": ("scanning_length_mm", "length_mm"),
    "113893": ("length_of_reconstructable_volume_mm", "length_mm"),
    "113899": ("exposed_range_mm", "length_mm"),
    "113895": ("top_z_location_mm", "length_mm"),
    "113896": ("bottom_z_location_mm", "length_mm"),
    "113826": ("nominal_single_collimation_mm", "length_mm"),
    "113827": ("nominal_total_collimation_mm", "length_mm"),
    "113828": ("pitch_factor", "ratio"),
    # CT Dose
    "113830": ("ctdivol_mgy", "dose_mgy"),
    "113838": ("dlp_mgycm", "dlp_mgycm"),
    "113837": ("mean_ctdifreeair_mgy", "dose_mgy"),
    "113839": ("effective_dose_msv", "effective_dose_msv"),
    "113930": ("ssde_mgy", "dose_mgy"),
    "113980": ("water_equivalent_diameter_mm", "length_mm"),
}
_SOURCE_NUMS = {
    "113733": ("kvp", "kv"),
    "113833": ("max_tube_current_ma", "current_ma"),
    "113734": ("tube_current_ma", "current_ma"),
    "113834": ("exposure_time_per_rotation_s", "time_s"),
    "113821": ("filter_aluminium_equivalent_mm", "length_mm"),
}
_ALERT_NUMS = {
    "113903": ("dose_check_dlp_alert_value_mgycm", "dlp_mgycm"),
    "113904": ("dose_check_ctdivol_alert_value_mgy", "dose_mgy"),
    "113905": ("dose_check_accumulated_dlp_forward_estimate_mgycm", "dlp_mgycm"),
    "113906": ("dose_check_accumulated_ctdivol_forward_estimate_mgy", "dose_mgy"),
}
_NOTIFICATION_NUMS = {
    "113911": ("dose_check_dlp_notification_value_mgycm", "dlp_mgycm"),
    "113912": ("dose_check_ctdivol_notification_value_mgy", "dose_mgy"),
    "113913": ("dose_check_dlp_forward_estimate_mgycm", "dlp_mgycm"),
    "113914": ("dose_check_ctdivol_forward_estimate_mgy", "dose_mgy"),
}
_EVENT_CODES = {
    "123014": "target_region",
    "113820": "acquisition_type",
    "G-C32C": "procedure_context",
    "408730004": "procedure_context",
    "113835": "ctdiw_phantom_type",
}
_EVENT_TEXTS = {
    "125203": "acquisition_protocol",
    "121106": "comment",
    "113842": "xray_modulation_type",
    "113769": "irradiation_event_uid",
}
_MEASUREMENT_METHOD = ("370129005", "G-C036")
_SIEMENS_MODULATION = re.compile(r"X-ray Modulation Type\s*=\s*([^,]+)", re.IGNORECASE)


def ct_accumulated(node: Node, ctx: Ctx) -> tuple[float | None, int | None]:
    """Total DLP (mGy·cm) and total number of events from CT Accumulated Dose Data (TID 10012)."""
    total_dlp = total_events = None
    for child in node.children:
        if child.key == "113813":
            total_dlp = ctx.value(child, "dlp_mgycm")
        elif child.key == "113812":
            total_events = ctx.integer(child)
    return total_dlp, total_events


def ct_event(node: Node, ctx: Ctx) -> CtEventRecord:
    """One CT Acquisition container (TID 10013) as a record with its X-ray sources."""
    event = CtEventRecord()
    for child in node.children:
        key = child.key
        if key in _EVENT_TEXTS:
            setattr(event, _EVENT_TEXTS[key], ctx.text(child))
        elif key in _EVENT_CODES:
            setattr(event, _EVENT_CODES[key], ctx.meaning(child))
        elif key == "113822":  # CT Acquisition Parameters
            _parameters(child, event, ctx)
        elif key == "113829":  # CT Dose
            _dose(child, event, ctx)
        elif key == "111526":  # DateTime Started, where a system sends one
            event.date_time_started = ctx.datetime(child)
        elif key in _EVENT_NUMS:
            _set_num(event, child, _EVENT_NUMS, ctx)
    if event.xray_modulation_type is None and event.comment:
        # Siemens puts the modulation type only in the comment text.
        match = _SIEMENS_MODULATION.search(event.comment)
        if match:
            event.xray_modulation_type = match.group(1).strip()
    if not event.sources and event.number_of_xray_sources and event.number_of_xray_sources > 1:
        ctx.warn(f"{event.number_of_xray_sources} X-ray sources declared but none described")
    return event


def _set_num(record, node: Node, table: dict, ctx: Ctx) -> None:
    name, kind = table[node.key]
    value = ctx.value(node, kind)
    if value is not None:
        setattr(record, name, value)


def _parameters(node: Node, event: CtEventRecord, ctx: Ctx) -> None:
    for child in node.children:
        key = child.key
        if key == "113831":  # CT X-Ray Source Parameters
            event.sources.append(_source(child, ctx))
        elif key == "113823":
            event.number_of_xray_sources = ctx.integer(child)
        elif key in _EVENT_NUMS:
            _set_num(event, child, _EVENT_NUMS, ctx)


def _source(node: Node, ctx: Ctx) -> CtSourceRecord:
    source = CtSourceRecord()
    for child in node.children:
        if child.key == "113832":
            source.identification = ctx.text(child)
        elif child.key in _SOURCE_NUMS:
            _set_num(source, child, _SOURCE_NUMS, ctx)
    return source


def _dose(node: Node, event: CtEventRecord, ctx: Ctx) -> None:
    for child in node.children:
        key = child.key
        if key == "113835":
            event.ctdiw_phantom_type = ctx.meaning(child)
        elif key == "113900":
            _dose_check(child, event, ctx, alert=True)
        elif key == "113908":
            _dose_check(child, event, ctx, alert=False)
        elif key == "113930":
            event.ssde_mgy = ctx.value(child, "dose_mgy")
            _ssde_details(child, event, ctx)
        elif key in _EVENT_NUMS:
            _set_num(event, child, _EVENT_NUMS, ctx)


def _ssde_details(node: Node, event: CtEventRecord, ctx: Ctx) -> None:
    """Method and water-equivalent diameter reported with the size-specific dose estimate."""
    for child in node.children:
        if child.key in _MEASUREMENT_METHOD:
            event.ssde_method = ctx.meaning(child)
    for child in walk(node.children):  # the diameter may sit one level down (INFERRED FROM)
        if child.key == "113980" and event.water_equivalent_diameter_mm is None:
            event.water_equivalent_diameter_mm = ctx.value(child, "length_mm")


def _dose_check(node: Node, event: CtEventRecord, ctx: Ctx, alert: bool) -> None:
    """TID 10015 alert or notification details (NEMA XR-25)."""
    nums = _ALERT_NUMS if alert else _NOTIFICATION_NUMS
    kind = "alert" if alert else "notification"
    for child in node.children:
        key = child.key
        if key in nums:
            _set_num(event, child, nums, ctx)
        elif key in ("113901", "113909"):
            setattr(event, f"dose_check_dlp_{kind}_configured", ctx.yes_no(child))
        elif key in ("113902", "113910"):
            setattr(event, f"dose_check_ctdivol_{kind}_configured", ctx.yes_no(child))
        elif key == "113907":
            setattr(event, f"dose_check_{kind}_reason", ctx.text(child))
        elif key == "113870":
            setattr(event, f"dose_check_{kind}_person", ctx.text(child))
