"""Synthetic Toshiba CT dose screens, drawn from PixelMed's own OCR glyph set.

There is no real Toshiba dose screen among the test objects, so the tests draw one: each character
is a glyph bitmap taken from `OCR_Glyphs_DoseScreen.xml` in the PixelMed jar (the set its OCR
recognises), laid out in lines and words as the console screens are. The values drawn are known, so
the RDSR PixelMed makes from the picture can be checked against them. SYNTHETIC test material.
"""
from __future__ import annotations

import html
import re
import zipfile
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

GLYPHS_IN_JAR = "com/pixelmed/doseocr/OCR_Glyphs_DoseScreen.xml"
CHAR_GAP = 2      # columns between characters of a word: apart at PixelMed's 1-pixel re-scan
WORD_GAP = 24     # columns between words: apart at its Toshiba gap tolerance (13)
LINE_PITCH = 32   # rows from line to line: apart at its vertical tolerance (6)


def _connected(bits: set[tuple[int, int]]) -> bool:
    todo, seen = [next(iter(bits))], set()
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        todo += [(p[0] + dx, p[1] + dy) for dx in (-1, 0, 1) for dy in (-1, 0, 1) if (p[0] + dx, p[1] + dy) in bits]
    return seen == bits


@lru_cache(maxsize=2)
def glyphs(jar: str) -> dict[str, np.ndarray]:
    """One bitmap per character: a single, connected glyph that the set maps to that character
    (a bitmap listed twice keeps its last string, as PixelMed's map does)."""
    xml = zipfile.ZipFile(jar).read(GLYPHS_IN_JAR).decode("utf-8", "replace")
    final: dict[tuple, str] = {}
    shapes = []
    for m in re.finditer(r"<glyph>\s*<bits>(.*?)</bits>\s*<width>(\d+)</width>\s*<string>(.*?)</string>", xml, re.S):
        width = int(m.group(2))
        on = [int(b) for b in re.findall(r"<bit>(\d+)</bit>", m.group(1))]
        key = (width, tuple(on))
        final[key] = html.unescape(m.group(3))
        shapes.append(key)
    chosen: dict[str, np.ndarray] = {}
    for width, on in shapes:
        char = final[(width, on)]
        if len(char) != 1 or char in chosen or not on:
            continue
        bits = {(b % width, b // width) for b in on}
        if not _connected(bits):
            continue
        img = np.zeros((max(y for _, y in bits) + 1, width), np.uint8)
        for x, y in bits:
            img[y, x] = 255
        chosen[char] = img
    return chosen


def draw(lines: list[list[str]], jar: str, width: int = 900, height: int = 700) -> np.ndarray:
    """An 8-bit screen with `lines` of words drawn white on black, every glyph's top on its line."""
    table = glyphs(jar)
    screen = np.zeros((height, width), np.uint8)
    y = 20
    for words in lines:
        x = 20
        for word in words:
            for char in word:
                g = table[char]
                h, w = g.shape
                screen[y:y + h, x:x + w] |= g
                x += w + CHAR_GAP
            x += WORD_GAP - CHAR_GAP
        y += LINE_PITCH
    return screen


# --- a whole synthetic study: the dose screen and one CT image per series -------------------------

SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"
CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"


@dataclass
class Series:
    """One scan as the screen shows it and its images' headers say it."""
    protocol: str
    phantom: str          # HEAD or BODY
    ctdivol: str          # as drawn, mGy
    dlp: str              # as drawn, mGy·cm
    sd: str
    kvp: int
    ma: int
    exposure_ms: int
    rotation_s: float
    pitch: float
    single_collimation: float
    total_collimation: float


@dataclass
class Study:
    series: list[Series]
    total_dlp: str
    patient_name: str = "Synthetic^Toshiba"
    patient_id: str = "TOSHSYN01"
    study_uid: str = field(default_factory=generate_uid)
    accession: str = "TSYN0001"

    def screen_lines(self) -> list[list[str]]:
        lines = [["<<DOSE", "INFORMATION>>"], ["TOTAL", "DLP", "MGYCM", "..", self.total_dlp],
                 ["<<DETAIL", "INFORMATION>>"]]
        for n, s in enumerate(self.series, start=1):
            lines += [[f"{n}.", s.protocol.upper()], ["CTDIVOL", "DLP", "SD"],
                      [f"{s.ctdivol}({s.phantom})", f"{s.dlp}({s.phantom})"], ["HELICAL", s.sd]]
        return lines


def example_study() -> Study:
    """Two helical scans, head and chest, with values known to the tests."""
    return Study(series=[
        Series("HEAD", "HEAD", "45.6", "456.7", "10.0", 120, 250, 1500, 0.75, 0.641, 0.5, 40.0),
        Series("CHEST", "BODY", "8.2", "310.4", "12.5", 100, 180, 6000, 0.5, 1.375, 0.5, 32.0),
    ], total_dlp="767.1")


def _common(study: Study, sop_class: str, series_uid: str) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.StudyInstanceUID = study.study_uid
    ds.SeriesInstanceUID = series_uid
    ds.PatientName, ds.PatientID = study.patient_name, study.patient_id
    ds.PatientBirthDate, ds.PatientSex = "19700101", "F"
    ds.StudyDate, ds.StudyTime, ds.AccessionNumber = "20240102", "101500", study.accession
    ds.StudyDescription = "CT HEAD AND CHEST"
    ds.StudyID = "1"
    ds.Manufacturer, ds.ManufacturerModelName = "TOSHIBA", "Aquilion"
    ds.StationName, ds.InstitutionName = "TOSHCT1", "Synthetic Hospital"
    ds.DeviceSerialNumber = "SYN123"
    ds.Modality = "CT"
    return ds


def screen_dataset(study: Study, jar: str, pixels: np.ndarray | None = None) -> Dataset:
    """The dose summary screen as a Toshiba console sends it: a secondary capture, DERIVED\\SECONDARY,
    window 1/0, signed pixels with the text above zero."""
    px = draw(study.screen_lines(), jar) if pixels is None else pixels
    ds = _common(study, SECONDARY_CAPTURE, generate_uid())
    ds.ImageType = ["DERIVED", "SECONDARY"]
    ds.SeriesNumber, ds.InstanceNumber, ds.SeriesDescription = 9000, 1, "Dose Summary"
    ds.WindowCenter, ds.WindowWidth = "0", "1"
    ds.Rows, ds.Columns = px.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
    ds.PixelData = np.where(px > 0, 1023, -1024).astype("<i2").tobytes()
    return ds


def image_datasets(study: Study) -> list[Dataset]:
    """The first CT image of each series, with the exposure values in its header."""
    out = []
    for n, s in enumerate(study.series, start=1):
        ds = _common(study, CT_IMAGE, generate_uid())
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.SeriesNumber, ds.InstanceNumber = n + 1, 1
        ds.SeriesDescription = ds.ProtocolName = s.protocol.title()
        ds.AcquisitionDate, ds.AcquisitionTime = "20240102", f"10{20 + n:02d}00"
        ds.KVP, ds.XRayTubeCurrent, ds.ExposureTime = s.kvp, s.ma, s.exposure_ms
        ds.RevolutionTime, ds.SpiralPitchFactor = s.rotation_s, s.pitch
        ds.SingleCollimationWidth, ds.TotalCollimationWidth = s.single_collimation, s.total_collimation
        ds.SliceThickness, ds.ImagePositionPatient = 5.0, [0, 0, -100 * n]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.Rows = ds.Columns = 16
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.RescaleIntercept, ds.RescaleSlope = -1024, 1
        ds.PixelData = np.zeros((16, 16), "<i2").tobytes()
        out.append(ds)
    return out


def write_study(study: Study, folder: Path, jar: str, pixels: np.ndarray | None = None) -> list[Path]:
    """The screen and the images as files in `folder` (screen first)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for n, ds in enumerate([screen_dataset(study, jar, pixels), *image_datasets(study)]):
        path = folder / f"{'screen' if n == 0 else f'image{n}'}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths
