"""CT dose reports: values OpenREM's tests assert (testdata/README.md) and others read from the
files, to 6 significant figures."""
import datetime as dt

import pytest
from tests.extract import sr_builder as b
from tests.extract.extract_helpers import read, roundtrip

from doseapp.extract import decide_modality, extract

approx = lambda v: pytest.approx(v, rel=1e-6)  # noqa: E731


@pytest.fixture(scope="module")
def flash():
    return extract(read("CT-RDSR-Siemens_Flash-TAP-SS.dcm"))


def test_flash_totals(flash):
    assert flash.source_kind == "rdsr"
    assert flash.tree == "ct"
    assert decide_modality(flash, None) == "CT"
    assert flash.ct_total_dlp_mgycm == approx(724.52)
    assert flash.ct_total_events == 4
    assert len(flash.ct_events) == 4


def test_flash_events(flash):
    ctdi_dlp = [(e.ctdivol_mgy, e.dlp_mgycm) for e in flash.ct_events]
    assert ctdi_dlp == [(approx(0.14), approx(11.51)), (approx(1.2), approx(1.2)),
                        (approx(3.61), approx(3.61)), (approx(9.91), approx(708.2))]
    types = [e.acquisition_type for e in flash.ct_events]
    assert types == ["Constant Angle Acquisition", "Stationary Acquisition",
                     "Stationary Acquisition", "Spiral Acquisition"]
    assert [e.exposure_time_s for e in flash.ct_events] == [approx(8.37), approx(0.5),
                                                            approx(1.5), approx(16.01)]
    assert [e.nominal_single_collimation_mm for e in flash.ct_events] == \
        [approx(0.6), approx(10), approx(10), approx(0.6)]
    assert [e.nominal_total_collimation_mm for e in flash.ct_events] == \
        [approx(3.6), approx(10), approx(10), approx(38.4)]
    assert [e.acquisition_protocol for e in flash.ct_events[1:]] == \
        ["PreMonitoring", "Monitoring", "TAP"]
    first = flash.ct_events[0]
    assert first.target_region == "Entire body"
    assert first.procedure_context == "CT without contrast"
    assert first.ctdiw_phantom_type == "IEC Body Dosimetry Phantom"
    assert first.number_of_xray_sources == 1
    assert first.irradiation_event_uid == \
        "1.3.6.1.4.1.5962.99.1.2662687737.2058515598.1471541535737.4.0"
    assert first.comment == ("Internal technical scan parameters: Organ Characteristic = Abdomen, "
                             "Body Size = Adult, Body Region = Body, X-ray Modulation Type = OFF")
    assert first.xray_modulation_type == "OFF"  # from the Siemens comment


def test_flash_event4_source(flash):
    event = flash.ct_events[3]
    assert event.acquisition_type == "Spiral Acquisition"
    assert event.scanning_length_mm == approx(737)
    assert event.pitch_factor == approx(0.6)
    assert event.xray_modulation_type == "XYZ_EC"
    (source,) = event.sources
    assert source.identification == "A"
    assert source.kvp == approx(120)
    assert source.max_tube_current_ma == approx(560)
    assert source.tube_current_ma == approx(176)
    assert source.exposure_time_per_rotation_s == approx(0.5)
    assert [(s.kvp, s.max_tube_current_ma, s.tube_current_ma)
            for e in flash.ct_events[:3] for s in e.sources] == \
        [(approx(120), approx(35), approx(35)), (approx(120), approx(40), approx(39)),
         (approx(120), approx(40), approx(39))]


