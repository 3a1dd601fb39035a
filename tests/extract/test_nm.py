"""Radiopharmaceutical dose reports and NM/PET image headers, read by the pure extractors: the values
the testdata README states (NM-RRDSR-Siemens.dcm: ^18^Fluorine, 6586.2 s, 394.0 MBq, 7.486 mSv), the
Extended report's further items, and the image headers' series and administrations."""
from __future__ import annotations

import datetime as dt

import pytest
from pydicom.dataset import Dataset
from tests.extract.extract_helpers import TESTDATA, fresh, read

from doseapp.extract import Malformed, decide_modality, extract
from doseapp.extract.units import unit_factor

REL = 1e-9
NM_FILES = sorted(p.name for p in TESTDATA.glob("NM-*.dcm") if not p.name.startswith("NM-CT"))


def test_rrdsr_siemens_values_of_the_testdata_readme():
    report = extract(read("NM-RRDSR-Siemens.dcm"))
    assert (report.source_kind, report.tree, decide_modality(report, "RF")) == ("rrdsr", "nm", "NM")
    [a] = report.nm_administrations
    assert a.radionuclide == "^18^Fluorine"
    assert a.radionuclide_half_life_s == pytest.approx(6586.2, rel=REL)
    assert a.administered_activity_mbq == pytest.approx(394.0, rel=REL)
    assert a.effective_dose_msv == pytest.approx(7.486, rel=REL)
    assert a.effective_dose_authority == "ICRP Publication 128"
    assert a.radiopharmaceutical == "Fluorodeoxyglucose F^18^"
    assert a.from_report is True
    assert a.event_uid == "1.3.12.2.1107.5.1.4.11090.20220224104830.0"
    assert (a.start_datetime, a.stop_datetime) == (dt.datetime(2022, 2, 24, 10, 40, 30),) * 2
    assert (a.route, a.site) == ("Intravenous route", "Via vein")
    assert (a.person_name, a.person_role) == ("Unknown", "Irradiation Administering")
    assert a.associated_procedure == "PET study for localization of tumor"
    assert len(a.organ_doses) == 22
    assert a.organ_doses[0] == {"organ": "Adrenal gland", "laterality": "Right and left", "dose_mgy": 4.73,
                                "reference_authority": "ICRP Publication 128"}
    bladder = next(o for o in a.organ_doses if o["organ"] == "Bladder")
    assert bladder["dose_mgy"] == pytest.approx(51.22, rel=REL)
    assert (report.study.patient_weight_kg, report.study.patient_height_m) == (110, 1.78)
    assert report.study.study_instance_uid.endswith("4400.13.8620675")


def test_rrdsr_extended_further_items():
    report = extract(read("NM-RRDSR-Siemens-Extended.dcm"))
    [a] = report.nm_administrations
    assert a.administered_activity_mbq == pytest.approx(250.0, rel=REL)
    assert a.effective_dose_msv == pytest.approx(4.75, rel=REL)
    assert a.specific_activity_bq_per_mmol == pytest.approx(10.1, rel=REL)
    assert a.volume_ml == pytest.approx(100.0, rel=REL)  # sent in cm3
    assert a.pre_administration_activity_mbq == pytest.approx(11.0, rel=REL)
    assert a.pre_administration_device == "Dose Calibrator, Unknown"  # device, then the observer's name
    assert a.post_administration_activity_mbq == pytest.approx(12.0, rel=REL)
    assert a.post_administration_device == "Dose Calibrator"
    assert a.extravasation_symptoms == "Injection site abscess, Injection site anesthesia"
    assert a.estimated_extravasation_percent == pytest.approx(10.0)
    assert (a.brand_name, a.comment) == ("Some Brand", "any comment")
    assert a.patient_state == "Acute unilateral renal blockage"
    assert (a.body_surface_area_m2, a.bmi_kg_m2, a.glucose_mmol_l) == (1.5, 23.0, 0.87)
    assert (a.fasting_duration_h, a.hydration_volume_ml) == (pytest.approx(4.0), 310.0)
    assert len(a.organ_doses) == 23 and {"Ovary", "Uterus"} <= {o["organ"] for o in a.organ_doses}
    assert (report.study.patient_weight_kg, report.study.patient_height_m) == (68, 1.68)


def _with_activity_unit(unit: str, value: str):
    ds = fresh("NM-RRDSR-Siemens.dcm")
    admin = next(i for i in ds.ContentSequence if i.ConceptNameCodeSequence[0].CodeValue == "113502")
    item = next(i for i in admin.ContentSequence if i.ConceptNameCodeSequence[0].CodeValue == "113507")
    mv = item.MeasuredValueSequence[0]
    mv.NumericValue = value
    mv.MeasurementUnitsCodeSequence[0].CodeValue = unit
    return ds


