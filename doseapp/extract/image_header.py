"""Reading dose facts from image headers (mammography, radiography, Philips dose captures).

Image headers carry one exposure each as plain attributes, not as an SR tree. These helpers read
them with the same rules as the SR readers: numbers through units.parse_number (decimal commas,
``\\``, ``/`` and ``;`` separated values, NaN refused), text through the report's TextDecoder, and
every value that cannot be used becomes a warning, never an exception.
"""
from __future__ import annotations

import datetime as dt

from pydicom.dataelem import RawDataElement
from pydicom.datadict import dictionary_VR

from doseapp.extract import header, units
from doseapp.extract.rdsr import new_context, new_report
from doseapp.extract.records import DoseReport, XrayEventRecord
from doseapp.extract.sr import Ctx, parse_date, parse_datetime, parse_time

_TEXT_VRS = {"DS", "IS", "CS", "LO", "SH", "ST", "LT", "UT", "PN", "DA", "TM", "DT", "AS", "UI", "UN", None}

# Header CS terms for materials -> the DICOM code meanings the SR readers store.
MATERIALS = {
    "MOLYBDENUM": "Molybdenum or Molybdenum compound",
    "RHODIUM": "Rhodium or Rhodium compound",
    "TUNGSTEN": "Tungsten or Tungsten compound",
    "ALUMINUM": "Aluminum or Aluminum compound",
    "ALUMINIUM": "Aluminum or Aluminum compound",
    "SILVER": "Silver or Silver compound",
    "COPPER": "Copper or Copper compound",
    "LEAD": "Lead or Lead compound",
    "TIN": "Tin or Tin compound",
    "NIOBIUM": "Niobium or Niobium compound",
    "EUROPIUM": "Europium or Europium compound",
    "TANTALUM": "Tantalum or Tantalum compound",
}
FILTER_TYPES = {"STRIP": "Strip filter", "WEDGE": "Wedge filter", "BUTTERFLY": "Butterfly filter",
                "FLAT": "Flat filter", "MULTIPLE": "Multiple filters", "NONE": "No filter"}
# Grid (0018,1166) defined terms; Carestream sends "FO" for FOCUSED.
GRIDS = {"FIXED": "Fixed grid", "FOCUSED": "Focused grid", "FO": "Focused grid",
         "RECIPROCATING": "Reciprocating grid", "PARALLEL": "Parallel grid",
         "CROSSED": "Crossed grid", "NONE": "No grid"}
LATERALITY = {"L": "Left", "R": "Right", "B": "Both"}


def new_image_context(ds) -> Ctx:
    """The Ctx (text decoder and warnings) for an image header."""
    return new_context(ds)


def _element(ds, tag: int):
    try:
        return ds.get_item(tag)
    except Exception:  # a damaged element is reported by the caller as "absent"
        return None


def _vr(elem, tag: int) -> str | None:
    vr = getattr(elem, "VR", None)
    if vr:
        return str(vr)
    try:
        return dictionary_VR(tag)
    except KeyError:
        return None


def text(ds, tag: int, ctx: Ctx, person_name: bool = False) -> str | None:
    """A text attribute (decoded by the declared character set, stripped), or None."""
    elem = _element(ds, tag)
    if elem is None or elem.value is None:
        return None
    value = elem.value
    if isinstance(value, bytes):
        return ctx.decode(value, person_name=person_name)
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        value = "\\".join(str(v) for v in value)
    return ctx.decode(str(value))


def numbers(ds, tag: int, ctx: Ctx, label: str) -> list[float]:
    """All values of a numeric attribute (DS/IS text or binary), [] when absent or unusable."""
    elem = _element(ds, tag)
    if elem is None or elem.value is None:
        return []
    raw = elem.value
    vr = _vr(elem, tag)
    try:
        if isinstance(elem, RawDataElement) and vr not in _TEXT_VRS:
            raw = ds[tag].value  # binary VRs (US, FD, FL...) converted by pydicom
        if type(raw).__name__ == "MultiValue":
            raw = tuple(raw)
        values = units.parse_number(raw if not isinstance(raw, (list, tuple)) else tuple(float(v) for v in raw))
    except (ValueError, TypeError):
        ctx.warn(f"{label} {raw!r} is not a number; not stored")
        return []
    return values or []


