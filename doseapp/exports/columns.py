"""The one place export columns are defined, per modality (OpenREM's layouts, testdata/README.md).

A column is a header (with its unit), where its value comes from and a kind: "num" (written as a
number), "text" (always text, so accession numbers and IDs keep leading zeros), "date", "time" or
"datetime". Study columns come first; CSV and the XLSX "All data" sheet then repeat the event columns
for each event as `E1 …`, `E2 …`; XLSX protocol sheets have the study columns then one event per row.

A value is either one stored attribute (`F`) or computed from a few (`D`); the columns say which
attributes they read, so an export selects only those. Besides the study and event columns, a
record has `eq_<attr>` (the study's equipment row) and, for CT events, `s1_<attr>` / `s2_<attr>`
(the event's first and second X-ray source).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from operator import attrgetter
from typing import Callable

from doseapp.extract.units import shift, significant
from doseapp.display.materials import short_material
from doseapp.display.sources import dose_source

# Stored DAP is Gy·m²; exports give cGy·cm² as OpenREM did (and as the lists and filters show):
# the decimal point moves 6 places (units.shift, so 0.00028933 prints 289.33, not 289.33000000000004).
DAP_CGYCM2_PLACES = 6

EQ = "eq_"
SOURCES = ("s1_", "s2_")


@dataclass(frozen=True)
class Col:
    """`get(obj)` reads the value from any object with the `reads` attributes (ORM rows too). The
    writers compile rows from `field` (the value is that attribute as stored) or `fn` (the value is
    fn(*values of reads)), reading records by position."""
    header: str
    get: Callable | None
    kind: str = "num"  # num, text, date, time, datetime
    reads: tuple = ()
    field: str | None = None
    fn: Callable | None = None


def F(header: str, attr: str, kind: str = "num") -> Col:
    """A column that is one stored attribute, as it is."""
    return Col(header, attrgetter(attr), kind, (attr,), attr)


def D(header: str, fn: Callable, reads: tuple, kind: str = "num") -> Col:
    """A column computed by fn from the `reads` attributes."""
    getters = [attrgetter(r) for r in reads]
    return Col(header, lambda o: fn(*[g(o) for g in getters]), kind, tuple(reads), None, fn)


def dap_cgycm2(v):
    return None if v is None else shift(v, DAP_CGYCM2_PLACES)


def _cm_from_mm(v):
    return None if v is None else significant(v / 10)


def _height_cm(h):
    return None if h is None else round(h * 100, 3)


def _sig4(x: float) -> float:
    return float(f"{x:.4g}")


def materials_of(filters) -> str | None:
    mats = [short_material(f.get("material")) for f in (filters or []) if f.get("material")]
    return "+".join(mats) if mats else None


def thickness_of(filters):
    """Mean of min and max thickness per filter, 4 significant figures; several filters joined with +."""
    values = []
    for f in filters or []:
        lo, hi = f.get("thickness_min_mm"), f.get("thickness_max_mm")
        got = [v for v in (lo, hi) if v is not None]
        values.append(_sig4(sum(got) / len(got)) if got else None)
    known = [v for v in values if v is not None]
    if not known:
        return None
    if len(values) == 1:
        return known[0]
    return "+".join("" if v is None else f"{v:g}" for v in values)


def filter_materials(e) -> str | None:
    return materials_of(e.filters)


def filter_thickness(e):
    return thickness_of(e.filters)


def mean_of(key: str) -> Callable:
    """fn(per_pulse, stored): the per-pulse `key` averaged over the pulses, zeros excluded (seed
    §8.1.1); else the stored value."""
    def mean(per_pulse, stored):
        series = per_pulse.get(key) if isinstance(per_pulse, dict) else None
        if series:
            vals = [float(v) for v in series if v not in (None, 0, 0.0)]
            if vals:
                return significant(sum(vals) / len(vals))
        return stored
    return mean


def mean_nonzero(e, key: str):
    return mean_of(key)(e.per_pulse, getattr(e, key, None))


def _mean(header: str, key: str) -> Col:
    return D(header, mean_of(key), ("per_pulse", key))


# --- study columns -------------------------------------------------------------------------------

def _yes_if(value) -> str | None:
    return "Yes" if value else None


# Standard names by id (doseapp.standards): records carry the id, the column shows the name. Read
# again at the start of each export (load_standard_names) and for an id not seen yet.
STANDARD_NAMES: dict[int, str] = {}


def load_standard_names() -> None:
    from doseapp.models import StandardName, db

    STANDARD_NAMES.clear()
    STANDARD_NAMES.update({i: n for i, n in db.session.execute(db.select(StandardName.id, StandardName.name))})


def standard_name_of(name_id) -> str | None:
    if name_id is None:
        return None
    if name_id not in STANDARD_NAMES:
        load_standard_names()
    return STANDARD_NAMES.get(name_id)


STANDARD_NAME = D("Standard name", standard_name_of, ("standard_name_id",), "text")


def study_columns(modality: str, name: bool = False, pat_id: bool = False, patterns: bool = True,
                  standard: bool = True) -> list[Col]:
    """The leading study columns: identifiers only when asked (pid exports), RF adds the physician,
    MG has no height and mass (the 38-column mammography layout). "Test patient?" names the
    not-patient patterns matched only with `patterns` (doseapp.studies.sees_patterns), else says Yes.
    `standard`: the study's standard name last (after the totals, so the columns before it keep
    their places in sites' spreadsheets)."""
    cols: list[Col] = []
    if name:
        cols.append(F("Patient name", "patient_name", "text"))
    if pat_id:
        cols.append(F("Patient ID", "patient_id", "text"))
    cols += [
        F("Institution", "eq_institution_name", "text"),
        F("Manufacturer", "eq_manufacturer", "text"),
        F("Model name", "eq_model_name", "text"),
        F("Station name", "eq_station_name", "text"),
        F("Display name", "eq_display_name", "text"),
        F("Accession number", "accession_number", "text"),
        F("Operator", "operator_name", "text"),
    ]
    if modality == "RF":
        cols.append(F("Physician", "performing_physician_name", "text"))
    cols += [F("Study date", "study_date", "date"), F("Study time", "study_time", "time")]
    if name or pat_id:
        cols.append(F("Date of birth", "patient_birth_date", "date"))
    cols += [F("Age (years)", "patient_age_years"), F("Sex", "patient_sex", "text")]
    if modality != "MG":
        cols += [D("Height (cm)", _height_cm, ("patient_height_m",)), F("Mass (kg)", "patient_weight_kg")]
    cols += [
        F("Test patient?", "not_patient_indicator", "text") if patterns else
        D("Test patient?", _yes_if, ("not_patient_indicator",), "text"),
        F("Study description", "study_description", "text"),
        F("Requested procedure", "requested_procedure_code_meaning", "text"),
        F("Study Comments", "comment", "text"),
        F("No. events", "number_of_events"),
    ]
    return cols + STUDY_TOTALS[modality] + ([STANDARD_NAME] if standard else [])


