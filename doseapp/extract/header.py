"""Study, patient and equipment facts from the DICOM header of a dose object.

Values are read from the raw element bytes and decoded with the report's TextDecoder, so header
text follows the same character-set rule as the SR content. Multi-valued text keeps DICOM's
backslash separator (e.g. two referring physicians ``Müller\\Smith``).
"""
from __future__ import annotations

import datetime as dt
import re

from pydicom.dataelem import RawDataElement

from doseapp.extract import units
from doseapp.extract.records import EquipmentRecord, StudyRecord
from doseapp.extract.sr import Ctx, TextDecoder, parse_date, parse_time

_PN = "pn"
_TEXT = "text"
_ASCII = "ascii"

# keyword -> (tag, how to read it)
_FIELDS = {
    "SpecificCharacterSet": (0x00080005, _ASCII),
    "SOPClassUID": (0x00080016, _ASCII),
    "SOPInstanceUID": (0x00080018, _ASCII),
    "StudyDate": (0x00080020, _ASCII),
    "SeriesDate": (0x00080021, _ASCII),
    "ContentDate": (0x00080023, _ASCII),
    "StudyTime": (0x00080030, _ASCII),
    "AccessionNumber": (0x00080050, _TEXT),
    "Manufacturer": (0x00080070, _TEXT),
    "InstitutionName": (0x00080080, _TEXT),
    "InstitutionAddress": (0x00080081, _TEXT),
    "ReferringPhysicianName": (0x00080090, _PN),
    "StationName": (0x00081010, _TEXT),
    "StudyDescription": (0x00081030, _TEXT),
    "InstitutionalDepartmentName": (0x00081040, _TEXT),
    "PerformingPhysicianName": (0x00081050, _PN),
    "NameOfPhysiciansReadingStudy": (0x00081060, _PN),
    "OperatorsName": (0x00081070, _PN),
    "ManufacturerModelName": (0x00081090, _TEXT),
    "PatientName": (0x00100010, _PN),
    "PatientID": (0x00100020, _TEXT),
    "PatientBirthDate": (0x00100030, _ASCII),
    "PatientSex": (0x00100040, _ASCII),
    "PatientAge": (0x00101010, _ASCII),
    "PatientSize": (0x00101020, _ASCII),
    "PatientWeight": (0x00101030, _ASCII),
    "DeviceSerialNumber": (0x00181000, _TEXT),
    "GantryID": (0x00181008, _TEXT),
    "SoftwareVersions": (0x00181020, _TEXT),
    "StudyInstanceUID": (0x0020000D, _ASCII),
    "StudyID": (0x00200010, _TEXT),
    "RequestedProcedureDescription": (0x00321060, _TEXT),
    "StudyComments": (0x00324000, _TEXT),
}
_PROCEDURE_CODES = 0x00081032
_REQUESTED_PROCEDURE_CODES = 0x00321064


def header_value(ds, keyword: str, decode: TextDecoder) -> str | None:
    """One header attribute as text (decoded, stripped), or None when absent or empty."""
    tag, how = _FIELDS[keyword]
    elem = ds.get_item(tag)
    if elem is None:
        return None
    value = elem.value
    if value is None:
        return None
    if isinstance(elem, RawDataElement) or isinstance(value, bytes):
        if how == _ASCII:
            text = value.decode("ascii", "replace") if isinstance(value, bytes) else str(value)
            return text.strip(" \x00") or None
        return decode(value, person_name=how == _PN)
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        text = "\\".join(str(v) for v in value)
    else:
        text = str(value)
    return text.strip(" \x00") or None


def _first_code(ds, tag: int, decode: TextDecoder) -> tuple[str | None, str | None]:
    """Code value and meaning of the first item of a code sequence in the header."""
    if tag not in ds:
        return None, None
    items = ds[tag].value
    if not items:
        return None, None
    item = items[0]
    value = item.get_item(0x00080100)
    meaning = item.get_item(0x00080104)
    code = value.value if value is not None else None
    if isinstance(code, bytes):
        code = code.decode("ascii", "replace")
    text = meaning.value if meaning is not None else None
    return ((code or "").strip(" \x00") or None,
            decode(text if isinstance(text, (bytes, type(None))) else str(text)))


def equipment_record(ds, decode: TextDecoder, device_observer_uid: str | None) -> EquipmentRecord:
    """The equipment identity fields (the device observer UID comes from the SR content)."""
    def get(keyword):
        return header_value(ds, keyword, decode)

    return EquipmentRecord(
        manufacturer=get("Manufacturer"),
        institution_name=get("InstitutionName"),
        station_name=get("StationName"),
        department_name=get("InstitutionalDepartmentName"),
        model_name=get("ManufacturerModelName"),
        device_serial_number=get("DeviceSerialNumber"),
        software_versions=get("SoftwareVersions"),
        gantry_id=get("GantryID"),
        device_observer_uid=device_observer_uid,
        institution_address=get("InstitutionAddress"),
    )


