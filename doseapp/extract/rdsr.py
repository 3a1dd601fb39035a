"""A whole X-Ray Radiation Dose report (TID 10011 CT or TID 10001 projection X-ray) read into a
DoseReport: header facts, then one pass over the root content items, dispatching each container
to the CT or projection readers. Also the Siemens private "Radiation Summary Report" that
Siemens mobile C-arms (e.g. Arcadis Varic) send as an Enhanced SR.
"""
from __future__ import annotations

from doseapp.extract import header, rdsr_ct, rdsr_projection
from doseapp.extract.records import AccumulatedPlaneRecord, DoseReport, Malformed
from doseapp.extract.sr import Ctx, Node, TextDecoder, read_tree

XRAY_DOSE_REPORT = ("113701", "DCM")
VARIC_REPORT = ("C-10", "99SMS_RADSUM")

_CT_KEYS = {"113811", "113819"}
_PROJECTION_KEYS = {"113702", "113706"}
_CT_PROCEDURES = {"P5-08000", "77477000"}


def new_context(ds) -> Ctx:
    """A Ctx with the text decoder for the dataset's declared character set."""
    elem = ds.get_item(0x00080005)
    value = None if elem is None else elem.value
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace").split("\\")
    elif isinstance(value, str):
        value = [value]
    return Ctx(TextDecoder(list(value) if value else None))


def template_id(ds) -> str | None:
    """The root template identifier (10001, 10011...) when the object declares one."""
    if 0x0040A504 not in ds:
        return None
    items = ds[0x0040A504].value
    if not items:
        return None
    elem = items[0].get_item(0x0040DB00)
    if elem is None or elem.value is None:
        return None
    value = elem.value
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    return str(value).strip(" \x00") or None


def read_report(ds, source_kind: str) -> DoseReport:
    """The DoseReport of an X-Ray Radiation Dose report (root concept 113701)."""
    ctx = new_context(ds)
    nodes = read_tree(ds, ctx.decode)
    if not nodes:
        raise Malformed("the dose report has no content (empty Content Sequence)")
    report = new_report(ds, ctx, source_kind, _tree_kind(ds, nodes))
    ct_seen = False
    events = 0
    for node in nodes:
        key = node.key
        if key == "113819":
            events += 1
            ctx.where = f"CT event {events}"
            report.ct_events.append(rdsr_ct.ct_event(node, ctx))
        elif key == "113706":
            events += 1
            ctx.where = f"X-ray event {events}"
            report.xray_events.append(rdsr_projection.xray_event(node, ctx))
        elif key == "113811":
            ctx.where = "CT accumulated dose"
            ct_seen = True
            report.ct_total_dlp_mgycm, report.ct_total_events = rdsr_ct.ct_accumulated(node, ctx)
        elif key == "113702":
            ctx.where = f"accumulated dose, plane {len(report.planes) + 1}"
            plane, breasts = rdsr_projection.accumulated_plane(node, ctx)
            report.planes.append(plane)
            report.breast_doses.extend(breasts)
        else:
            ctx.where = ""
            _root_item(node, report, ctx)
    ctx.where = ""
    _check(report, ct_seen, ctx)
    return _finish(report, ctx)


def _tree_kind(ds, nodes: list[Node]) -> str:
    """"ct" or "projection": by the declared template, else by the containers present (some
    systems send no Content Template Sequence), else by the procedure reported."""
    template = template_id(ds)
    if template == "10011":
        return "ct"
    if template == "10001":
        return "projection"
    keys = {node.key for node in nodes}
    if keys & _CT_KEYS:
        return "ct"
    if keys & _PROJECTION_KEYS:
        return "projection"
    for node in nodes:
        if node.key == "121058" and node.value is not None and node.value.value in _CT_PROCEDURES:
            return "ct"
    return "projection"


