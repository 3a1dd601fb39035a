"""The irradiation event table of a study page, per modality: which columns, in which groups.

Each modality shows the values its physicists read (radiography: exposure factors and exposure
index; fluoroscopy: pulse rate, angles, duration; mammography: view, compression, target/filter,
AGD; CT: CTDIvol, DLP and the sources). A column no event of the study records is left out, and
named under the table instead, so a study's table holds only what it has and fits the screen.
How a value is written (decimals, units, short material names) is the template's `kind`."""
from __future__ import annotations

from dataclasses import dataclass

NUMERIC_KINDS = {"num", "dap", "ms_from_s", "mas", "ctdivol", "source", "ssde", "wed", "effective_dose"}


@dataclass(frozen=True)
class Column:
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
        """Plain words for the 'not recorded' line, within a sentence (kVp and DAP keep their case)."""
        words = self.title or self.header
        return words[0].lower() + words[1:] if words[1:2].islower() else words


TIME = Column("Time", "time", "date_time_started")
PROTOCOL = Column("Protocol", "text", "acquisition_protocol")
# The event's standard name, from its acquisition protocol (doseapp.standards.names).
STANDARD_NAME = Column("Standard name", "standard_name", "standard_name_id", derived=True)
KVP = Column("kVp", "num", "kvp", 0, "Exposure")
MA = Column("mA", "num", "tube_current_ma", 1, "Exposure")
DAP = Column("DAP (cGy·cm²)", "dap", "dap_gym2", 3, "Dose")

RADIOGRAPHY = [
    TIME, PROTOCOL, STANDARD_NAME,
    Column("Anatomy", "text", "anatomical_structure"),
    Column("View", "view"),
    Column("Patient position", "position"),
    KVP, MA,
    Column("mAs", "mas", "exposure_uas", group="Exposure"),
    Column("Time (ms)", "num", "exposure_time_ms", 1, "Exposure", "Exposure time (ms)"),
    Column("Filter", "filters", "filters", group="Exposure"),
    Column("EI", "num", "exposure_index", 0, "Detector", "Exposure index"),
    Column("Target EI", "num", "target_exposure_index", 0, "Detector", "Target exposure index"),
    Column("DI", "num", "deviation_index", 1, "Detector", "Deviation index"),
    Column("SID (mm)", "num", "distance_source_to_detector_mm", 0, "Geometry",
           "Source to image (detector) distance (mm)"),
    Column("Grid", "text", "grid", group="Geometry"),
    DAP,
    Column("Entrance dose (mGy)", "num", "entrance_exposure_at_rp_mgy", 3, "Dose"),
]

FLUOROSCOPY = [
    TIME,
    Column("Type", "text", "event_type", always=True),
    PROTOCOL,
    Column("Plane", "text", "acquisition_plane", varies=True),
    DAP,
    Column("Dose at RP (Gy)", "num", "dose_rp_gy", 5, "Dose", "Dose at the reference point (Gy)"),
    Column("Pulse rate (/s)", "num", "pulse_rate_per_s", 1, "Exposure"),
    KVP, MA,
    Column("Pulse width (ms)", "num", "pulse_width_ms", 1, "Exposure"),
    Column("Filters", "filters", "filters", group="Exposure"),
    Column("Primary", "num", "positioner_primary_angle_deg", 0, "Angle (°)", "Primary angle (°)"),
    Column("Secondary", "num", "positioner_secondary_angle_deg", 0, "Angle (°)", "Secondary angle (°)"),
    # Duration: switch or pedal pressed; exposure time: beam on (see the hint above the table).
    Column("Duration (ms)", "ms_from_s", "irradiation_duration_s", 0, "Timing"),
    Column("Exposure time (ms)", "num", "exposure_time_ms", 1, "Timing"),
]

MAMMOGRAPHY = [
    TIME,
    Column("Type", "text", "event_type"),
    PROTOCOL, STANDARD_NAME,
    Column("View", "view"),
    Column("Thickness (mm)", "num", "compression_thickness_mm", 0, "Compression", "Compressed thickness (mm)"),
    Column("Force (N)", "num", "compression_force_n", 0, "Compression", "Compression force (N)"),
    Column("Target / filter", "target_filter", group="Exposure"),
    KVP,
    Column("mAs", "mas", "exposure_uas", group="Exposure"),
    Column("Exposure control mode", "text", "exposure_control_mode", group="Exposure"),
    Column("ESD (mGy)", "num", "entrance_exposure_at_rp_mgy", 2, "Dose", "Entrance surface dose (mGy)"),
    Column("AGD (mGy)", "num", "agd_mgy", 2, "Dose", "Average glandular dose (mGy)"),
]

CT = [
    TIME, PROTOCOL, STANDARD_NAME,
    Column("Type", "text", "acquisition_type", always=True),
    Column("CTDIvol (mGy)", "ctdivol", "ctdivol_mgy", 2, "Dose"),
    Column("DLP (mGy·cm)", "num", "dlp_mgycm", 2, "Dose"),
    # SSDE with its method (or why there is none) beside it, as IEC 62985 asks; see doseapp.standards.
    Column("SSDE (mGy)", "ssde", "ssde_method", 2, "Dose", "Size-specific dose estimate (mGy)"),
    Column("WED (cm)", "wed", "water_equivalent_diameter_mm", 1, "Dose", "Water-equivalent diameter (cm)"),
    Column("E estimate (mSv)", "effective_dose", "effective_dose_region", 3, "Dose",
           "Effective dose estimate (population, not this patient's dose) (mSv)"),
    Column("Length (mm)", "num", "scanning_length_mm", 1, title="Scanning length (mm)"),
    Column("kVp", "source", "kvp", 0, "Source (one line per tube)"),
    Column("mA", "source", "tube_current_ma", 1, "Source (one line per tube)"),
    Column("Max mA", "source", "max_tube_current_ma", 1, "Source (one line per tube)"),
    Column("Rotation (s)", "source", "exposure_time_per_rotation_s", 3, "Source (one line per tube)",
           "Exposure time per rotation (s)"),
    Column("Pitch", "num", "pitch_factor", 3),
    Column("Exposure time (s)", "num", "exposure_time_s", 2),
    Column("Slice", "num", "nominal_single_collimation_mm", 2, "Collimation (mm)",
           "Slice thickness: nominal single collimation (mm)"),
    Column("Total", "num", "nominal_total_collimation_mm", 2, "Collimation (mm)", "Total collimation (mm)"),
    Column("Modulation", "text", "xray_modulation_type", title="X-ray modulation type"),
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
