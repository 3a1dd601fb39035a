"""NM and PET image headers -> a DoseReport of tree "nm": the image's series (NmSeriesRecord) and the
administration its Radiopharmaceutical Information Sequence (0054,0016) states.

Radionuclide Total Dose (0018,1074) is in MBq in NM images and in Bq in PET images (DICOM PS3.3
C.8.4.10 and C.8.9.1): both are stored in MBq. The administration read from an image has
``from_report`` False: ingest keeps it only while no radiopharmaceutical dose report of the study
has arrived (the report's is the recorded one).
"""
from __future__ import annotations

import datetime as dt

from doseapp.extract import image_header as ih
from doseapp.extract.records import DoseReport, NmAdministrationRecord, NmSeriesRecord
from doseapp.extract.sr import parse_date, parse_datetime, parse_time

SOURCE_KIND = "nm_image"
_RADIOPHARMACEUTICAL_INFORMATION = 0x00540016


def read(ds, source_kind: str = SOURCE_KIND) -> DoseReport:
    """The DoseReport of one NM or PET image header."""
    ctx = ih.new_image_context(ds)
    report = ih.new_image_report(ds, ctx, SOURCE_KIND, "nm")
    modality = (ih.text(ds, 0x00080060, ctx) or "").upper() or None
    series = NmSeriesRecord(
        series_instance_uid=ih.text(ds, 0x0020000E, ctx),
        modality=modality,
        series_datetime=_date_time(ds, ctx, 0x00080021, 0x00080031),
        series_description=ih.text(ds, 0x0008103E, ctx),
        protocol_name=ih.text(ds, 0x00181030, ctx),
        image_type=ih.text(ds, 0x00080008, ctx),
        series_type=ih.text(ds, 0x00541000, ctx),
        units=ih.text(ds, 0x00541001, ctx),
        decay_correction=ih.text(ds, 0x00541102, ctx),
        corrected_image=ih.text(ds, 0x00280051, ctx),
        acquisition_datetime=ih.acquisition_datetime(ds, ctx),
    )
    slices = ih.number(ds, 0x00540081, ctx, "Number of Slices")
    series.number_of_slices = int(slices) if slices is not None else None
    report.nm_series.append(series)
    try:
        items = ds[_RADIOPHARMACEUTICAL_INFORMATION].value if _RADIOPHARMACEUTICAL_INFORMATION in ds else []
    except Exception:  # a damaged sequence: the series is still worth keeping
        ctx.warn("Radiopharmaceutical Information Sequence could not be read; not stored")
        items = []
    day = (series.series_datetime or series.acquisition_datetime
           or (dt.datetime.combine(report.study.study_date, dt.time()) if report.study.study_date else None))
    for item in items or []:
        admin = _administration(item, ctx, modality, day)
        if admin is not None:
            report.nm_administrations.append(admin)
    return ih.finish(report, ctx)


def _administration(item, ctx, modality: str | None, day: dt.datetime | None) -> NmAdministrationRecord | None:
    factor = 1e-6 if modality == "PT" else 1.0  # PET states Bq, NM MBq
    rec = NmAdministrationRecord(
        from_report=False,
        event_uid=ih.text(item, 0x00083012, ctx),
        radiopharmaceutical=ih.code_meaning(item, 0x00540304, ctx) or ih.text(item, 0x00180031, ctx),
        radionuclide=ih.code_meaning(item, 0x00540300, ctx),
        radionuclide_half_life_s=ih.number(item, 0x00181075, ctx, "Radionuclide Half Life"),
        volume_ml=ih.number(item, 0x00181071, ctx, "Radiopharmaceutical Volume"),
        administered_activity_mbq=ih.positive(ih.number(item, 0x00181074, ctx, "Radionuclide Total Dose", factor)),
    )
    rec.route = ih.code_meaning(item, 0x00540302, ctx) or ih.text(item, 0x00181070, ctx)
    rec.start_datetime = parse_datetime(ih.text(item, 0x00181078, ctx)) or _on_day(day, ih.text(item, 0x00181072, ctx))
    rec.stop_datetime = parse_datetime(ih.text(item, 0x00181079, ctx)) or _on_day(day, ih.text(item, 0x00181073, ctx))
    if not any((rec.radiopharmaceutical, rec.radionuclide, rec.administered_activity_mbq)):
        return None
    return rec


def _on_day(day: dt.datetime | None, time_text: str | None) -> dt.datetime | None:
    time = parse_time(time_text)
    if day is None or time is None:
        return None
    return dt.datetime.combine(day.date(), time)


def _date_time(ds, ctx, date_tag: int, time_tag: int) -> dt.datetime | None:
    date = parse_date(ih.text(ds, date_tag, ctx))
    if date is None:
        return None
    return dt.datetime.combine(date, parse_time(ih.text(ds, time_tag, ctx)) or dt.time())
