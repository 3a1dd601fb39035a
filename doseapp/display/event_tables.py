"""The irradiation event table of a study page, per modality: which columns, in which groups.

Each modality shows the values its physicists read (radiography: exposure factors and exposure
index; fluoroscopy: pulse rate, angles, duration; mammography: view, compression, target/filter,
AGD; CT: CTDIvol, DLP and the sources). A column no event of the study records is left out, and
named under the table instead, so a study's table holds only what it has and fits the screen.
How a value is written (decimals, units, short material names) is the template's `kind`."""
from __future__ import annotations

from dataclasses import dataclass

from doseapp.display import i18n
from doseapp.lazy_text import lazy_gettext as _l

NUMERIC_KINDS = {"num", "dap", "ms_from_s", "mas", "ctdivol", "source", "ssde", "wed", "effective_dose"}


@dataclass(frozen=True)
class Column:
    # header, group and title are lazy translations: text in the language of the page showing them.
    header: str
    kind: str  # how templates/studies/_events.html writes the cell: text, num, dap, mas, ...
    attr: str | None = None
    digits: int = 0
    group: str | None = None
    title: str | None = None  # the words an abbreviated header stands for
    always: bool = False  # shown even when no event records it
    varies: bool = False  # shown only when the events differ (else named once under the table)
    derived: bool = False  # doseapp's own value, not the report's: when no event has it, not "not recorded"

    def recorded(self, event) -> bool:
        if self.kind == "view":
            return any(getattr(event, a) for a in ("laterality", "image_view", "image_view_modifier"))
        if self.kind == "position":
            return any(getattr(event, a) for a in ("patient_orientation", "patient_orientation_modifier",
                                                   "patient_table_relationship"))
        if self.kind == "target_filter":
            return bool(event.anode_target_material or event.filters)
        if self.kind == "source":
            return any(getattr(s, self.attr) is not None for s in event.sources)
        return getattr(event, self.attr) not in (None, "", [])

    @property
    def css(self) -> str | None:
        """The cell's class: numbers right-aligned, short values kept on one line."""
        if self.kind in NUMERIC_KINDS:
            return "num"
        return "nowrap" if self.kind in ("time", "target_filter") else None

    @property
    def label(self) -> str:
        """Plain words for the 'not recorded' line, within a sentence (kVp and DAP keep their case; in
        German the words as they are: its nouns keep their capital)."""
        words = str(self.title or self.header)
        locale = i18n.page_locale()
        if locale is not None and locale.language == "de":
            return words
        return words[0].lower() + words[1:] if words[1:2].islower() else words


TIME = Column(_l("Time"), "time", "date_time_started")
PROTOCOL = Column(_l("Protocol"), "text", "acquisition_protocol")
# The event's standard name, from its acquisition protocol (doseapp.standards.names).
STANDARD_NAME = Column(_l("Standard name"), "standard_name", "standard_name_id", derived=True)
KVP = Column(_l("kVp"), "num", "kvp", 0, _l("Exposure"))
MA = Column(_l("mA"), "num", "tube_current_ma", 1, _l("Exposure"))
DAP = Column(_l("DAP (cGy·cm²)"), "dap", "dap_gym2", 3, _l("Dose"))

RADIOGRAPHY = [
    TIME, PROTOCOL, STANDARD_NAME,
    Column(_l("Anatomy"), "text", "anatomical_structure"),
    Column(_l("View"), "view"),
    Column(_l("Patient position"), "position"),
    KVP, MA,
    Column(_l("mAs"), "mas", "exposure_uas", group=_l("Exposure")),
    Column(_l("Time (ms)"), "num", "exposure_time_ms", 1, _l("Exposure"), _l("Exposure time (ms)")),
    Column(_l("Filters"), "filters", "filters", group=_l("Exposure")),
    Column(_l("EI"), "num", "exposure_index", 0, _l("Detector"), _l("Exposure index")),
    Column(_l("Target EI"), "num", "target_exposure_index", 0, _l("Detector"), _l("Target exposure index")),
    Column(_l("DI"), "num", "deviation_index", 1, _l("Detector"), _l("Deviation index")),
    Column(_l("SID (mm)"), "num", "distance_source_to_detector_mm", 0, _l("Geometry"),
           _l("Source to image (detector) distance (mm)")),
    Column(_l("Grid"), "text", "grid", group=_l("Geometry")),
    DAP,
    Column(_l("Entrance dose (mGy)"), "num", "entrance_exposure_at_rp_mgy", 3, _l("Dose")),
]

FLUOROSCOPY = [
    TIME,
    Column(_l("Type"), "text", "event_type", always=True),
    PROTOCOL,
    Column(_l("Plane"), "text", "acquisition_plane", varies=True),
    DAP,
    Column(_l("Dose at RP (Gy)"), "num", "dose_rp_gy", 5, _l("Dose"), _l("Dose at the reference point (Gy)")),
    Column(_l("Pulse rate (/s)"), "num", "pulse_rate_per_s", 1, _l("Exposure")),
    KVP, MA,
    Column(_l("Pulse width (ms)"), "num", "pulse_width_ms", 1, _l("Exposure")),
    Column(_l("Filters"), "filters", "filters", group=_l("Exposure")),
    Column(_l("Primary"), "num", "positioner_primary_angle_deg", 0, _l("Angle (°)"), _l("Primary angle (°)")),
    Column(_l("Secondary"), "num", "positioner_secondary_angle_deg", 0, _l("Angle (°)"), _l("Secondary angle (°)")),
    # Duration: switch or pedal pressed; exposure time: beam on (see the hint above the table).
    Column(_l("Duration (ms)"), "ms_from_s", "irradiation_duration_s", 0, _l("Timing")),
    Column(_l("Exposure time (ms)"), "num", "exposure_time_ms", 1, _l("Timing")),
]