def number(ds, tag: int, ctx: Ctx, label: str, factor: float = 1.0) -> float | None:
    """One numeric value times ``factor``; several equal values collapse, different ones warn."""
    values = numbers(ds, tag, ctx, label)
    if not values:
        return None
    value, problem = units.combine(values)
    if problem:
        ctx.warn(f"{label}: {problem}; not stored")
        return None
    if value is None or factor == 1.0:
        return value
    return units.scale(value, factor)


def positive(value: float | None) -> float | None:
    """None for a value of zero or less (image headers use 0 for "not measured")."""
    return value if value is not None and value > 0 else None


def code_meaning(ds, seq_tag: int, ctx: Ctx) -> str | None:
    """Code meaning (else code value) of the first item of a code sequence in ``ds``."""
    elem = _element(ds, seq_tag)
    if elem is None:
        return None
    try:
        items = ds[seq_tag].value
    except Exception:
        return None
    if not items:
        return None
    item = items[0]
    return text(item, 0x00080104, ctx) or text(item, 0x00080100, ctx)


def view_and_modifier(ds, ctx: Ctx) -> tuple[str | None, str | None]:
    """Image view from the View Code Sequence and its modifiers (comma-joined)."""
    try:
        items = ds[0x00540220].value if 0x00540220 in ds else None
    except Exception:
        items = None
    if not items:
        return None, None
    item = items[0]
    view = text(item, 0x00080104, ctx) or text(item, 0x00080100, ctx)
    modifiers = []
    try:
        mods = item[0x00540222].value if 0x00540222 in item else []
    except Exception:
        mods = []
    for mod in mods or []:
        meaning = text(mod, 0x00080104, ctx) or text(mod, 0x00080100, ctx)
        if meaning:
            modifiers.append(meaning)
    return view, ", ".join(modifiers) or None


def laterality(ds, ctx: Ctx) -> str | None:
    """Left/Right/Both from Image Laterality, else (Series) Laterality; U (unpaired) is None."""
    for tag in (0x00200062, 0x00200060):
        value = (text(ds, tag, ctx) or "").upper()
        if value in LATERALITY:
            return LATERALITY[value]
    return None


def material(term: str | None) -> str | None:
    """A header material term as the DICOM code meaning; unknown terms kept as sent."""
    if not term:
        return None
    key = term.strip().upper()
    return MATERIALS.get(key, term.strip().title())


def grid(ds, ctx: Ctx) -> str | None:
    """The Grid attribute's terms as code meanings, comma-joined (None when absent)."""
    value = text(ds, 0x00181166, ctx)
    if not value:
        return None
    terms = [t.strip().upper() for t in value.replace(",", "\\").split("\\") if t.strip()]
    return ", ".join(GRIDS.get(t, t.title()) for t in terms) or None


def filters(ds, ctx: Ctx) -> list[dict] | None:
    """X-ray filters from Filter Material, Filter Type and thickness minimum/maximum.

    Several materials come multi-valued or comma-separated (``COPPER,ALUMINUM``; Kodak and
    Carestream systems), thicknesses likewise; they pair up by position. Minimum above maximum
    is swapped, with a warning, as for SR filters."""
    materials = text(ds, 0x00187050, ctx)
    if not materials:
        return None
    names = [m.strip() for m in materials.replace(",", "\\").split("\\") if m.strip()]
    if not names:
        return None
    kind = FILTER_TYPES.get((text(ds, 0x00181160, ctx) or "").strip().upper())
    lows = _thicknesses(ds, 0x00187052, ctx, "Filter Thickness Minimum")
    highs = _thicknesses(ds, 0x00187054, ctx, "Filter Thickness Maximum")
    out = []
    for n, name in enumerate(names):
        low = lows[n] if n < len(lows) else None
        high = highs[n] if n < len(highs) else None
        if low is not None and high is not None and low > high:
            ctx.warn(f"filter {name!r}: minimum thickness {low} mm above maximum {high} mm; swapped")
            low, high = high, low
        out.append({"type": kind, "material": material(name), "thickness_min_mm": low,
                    "thickness_max_mm": high})
    return out


