"""The one place export columns are defined, per modality (OpenREM's layouts, testdata/README.md).

A column is a header (with its unit), a getter and a kind: "num" (written as a number), "text"
(always text, so accession numbers and IDs keep leading zeros), "date" or "time". Study columns come
first; CSV and the XLSX "All data" sheet then repeat the event columns for each event as `E1 …`,
`E2 …`; XLSX protocol sheets have the study columns then one event per row.
"""
from __future__ import annotations

from dataclasses import dataclass
from operator import attrgetter
from typing import Callable

# Stored DAP is Gy·m²; exports give cGy·cm² as OpenREM did (and as the lists and filters show).
DAP_CGYCM2_PER_GYM2 = 1e6


@dataclass(frozen=True)
class Col:
    header: str
    get: Callable
    kind: str = "num"  # num, text, date, time


def _eq(attr: str) -> Callable:
    return lambda s: getattr(s.equipment, attr, None) if s.equipment is not None else None


def _a(attr: str) -> Callable:
    return attrgetter(attr)  # C speed: most columns are plain attributes


def _dap(attr: str) -> Callable:
    def get(o):
        v = getattr(o, attr)
        return None if v is None else v * DAP_CGYCM2_PER_GYM2
    return get


def _height_cm(s):
    return None if s.patient_height_m is None else round(s.patient_height_m * 100, 3)


SHORT_MATERIALS = {"aluminum": "Al", "aluminium": "Al", "copper": "Cu", "rhodium": "Rh", "silver": "Ag",
                   "molybdenum": "Mo", "tungsten": "W", "tin": "Sn", "niobium": "Nb", "europium": "Eu",
                   "lead": "Pb", "tantalum": "Ta", "titanium": "Ti"}


def short_material(name: str | None) -> str | None:
    """'Aluminum or Aluminum compound' -> 'Al'; anything unknown is kept as sent."""
    if not name:
        return None
    first = name.strip().split()[0].lower()
    return SHORT_MATERIALS.get(first, name.strip())


def _sig4(x: float) -> float:
    return float(f"{x:.4g}")


def filter_materials(e) -> str | None:
    mats = [short_material(f.get("material")) for f in (e.filters or []) if f.get("material")]
    return "+".join(mats) if mats else None


def filter_thickness(e):
    """Mean of min and max thickness per filter, 4 significant figures; several filters joined with +."""
    values = []
    for f in e.filters or []:
        lo, hi = f.get("thickness_min_mm"), f.get("thickness_max_mm")
        got = [v for v in (lo, hi) if v is not None]
        values.append(_sig4(sum(got) / len(got)) if got else None)
    known = [v for v in values if v is not None]
    if not known:
        return None
    if len(values) == 1:
        return known[0]
    return "+".join("" if v is None else f"{v:g}" for v in values)


def mean_nonzero(e, key: str):
    """A per-pulse quantity averaged over the pulses, zeros excluded (seed §8.1.1); else the stored value."""
    series = (e.per_pulse or {}).get(key) if isinstance(e.per_pulse, dict) else None
    if series:
        vals = [float(v) for v in series if v not in (None, 0, 0.0)]
        if vals:
            return sum(vals) / len(vals)
    return getattr(e, key, None)


# --- study columns -------------------------------------------------------------------------------

def study_columns(modality: str, name: bool = False, pat_id: bool = False) -> list[Col]:
    """The leading study columns: identifiers only when asked (pid exports), RF adds the physician,
    MG has no height and mass (the 38-column mammography layout)."""
    cols: list[Col] = []
    if name:
        cols.append(Col("Patient name", _a("patient_name"), "text"))
    if pat_id:
        cols.append(Col("Patient ID", _a("patient_id"), "text"))
    cols += [
        Col("Institution", _eq("institution_name"), "text"),
        Col("Manufacturer", _eq("manufacturer"), "text"),
        Col("Model name", _eq("model_name"), "text"),
        Col("Station name", _eq("station_name"), "text"),
        Col("Display name", _eq("display_name"), "text"),
        Col("Accession number", _a("accession_number"), "text"),
        Col("Operator", _a("operator_name"), "text"),
    ]
    if modality == "RF":
        cols.append(Col("Physician", _a("performing_physician_name"), "text"))
    cols += [Col("Study date", _a("study_date"), "date"), Col("Study time", _a("study_time"), "time")]
    if name or pat_id:
        cols.append(Col("Date of birth", _a("patient_birth_date"), "date"))
    cols += [Col("Age (years)", _a("patient_age_years")), Col("Sex", _a("patient_sex"), "text")]
    if modality != "MG":
        cols += [Col("Height (cm)", _height_cm), Col("Mass (kg)", _a("patient_weight_kg"))]
    cols += [
        Col("Test patient?", _a("not_patient_indicator"), "text"),
        Col("Study description", _a("study_description"), "text"),
        Col("Requested procedure", _a("requested_procedure_code_meaning"), "text"),
        Col("Study Comments", _a("comment"), "text"),
        Col("No. events", _a("number_of_events")),
    ]
    return cols + STUDY_TOTALS[modality]


