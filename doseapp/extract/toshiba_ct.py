"""Older Toshiba / Canon CT studies (dose summary screen + CT images) -> a CT DoseReport.

These scanners send no RDSR. Their dose summary is a secondary capture (a picture of the console's
dose screen); as the seed describes (and OpenREM did) PixelMed's dose OCR (`com.pixelmed.doseocr.OCR`)
reads the numbers off the screen and writes an RDSR, taking what it can from the CT images of the
same study. We read that RDSR with our own RDSR extractor, then fill what the screen does not say
per series from the image headers (kVp, tube current, exposure time, rotation time, pitch,
collimation), and mark the report as made from a dose screen.

PURE apart from the PixelMed subprocess: no database, no Flask. The caller gives the folder that
holds the study's objects (screen + one image per series).
"""
from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pydicom

from doseapp.extract import image_header as ih
from doseapp.extract.records import CtSourceRecord, DoseReport, Malformed

SOURCE_KIND = "toshiba"
SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"
CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"
ENHANCED_CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2.1"
OCR_CLASS = "com.pixelmed.doseocr.OCR"
_MAKERS = ("toshiba", "canon")


@dataclass(frozen=True)
class PixelMed:
    """How to run PixelMed: the java command, the jar and the time limit in seconds."""

    java: str
    jar: str
    timeout: float


def _maker(ds) -> bool:
    manufacturer = str(ds.get("Manufacturer", "") or "").lower()
    return any(m in manufacturer for m in _MAKERS)


def is_dose_screen(ds) -> bool:
    """A Toshiba/Canon CT dose summary screen: a secondary capture, DERIVED\\SECONDARY, from CT."""
    if str(ds.get("SOPClassUID", "")) != SECONDARY_CAPTURE or not _maker(ds):
        return False
    image_type = [str(v).upper() for v in (ds.get("ImageType") or [])]
    modality = str(ds.get("Modality", "") or "").upper()
    return image_type[:2] == ["DERIVED", "SECONDARY"] and modality in ("CT", "OT", "")


def is_ct_image(ds) -> bool:
    """A CT image from a Toshiba/Canon scanner (its header enriches the dose screen's events)."""
    return str(ds.get("SOPClassUID", "")) in (CT_IMAGE, ENHANCED_CT_IMAGE) and _maker(ds)


def run_ocr(screen: Path, images: Path, tool: PixelMed) -> Path:
    """Run PixelMed's dose OCR on the `screen` file, with the CT images in folder `images`, and return
    the RDSR it wrote. Raises Malformed with PixelMed's own message when it writes none."""
    out = Path(tempfile.mkdtemp(prefix="toshiba-ocr-")) / "rdsr.dcm"
    # -Xss16m: the OCR's connected-component walk recurses once per pixel of a word.
    cmd = [tool.java, "-Xss16m", "-Djava.awt.headless=true", "-cp", tool.jar, OCR_CLASS,
           str(screen), str(images), str(out)]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=tool.timeout)
    except subprocess.TimeoutExpired:
        shutil.rmtree(out.parent, ignore_errors=True)
        raise Malformed(f"PixelMed dose OCR did not finish within {tool.timeout:g} s") from None
    except OSError as exc:
        shutil.rmtree(out.parent, ignore_errors=True)
        raise Malformed(f"PixelMed dose OCR could not be started ({tool.java}): {exc.strerror or exc}") from None
    if done.returncode != 0 or not out.exists() or out.stat().st_size == 0:
        shutil.rmtree(out.parent, ignore_errors=True)
        raise Malformed(f"PixelMed dose OCR made no dose report: {pixelmed_message(done.stderr + done.stdout)}")
    return out


_STAMP = re.compile(r"^[A-Z][a-z]{2} \d{1,2}, \d{4} .*(AM|PM) com\.pixelmed")


def pixelmed_message(output: str) -> str:
    """What PixelMed said went wrong: its SEVERE (error) log records, in one short line; if it logged
    none, that it read no dose values from the screen."""
    records, current = [], None
    for line in output.splitlines():
        if _STAMP.match(line):
            current = None
            continue
        if line.startswith("SEVERE:"):
            current = [line[len("SEVERE:"):].strip()]
            records.append(current)
        elif current is not None and line.strip() and not line.lstrip().startswith("at "):
            current.append(line.strip())
    text = "; ".join(" ".join(p for p in r if p) for r in records if any(r))
    return (text or "it recognised no dose values on the screen")[:500]


