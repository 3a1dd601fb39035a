"""Mammography image headers (Digital Mammography X-Ray images For Presentation and For Processing,
and Hologic secondary captures of tomosynthesis projections) -> a DoseReport with one event.

Each image is one exposure; ingest adds its event to the study of its StudyInstanceUID and sums the
average glandular dose per breast (images carry no accumulated dose).

Units: Organ Dose (0040,0316) is in dGy, stored in mGy (x100); Entrance Dose in mGy (0040,8302),
else Entrance Dose (0040,0302) in dGy; exposure in µAs; times in ms; thickness in mm; field of view
dimensions in mm, area stored in m².
"""
from __future__ import annotations

import re

from doseapp.extract import image_header as ih
from doseapp.extract.records import DoseReport, Rejected, XrayEventRecord

SOURCE_KIND = "mg_image"

# GE Senographe DS systems record the compression force in tenths of a newton while their
# conformance statement says newtons (OpenREM #135): such a value is divided by ten. Real forces
# stay below ~300 N (a mammography unit's own limit is about 200 N), so a Senographe DS value at or
# below that is already in newtons (e.g. the "scaled" test image, 50 N) and is kept.
_SENO_DS = "senograph ds"
_MAX_PLAUSIBLE_FORCE_N = 300.0

_PERCENT = re.compile(r"(\d+(?:[.,]\d+)?)\s*%")
_VIEW_POSITIONS = {"CC": "cranio-caudal", "MLO": "medio-lateral oblique", "ML": "medio-lateral",
                   "LM": "latero-medial", "LMO": "latero-medial oblique", "FB": "caudo-cranial (from below)",
                   "XCCL": "cranio-caudal exaggerated laterally", "XCCM": "cranio-caudal exaggerated medially",
                   "SIO": "superolateral to inferomedial oblique", "ISO": "inferomedial to superolateral oblique"}

# GE private block GEMS_SENO_02 (0045,xx49): radiological thickness in mm.
_GE_SENO_CREATOR = "GEMS_SENO_02"


def read(ds, source_kind: str = SOURCE_KIND) -> DoseReport:
    """The DoseReport of one mammography image header."""
    ctx = ih.new_image_context(ds)
    modality = (ih.text(ds, 0x00080060, ctx) or "").upper()
    if modality and modality != "MG":
        raise Rejected(f"a mammography image class with Modality {modality!r}, not MG")
    report = ih.new_image_report(ds, ctx, SOURCE_KIND, "projection")
    report.procedure_reported = "Mammography"
    report.acquisition_device_type = None
    report.xray_events.append(_event(ds, ctx, report))
    return ih.finish(report, ctx)


def _event(ds, ctx, report: DoseReport) -> XrayEventRecord:
    num = lambda tag, label, factor=1.0: ih.number(ds, tag, ctx, label, factor)  # noqa: E731
    e = ih.image_event(
        ds, ctx, report,
        acquisition_protocol=ih.text(ds, 0x00181030, ctx) or ih.text(ds, 0x0008103E, ctx),
        compression_thickness_mm=num(0x001811A0, "Body Part Thickness"),
        magnification_factor=num(0x00181114, "Estimated Radiographic Magnification Factor"),
        column_angulation_deg=num(0x00181510, "Positioner Primary Angle"),
    )
    if e.image_view is None:
        position = (ih.text(ds, 0x00185101, ctx) or "").upper()
        e.image_view = _VIEW_POSITIONS.get(position, position or None)
    e.exposure_uas = num(0x00181153, "Exposure in µAs")
    if e.exposure_uas is None:
        e.exposure_uas = num(0x00181152, "Exposure", 1000.0)
    # Organ Dose is the average glandular dose, in dGy.
    e.agd_mgy = num(0x00400316, "Organ Dose", 100.0)
    e.percent_fibroglandular_tissue = _percent(ih.text(ds, 0x00400310, ctx))
    e.compression_force_n = _force(num(0x001811A2, "Compression Force"), report, ctx)
    e.radiological_thickness_mm = _private_number(ds, 0x0045, _GE_SENO_CREATOR, 0x49, ctx,
                                                  "Radiological Thickness")
    return e


def _percent(comment: str | None) -> float | None:
    """The % glandular tissue that GE systems write in Comments on Radiation Dose ("31 %")."""
    if not comment:
        return None
    match = _PERCENT.search(comment)
    return float(match.group(1).replace(",", ".")) if match else None


def _force(value: float | None, report: DoseReport, ctx) -> float | None:
    if value is None:
        return None
    model = (report.equipment.model_name or "").lower()
    if _SENO_DS in model and value > _MAX_PLAUSIBLE_FORCE_N:
        ctx.warn(f"Compression Force {value:g} from a Senographe DS read as tenths of a newton: "
                 f"stored {value / 10:g} N")
        return value / 10
    return value


def _private_number(ds, group: int, creator: str, offset: int, ctx, label: str) -> float | None:
    try:
        block = ds.private_block(group, creator)
        tag = block.get_tag(offset)
    except (KeyError, ValueError):
        return None
    return ih.number(ds, tag, ctx, label)