def _dap(header: str, attr: str) -> Col:
    return D(header, dap_cgycm2, (attr,))


STUDY_TOTALS: dict[str, list[Col]] = {
    # After the DLP total, so the columns before keep their places: the study's CT estimates
    # (doseapp.standards; means over the scans, not localizers or bolus tracking).
    "CT": [F("DLP total (mGy.cm)", "total_dlp_mgycm"),
           F("Mean CTDIvol of scans (mGy)", "mean_ctdivol_mgy"),
           F("Mean SSDE of scans (mGy)", "mean_ssde_mgy"),
           F("SSDE method", "ssde_method", "text"),
           F("Effective dose estimate, population (mSv)", "effective_dose_msv"),
           # Last, so the columns before keep their places: RDSR, or a Toshiba dose screen read by OCR.
           D("Dose data from", dose_source, ("source_kind",), "text")],
    "DX": [_dap("DAP total (cGy.cm^2)", "total_dap_gym2")],
    "MG": [],  # keeps the 38-column layout users' spreadsheets expect
    # NM: summed over the study's administrations (MBq as recorded), the reported effective dose.
    "NM": [F("Radiopharmaceutical", "nm_radiopharmaceutical", "text"),
           F("Radionuclide", "nm_radionuclide", "text"),
           F("Administered activity total (MBq)", "nm_activity_mbq"),
           F("Administered activity per kg (MBq/kg)", "nm_activity_per_kg_mbq"),
           F("Effective dose total, reported (mSv)", "nm_effective_dose_msv")],
    "RF": [
        _dap("DAP total (cGy.cm^2)", "total_dap_gym2"),
        F("Dose RP total (Gy)", "total_dose_rp_gy"),
        _dap("A DAP total (cGy.cm^2)", "dap_a_gym2"),
        F("A Dose RP total (Gy)", "dose_rp_a_gy"),
        _dap("B DAP total (cGy.cm^2)", "dap_b_gym2"),
        F("B Dose RP total (Gy)", "dose_rp_b_gy"),
        _dap("Fluoro DAP total (cGy.cm^2)", "fluoro_dap_total_gym2"),
        F("Fluoro dose RP total (Gy)", "fluoro_dose_rp_total_gy"),
        F("Fluoro time total (s)", "fluoro_time_total_s"),
        F("No. fluoro events", "fluoro_event_count"),
        _dap("Acquisition DAP total (cGy.cm^2)", "acquisition_dap_total_gym2"),
        F("Acquisition dose RP total (Gy)", "acquisition_dose_rp_total_gy"),
        F("Acquisition time total (s)", "acquisition_time_total_s"),
        F("No. acquisitions", "acquisition_count"),
        # The study's skin dose map (doseapp.skin); blank when there is none. Last, so the columns
        # before it keep their places in sites' spreadsheets.
        F("Peak skin dose (Gy)", "peak_skin_dose_gy"),
    ],
}