MAMMOGRAPHY = [
    TIME,
    Column(_l("Type"), "text", "event_type"),
    PROTOCOL, STANDARD_NAME,
    Column(_l("View"), "view"),
    Column(_l("Thickness (mm)"), "num", "compression_thickness_mm", 0, _l("Compression"), _l("Compressed thickness (mm)")),
    Column(_l("Force (N)"), "num", "compression_force_n", 0, _l("Compression"), _l("Compression force (N)")),
    Column(_l("Target / filter"), "target_filter", group=_l("Exposure")),
    KVP,
    Column(_l("mAs"), "mas", "exposure_uas", group=_l("Exposure")),
    Column(_l("Exposure control mode"), "text", "exposure_control_mode", group=_l("Exposure")),
    Column(_l("ESD (mGy)"), "num", "entrance_exposure_at_rp_mgy", 2, _l("Dose"), _l("Entrance surface dose (mGy)")),
    Column(_l("AGD (mGy)"), "num", "agd_mgy", 2, _l("Dose"), _l("Average glandular dose (mGy)")),
]

CT = [
    TIME, PROTOCOL, STANDARD_NAME,
    Column(_l("Type"), "text", "acquisition_type", always=True),
    Column(_l("CTDIvol (mGy)"), "ctdivol", "ctdivol_mgy", 2, _l("Dose")),
    Column(_l("DLP (mGy·cm)"), "num", "dlp_mgycm", 2, _l("Dose")),
    # SSDE with its method (or why there is none) beside it, as IEC 62985 asks; see doseapp.standards.
    Column(_l("SSDE (mGy)"), "ssde", "ssde_method", 2, _l("Dose"), _l("Size-specific dose estimate (mGy)")),
    Column(_l("WED (cm)"), "wed", "water_equivalent_diameter_mm", 1, _l("Dose"), _l("Water-equivalent diameter (cm)")),
    Column(_l("E estimate (mSv)"), "effective_dose", "effective_dose_region", 3, _l("Dose"),
           _l("Effective dose estimate (population, not this patient's dose) (mSv)")),
    Column(_l("Length (mm)"), "num", "scanning_length_mm", 1, title=_l("Scanning length (mm)")),
    Column(_l("kVp"), "source", "kvp", 0, _l("Source (one line per tube)")),
    Column(_l("mA"), "source", "tube_current_ma", 1, _l("Source (one line per tube)")),
    Column(_l("Max mA"), "source", "max_tube_current_ma", 1, _l("Source (one line per tube)")),
    Column(_l("Rotation (s)"), "source", "exposure_time_per_rotation_s", 3, _l("Source (one line per tube)"),
           _l("Exposure time per rotation (s)")),
    Column(_l("Pitch"), "num", "pitch_factor", 3),
    Column(_l("Exposure time (s)"), "num", "exposure_time_s", 2),
    Column(_l("Slice"), "num", "nominal_single_collimation_mm", 2, _l("Collimation (mm)"),
           _l("Slice thickness: nominal single collimation (mm)")),
    Column(_l("Total"), "num", "nominal_total_collimation_mm", 2, _l("Collimation (mm)"), _l("Total collimation (mm)")),
    Column(_l("Modulation"), "text", "xray_modulation_type", title=_l("X-ray modulation type")),
]

COLUMNS = {"DX": RADIOGRAPHY, "RF": FLUOROSCOPY, "MG": MAMMOGRAPHY, "CT": CT}


@dataclass
class EventTable:
    columns: list[Column]
    groups: list[tuple[str | None, list[Column]]]  # runs of neighbouring columns under one heading
    not_recorded: list[Column]
    same: list[tuple[Column, object]]  # (column, the value every event has)

    @property
    def grouped(self) -> bool:
        return any(name for name, _ in self.groups)

    @property
    def timed(self) -> bool:
        return TIME in self.columns


def event_table(modality: str, events) -> EventTable:
    """The columns of `modality`'s table that `events` record, grouped for a two-row heading."""
    shown, missing, same = [], [], []
    for col in COLUMNS[modality]:
        if not col.always and not any(col.recorded(e) for e in events):
            if col is not TIME and not col.derived:  # TIME: the heading says so (the order is the report's)
                missing.append(col)
            continue
        values = {getattr(e, col.attr) for e in events} if col.varies else ()
        if len(values) == 1:
            same.append((col, values.pop()))
        else:
            shown.append(col)
    groups: list[tuple[str | None, list[Column]]] = []
    for col in shown:
        if col.group and groups and groups[-1][0] == col.group:
            groups[-1][1].append(col)
        else:
            groups.append((col.group, [col]))
    # A heading over one column says no more than the column's own.
    groups = [(name if len(cols) > 1 else None, cols) for name, cols in groups]
    return EventTable(shown, groups, missing, same)
