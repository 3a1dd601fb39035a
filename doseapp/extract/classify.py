"""Which objects are dose reports, and which modality list a report belongs on.

``ROUTES`` is the one routing table: SOP Class UID -> Route (the kind of source and the function
that reads it) or the plain-words reason the object is not handled. Image classes are read by
their header extractors; Secondary Capture is routed by content (a Philips "Dose Info" capture, a
Hologic tomosynthesis projection with Modality MG and ORIGINAL in Image Type, or rejected). ``route`` applies it (looking inside SRs for the root concept);
``extract`` routes and reads, turning any failure into ``Rejected``; ``decide_modality`` is the
pure modality rule.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping

from pydicom.uid import UID

from doseapp.extract import dx_image, image_header, mammo_image, nm_image, philips_ct, rdsr, rrdsr
from doseapp.extract.records import DoseReport, Malformed, Rejected
from doseapp.extract.sr import DamagedTree

Reader = Callable[[object, str], DoseReport]


@dataclass(frozen=True)
class Route:
    """How to read one kind of object: ``kind`` becomes DoseReport.source_kind. Either ``reader``
    reads every object of the class (image headers), or ``by_concept`` picks the reader by the
    SR document's root concept (code value, coding scheme), or ``reason`` says why the class is
    not read."""

    kind: str
    reader: Reader | None = None
    by_concept: Mapping[tuple[str, str], Reader] | None = None
    reason: str | None = None


XRAY_DOSE_SR = "1.2.840.10008.5.1.4.1.1.88.67"
ENHANCED_SR = "1.2.840.10008.5.1.4.1.1.88.22"
COMPREHENSIVE_SR = "1.2.840.10008.5.1.4.1.1.88.33"
COMPREHENSIVE_3D_SR = "1.2.840.10008.5.1.4.1.1.88.34"
RADIOPHARMACEUTICAL_DOSE_SR = "1.2.840.10008.5.1.4.1.1.88.68"
MG_FOR_PRESENTATION = "1.2.840.10008.5.1.4.1.1.1.2"
MG_FOR_PROCESSING = "1.2.840.10008.5.1.4.1.1.1.2.1"
CR_IMAGE = "1.2.840.10008.5.1.4.1.1.1"
DX_FOR_PRESENTATION = "1.2.840.10008.5.1.4.1.1.1.1"
DX_FOR_PROCESSING = "1.2.840.10008.5.1.4.1.1.1.1.1"
INTRAORAL_FOR_PRESENTATION = "1.2.840.10008.5.1.4.1.1.1.3"
INTRAORAL_FOR_PROCESSING = "1.2.840.10008.5.1.4.1.1.1.3.1"
SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"
NM_IMAGE = "1.2.840.10008.5.1.4.1.1.20"
PET_IMAGE = "1.2.840.10008.5.1.4.1.1.128"


def read_secondary_capture(ds, kind: str) -> DoseReport:
    """Secondary captures hold dose in two known cases; every other one is rejected."""
    ctx = image_header.new_image_context(ds)
    if philips_ct.is_dose_info(ds, ctx):
        return philips_ct.read(ds)
    modality = (image_header.text(ds, 0x00080060, ctx) or "").upper()
    image_type = (image_header.text(ds, 0x00080008, ctx) or "").upper().split("\\")
    if modality == "MG" and "ORIGINAL" in image_type:
        return mammo_image.read(ds)
    raise Rejected("Secondary Capture Image Storage: neither a Philips CT \"Dose Info\" capture nor "
                   "a mammography projection (Modality MG, ORIGINAL image); holds no dose to read")

# Enhanced and Comprehensive SRs are dose reports only by their root concept: GE CT systems send
# the X-ray dose report template in them, Siemens fluoroscopy its private radiation summary.
_DOSE_SR = {rdsr.XRAY_DOSE_REPORT: rdsr.read_report}
_ENHANCED_DOSE_SR = {rdsr.XRAY_DOSE_REPORT: rdsr.read_report,
                     rdsr.VARIC_REPORT: rdsr.read_varic}

ROUTES: dict[str, Route] = {
    XRAY_DOSE_SR: Route("rdsr", by_concept=_DOSE_SR),
    ENHANCED_SR: Route("esr", by_concept=_ENHANCED_DOSE_SR),
    COMPREHENSIVE_SR: Route("esr", by_concept=_ENHANCED_DOSE_SR),
    COMPREHENSIVE_3D_SR: Route("esr", by_concept=_ENHANCED_DOSE_SR),
    RADIOPHARMACEUTICAL_DOSE_SR: Route(rrdsr.SOURCE_KIND, by_concept={rrdsr.RADIOPHARMACEUTICAL_DOSE_REPORT: rrdsr.read_report}),
    NM_IMAGE: Route(nm_image.SOURCE_KIND, reader=nm_image.read),
    PET_IMAGE: Route(nm_image.SOURCE_KIND, reader=nm_image.read),
    MG_FOR_PRESENTATION: Route(mammo_image.SOURCE_KIND, reader=mammo_image.read),
    MG_FOR_PROCESSING: Route(mammo_image.SOURCE_KIND, reader=mammo_image.read),
    CR_IMAGE: Route(dx_image.SOURCE_KIND, reader=dx_image.read),
    DX_FOR_PRESENTATION: Route(dx_image.SOURCE_KIND, reader=dx_image.read),
    DX_FOR_PROCESSING: Route(dx_image.SOURCE_KIND, reader=dx_image.read),
    INTRAORAL_FOR_PRESENTATION: Route(dx_image.SOURCE_KIND, reader=dx_image.read),
    INTRAORAL_FOR_PROCESSING: Route(dx_image.SOURCE_KIND, reader=dx_image.read),
    # The kind is decided by content: philips_sc or mg_image (see read_secondary_capture).
    SECONDARY_CAPTURE: Route("sc", reader=read_secondary_capture),
}


def _root_concept(ds) -> tuple[str, str, str] | None:
    """(code value, coding scheme, meaning) of an SR document's root concept name."""
    if 0x0040A043 not in ds:
        return None
    items = ds[0x0040A043].value
    if not items:
        return None
    item = items[0]
    return (str(item.get("CodeValue", "") or "").strip(),
            str(item.get("CodingSchemeDesignator", "") or "").strip(),
            str(item.get("CodeMeaning", "") or "").strip())