def test_flash_study(flash):
    study = flash.study
    assert study.study_date == dt.date(1997, 1, 1)
    assert study.study_time == dt.time(0, 0, 0)
    assert study.study_datetime == dt.datetime(1997, 1, 1, 0, 0, 0)
    assert study.accession_number == "ACC12345601"
    assert study.study_description == "Thorax^TAP (Adult)"
    assert study.referring_physician_name == "Müller"
    assert study.patient_age == "067Y"
    assert study.patient_age_years == approx(67.6)
    assert study.patient_sex == "M"
    assert study.patient_height_m == approx(1.86)
    assert study.patient_weight_kg == approx(87)
    # raw identifiers: privacy is applied by ingest
    assert study.patient_name == "SMITH^JOHN"
    assert study.patient_id == "123456"
    assert study.patient_birth_date == dt.date(1929, 5, 19)
    assert study.procedure_code_meaning == "CT Thorax abdomen and pelvis with contrast"
    assert study.requested_procedure_code_value == "CCHAPC"
    assert flash.procedure_reported == "Computed Tomography X-Ray"
    assert flash.start_of_xray_irradiation == dt.datetime(1997, 1, 1, 0, 6, 31, 737000)
    assert flash.end_of_xray_irradiation == dt.datetime(1997, 1, 1, 0, 9, 47, 950000)


def test_flash_equipment(flash):
    eq = flash.equipment
    assert eq.manufacturer == "SIEMENS"
    assert eq.institution_name == "Hospital Number One Trust"
    assert eq.model_name == "SOMATOM Definition Flash"
    assert eq.station_name == "CTAWP00001"
    assert eq.software_versions == "syngo CT 2011A"
    assert eq.device_serial_number == "SN000000"
    assert eq.device_observer_uid == \
        "1.3.6.1.4.1.5962.99.1.2662687737.2058515598.1471541535737.2.0"


def test_flash_utf8_in_latin1_declared_text(flash):
    """Declared ISO_IR 100, holds UTF-8: the UTF-8 reading is stored, with a warning."""
    assert flash.ct_events[0].acquisition_protocol == "testæøå"
    assert any("UTF-8" in w and "ISO_IR 100" in w for w in flash.warnings)
    # Latin-1 text in the same file is not touched by the rule
    assert flash.study.referring_physician_name == "Müller"


def test_dual_source_ct():
    report = extract(read("CT-RDSR-Siemens_Flash-QA-DS.dcm"))
    assert report.ct_total_dlp_mgycm == approx(1590)
    assert len(report.ct_events) == report.ct_total_events == 9
    first = report.ct_events[0]
    assert first.acquisition_protocol == "DE_laser align"
    assert first.number_of_xray_sources == 2
    assert [(s.identification, s.kvp, s.max_tube_current_ma, s.tube_current_ma,
             s.exposure_time_per_rotation_s) for s in first.sources] == [
        ("A", approx(100), approx(400), approx(399), approx(0.5)),
        ("B", approx(140), approx(310), approx(308), approx(0.5))]
    assert first.ctdivol_mgy == approx(15.45)
    assert first.dlp_mgycm == approx(29.67)
    second = report.ct_events[1]
    assert [(s.kvp, s.tube_current_ma, s.exposure_time_per_rotation_s)
            for s in second.sources] == [(approx(120), approx(511), approx(0.238)),
                                          (approx(120), approx(509), approx(0.151))]
    assert all(len(e.sources) == 2 for e in report.ct_events)


def test_toshiba_dose_check():
    report = extract(read("CT-RDSR-Toshiba_DoseCheck.dcm"))
    assert report.ct_total_dlp_mgycm == approx(502.4)  # unit mGy.cm
    first, second = report.ct_events
    assert first.dose_check_dlp_alert_configured is True
    assert first.dose_check_ctdivol_alert_configured is True
    assert first.dose_check_dlp_alert_value_mgycm == approx(100)
    assert first.dose_check_ctdivol_alert_value_mgy == approx(10)
    assert first.dose_check_accumulated_dlp_forward_estimate_mgycm == approx(251.2)
    assert first.dose_check_accumulated_ctdivol_forward_estimate_mgy is None
    assert first.dose_check_alert_person == "Luuk"
    assert first.dose_check_dlp_notification_configured is False
    assert first.dose_check_ctdivol_notification_configured is False
    assert second.dose_check_accumulated_dlp_forward_estimate_mgycm == approx(502.4)
    assert second.dose_check_accumulated_ctdivol_forward_estimate_mgy == approx(10.6)
    assert first.length_of_reconstructable_volume_mm == approx(420)
    assert first.exposed_range_mm == approx(527)
    assert first.pitch_factor == approx(0.813)
    assert first.sources[0].identification == "1"


