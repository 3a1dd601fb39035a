"""Plain records that extraction produces: one dataclass per table, field names equal to the model
column names (doseapp/models), values already in the stored units, so that ingest can write a row
with ``Model(**record.as_columns())``.

Stored units (named in the field suffix where it matters): DLP mGy·cm, CTDIvol/AGD/ESD/SSDE mGy,
DAP Gy·m², dose at RP Gy, exposure µAs, lengths mm, areas m², angles degrees, force N.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, fields


class Rejected(Exception):
    """The object is not something this extractor turns into dose records; ``reason`` says why in
    plain words. Ingest reports it as "rejected" (nothing to import, nothing wrong with the
    file)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class Malformed(Rejected):
    """The object claims to be a dose report but cannot be read as one (required items missing,
    broken encoding, an unexpected error while reading). Ingest reports it as "failed"."""


class _Columns:
    """Mixin: the record's fields that are model columns (nested record lists left out)."""

    __slots__ = ()
    _nested: tuple[str, ...] = ()

    def as_columns(self) -> dict:
        """Field name -> value for every model column of this record."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in self._nested}


@dataclass(slots=True)
class EquipmentRecord(_Columns):
    """The identity fields of models.equipment.IDENTITY_FIELDS plus the institution address."""

    manufacturer: str | None = None
    institution_name: str | None = None
    station_name: str | None = None
    department_name: str | None = None
    model_name: str | None = None
    device_serial_number: str | None = None
    software_versions: str | None = None
    gantry_id: str | None = None
    device_observer_uid: str | None = None
    institution_address: str | None = None


@dataclass(slots=True)
class StudyRecord(_Columns):
    """Study columns read from the object. Patient name, ID and birth date are raw as read: privacy
    settings are applied by ingest, never here."""

    study_instance_uid: str | None = None
    study_date: dt.date | None = None
    study_time: dt.time | None = None
    study_datetime: dt.datetime | None = None
    study_id: str | None = None
    accession_number: str | None = None
    study_description: str | None = None
    procedure_code_value: str | None = None
    procedure_code_meaning: str | None = None
    requested_procedure_code_value: str | None = None
    requested_procedure_code_meaning: str | None = None
    referring_physician_name: str | None = None
    performing_physician_name: str | None = None
    reading_physician_name: str | None = None
    operator_name: str | None = None
    comment: str | None = None
    patient_name: str | None = None
    patient_id: str | None = None
    patient_birth_date: dt.date | None = None
    patient_sex: str | None = None
    patient_age: str | None = None
    patient_age_years: float | None = None
    patient_height_m: float | None = None
    patient_weight_kg: float | None = None


@dataclass(slots=True)
class CtSourceRecord(_Columns):
    """One X-ray source of a CT event (two for a dual-source scanner)."""

    identification: str | None = None
    kvp: float | None = None
    max_tube_current_ma: float | None = None
    tube_current_ma: float | None = None
    exposure_time_per_rotation_s: float | None = None
    filter_aluminium_equivalent_mm: float | None = None


@dataclass(slots=True)
class CtEventRecord(_Columns):
    """One CT irradiation event (TID 10013 with 10014 scanning length and 10015 dose check)."""

    _nested = ("sources",)

    irradiation_event_uid: str | None = None
    date_time_started: dt.datetime | None = None
    acquisition_protocol: str | None = None
    acquisition_type: str | None = None
    target_region: str | None = None
    series_description: str | None = None
    procedure_context: str | None = None
    comment: str | None = None
    ctdivol_mgy: float | None = None
    dlp_mgycm: float | None = None
    ctdiw_phantom_type: str | None = None
    ctdifreeair_mgy: float | None = None
    mean_ctdifreeair_mgy: float | None = None
    effective_dose_msv: float | None = None
    exposure_time_s: float | None = None
    scanning_length_mm: float | None = None
    length_of_reconstructable_volume_mm: float | None = None
    exposed_range_mm: float | None = None
    top_z_location_mm: float | None = None
    bottom_z_location_mm: float | None = None
    nominal_single_collimation_mm: float | None = None
    nominal_total_collimation_mm: float | None = None
    pitch_factor: float | None = None
    number_of_xray_sources: int | None = None
    xray_modulation_type: str | None = None
    ssde_mgy: float | None = None
    water_equivalent_diameter_mm: float | None = None
    ssde_method: str | None = None
    dose_check_dlp_alert_configured: bool | None = None
    dose_check_ctdivol_alert_configured: bool | None = None
    dose_check_dlp_alert_value_mgycm: float | None = None
    dose_check_ctdivol_alert_value_mgy: float | None = None
    dose_check_accumulated_dlp_forward_estimate_mgycm: float | None = None
    dose_check_accumulated_ctdivol_forward_estimate_mgy: float | None = None
    dose_check_alert_reason: str | None = None
    dose_check_alert_person: str | None = None
    dose_check_dlp_notification_configured: bool | None = None
    dose_check_ctdivol_notification_configured: bool | None = None
    dose_check_dlp_notification_value_mgycm: float | None = None
    dose_check_ctdivol_notification_value_mgy: float | None = None
    dose_check_dlp_forward_estimate_mgycm: float | None = None
    dose_check_ctdivol_forward_estimate_mgy: float | None = None
    dose_check_notification_reason: str | None = None
    dose_check_notification_person: str | None = None
    sources: list[CtSourceRecord] = field(default_factory=list)


@dataclass(slots=True)
class XrayEventRecord(_Columns):
    """One projection X-ray irradiation event (TID 10003 with 10003A/B/C folded in)."""

    irradiation_event_uid: str | None = None
    date_time_started: dt.datetime | None = None
    acquisition_plane: str | None = None
    event_type: str | None = None
    acquisition_protocol: str | None = None
    anatomical_structure: str | None = None
    laterality: str | None = None
    image_view: str | None = None
    image_view_modifier: str | None = None
    patient_orientation: str | None = None
    patient_orientation_modifier: str | None = None
    patient_table_relationship: str | None = None
    series_description: str | None = None
    comment: str | None = None
    dap_gym2: float | None = None
    dose_rp_gy: float | None = None
    reference_point_definition: str | None = None
    entrance_exposure_at_rp_mgy: float | None = None
    agd_mgy: float | None = None
    half_value_layer_mm: float | None = None
    percent_fibroglandular_tissue: float | None = None
    fluoro_mode: str | None = None
    pulse_rate_per_s: float | None = None
    number_of_pulses: float | None = None
    kvp: float | None = None
    tube_current_ma: float | None = None
    pulse_width_ms: float | None = None
    exposure_uas: float | None = None
    exposure_time_ms: float | None = None
    irradiation_duration_s: float | None = None
    per_pulse: dict | None = None
    focal_spot_size_mm: float | None = None
    anode_target_material: str | None = None
    filters: list | None = None
    grid: str | None = None
    exposure_control_mode: str | None = None
    collimated_field_area_m2: float | None = None
    collimated_field_height_mm: float | None = None
    collimated_field_width_mm: float | None = None
    ii_field_size_mm: float | None = None
    positioner_primary_angle_deg: float | None = None
    positioner_secondary_angle_deg: float | None = None
    positioner_primary_end_angle_deg: float | None = None
    positioner_secondary_end_angle_deg: float | None = None
    column_angulation_deg: float | None = None
    table_head_tilt_angle_deg: float | None = None
    table_horizontal_rotation_angle_deg: float | None = None
    table_cradle_tilt_angle_deg: float | None = None
    table_longitudinal_position_mm: float | None = None
    table_lateral_position_mm: float | None = None
    table_height_position_mm: float | None = None
    compression_thickness_mm: float | None = None
    radiological_thickness_mm: float | None = None
    compression_force_n: float | None = None
    magnification_factor: float | None = None
    distance_source_to_isocenter_mm: float | None = None
    distance_source_to_detector_mm: float | None = None
    distance_source_to_reference_point_mm: float | None = None
    distance_source_to_patient_mm: float | None = None
    distance_source_to_table_plane_mm: float | None = None
    exposure_index: float | None = None
    target_exposure_index: float | None = None
    deviation_index: float | None = None
    relative_xray_exposure: float | None = None


@dataclass(slots=True)
class AccumulatedPlaneRecord(_Columns):
    """Accumulated dose of one plane as the system reported it (TID 10002 with 10004 and 10007)."""

    acquisition_plane: str | None = None
    dap_total_gym2: float | None = None
    dose_rp_total_gy: float | None = None
    fluoro_dap_total_gym2: float | None = None
    fluoro_dose_rp_total_gy: float | None = None
    total_fluoro_time_s: float | None = None
    acquisition_dap_total_gym2: float | None = None
    acquisition_dose_rp_total_gy: float | None = None
    total_acquisition_time_s: float | None = None
    total_number_of_radiographic_frames: int | None = None
    reference_point_definition: str | None = None
    calibration: list | None = None


@dataclass(slots=True)
class BreastDoseRecord(_Columns):
    """Accumulated average glandular dose of one breast (TID 10005)."""

    laterality: str = ""
    agd_mgy: float | None = None


@dataclass(slots=True)
class NmAdministrationRecord(_Columns):
    """One radiopharmaceutical administration (TID 10022 with the patient characteristics of TID
    10023), from a Radiopharmaceutical Radiation Dose report, or from an NM/PET image header's
    Radiopharmaceutical Information Sequence when no report arrived. Activities in MBq, half-life in
    s, organ doses a list of {"organ", "laterality", "dose_mgy", "reference_authority"}."""

    from_report: bool = True
    event_uid: str | None = None
    radiopharmaceutical: str | None = None
    radionuclide: str | None = None
    radionuclide_half_life_s: float | None = None
    specific_activity_bq_per_mmol: float | None = None
    volume_ml: float | None = None
    start_datetime: dt.datetime | None = None
    stop_datetime: dt.datetime | None = None
    administered_activity_mbq: float | None = None
    pre_administration_activity_mbq: float | None = None
    pre_administration_datetime: dt.datetime | None = None
    pre_administration_device: str | None = None
    post_administration_activity_mbq: float | None = None
    post_administration_datetime: dt.datetime | None = None
    post_administration_device: str | None = None
    route: str | None = None
    site: str | None = None
    extravasation_symptoms: str | None = None
    estimated_extravasation_percent: float | None = None
    effective_dose_msv: float | None = None
    effective_dose_authority: str | None = None
    organ_doses: list | None = None
    person_name: str | None = None
    person_role: str | None = None
    brand_name: str | None = None
    comment: str | None = None
    associated_procedure: str | None = None
    patient_state: str | None = None
    body_surface_area_m2: float | None = None
    bmi_kg_m2: float | None = None
    glucose_mmol_l: float | None = None
    fasting_duration_h: float | None = None
    hydration_volume_ml: float | None = None


@dataclass(slots=True)
class NmSeriesRecord(_Columns):
    """One NM or PET image series as its image header describes it (OpenREM's PET series details)."""

    series_instance_uid: str | None = None
    modality: str | None = None  # NM or PT
    series_datetime: dt.datetime | None = None
    series_description: str | None = None
    protocol_name: str | None = None
    image_type: str | None = None
    series_type: str | None = None  # PET: e.g. WHOLE BODY\\IMAGE, STATIC\\IMAGE
    units: str | None = None  # PET: BQML, CNTS...
    decay_correction: str | None = None  # PET: START, ADMIN, NONE
    corrected_image: str | None = None  # PET: DECY\\ATTN\\SCAT...
    number_of_slices: int | None = None
    acquisition_datetime: dt.datetime | None = None


@dataclass(slots=True)
class DoseReport:
    """Everything extracted from one dose object.

    ``tree`` is "ct", "projection" or "nm" (which template family the report uses; "nm" for
    radiopharmaceutical reports and NM/PET image headers); ``ct_total_*`` come
    from the CT accumulated dose data (TID 10012) exactly as the system reported them.
    """

    sop_instance_uid: str
    sop_class_uid: str
    source_kind: str  # "rdsr" or "esr"
    tree: str  # "ct" or "projection"
    equipment: EquipmentRecord
    study: StudyRecord
    ct_events: list[CtEventRecord] = field(default_factory=list)
    xray_events: list[XrayEventRecord] = field(default_factory=list)
    planes: list[AccumulatedPlaneRecord] = field(default_factory=list)
    breast_doses: list[BreastDoseRecord] = field(default_factory=list)
    nm_administrations: list[NmAdministrationRecord] = field(default_factory=list)
    nm_series: list[NmSeriesRecord] = field(default_factory=list)
    ct_total_dlp_mgycm: float | None = None
    ct_total_events: int | None = None
    acquisition_device_type: str | None = None
    procedure_reported: str | None = None
    start_of_xray_irradiation: dt.datetime | None = None
    end_of_xray_irradiation: dt.datetime | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def events(self) -> list:
        """The irradiation events of whichever tree the report uses."""
        if self.tree == "nm":
            return self.nm_administrations
        return self.ct_events if self.tree == "ct" else self.xray_events
