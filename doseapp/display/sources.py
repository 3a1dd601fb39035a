"""What a study's dose data came from, in words: the study page and the exports say it alike."""
from __future__ import annotations

DOSE_SOURCES = {
    "rdsr": "RDSR",
    "esr": "Enhanced SR",
    "philips_sc": "Philips Dose Info capture",
    "toshiba": "dose screen (OCR) and image headers",
    "mg_image": "image headers",
    "dx_image": "image headers",
}


def dose_source(kind: str | None) -> str:
    """The words for a Study.source_kind ('' when unknown)."""
    return DOSE_SOURCES.get(kind or "", kind or "")


def register(app) -> None:
    app.add_template_filter(dose_source, "dose_source")