# --- event columns -------------------------------------------------------------------------------

CT_EVENT: list[Col] = [
    F("Protocol", "acquisition_protocol", "text"),
    F("Type", "acquisition_type", "text"),
    F("Exposure time (s)", "exposure_time_s"),
    F("Scanning length (mm)", "scanning_length_mm"),
    F("Slice thickness (mm)", "nominal_single_collimation_mm"),
    F("Total collimation (mm)", "nominal_total_collimation_mm"),
    F("Pitch", "pitch_factor"),
    F("No. sources", "number_of_xray_sources"),
    F("CTDIvol (mGy)", "ctdivol_mgy"),
    F("Phantom", "ctdiw_phantom_type", "text"),
    F("DLP (mGy.cm)", "dlp_mgycm"),
    *[c for n in (1, 2) for c in (
        F(f"S{n} name", f"s{n}_identification", "text"),
        F(f"S{n} kVp (kV)", f"s{n}_kvp"),
        F(f"S{n} max mA (mA)", f"s{n}_max_tube_current_ma"),
        F(f"S{n} mA (mA)", f"s{n}_tube_current_ma"),
        F(f"S{n} Exposure time/rotation (s)", f"s{n}_exposure_time_per_rotation_s"))],
    F("SSDE (mGy)", "ssde_mgy"),
    F("Comment", "comment", "text"),
    F("Dose check alert reason", "dose_check_alert_reason", "text"),
    F("Dose check notification reason", "dose_check_notification_reason", "text"),
    # Last, so the columns before keep their places in sites' spreadsheets (doseapp.standards).
    F("SSDE method", "ssde_method", "text"),
    D("Water equivalent diameter (cm)", _cm_from_mm, ("water_equivalent_diameter_mm",)),
    F("Effective dose estimate, population (mSv)", "effective_dose_estimate_msv"),
    F("Effective dose coefficient (mSv/(mGy.cm))", "effective_dose_coefficient"),
    F("Effective dose region", "effective_dose_region", "text"),
    STANDARD_NAME,
]

DX_EVENT: list[Col] = [
    F("Protocol", "acquisition_protocol", "text"),
    F("Anatomy", "anatomical_structure", "text"),
    F("Image view", "image_view", "text"),
    F("Exposure control mode", "exposure_control_mode", "text"),
    _mean("kVp (kV)", "kvp"),
    _mean("mA (mA)", "tube_current_ma"),
    F("Exposure time (ms)", "exposure_time_ms"),
    F("Exposure (uAs)", "exposure_uas"),
    D("Filters", materials_of, ("filters",), "text"),
    D("Filter thickness (mm)", thickness_of, ("filters",)),
    F("Exposure index", "exposure_index"),
    F("Target exposure index", "target_exposure_index"),
    F("Deviation index", "deviation_index"),
    F("Relative x-ray exposure", "relative_xray_exposure"),
    _dap("DAP (cGy.cm^2)", "dap_gym2"),
    F("Entrance exposure at RP (mGy)", "entrance_exposure_at_rp_mgy"),
    F("SDD (mm)", "distance_source_to_detector_mm"),
    F("SPD (mm)", "distance_source_to_patient_mm"),
    F("SID (mm)", "distance_source_to_isocenter_mm"),
    F("Table height (mm)", "table_height_position_mm"),
    F("Comment", "comment", "text"),
    STANDARD_NAME,
]