def test_toshiba_multivalue_sd_and_modulation():
    report = extract(read("CT-RDSR-Toshiba_MultiValSD.dcm"))
    assert report.ct_total_dlp_mgycm == approx(136.9)
    assert len(report.ct_events) == 3
    assert report.ct_events[0].target_region is None  # empty Target Region code
    last = report.ct_events[2]
    assert last.xray_modulation_type == "3D/3D"
    assert last.dlp_mgycm == approx(136.9)
    assert last.dose_check_ctdivol_alert_value_mgy == approx(1000)
    assert last.dose_check_dlp_alert_configured is False


def test_ge_enhanced_sr():
    report = extract(read("CT-ESR-GE_Optima.dcm"))
    assert report.source_kind == "esr"
    assert report.tree == "ct"
    assert report.ct_total_dlp_mgycm == approx(415.82)
    assert report.ct_total_events == len(report.ct_events) == 6
    spirals = [e for e in report.ct_events if e.acquisition_type == "Spiral Acquisition"]
    assert [(e.ctdivol_mgy, e.dlp_mgycm, e.pitch_factor) for e in spirals] == [
        (approx(3.23), approx(155.97), approx(1.38)), (approx(5.3), approx(259.85), approx(0.98))]
    assert report.ct_events[0].sources[0].kvp == approx(120)
    assert report.study.performing_physician_name == "Doctor^Doctor"
    assert report.study.reading_physician_name == "Radiologist^Doctor"
    assert report.equipment.department_name == "Radiology"
    assert report.study.patient_height_m == approx(1.64)


def test_ge_pixelmed_reconstructable_volume():
    report = extract(read("CT-RDSR-GEPixelMed.dcm"))
    assert report.ct_total_dlp_mgycm == approx(586.34)
    stationary = report.ct_events[1]
    assert stationary.acquisition_protocol == "10.13 RADIOTHERAPY QA"
    assert stationary.top_z_location_mm == approx(2.5)
    assert stationary.bottom_z_location_mm == approx(-2.5)
    assert report.ct_events[0].ctdiw_phantom_type == "IEC Head Dosimetry Phantom"
    assert report.study.operator_name == "Dundee^James\\Notting^Sally"


def test_pet_ct_rdsr_is_ct():
    report = extract(read("NM-CT-RDSR-Siemens.dcm"))
    assert decide_modality(report, None) == "CT"
    assert report.ct_total_dlp_mgycm == approx(667.72)
    assert report.ct_events[0].xray_modulation_type == "NONE"
    # anonymised birth date 9999-01-01: the age comes from Patient's Age instead
    assert report.study.patient_age_years == approx(63)
    assert any("Patient's Age used" in w for w in report.warnings)


def test_siemens_cumulative_and_continued_files_carry_their_events():
    multi = [extract(read(f"CT-RDSR-Siemens-Multi-{i}.dcm")) for i in (1, 2, 3)]
    uids = [[e.irradiation_event_uid for e in r.ct_events] for r in multi]
    assert [len(u) for u in uids] == [1, 2, 3]
    assert uids[0] == uids[1][:1] and uids[1] == uids[2][:2]  # cumulative: each a superset
    assert len({r.study.study_instance_uid for r in multi}) == 1
    assert len({r.sop_instance_uid for r in multi}) == 3
    continued = [extract(read(f"CT-RDSR-Siemens-Continued-{i}.dcm")) for i in (1, 2)]
    first, second = ({e.irradiation_event_uid for e in r.ct_events} for r in continued)
    assert first and second and not first & second  # continued: new events only
    assert continued[0].study.study_instance_uid == continued[1].study.study_instance_uid
    assert [r.ct_total_dlp_mgycm for r in continued] == [approx(60.17), approx(56.44)]


