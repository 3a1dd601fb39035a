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
    e = XrayEventRecord(
        irradiation_event_uid=report.sop_instance_uid,  # one image is one exposure
        date_time_started=ih.acquisition_datetime(ds, ctx),
        acquisition_plane="Single Plane",
        event_type="Stationary Acquisition",
        acquisition_protocol=protocol(ds, ctx),
        anatomical_structure=ih.code_meaning(ds, 0x00082218, ctx) or ih.text(ds, 0x00180015, ctx),
        laterality=ih.laterality(ds, ctx),
        series_description=ih.text(ds, 0x0008103E, ctx),
        comment=ih.text(ds, 0x00204000, ctx),
        dap_gym2=num(0x0018115E, "Image and Fluoroscopy Area Dose Product", _DGYCM2_TO_GYM2),
        kvp=ih.positive(num(0x00180060, "KVP")),
        tube_current_ma=num(0x00181151, "X-Ray Tube Current"),
        exposure_time_ms=num(0x00181150, "Exposure Time"),
        focal_spot_size_mm=num(0x00181190, "Focal Spot(s)"),
        anode_target_material=ih.material(ih.text(ds, 0x00181191, ctx)),
        filters=ih.filters(ds, ctx),
        grid=ih.grid(ds, ctx),
        exposure_control_mode=ih.text(ds, 0x00187060, ctx),
        distance_source_to_detector_mm=num(0x00181110, "Distance Source to Detector"),
        distance_source_to_patient_mm=num(0x00181111, "Distance Source to Patient"),
        positioner_primary_angle_deg=num(0x00181510, "Positioner Primary Angle"),
        positioner_secondary_angle_deg=num(0x00181511, "Positioner Secondary Angle"),
        exposure_index=num(0x00181411, "Exposure Index"),
        target_exposure_index=num(0x00181412, "Target Exposure Index"),
        deviation_index=num(0x00181413, "Deviation Index"),
        relative_xray_exposure=num(0x00181405, "Relative X-Ray Exposure"),
        half_value_layer_mm=num(0x00400314, "Half Value Layer"),
    )
    e.image_view, e.image_view_modifier = ih.view_and_modifier(ds, ctx)
    if e.image_view is None:
        e.image_view = ih.text(ds, 0x00185101, ctx)  # View Position (AP, PA, LL...)
    if e.tube_current_ma is None:
        e.tube_current_ma = num(0x00188151, "X-Ray Tube Current in µA", 1e-3)
    if e.exposure_time_ms is None:
        e.exposure_time_ms = num(0x00188150, "Exposure Time in µS", 1e-3)
    e.exposure_uas = num(0x00181153, "Exposure in µAs")
    if e.exposure_uas is None:
        e.exposure_uas = num(0x00189332, "Exposure in mAs", 1000.0)
    if e.exposure_uas is None:
        e.exposure_uas = num(0x00181152, "Exposure", 1000.0)
    e.entrance_exposure_at_rp_mgy = ih.positive(num(0x00408302, "Entrance Dose in mGy")) \
        or ih.positive(num(0x00400302, "Entrance Dose", 100.0))
    width_height = ih.numbers(ds, 0x00181149, ctx, "Field of View Dimensions")
    if len(width_height) == 2:
        e.collimated_field_height_mm, e.collimated_field_width_mm = width_height
        e.collimated_field_area_m2 = width_height[0] * width_height[1] / 1e6
    return e