MG_EVENT: list[Col] = [
    F("View", "image_view", "text"),
    F("View Modifier", "image_view_modifier", "text"),
    F("Laterality", "laterality", "text"),
    F("Acquisition", "acquisition_protocol", "text"),
    F("Thickness (mm)", "compression_thickness_mm"),
    F("Radiological thickness (mm)", "radiological_thickness_mm"),
    F("Force (N)", "compression_force_n"),
    F("Mag", "magnification_factor"),
    F("Area (m^2)", "collimated_field_area_m2"),
    F("Mode", "exposure_control_mode", "text"),
    D("Target", short_material, ("anode_target_material",), "text"),
    D("Filter", materials_of, ("filters",), "text"),
    D("Filter thickness (mm)", thickness_of, ("filters",)),
    F("Focal spot size (mm)", "focal_spot_size_mm"),
    _mean("kVp (kV)", "kvp"),
    _mean("mA (mA)", "tube_current_ma"),
    F("ms (ms)", "exposure_time_ms"),
    F("uAs (uAs)", "exposure_uas"),
    F("ESD (mGy)", "entrance_exposure_at_rp_mgy"),
    F("AGD (mGy)", "agd_mgy"),
    F("% Fibroglandular tissue (%)", "percent_fibroglandular_tissue"),
    F("Exposure mode description", "comment", "text"),
    STANDARD_NAME,
]

RF_EVENT: list[Col] = [
    F("Time", "date_time_started", "datetime"),
    F("Type", "event_type", "text"),
    F("Protocol", "acquisition_protocol", "text"),
    F("Plane", "acquisition_plane", "text"),
    F("Anatomy", "anatomical_structure", "text"),
    F("Field size (mm)", "ii_field_size_mm"),
    F("Pulse rate (/s)", "pulse_rate_per_s"),
    D("Filter material", materials_of, ("filters",), "text"),
    D("Filter thickness (mm)", thickness_of, ("filters",)),
    F("Primary angle (deg)", "positioner_primary_angle_deg"),
    F("Secondary angle (deg)", "positioner_secondary_angle_deg"),
    F("No. pulses", "number_of_pulses"),
    _mean("kVp (kV)", "kvp"),
    _mean("mA (mA)", "tube_current_ma"),
    _mean("Pulse width (ms)", "pulse_width_ms"),
    F("Exposure time (ms)", "exposure_time_ms"),
    F("Duration (s)", "irradiation_duration_s"),
    _dap("DAP (cGy.cm^2)", "dap_gym2"),
    F("Dose RP (Gy)", "dose_rp_gy"),
    F("SID (mm)", "distance_source_to_detector_mm"),
    F("Comment", "comment", "text"),
]

# NM: one "event" per radiopharmaceutical administration (models/nm.py).
NM_EVENT: list[Col] = [
    F("Radiopharmaceutical", "radiopharmaceutical", "text"),
    F("Radionuclide", "radionuclide", "text"),
    F("Half-life (s)", "radionuclide_half_life_s"),
    F("Administered activity (MBq)", "administered_activity_mbq"),
    F("Start", "start_datetime", "datetime"),
    F("Stop", "stop_datetime", "datetime"),
    F("Route", "route", "text"),
    F("Site", "site", "text"),
    F("Pre-administration activity (MBq)", "pre_administration_activity_mbq"),
    F("Post-administration activity (MBq)", "post_administration_activity_mbq"),
    F("Volume (ml)", "volume_ml"),
    F("Effective dose, reported (mSv)", "effective_dose_msv"),
    F("Glucose (mmol/l)", "glucose_mmol_l"),
    D("Source", lambda r: "report" if r else "image", ("from_report",), "text"),
]

EVENT_COLUMNS = {"CT": CT_EVENT, "DX": DX_EVENT, "MG": MG_EVENT, "RF": RF_EVENT, "NM": NM_EVENT}


def event_header(modality: str, max_events: int) -> list[str]:
    return [f"E{n} {c.header}" for n in range(1, max_events + 1) for c in EVENT_COLUMNS[modality]]


def reads(cols) -> list[str]:
    """The attributes a set of columns reads, each once, in column order."""
    return list(dict.fromkeys(r for c in cols for r in c.reads))


# OpenREM's mammography CSV (testdata/README.md), one row per exposure: sites' spreadsheets look its
# columns up by these names, so they are kept as OpenREM wrote them, without units (the README lists
# the units) and without E<n> prefixes. Same values as the MG study and event columns above.
MG_CSV_HEADERS = [
    "Institution", "Manufacturer", "Model name", "Station name", "Display name", "Accession number", "Operator",
    "Study date", "Study time", "Age", "Sex", "Test patient?", "Study description", "Requested procedure",
    "Study Comments", "No. events", "View", "View Modifier", "Laterality", "Acquisition", "Thickness",
    "Radiological thickness", "Force", "Mag", "Area", "Mode", "Target", "Filter", "Filter thickness",
    "Focal spot size", "kVp", "mA", "ms", "uAs", "ESD", "AGD", "% Fibroglandular tissue", "Exposure mode description",
]