def _ct_report(dose_items, parameters=(), template="10011"):
    event = b.container(("113819", "DCM", "CT Acquisition"), [
        b.text(("125203", "DCM", "Acquisition Protocol"), "Abdomen"),
        b.uidref(("113769", "DCM", "Irradiation Event UID"), "1.2.3.4"),
        b.coded(("113820", "DCM", "CT Acquisition Type"),
                ("116152004", "SCT", "Spiral Acquisition")),
        b.coded(("408730004", "SCT", "Procedure Context"),
                ("P5-0808E", "SRT", "CT without contrast")),
        b.container(("113822", "DCM", "CT Acquisition Parameters"), list(parameters)),
        b.container(("113829", "DCM", "CT Dose"), list(dose_items)),
    ])
    total = b.container(("113811", "DCM", "CT Accumulated Dose Data"), [
        b.num(("113813", "DCM", "CT Dose Length Product Total"), "3.5", "Gy.cm"),
        b.num(("113812", "DCM", "Total Number of Irradiation Events"), "1", "{events}")])
    return b.dose_report([total, event], procedure=("P5-08000", "SRT", "Computed Tomography X-Ray"),
                         template=template)


def test_ssde_water_equivalent_diameter_and_notifications():
    ssde = b.num(("113930", "DCM", "Size Specific Dose Estimation"), "12.5", "mGy")
    wed = b.num(("113980", "DCM", "Water Equivalent Diameter"), "28.4", "cm")
    wed.RelationshipType = "INFERRED FROM"
    wed.ContentSequence = [b.coded(("370129005", "SCT", "Measurement Method"),
                                   ("113984", "DCM", "Water Equivalent Diameter From Localizer"),
                                   "HAS CONCEPT MOD")]
    method = b.coded(("370129005", "SCT", "Measurement Method"),
                     ("113988", "DCM", "Estimated from Water Equivalent Diameter"), "HAS CONCEPT MOD")
    ssde.ContentSequence = [wed, method]
    notification = b.container(("113908", "DCM", "Dose Check Notification Details"), [
        b.coded(("113909", "DCM", "DLP Notification Value Configured"),
                ("373066001", "SCT", "Yes")),
        b.num(("113911", "DCM", "DLP Notification Value"), "800", "mGy.cm"),
        b.num(("113913", "DCM", "DLP Forward Estimate"), "950", "mGycm"),
        b.text(("113907", "DCM", "Reason for Proceeding"), "Obese patient"),
    ])
    ds = _ct_report([b.num(("113830", "DCM", "Mean CTDIvol"), "10.2", "mGy"),
                     b.num(("113838", "DCM", "DLP"), "3.5", "Gy.cm"), ssde, notification],
                    [b.num(("113824", "DCM", "Exposure Time"), "5200", "ms")])
    for dataset in (ds, roundtrip(ds)):
        report = extract(dataset)
        (event,) = report.ct_events
        assert report.ct_total_dlp_mgycm == approx(3500)
        assert event.dlp_mgycm == approx(3500)
        assert event.exposure_time_s == approx(5.2)
        assert event.ssde_mgy == approx(12.5)
        assert event.water_equivalent_diameter_mm == approx(284)
        assert event.ssde_method == "Estimated from Water Equivalent Diameter"
        assert event.acquisition_type == "Spiral Acquisition"
        assert event.procedure_context == "CT without contrast"
        assert event.dose_check_dlp_notification_configured is True
        assert event.dose_check_dlp_notification_value_mgycm == approx(800)
        assert event.dose_check_dlp_forward_estimate_mgycm == approx(950)
        assert event.dose_check_notification_reason == "Obese patient"
        assert not report.warnings


def test_ct_report_without_template_is_recognised_by_its_containers():
    report = extract(_ct_report([b.num(("113830", "DCM", "Mean CTDIvol"), "10", "mGy")],
                                template=None))
    assert report.tree == "ct"
    assert decide_modality(report, "RF") == "CT"