STUDY_TOTALS: dict[str, list[Col]] = {
    "CT": [Col("DLP total (mGy.cm)", _a("total_dlp_mgycm"))],
    "DX": [Col("DAP total (cGy.cm^2)", _dap("total_dap_gym2"))],
    "MG": [],  # keeps the 38-column layout users' spreadsheets expect
    "RF": [
        Col("DAP total (cGy.cm^2)", _dap("total_dap_gym2")),
        Col("Dose RP total (Gy)", _a("total_dose_rp_gy")),
        Col("A DAP total (cGy.cm^2)", _dap("dap_a_gym2")),
        Col("A Dose RP total (Gy)", _a("dose_rp_a_gy")),
        Col("B DAP total (cGy.cm^2)", _dap("dap_b_gym2")),
        Col("B Dose RP total (Gy)", _a("dose_rp_b_gy")),
        Col("Fluoro DAP total (cGy.cm^2)", _dap("fluoro_dap_total_gym2")),
        Col("Fluoro dose RP total (Gy)", _a("fluoro_dose_rp_total_gy")),
        Col("Fluoro time total (s)", _a("fluoro_time_total_s")),
        Col("No. fluoro events", _a("fluoro_event_count")),
        Col("Acquisition DAP total (cGy.cm^2)", _dap("acquisition_dap_total_gym2")),
        Col("Acquisition dose RP total (Gy)", _a("acquisition_dose_rp_total_gy")),
        Col("Acquisition time total (s)", _a("acquisition_time_total_s")),
        Col("No. acquisitions", _a("acquisition_count")),
    ],
}


# --- event columns -------------------------------------------------------------------------------

def _src(n: int, attr: str) -> Callable:
    def get(e):
        srcs = e.sources
        return getattr(srcs[n], attr) if len(srcs) > n else None
    return get


CT_EVENT: list[Col] = [
    Col("Protocol", _a("acquisition_protocol"), "text"),
    Col("Type", _a("acquisition_type"), "text"),
    Col("Exposure time (s)", _a("exposure_time_s")),
    Col("Scanning length (mm)", _a("scanning_length_mm")),
    Col("Slice thickness (mm)", _a("nominal_single_collimation_mm")),
    Col("Total collimation (mm)", _a("nominal_total_collimation_mm")),
    Col("Pitch", _a("pitch_factor")),
    Col("No. sources", _a("number_of_xray_sources")),
    Col("CTDIvol (mGy)", _a("ctdivol_mgy")),
    Col("Phantom", _a("ctdiw_phantom_type"), "text"),
    Col("DLP (mGy.cm)", _a("dlp_mgycm")),
    *[c for n in (0, 1) for c in (
        Col(f"S{n + 1} name", _src(n, "identification"), "text"),
        Col(f"S{n + 1} kVp (kV)", _src(n, "kvp")),
        Col(f"S{n + 1} max mA (mA)", _src(n, "max_tube_current_ma")),
        Col(f"S{n + 1} mA (mA)", _src(n, "tube_current_ma")),
        Col(f"S{n + 1} Exposure time/rotation (s)", _src(n, "exposure_time_per_rotation_s")))],
    Col("SSDE (mGy)", _a("ssde_mgy")),
    Col("Comment", _a("comment"), "text"),
    Col("Dose check alert reason", _a("dose_check_alert_reason"), "text"),
    Col("Dose check notification reason", _a("dose_check_notification_reason"), "text"),
]

DX_EVENT: list[Col] = [
    Col("Protocol", _a("acquisition_protocol"), "text"),
    Col("Anatomy", _a("anatomical_structure"), "text"),
    Col("Image view", _a("image_view"), "text"),
    Col("Exposure control mode", _a("exposure_control_mode"), "text"),
    Col("kVp (kV)", lambda e: mean_nonzero(e, "kvp")),
    Col("mA (mA)", lambda e: mean_nonzero(e, "tube_current_ma")),
    Col("Exposure time (ms)", _a("exposure_time_ms")),
    Col("Exposure (uAs)", _a("exposure_uas")),
    Col("Filters", filter_materials, "text"),
    Col("Filter thickness (mm)", filter_thickness),
    Col("Exposure index", _a("exposure_index")),
    Col("Target exposure index", _a("target_exposure_index")),
    Col("Deviation index", _a("deviation_index")),
    Col("Relative x-ray exposure", _a("relative_xray_exposure")),
    Col("DAP (cGy.cm^2)", _dap("dap_gym2")),
    Col("Entrance exposure at RP (mGy)", _a("entrance_exposure_at_rp_mgy")),
    Col("SDD (mm)", _a("distance_source_to_detector_mm")),
    Col("SPD (mm)", _a("distance_source_to_patient_mm")),
    Col("SID (mm)", _a("distance_source_to_isocenter_mm")),
    Col("Table height (mm)", _a("table_height_position_mm")),
    Col("Comment", _a("comment"), "text"),
]