def _thicknesses(ds, tag: int, ctx: Ctx, label: str) -> list[float]:
    # Some systems put words in the thickness ("0.1 Cu"); those are reported, not guessed.
    return numbers(ds, tag, ctx, label)


def acquisition_datetime(ds, ctx: Ctx) -> dt.datetime | None:
    """When the exposure was made: Acquisition DateTime, else Acquisition Date + Time, else
    Content Date + Time; None when no date is known."""
    value = parse_datetime(text(ds, 0x0008002A, ctx))
    if value is not None:
        return value
    for date_tag, time_tag in ((0x00080022, 0x00080032), (0x00080023, 0x00080033)):
        date = parse_date(text(ds, date_tag, ctx))
        if date is not None:
            return dt.datetime.combine(date, parse_time(text(ds, time_tag, ctx)) or dt.time())
    return None


def new_image_report(ds, ctx: Ctx, source_kind: str, tree: str) -> DoseReport:
    """A DoseReport with the header's study, patient and equipment facts."""
    return new_report(ds, ctx, source_kind, tree, what="image")


def image_event(ds, ctx: Ctx, report: DoseReport, **specific) -> XrayEventRecord:
    """The event of one projection image (one image is one exposure): the attributes radiography
    and mammography image headers share, plus `specific` fields. Image view from View Code
    Sequence only; the caller decides what View Position means for its modality."""
    def num(tag, label, factor=1.0):
        return number(ds, tag, ctx, label, factor)

    e = XrayEventRecord(
        irradiation_event_uid=report.sop_instance_uid,
        date_time_started=acquisition_datetime(ds, ctx),
        acquisition_plane="Single Plane",
        event_type="Stationary Acquisition",
        anatomical_structure=code_meaning(ds, 0x00082218, ctx) or text(ds, 0x00180015, ctx),
        laterality=laterality(ds, ctx),
        series_description=text(ds, 0x0008103E, ctx),
        kvp=positive(num(0x00180060, "KVP")),
        tube_current_ma=num(0x00181151, "X-Ray Tube Current"),
        exposure_time_ms=num(0x00181150, "Exposure Time"),
        focal_spot_size_mm=num(0x00181190, "Focal Spot(s)"),
        anode_target_material=material(text(ds, 0x00181191, ctx)),
        filters=filters(ds, ctx),
        grid=grid(ds, ctx),
        exposure_control_mode=text(ds, 0x00187060, ctx),
        distance_source_to_detector_mm=num(0x00181110, "Distance Source to Detector"),
        distance_source_to_patient_mm=num(0x00181111, "Distance Source to Patient"),
        half_value_layer_mm=num(0x00400314, "Half Value Layer"),
        relative_xray_exposure=num(0x00181405, "Relative X-Ray Exposure"),
        **specific,
    )
    e.image_view, e.image_view_modifier = view_and_modifier(ds, ctx)
    if e.tube_current_ma is None:
        e.tube_current_ma = num(0x00188151, "X-Ray Tube Current in µA", 1e-3)
    if e.exposure_time_ms is None:
        e.exposure_time_ms = num(0x00188150, "Exposure Time in µS", 1e-3)
    e.entrance_exposure_at_rp_mgy = positive(num(0x00408302, "Entrance Dose in mGy")) \
        or positive(num(0x00400302, "Entrance Dose", 100.0))
    width_height = numbers(ds, 0x00181149, ctx, "Field of View Dimensions")
    if len(width_height) == 2:
        e.collimated_field_height_mm, e.collimated_field_width_mm = width_height
        e.collimated_field_area_m2 = width_height[0] * width_height[1] / 1e6
    return e


def finish(report: DoseReport, ctx: Ctx) -> DoseReport:
    """Study date from the first exposure when the header has none; collect the warnings."""
    study = report.study
    if study.study_date is None:
        first = min((e.date_time_started for e in report.events if e.date_time_started), default=None)
        if first is not None:
            study.study_date = first.date()
            study.study_time = study.study_time or first.time()
            header.set_study_datetime(study)
            ctx.warn("Study Date missing; the acquisition date was used")
    report.warnings = ctx.decode.warnings() + ctx.warnings
    return report