def study_record(ds, ctx: Ctx) -> StudyRecord:
    """Study and patient facts from the header; patient identifiers raw, as read."""
    decode = ctx.decode

    def get(keyword):
        return header_value(ds, keyword, decode)

    study = StudyRecord(
        study_instance_uid=get("StudyInstanceUID"),
        study_id=get("StudyID"),
        accession_number=get("AccessionNumber"),
        study_description=get("StudyDescription"),
        referring_physician_name=get("ReferringPhysicianName"),
        performing_physician_name=get("PerformingPhysicianName"),
        reading_physician_name=get("NameOfPhysiciansReadingStudy"),
        operator_name=get("OperatorsName"),
        comment=get("StudyComments"),
        patient_name=get("PatientName"),
        patient_id=get("PatientID"),
        patient_sex=get("PatientSex"),
        patient_age=get("PatientAge"),
    )
    study.procedure_code_value, study.procedure_code_meaning = _first_code(
        ds, _PROCEDURE_CODES, decode)
    study.requested_procedure_code_value, study.requested_procedure_code_meaning = _first_code(
        ds, _REQUESTED_PROCEDURE_CODES, decode)
    if study.requested_procedure_code_meaning is None:
        study.requested_procedure_code_meaning = get("RequestedProcedureDescription")

    date_text = get("StudyDate")
    study.study_date = parse_date(date_text)
    if date_text and study.study_date is None:
        ctx.warn(f"Study Date {date_text!r} is not a valid date")
    time_text = get("StudyTime")
    study.study_time = parse_time(time_text)
    if time_text and study.study_time is None:
        ctx.warn(f"Study Time {time_text!r} is not a valid time")
    set_study_datetime(study)

    birth_text = get("PatientBirthDate")
    study.patient_birth_date = parse_date(birth_text)
    if birth_text and study.patient_birth_date is None:
        ctx.warn(f"Patient's Birth Date {birth_text!r} is not a valid date")
    study.patient_height_m = _size(get("PatientSize"), "Patient's Size", ctx, height=True)
    study.patient_weight_kg = _size(get("PatientWeight"), "Patient's Weight", ctx, height=False)
    study.patient_age_years = decimal_age(study, ctx)
    return study


def set_study_datetime(study: StudyRecord) -> None:
    """study_datetime from study_date and study_time (midnight when the time is unknown)."""
    if study.study_date is None:
        study.study_datetime = None
        return
    study.study_datetime = dt.datetime.combine(study.study_date, study.study_time or dt.time())


def _size(text: str | None, label: str, ctx: Ctx, height: bool) -> float | None:
    """Height in m or weight in kg. Zero means "not known". A height between 3 and 300 can only be
    centimetres (nobody is 3 m tall), so it is converted, with a warning."""
    if text is None:
        return None
    try:
        values = units.parse_number(text)
    except ValueError:
        ctx.warn(f"{label} {text!r} is not a number; not stored")
        return None
    if not values:
        return None
    value, problem = units.combine(values)
    if problem:
        ctx.warn(f"{label}: {problem}; not stored")
        return None
    if value is None or value <= 0:
        return None
    if height and 3 < value < 300:
        ctx.warn(f"{label} {text!r} read as centimetres: stored {value / 100:g} m")
        return value / 100
    return value


_AGE = re.compile(r"^\s*(\d+(?:[.,]\d+)?)\s*([DWMYdwmy]?)\s*$")
_AGE_UNIT_YEARS = {"D": 1 / 365.25, "W": 7 / 365.25, "M": 1 / 12, "Y": 1.0, "": 1.0}


def age_from_string(text: str | None) -> float | None:
    """Years from a DICOM Age String (``067Y``, ``010M``, ``003W``, ``012D``); None if not one."""
    if not text:
        return None
    match = _AGE.match(text)
    if not match:
        return None
    number = float(match.group(1).replace(",", "."))
    return number * _AGE_UNIT_YEARS[match.group(2).upper()]


def decimal_age(study: StudyRecord, ctx: Ctx) -> float | None:
    """Decimal age in years, to one decimal place.

    Birth date and study date give the exact age, so they are used when both are known and give an
    age between 0 and 150; otherwise Patient's Age is used. (Patient's Age is whole years for
    adults: ``067Y`` for a patient aged 67.6.)
    """
    if study.patient_birth_date and study.study_date:
        years = (study.study_date - study.patient_birth_date).days / 365.25
        if 0 <= years <= 150:
            return round(years, 1)
        ctx.warn(f"birth date {study.patient_birth_date.isoformat()} gives an age of "
                 f"{years:.1f} years at the study date; Patient's Age used instead")
    years = age_from_string(study.patient_age)
    if study.patient_age and years is None:
        ctx.warn(f"Patient's Age {study.patient_age!r} is not a valid age string")
    return round(years, 1) if years is not None else None
