"""Every chart doseapp draws: the ONE table of what each chart reads and how it is labelled.

OpenREM's chart list (seed §6.4-6.7). Each chart names the table its rows come from (study summary
columns or one row per irradiation event), the category it groups by, the value it averages (stored
units, with the factor to display units), and whether it is on for a new user (seed §10.11.1).
"""
from __future__ import annotations

from dataclasses import dataclass

from doseapp.filters import DAP_DISPLAY_PER_STORED

# Category -> the list filter that selects it (drill-down links reuse the list's own filters).
CATEGORY_FILTER = {
    "acquisition_protocol": "acquisition_protocol",
    "study_description": "study_description",
    "requested_procedure": "requested_procedure",
    "standard_name": "standard_name",
}
CATEGORY_LABEL = {
    "acquisition_protocol": "Acquisition protocol",
    "study_description": "Study description",
    "requested_procedure": "Requested procedure",
    "standard_name": "Standard name",
}
# Values that count things: their histograms have whole-number ticks.
COUNT_VALUES = {"number_of_events"}
# Study-level values that a list range filter selects (histogram bins link to value ranges).
RANGE_FILTER = {"total_dlp_mgycm": "dlp", "total_dap_gym2": "dap", "agd_both_mgy": "agd",
                "peak_skin_dose_gy": "psd", "mean_ssde_mgy": "ssde", "nm_activity_mbq": "activity"}


@dataclass(frozen=True)
class Chart:
    """One chart. kind: bar (average per category, with histograms), pie (frequency per
    category), line (average per category over time), workload (studies per weekday and hour),
    scatter (value against compressed thickness, one point per event)."""
    key: str
    label: str
    kind: str
    table: str                      # "study", "ct_event" or "xray_event"
    value: str | None = None        # column of `table` (stored units); None for workload
    category: str | None = None     # a key of CATEGORY_FILTER
    scale: float = 1.0              # display units per stored unit
    unit: str = ""
    value_label: str = ""
    x: str | None = None            # scatter: the x column (of `table`)
    x_label: str = ""
    default: bool = False

    @property
    def title(self) -> str:
        """The label in the request's language (issue 22; `make translations` extracts Chart's label)."""
        from flask_babel import gettext

        return gettext(self.label)

    @property
    def counts(self) -> bool:
        """The value counts things (events per study): whole numbers."""
        return self.value in COUNT_VALUES

    @property
    def drill_filter(self) -> str | None:
        return CATEGORY_FILTER.get(self.category or "")

    @property
    def range_filter(self) -> str | None:
        return RANGE_FILTER.get(self.value or "") if self.table == "study" else None


DAP = dict(scale=DAP_DISPLAY_PER_STORED, unit="cGy·cm²", value_label="DAP")
DLP = dict(unit="mGy·cm", value_label="DLP")
CTDI = dict(unit="mGy", value_label="CTDIvol")
EVENTS = dict(unit="", value_label="Number of events")
KVP = dict(unit="kV", value_label="kVp")
MAS = dict(scale=1e-3, unit="mAs", value_label="mAs")  # exposure stored in µAs
PSD = dict(unit="Gy", value_label="Peak skin dose")  # of the study's skin dose map (doseapp.skin)
WORKLOAD = dict(kind="workload", table="study")
SSDE = dict(unit="mGy", value_label="SSDE")  # size-specific dose estimate (doseapp.standards)