@pytest.mark.parametrize("unit,value,mbq", [("Bq", "394000000", 394.0), ("GBq", "0.394", 394.0),
                                            ("kBq", "394000", 394.0), ("mCi", "10", 370.0)])
def test_administered_activity_is_normalised_to_mbq(unit, value, mbq):
    [a] = extract(_with_activity_unit(unit, value)).nm_administrations
    assert a.administered_activity_mbq == pytest.approx(mbq, rel=REL)


def test_activity_in_an_unknown_unit_is_not_guessed():
    report = extract(_with_activity_unit("furlong", "394"))
    assert report.nm_administrations[0].administered_activity_mbq is None
    assert any("furlong" in w for w in report.warnings)


def test_rrdsr_without_administration_is_malformed():
    ds = fresh("NM-RRDSR-Siemens.dcm")
    ds.ContentSequence = [i for i in ds.ContentSequence if i.ConceptNameCodeSequence[0].CodeValue != "113502"]
    with pytest.raises(Malformed, match="no radiopharmaceutical administration"):
        extract(ds)


def test_pet_image_header_siemens():
    report = extract(read("NM-PetIm-Siemens.dcm"))
    assert (report.source_kind, report.tree, decide_modality(report)) == ("nm_image", "nm", "NM")
    [s] = report.nm_series
    assert (s.modality, s.series_description, s.units, s.decay_correction) == ("PT", "PET AC", "BQML", "START")
    assert s.series_type == "WHOLE BODY\\IMAGE"
    assert s.corrected_image == "NORM\\DTIM\\ATTN\\SCAT\\DECY\\RAN"
    assert s.number_of_slices == 476
    [a] = report.nm_administrations
    assert a.from_report is False
    assert a.administered_activity_mbq == pytest.approx(394.0, rel=REL)  # 394000000 Bq in the header
    assert (a.radionuclide, a.radiopharmaceutical) == ("^18^Fluorine", "Fluorodeoxyglucose F^18^")
    assert a.radionuclide_half_life_s == pytest.approx(6586.2, rel=REL)
    assert a.start_datetime == dt.datetime(2022, 2, 24, 10, 48, 30)
    assert (report.study.patient_weight_kg, report.study.patient_height_m) == (110, 1.78)


def test_pet_image_header_ge():
    report = extract(read("NM-PetIm-GE.dcm"))
    [s] = report.nm_series
    assert (s.modality, s.series_type, s.number_of_slices) == ("PT", "STATIC\\IMAGE", 313)
    [a] = report.nm_administrations
    assert a.administered_activity_mbq == pytest.approx(221.596288, rel=REL)
    assert a.volume_ml == 2.0
    assert (a.start_datetime, a.stop_datetime) == (dt.datetime(2022, 3, 10, 12, 41), dt.datetime(2022, 3, 10, 12, 42))
    assert report.equipment.model_name == "Discovery 690"


def test_nm_image_header_activity_is_in_mbq():
    report = extract(read("NM-NmIm-Siemens.dcm"))
    [s] = report.nm_series
    assert (s.modality, s.series_description) == ("NM", "GK früh")
    [a] = report.nm_administrations
    assert (a.radiopharmaceutical, a.radionuclide, a.administered_activity_mbq) == ("DPD", "99m Technetium", 764.0)
    assert report.study.study_description == "Bone Scan"


def test_nm_image_start_time_only_is_dated_by_the_series():
    ds = fresh("NM-PetIm-GE.dcm")
    item = ds.RadiopharmaceuticalInformationSequence[0]
    del item.RadiopharmaceuticalStartDateTime
    assert extract(ds).nm_administrations[0].start_datetime == dt.datetime(2022, 3, 10, 12, 41)


def test_image_without_radiopharmaceutical_information_still_gives_its_series():
    ds = fresh("NM-NmIm-Siemens.dcm")
    ds.RadiopharmaceuticalInformationSequence = [Dataset()]
    report = extract(ds)
    assert report.nm_administrations == [] and len(report.nm_series) == 1


@pytest.mark.parametrize("name", NM_FILES)
def test_every_nm_file_is_read(name):
    report = extract(read(name))
    assert decide_modality(report) == "NM"
    assert report.nm_administrations or report.nm_series
    assert report.study.study_instance_uid and report.study.study_date


def test_activity_units_table():
    assert unit_factor("MBq", "activity_mbq") == 1.0
    assert unit_factor("mbq", "activity_mbq") == 1.0
    assert unit_factor("uCi", "activity_mbq") == pytest.approx(0.037)