def mg_exposure_columns(name: bool = False, pat_id: bool = False,
                        patterns: bool = True) -> tuple[list[Col], list[Col]]:
    """The study and exposure columns of the one-row-per-exposure mammography CSV, under OpenREM's
    names (identifier columns, when asked, keep theirs: Patient name, Patient ID, Date of birth);
    `patterns` as in study_columns."""
    # OpenREM's 38 columns exactly: no standard name columns here.
    events = [c for c in MG_EVENT if c is not STANDARD_NAME]
    ours = [c.header for c in study_columns("MG", standard=False) + events]
    renamed = dict(zip(ours, MG_CSV_HEADERS))
    study = [replace(c, header=renamed.get(c.header, c.header))
             for c in study_columns("MG", name, pat_id, patterns, standard=False)]
    return study, [replace(c, header=renamed[c.header]) for c in events]


# --- openSkin ------------------------------------------------------------------------------------
# The CSV that Jonathan Cole's standalone openSkin reads (seed §7.3-7.4): one row per irradiation
# event, 39 columns in this order, no header row (openSkin reads columns by position, and OpenREM's
# file, the one it was written against, has none). Units are those openSkin was written for, which
# are our stored units: DAP Gy·m², dose at RP Gy, angles degrees, distances and table positions mm,
# filter thickness mm, times ms (duration s), exposure µAs. The headers here document the layout
# (the study page and the README list them); they are not written. No patient identifiers: the
# name column is always "Anon". Only a copper filter is given (openSkin ignores other materials).

def copper_filter(filters) -> dict:
    """The event's copper filter (the last one listed, should there be several), else {}."""
    found = [f for f in filters or [] if "copper" in (f.get("material") or "").lower()]
    return found[-1] if found else {}


def _copper(key: str) -> Callable:
    return lambda filters: copper_filter(filters).get(key)


OPENSKIN_EVENT: list[Col] = [
    Col("Patient name (always Anon)", lambda e: "Anon", "text"),
    F("Patient sex", "study.patient_sex", "text"),
    F("Study Instance UID", "study.study_instance_uid", "text"),
    Col("(blank)", lambda e: None, "text"),
    F("Acquisition plane", "acquisition_plane", "text"),
    F("Date and time started", "date_time_started", "datetime"),
    F("Irradiation event type", "event_type", "text"),
    F("Acquisition protocol", "acquisition_protocol", "text"),
    F("Reference point definition", "reference_point_definition", "text"),
    F("Irradiation event UID", "irradiation_event_uid", "text"),
    F("DAP (Gy.m^2)", "dap_gym2"),
    F("Dose at RP (Gy)", "dose_rp_gy"),
    F("Positioner primary angle (deg)", "positioner_primary_angle_deg"),
    F("Positioner secondary angle (deg)", "positioner_secondary_angle_deg"),
    F("Positioner primary end angle (deg)", "positioner_primary_end_angle_deg"),
    F("Positioner secondary end angle (deg)", "positioner_secondary_end_angle_deg"),
    F("Column angulation (deg)", "column_angulation_deg"),
    D("Copper filter type", _copper("type"), ("filters",), "text"),
    D("Copper filter material", _copper("material"), ("filters",), "text"),
    D("Copper filter thickness minimum (mm)", _copper("thickness_min_mm"), ("filters",)),
    D("Copper filter thickness maximum (mm)", _copper("thickness_max_mm"), ("filters",)),
    F("Fluoro mode", "fluoro_mode", "text"),
    F("Pulse rate (/s)", "pulse_rate_per_s"),
    F("Number of pulses", "number_of_pulses"),
    _mean("kVp (kV)", "kvp"),
    _mean("X-ray tube current (mA)", "tube_current_ma"),
    F("Exposure time (ms)", "exposure_time_ms"),
    _mean("Pulse width (ms)", "pulse_width_ms"),
    _mean("Exposure (uAs)", "exposure_uas"),
    F("Focal spot size (mm)", "focal_spot_size_mm"),
    F("Irradiation duration (s)", "irradiation_duration_s"),
    # Not kept apart from the X-ray tube current column (the mean over pulses): left blank.
    Col("Average X-ray tube current (mA)", lambda e: None),
    F("Distance source to detector (mm)", "distance_source_to_detector_mm"),
    F("Distance source to isocentre (mm)", "distance_source_to_isocenter_mm"),
    F("Table longitudinal position (mm)", "table_longitudinal_position_mm"),
    F("Table lateral position (mm)", "table_lateral_position_mm"),
    F("Table height position (mm)", "table_height_position_mm"),
    F("Target region", "anatomical_structure", "text"),
    F("Comment", "comment", "text"),
]