CT = (
    Chart("acquisition_dlp", "DLP per acquisition protocol", "bar", "ct_event", "dlp_mgycm",
          "acquisition_protocol", default=True, **DLP),
    Chart("acquisition_ctdivol", "CTDIvol per acquisition protocol", "bar", "ct_event", "ctdivol_mgy",
          "acquisition_protocol", default=True, **CTDI),
    Chart("acquisition_frequency", "Acquisition protocol frequency", "pie", "ct_event", "dlp_mgycm",
          "acquisition_protocol", **DLP),
    Chart("study_dlp", "DLP per study description", "bar", "study", "total_dlp_mgycm", "study_description",
          default=True, **DLP),
    Chart("study_ctdivol", "CTDIvol per study description", "bar", "ct_event", "ctdivol_mgy",
          "study_description", **CTDI),
    Chart("study_frequency", "Study description frequency", "pie", "study", "total_dlp_mgycm",
          "study_description", **DLP),
    Chart("study_events", "Number of events per study description", "bar", "study", "number_of_events",
          "study_description", **EVENTS),
    Chart("request_dlp", "DLP per requested procedure", "bar", "study", "total_dlp_mgycm",
          "requested_procedure", **DLP),
    Chart("request_frequency", "Requested procedure frequency", "pie", "study", "total_dlp_mgycm",
          "requested_procedure", **DLP),
    Chart("request_events", "Number of events per requested procedure", "bar", "study", "number_of_events",
          "requested_procedure", **EVENTS),
    Chart("standard_dlp", "DLP per standard name", "bar", "study", "total_dlp_mgycm", "standard_name", **DLP),
    Chart("standard_frequency", "Standard name frequency", "pie", "study", "total_dlp_mgycm", "standard_name",
          **DLP),
    Chart("workload", "Study workload", **WORKLOAD),
    Chart("study_dlp_over_time", "Study DLP over time, per study description", "line", "study",
          "total_dlp_mgycm", "study_description", **DLP),
    # Studies and events without an SSDE (no water-equivalent diameter reported) are left out, as
    # blanks always are.
    Chart("study_ssde", "Mean SSDE per study description", "bar", "study", "mean_ssde_mgy",
          "study_description", **SSDE),
    Chart("acquisition_ssde", "SSDE per acquisition protocol", "bar", "ct_event", "ssde_mgy",
          "acquisition_protocol", **SSDE),
    Chart("ssde_wed", "SSDE vs. water-equivalent diameter", "scatter", "ct_event", "ssde_mgy",
          x="water_equivalent_diameter_mm", x_label="Water-equivalent diameter (mm)", **SSDE),
)

DX = (
    Chart("acquisition_dap", "DAP per acquisition protocol", "bar", "xray_event", "dap_gym2",
          "acquisition_protocol", default=True, **DAP),
    Chart("acquisition_frequency", "Acquisition protocol frequency", "pie", "xray_event", "dap_gym2",
          "acquisition_protocol", **DAP),
    Chart("study_dap", "DAP per study description", "bar", "study", "total_dap_gym2", "study_description",
          default=True, **DAP),
    Chart("study_frequency", "Study description frequency", "pie", "study", "total_dap_gym2",
          "study_description", **DAP),
    Chart("study_events", "Number of events per study description", "bar", "study", "number_of_events",
          "study_description", **EVENTS),
    Chart("request_dap", "DAP per requested procedure", "bar", "study", "total_dap_gym2",
          "requested_procedure", **DAP),
    Chart("request_frequency", "Requested procedure frequency", "pie", "study", "total_dap_gym2",
          "requested_procedure", **DAP),
    Chart("request_events", "Number of events per requested procedure", "bar", "study", "number_of_events",
          "requested_procedure", **EVENTS),
    Chart("standard_dap", "DAP per standard name", "bar", "study", "total_dap_gym2", "standard_name", **DAP),
    Chart("standard_frequency", "Standard name frequency", "pie", "study", "total_dap_gym2", "standard_name",
          **DAP),
    Chart("acquisition_kvp", "kVp per acquisition protocol", "bar", "xray_event", "kvp",
          "acquisition_protocol", **KVP),
    Chart("acquisition_mas", "mAs per acquisition protocol", "bar", "xray_event", "exposure_uas",
          "acquisition_protocol", **MAS),
    Chart("workload", "Study workload", **WORKLOAD),
    Chart("acquisition_dap_over_time", "Acquisition DAP over time, per protocol", "line", "xray_event",
          "dap_gym2", "acquisition_protocol", **DAP),
    Chart("acquisition_mas_over_time", "Acquisition mAs over time, per protocol", "line", "xray_event",
          "exposure_uas", "acquisition_protocol", **MAS),
    Chart("acquisition_kvp_over_time", "Acquisition kVp over time, per protocol", "line", "xray_event",
          "kvp", "acquisition_protocol", **KVP),
)

