"""Philips CT "Dose Info" secondary captures -> a CT DoseReport.

Older Philips CT systems send no RDSR; their "Dose Info" series holds a secondary capture whose
header carries the dose: one Exposure Dose Sequence (0040,030E) item per exposure with the
acquisition type, CTDIvol, collimation and pitch, and the event DLP in the ELSCINT1 private element
(00E1,xx21), whose top-level copy is the study's total DLP; the phantom is ELSCINT1 (01E1,xx26).

As the seed describes (and OpenREM did), the study description becomes the Philips Protocol Name,
and the original study description goes into the study comment, with the protocol file name and
the comments on radiation dose.
"""
from __future__ import annotations

from doseapp.extract import image_header as ih
from doseapp.extract.records import CtEventRecord, CtSourceRecord, DoseReport, Malformed

SOURCE_KIND = "philips_sc"
_CREATOR = "ELSCINT1"
_ACQUISITION_TYPES = {
    "SPIRAL": "Spiral Acquisition",
    "HELICAL": "Spiral Acquisition",
    "SEQUENCED": "Sequenced Acquisition",
    "AXIAL": "Sequenced Acquisition",
    "CONSTANT_ANGLE": "Constant Angle Acquisition",
    "STATIONARY": "Stationary Acquisition",
    "FREE": "Free Acquisition",
}
_PHANTOMS = {"HEAD": "IEC Head Dosimetry Phantom", "BODY": "IEC Body Dosimetry Phantom"}


def is_dose_info(ds, ctx=None) -> bool:
    """A Philips secondary capture whose series description is "Dose Info"."""
    ctx = ctx or ih.new_image_context(ds)
    manufacturer = (ih.text(ds, 0x00080070, ctx) or "").lower()
    series = (ih.text(ds, 0x0008103E, ctx) or "").strip().lower()
    return "philips" in manufacturer and series == "dose info"


def read(ds, source_kind: str = SOURCE_KIND) -> DoseReport:
    """The DoseReport of a Philips CT Dose Info secondary capture."""
    ctx = ih.new_image_context(ds)
    report = ih.new_image_report(ds, ctx, SOURCE_KIND, "ct")
    try:
        items = ds[0x0040030E].value if 0x0040030E in ds else []
    except Exception as exc:  # a sequence sent with UN VR that cannot be parsed (OpenREM #302)
        raise Malformed(f"the Exposure Dose Sequence cannot be read: {exc}") from exc
    started = ih.acquisition_datetime(ds, ctx)
    for n, item in enumerate(items or [], start=1):
        ctx.where = f"exposure {n}"
        event = _event(item, ctx, started)
        if event is not None:
            report.ct_events.append(event)
    ctx.where = ""
    if not report.ct_events:
        raise Malformed("Philips Dose Info object without exposure items (Exposure Dose Sequence)")
    report.ct_total_dlp_mgycm = _private(ds, 0x00E1, 0x21, ctx, "total DLP")
    report.ct_total_events = len(report.ct_events)
    report.procedure_reported = "Computed Tomography X-Ray"
    _study_text(ds, ctx, report)
    return ih.finish(report, ctx)


def _event(item, ctx, started) -> CtEventRecord | None:
    num = lambda tag, label, factor=1.0: ih.number(item, tag, ctx, label, factor)  # noqa: E731
    kind = (ih.text(item, 0x00189302, ctx) or "").strip().upper()
    if not kind:
        return None  # only items that name an acquisition type are exposures
    event = CtEventRecord(
        date_time_started=ih.acquisition_datetime(item, ctx) or started,
        acquisition_protocol=ih.text(item, 0x0008103E, ctx),
        series_description=ih.text(item, 0x0008103E, ctx),
        acquisition_type=_ACQUISITION_TYPES.get(kind, kind.replace("_", " ").title()),
        ctdivol_mgy=num(0x00189345, "CTDIvol"),
        dlp_mgycm=_private(item, 0x00E1, 0x21, ctx, "DLP"),
        scanning_length_mm=num(0x00181302, "Scan Length"),
        nominal_single_collimation_mm=num(0x00189306, "Single Collimation Width"),
        nominal_total_collimation_mm=num(0x00189307, "Total Collimation Width"),
        pitch_factor=num(0x00189311, "Spiral Pitch Factor"),
        exposure_time_s=num(0x00181150, "Exposure Time", 1e-3),
        number_of_xray_sources=1,
    )
    phantom = _private_text(item, 0x01E1, 0x26, ctx)
    if phantom:
        event.ctdiw_phantom_type = _PHANTOMS.get(phantom.upper(), phantom)
    current = num(0x00188151, "X-Ray Tube Current in µA", 1e-3)
    if current is None:
        current = num(0x00181151, "X-Ray Tube Current")
    event.sources.append(CtSourceRecord(identification="A", kvp=ih.positive(num(0x00180060, "KVP")),
                                        tube_current_ma=current))
    return event


def _study_text(ds, ctx, report: DoseReport) -> None:
    study = report.study
    original = study.study_description
    protocol = ih.text(ds, 0x00181030, ctx)
    if protocol:
        study.study_description = protocol
    parts = []
    if original:
        parts.append(f"Study description: {original}")
    protocol_file = _private_text(ds, 0x00E1, 0x61, ctx)
    if protocol_file:
        parts.append(f"Protocol file: {protocol_file}")
    comments = ih.text(ds, 0x00400310, ctx)
    if comments:
        parts.append(f"Comments on radiation dose: {' '.join(comments.split())}")
    if parts:
        study.comment = "; ".join([study.comment] + parts if study.comment else parts)


def _private_tag(ds, group: int, offset: int) -> int | None:
    try:
        return ds.private_block(group, _CREATOR).get_tag(offset)
    except (KeyError, ValueError):
        return None


def _private(ds, group: int, offset: int, ctx, label: str) -> float | None:
    tag = _private_tag(ds, group, offset)
    return ih.number(ds, tag, ctx, label) if tag is not None and tag in ds else None


def _private_text(ds, group: int, offset: int, ctx) -> str | None:
    tag = _private_tag(ds, group, offset)
    return ih.text(ds, tag, ctx) if tag is not None and tag in ds else None