MG_EVENT: list[Col] = [
    Col("View", _a("image_view"), "text"),
    Col("View Modifier", _a("image_view_modifier"), "text"),
    Col("Laterality", _a("laterality"), "text"),
    Col("Acquisition", _a("acquisition_protocol"), "text"),
    Col("Thickness (mm)", _a("compression_thickness_mm")),
    Col("Radiological thickness (mm)", _a("radiological_thickness_mm")),
    Col("Force (N)", _a("compression_force_n")),
    Col("Mag", _a("magnification_factor")),
    Col("Area (m^2)", _a("collimated_field_area_m2")),
    Col("Mode", _a("exposure_control_mode"), "text"),
    Col("Target", lambda e: short_material(e.anode_target_material), "text"),
    Col("Filter", filter_materials, "text"),
    Col("Filter thickness (mm)", filter_thickness),
    Col("Focal spot size (mm)", _a("focal_spot_size_mm")),
    Col("kVp (kV)", lambda e: mean_nonzero(e, "kvp")),
    Col("mA (mA)", lambda e: mean_nonzero(e, "tube_current_ma")),
    Col("ms (ms)", _a("exposure_time_ms")),
    Col("uAs (uAs)", _a("exposure_uas")),
    Col("ESD (mGy)", _a("entrance_exposure_at_rp_mgy")),
    Col("AGD (mGy)", _a("agd_mgy")),
    Col("% Fibroglandular tissue (%)", _a("percent_fibroglandular_tissue")),
    Col("Exposure mode description", _a("comment"), "text"),
]

RF_EVENT: list[Col] = [
    Col("Time", _a("date_time_started"), "datetime"),
    Col("Type", _a("event_type"), "text"),
    Col("Protocol", _a("acquisition_protocol"), "text"),
    Col("Plane", _a("acquisition_plane"), "text"),
    Col("Anatomy", _a("anatomical_structure"), "text"),
    Col("Field size (mm)", _a("ii_field_size_mm")),
    Col("Pulse rate (/s)", _a("pulse_rate_per_s")),
    Col("Filter material", filter_materials, "text"),
    Col("Filter thickness (mm)", filter_thickness),
    Col("Primary angle (deg)", _a("positioner_primary_angle_deg")),
    Col("Secondary angle (deg)", _a("positioner_secondary_angle_deg")),
    Col("No. pulses", _a("number_of_pulses")),
    Col("kVp (kV)", lambda e: mean_nonzero(e, "kvp")),
    Col("mA (mA)", lambda e: mean_nonzero(e, "tube_current_ma")),
    Col("Pulse width (ms)", lambda e: mean_nonzero(e, "pulse_width_ms")),
    Col("Exposure time (ms)", _a("exposure_time_ms")),
    Col("Duration (s)", _a("irradiation_duration_s")),
    Col("DAP (cGy.cm^2)", _dap("dap_gym2")),
    Col("Dose RP (Gy)", _a("dose_rp_gy")),
    Col("SID (mm)", _a("distance_source_to_detector_mm")),
    Col("Comment", _a("comment"), "text"),
]

EVENT_COLUMNS = {"CT": CT_EVENT, "DX": DX_EVENT, "MG": MG_EVENT, "RF": RF_EVENT}


def events_of(study, modality: str) -> list:
    return study.ct_events if modality == "CT" else study.xray_events


def prefixed(cols: list[Col], n: int) -> list[Col]:
    """The event columns for the n-th event (1-based) of a study row: `E<n> header`."""
    return [Col(f"E{n} {c.header}", c.get, c.kind) for c in cols]


def event_header(modality: str, max_events: int) -> list[str]:
    return [f"E{n} {c.header}" for n in range(1, max_events + 1) for c in EVENT_COLUMNS[modality]]


def study_row(study, scols: list[Col]) -> list:
    return [c.get(study) for c in scols]


def events_row(events: list, ecols: list[Col], max_events: int) -> list:
    """The event values to the right of a study row, padded to `max_events` events."""
    out: list = []
    getters = [c.get for c in ecols]
    for e in events[:max_events]:
        out += [g(e) for g in getters]
    out.extend([None] * (len(ecols) * (max_events - min(len(events), max_events))))
    return out