def scrub(message: str, ds_list) -> str:
    """`message` without the patient's name, ID or birth date (PixelMed may echo them)."""
    for ds in ds_list:
        for keyword in ("PatientName", "PatientID", "PatientBirthDate", "OtherPatientIDs"):
            value = str(ds.get(keyword, "") or "").strip()
            for part in {value, value.replace("^", " ").strip()}:
                if len(part) >= 3:
                    message = message.replace(part, "[removed]")
    return message


def read_study(folder: Path, tool: PixelMed) -> DoseReport:
    """The CT DoseReport of one held study: PixelMed's RDSR of the screen, enriched from the images
    in `folder`. Raises Malformed (the reason, with no patient data) when the screen cannot be read."""
    from doseapp.extract.classify import extract

    files = sorted(folder.glob("*.dcm"))
    headers = [pydicom.dcmread(p, stop_before_pixels=True) for p in files]
    screens = [p for p, ds in zip(files, headers) if is_dose_screen(ds)]
    if not screens:
        raise Malformed("no Toshiba dose screen among the study's objects")
    try:
        rdsr_path = run_ocr(screens[0], folder, tool)
    except Malformed as exc:
        raise Malformed(scrub(exc.reason, headers)) from None
    try:
        report = extract(pydicom.dcmread(rdsr_path))
    finally:
        shutil.rmtree(rdsr_path.parent, ignore_errors=True)
    if report.tree != "ct" or not report.ct_events:
        raise Malformed("PixelMed read the dose screen but found no CT exposures on it")
    report.source_kind = SOURCE_KIND
    enrich(report, [ds for ds in headers if is_ct_image(ds)])
    return report


def _series_key(text: str | None) -> str:
    return " ".join((text or "").lower().split())


def enrich(report: DoseReport, images) -> None:
    """Fill each event's missing exposure values from the header of an image of its series.

    An event is matched to a series by its series description or protocol name; events left over
    are matched in order to the series left over (by series number), as OpenREM did."""
    by_series: dict[str, object] = {}
    for ds in sorted(images, key=lambda d: (int(d.get("SeriesNumber") or 0), int(d.get("InstanceNumber") or 0))):
        by_series.setdefault(str(ds.get("SeriesInstanceUID", "")), ds)
    series = list(by_series.values())
    unused = list(series)
    matched: dict[int, object] = {}
    for n, event in enumerate(report.ct_events):
        names = {_series_key(event.series_description), _series_key(event.acquisition_protocol)} - {""}
        for ds in unused:
            if {_series_key(str(ds.get("SeriesDescription", ""))), _series_key(str(ds.get("ProtocolName", "")))} & names:
                matched[n] = ds
                unused.remove(ds)
                break
    scans = [n for n, e in enumerate(report.ct_events)
             if n not in matched and (e.acquisition_type or "") != "Constant Angle Acquisition"]
    for n, ds in zip(scans, [d for d in unused if "LOCALIZER" not in [str(v).upper() for v in (d.get("ImageType") or [])]]):
        matched[n] = ds
    for n, ds in matched.items():
        _fill(report.ct_events[n], ds)


def _fill(event, ds) -> None:
    ctx = ih.new_image_context(ds)
    num = lambda tag, label, factor=1.0: ih.number(ds, tag, ctx, label, factor)  # noqa: E731
    if not event.sources:
        event.sources.append(CtSourceRecord(identification="A"))
    source = event.sources[0]
    source.kvp = source.kvp or ih.positive(num(0x00180060, "KVP"))
    source.tube_current_ma = source.tube_current_ma or num(0x00181151, "X-Ray Tube Current")
    # Revolution time (0018,9305) is in s; Toshiba also sends it as Exposure Time per rotation.
    source.exposure_time_per_rotation_s = source.exposure_time_per_rotation_s or num(0x00189305, "Revolution Time")
    event.exposure_time_s = event.exposure_time_s or num(0x00181150, "Exposure Time", 1e-3)
    event.pitch_factor = event.pitch_factor or num(0x00189311, "Spiral Pitch Factor")
    event.nominal_single_collimation_mm = event.nominal_single_collimation_mm or num(0x00189306, "Single Collimation Width")
    event.nominal_total_collimation_mm = event.nominal_total_collimation_mm or num(0x00189307, "Total Collimation Width")
    event.series_description = event.series_description or ih.text(ds, 0x0008103E, ctx)
    # PixelMed does not carry the screen's protocol line into the RDSR: the series' protocol name is it.
    event.acquisition_protocol = event.acquisition_protocol or ih.text(ds, 0x00181030, ctx) or event.series_description
    event.number_of_xray_sources = event.number_of_xray_sources or 1