RF = (
    Chart("study_dap", "DAP per study description", "bar", "study", "total_dap_gym2", "study_description",
          default=True, **DAP),
    Chart("study_frequency", "Study description frequency", "pie", "study", "total_dap_gym2",
          "study_description", **DAP),
    Chart("standard_dap", "DAP per standard name", "bar", "study", "total_dap_gym2", "standard_name", **DAP),
    Chart("standard_frequency", "Standard name frequency", "pie", "study", "total_dap_gym2", "standard_name",
          **DAP),
    Chart("workload", "Study workload", **WORKLOAD),
    # Studies without a skin dose map have no peak skin dose and are left out, as blanks always are.
    Chart("study_psd", "Peak skin dose per study description", "bar", "study", "peak_skin_dose_gy",
          "study_description", **PSD),
    Chart("request_psd", "Peak skin dose per requested procedure", "bar", "study", "peak_skin_dose_gy",
          "requested_procedure", **PSD),
    Chart("study_psd_over_time", "Peak skin dose over time, per study description", "line", "study",
          "peak_skin_dose_gy", "study_description", **PSD),
)

THICKNESS = dict(kind="scatter", table="xray_event", x="compression_thickness_mm", x_label="Compressed thickness (mm)")
MG = (
    Chart("agd_thickness", "AGD vs. compressed thickness", value="agd_mgy", unit="mGy", value_label="AGD",
          default=True, **THICKNESS),
    Chart("kvp_thickness", "kVp vs. compressed thickness", value="kvp", **THICKNESS, unit="kV", value_label="kVp"),
    Chart("mas_thickness", "mAs vs. compressed thickness", value="exposure_uas", **THICKNESS, scale=1e-3,
          unit="mAs", value_label="mAs"),
    Chart("standard_agd", "AGD (both breasts) per standard name", "bar", "study", "agd_both_mgy", "standard_name",
          unit="mGy", value_label="AGD"),
    Chart("standard_frequency", "Standard name frequency", "pie", "study", "agd_both_mgy", "standard_name",
          unit="mGy", value_label="AGD"),
    Chart("workload", "Study workload", **WORKLOAD),
)

# Nuclear medicine (OpenREM's five NM charts): the administered activity of a study is the sum of its
# administrations (MBq, as recorded at ingest).
ACTIVITY = dict(unit="MBq", value_label="Administered activity")
NM = (
    Chart("study_frequency", "Study description frequency", "pie", "study", "nm_activity_mbq", "study_description",
          default=True, **ACTIVITY),
    Chart("workload", "Study workload", **WORKLOAD),
    Chart("study_activity", "Administered activity per study description", "bar", "study", "nm_activity_mbq",
          "study_description", default=True, **ACTIVITY),
    Chart("study_activity_over_time", "Administered activity over time, per study description", "line", "study",
          "nm_activity_mbq", "study_description", **ACTIVITY),
    Chart("activity_weight", "Administered activity vs. patient weight", "scatter", "study", "nm_activity_mbq",
          x="patient_weight_kg", x_label="Patient weight (kg)", default=True, **ACTIVITY),
    Chart("standard_activity", "Administered activity per standard name", "bar", "study", "nm_activity_mbq",
          "standard_name", **ACTIVITY),
    Chart("standard_frequency", "Standard name frequency", "pie", "study", "nm_activity_mbq", "standard_name",
          **ACTIVITY),
)

CHARTS: dict[str, tuple[Chart, ...]] = {"CT": CT, "DX": DX, "RF": RF, "MG": MG, "NM": NM}
BY_KEY: dict[str, dict[str, Chart]] = {m: {c.key: c for c in cs} for m, cs in CHARTS.items()}


def chart(modality: str, key: str) -> Chart | None:
    return BY_KEY.get(modality, {}).get(key)