def new_report(ds, ctx: Ctx, source_kind: str, tree: str, what: str = "object") -> DoseReport:
    """A DoseReport with the header's study, patient and equipment facts; `what` names the object
    in the reason when a required UID is missing."""
    sop_instance_uid = header.header_value(ds, "SOPInstanceUID", ctx.decode)
    if not sop_instance_uid:
        raise Malformed(f"the {what} has no SOP Instance UID")
    study = header.study_record(ds, ctx)
    if not study.study_instance_uid:
        raise Malformed(f"the {what} has no Study Instance UID")
    return DoseReport(
        sop_instance_uid=sop_instance_uid,
        sop_class_uid=header.header_value(ds, "SOPClassUID", ctx.decode) or "",
        source_kind=source_kind,
        tree=tree,
        equipment=header.equipment_record(ds, ctx.decode, None),
        study=study,
    )


def _root_item(node: Node, report: DoseReport, ctx: Ctx) -> None:
    key = node.key
    if key == "121058":
        report.procedure_reported = ctx.meaning(node)
    elif key == "122142":
        report.acquisition_device_type = ctx.meaning(node)
    elif key == "121012":  # Device Observer UID: UIDREF as specified, TEXT from some systems
        report.equipment.device_observer_uid = ctx.text(node)
    elif key == "113809":
        report.start_of_xray_irradiation = ctx.datetime(node)
    elif key == "113810":
        report.end_of_xray_irradiation = ctx.datetime(node)
    elif key == "121106" and report.study.comment is None:
        report.study.comment = ctx.text(node)


def _check(report: DoseReport, ct_seen: bool, ctx: Ctx) -> None:
    """Refuse reports that carry no dose at all; warn about missing required items."""
    if report.tree == "ct":
        if not report.ct_events and not ct_seen:
            raise Malformed("CT dose report holds neither irradiation events nor accumulated "
                            "dose data")
        if not ct_seen:
            ctx.warn("CT Accumulated Dose Data (required) is missing")
    elif not report.xray_events and not report.planes:
        raise Malformed("projection X-ray dose report holds neither irradiation events nor "
                        "accumulated dose data")
    elif not report.planes:
        ctx.warn("Accumulated X-Ray Dose Data (required) is missing")
    missing = sum(1 for event in report.events if not event.irradiation_event_uid)
    if missing:
        ctx.warn(f"{missing} irradiation event(s) without an Irradiation Event UID")


def _finish(report: DoseReport, ctx: Ctx) -> DoseReport:
    """Study date fallback, then the warnings of the decoder and the readers."""
    study = report.study
    if study.study_date is None:
        fallback = report.start_of_xray_irradiation or min(
            (e.date_time_started for e in report.events if e.date_time_started), default=None)
        if fallback is not None:
            study.study_date = fallback.date()
            study.study_time = study.study_time or fallback.time()
            header.set_study_datetime(study)
            ctx.warn("Study Date missing; the date of the first irradiation was used")
    report.warnings = ctx.decode.warnings() + ctx.warnings
    return report


# --- Siemens Radiation Summary Report ------------------------------------------------------------

_VARIC_NUMS = {
    "99SMS_RADSUM:C-202": ("total_fluoro_time_s", "time_s"),
    "99SMS_RADSUM:C-204": ("dap_total_gym2", "dap_gym2"),
    "99SMS_RADSUM:C-210": ("dose_rp_total_gy", "dose_gy"),
}


def read_varic(ds, source_kind: str) -> DoseReport:
    """The study totals of a Siemens Radiation Summary Report: one plane, no events."""
    ctx = new_context(ds)
    nodes = read_tree(ds, ctx.decode)
    report = new_report(ds, ctx, source_kind, "projection")
    plane = AccumulatedPlaneRecord(acquisition_plane="Single Plane")
    found = False
    for node in nodes:
        key = node.key
        if key in _VARIC_NUMS:
            name, kind = _VARIC_NUMS[key]
            value = ctx.value(node, kind)
            if value is not None:
                setattr(plane, name, value)
                found = True
        elif key == "99SMS_RADSUM:C-200":
            plane.total_number_of_radiographic_frames = ctx.integer(node)
        elif key == "99SMS_RADSUM:C-206":
            report.start_of_xray_irradiation = ctx.datetime(node)
        elif key == "99SMS_RADSUM:C-208":
            report.end_of_xray_irradiation = ctx.datetime(node)
    if not found:
        raise Malformed("Siemens radiation summary report holds no dose or fluoroscopy time")
    report.planes.append(plane)
    return _finish(report, ctx)