def route(ds) -> Route:
    """The Route for a dataset, with its reader; raises Rejected (or Malformed) with the reason
    when the object is not a dose report this extractor reads."""
    try:
        return _route(ds)
    except Rejected:
        raise
    except Exception as exc:  # a damaged header: the object's fault, reported in words
        raise Malformed(f"the object could not be classified: {type(exc).__name__}: {exc}") \
            from exc


def _route(ds) -> Route:
    sop_class = str(ds.get("SOPClassUID", "") or "").strip()
    if not sop_class:
        raise Malformed("the object has no SOP Class UID: not a usable DICOM object")
    entry = ROUTES.get(sop_class)
    if entry is None:
        raise Rejected(f"{_class_name(sop_class)} objects are not dose reports this importer "
                       "reads")
    if entry.reason:
        raise Rejected(f"{_class_name(sop_class)}: {entry.reason}")
    if entry.reader is not None:
        return entry
    concept = _root_concept(ds)
    if not concept or not concept[0]:
        raise Malformed(f"{_class_name(sop_class)} without a document title (root concept name): "
                        "not a readable structured report")
    reader = entry.by_concept.get(concept[:2]) if entry.by_concept else None
    if reader is None:
        raise Rejected(f"{_class_name(sop_class)} whose root concept is {concept[2]!r} "
                       f"({concept[0]}, {concept[1]}) is not an X-ray radiation dose report")
    return Route(entry.kind, reader)


def _class_name(sop_class: str) -> str:
    name = UID(sop_class).name
    return name if name and name != sop_class else f"SOP class {sop_class}"


def extract(ds) -> DoseReport:
    """Read a dose object into a DoseReport. Raises Rejected (not a dose report we read) or
    Malformed (a dose report that cannot be read); never any other exception."""
    try:
        entry = _route(ds)
        return entry.reader(ds, entry.kind)
    except Rejected:
        raise
    except DamagedTree as exc:
        raise Malformed(str(exc)) from exc
    except Exception as exc:  # any failure of reading is the object's, reported in words
        raise Malformed(f"the dose report could not be read: {type(exc).__name__}: {exc}") \
            from exc


def decide_modality(report: DoseReport, user_defined_modality: str | None = None) -> str:
    """CT, MG, RF, DX or NM for a report.

    A CT tree is CT, a mammography image MG and a radiography image DX, and a report whose procedure
    reported mentions Mammography is MG, whatever the equipment says (a user-defined modality exists
    to sort projection systems). For projection X-ray: a user-defined DX or RF on the equipment wins;
    otherwise ("Dual" included, which is decided per study) `projection_modality` decides.
    """
    if report.tree == "ct":
        return "CT"
    if report.tree == "nm":
        return "NM"
    # Image headers say what they are by their class: a mammography image is MG, a radiography
    # image DX (a user-defined modality sorts RDSR systems, not image classes).
    if report.source_kind == "mg_image":
        return "MG"
    if report.source_kind == "dx_image":
        return "DX"
    if report.procedure_reported and "mammography" in report.procedure_reported.lower():
        return "MG"
    if user_defined_modality in ("DX", "RF"):
        return user_defined_modality
    return projection_modality(report.equipment.model_name, report.planes,
                               (e.event_type for e in report.xray_events), report.acquisition_device_type)


def projection_modality(model_name: str | None, planes, event_types, device_type: str | None = None) -> str:
    """RF or DX for a projection X-ray report, from what it says (pure; also re-sorts stored studies,
    which keep no device type). `planes` are records, rows or dicts with the accumulated fluoroscopy
    totals; `event_types` the events' Irradiation Event Types.

    RF when the device type is fluoroscopy-guided or the model a Philips Azurion (which declares
    otherwise), or when the report shows fluoroscopy: an event of type Fluoroscopy, or fluoroscopy
    dose, DAP or time above zero in a plane. Otherwise DX. A radiography device type ("Integrated",
    "Cassette-based") does not overrule fluoroscopy in the report: fluoroscopy systems are known to
    declare "Integrated Projection Radiography System", and no radiography system fluoroscopes.
    """
    if "fluoroscopy-guided" in (device_type or "").lower() or "azurion" in (model_name or "").lower():
        return "RF"
    if any((t or "").strip().lower() == "fluoroscopy" for t in event_types):
        return "RF"
    for plane in planes:
        get = plane.get if isinstance(plane, dict) else (lambda k, _p=plane: getattr(_p, k, None))
        if get("fluoro_dap_total_gym2") or get("fluoro_dose_rp_total_gy") or get("total_fluoro_time_s"):
            return "RF"
    return "DX"
