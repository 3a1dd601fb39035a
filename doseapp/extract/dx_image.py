"""Radiography image headers (CR, DX For Presentation and For Processing, intra-oral and panoramic
PX images) -> a DoseReport with one event.

Units: Image and Fluoroscopy Area Dose Product (0018,115E) is in dGy·cm², stored in Gy·m² (x1e-5);
Entrance Dose in mGy (0040,8302), else Entrance Dose (0040,0302) in dGy; exposure in µAs (from
Exposure in µAs, else Exposure in mAs, else Exposure in mAs as an integer); times in ms; distances
in mm.
"""
from __future__ import annotations

from doseapp.extract import image_header as ih
from doseapp.extract.records import DoseReport, XrayEventRecord

SOURCE_KIND = "dx_image"
_DGYCM2_TO_GYM2 = 1e-5


def read(ds, source_kind: str = SOURCE_KIND) -> DoseReport:
    """The DoseReport of one radiography image header."""
    ctx = ih.new_image_context(ds)
    report = ih.new_image_report(ds, ctx, SOURCE_KIND, "projection")
    report.acquisition_device_type = None
    report.xray_events.append(_event(ds, ctx, report))
    return ih.finish(report, ctx)


def protocol(ds, ctx) -> str | None:
    """Protocol Name, else Series Description, else the Performed Protocol Code meaning."""
    return (ih.text(ds, 0x00181030, ctx) or ih.text(ds, 0x0008103E, ctx)
            or ih.code_meaning(ds, 0x00400260, ctx))


def _event(ds, ctx, report: DoseReport) -> XrayEventRecord:
    num = lambda tag, label, factor=1.0: ih.number(ds, tag, ctx, label, factor)  # noqa: E731
    e = ih.image_event(
        ds, ctx, report,
        acquisition_protocol=protocol(ds, ctx),
        comment=ih.text(ds, 0x00204000, ctx),
        dap_gym2=num(0x0018115E, "Image and Fluoroscopy Area Dose Product", _DGYCM2_TO_GYM2),
        positioner_primary_angle_deg=num(0x00181510, "Positioner Primary Angle"),
        positioner_secondary_angle_deg=num(0x00181511, "Positioner Secondary Angle"),
        exposure_index=num(0x00181411, "Exposure Index"),
        target_exposure_index=num(0x00181412, "Target Exposure Index"),
        deviation_index=num(0x00181413, "Deviation Index"),
    )
    if e.image_view is None:
        e.image_view = ih.text(ds, 0x00185101, ctx)  # View Position (AP, PA, LL...)
    e.exposure_uas = num(0x00181153, "Exposure in µAs")
    if e.exposure_uas is None:
        e.exposure_uas = num(0x00189332, "Exposure in mAs", 1000.0)
    if e.exposure_uas is None:
        e.exposure_uas = num(0x00181152, "Exposure", 1000.0)
    return e
