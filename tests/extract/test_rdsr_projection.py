"""Fluoroscopy, radiography and mammography dose reports: values OpenREM's tests assert
(testdata/README.md) and others read from the files, to 6 significant figures."""
import datetime as dt
from collections import Counter

import pytest
from tests.extract.extract_helpers import read

from doseapp.extract import decide_modality, extract

approx = lambda v: pytest.approx(v, rel=1e-6)  # noqa: E731


def test_dx_canon_cxdi():
    report = extract(read("DX-RDSR-Canon_CXDI.dcm"))
    assert report.tree == "projection"
    assert decide_modality(report, None) == "DX"
    (event,) = report.xray_events
    assert event.dap_gym2 == approx(1.07e-5)
    assert event.kvp == approx(90)
    assert event.tube_current_ma == approx(160)
    assert event.exposure_uas == approx(800)  # unit uA.s
    assert event.exposure_time_ms == approx(5)
    assert event.acquisition_protocol == "THORAX AP 90kv-0,9mAs"
    assert event.anatomical_structure == "Chest"  # target region
    assert event.event_type == "Stationary Acquisition"
    assert event.dose_rp_gy is None  # sent empty
    assert event.number_of_pulses == 1
    assert event.date_time_started == dt.datetime(2016, 8, 18, 19, 26, 17, 43000)
    (plane,) = report.planes
    assert plane.acquisition_plane == "Single Plane"
    assert plane.dap_total_gym2 == approx(1.07e-5)
    assert plane.total_acquisition_time_s == approx(0.005)
    assert plane.dose_rp_total_gy is None
    assert report.study.operator_name == "Stauss^Brook"
    assert report.study.comment == "###"


def test_dx_canon_without_dap():
    report = extract(read("DX-RDSR-Canon_CXDI_noDAP.dcm"))  # implicit VR little endian
    assert len(report.xray_events) == 2
    assert [e.dap_gym2 for e in report.xray_events] == [None, None]
    assert [e.exposure_uas for e in report.xray_events] == [approx(1199), approx(1199)]
    assert report.planes[0].dap_total_gym2 is None
    assert report.planes[0].total_acquisition_time_s == approx(0.0218)
    assert decide_modality(report, None) == "DX"


def test_rf_ge():
    report = extract(read("RF-RDSR-GE.dcm"))
    assert decide_modality(report, None) == "RF"
    assert len(report.xray_events) == 8
    assert len(report.planes) == 1
    plane = report.planes[0]
    assert plane.fluoro_dap_total_gym2 == approx(0.00024126)
    assert plane.fluoro_dose_rp_total_gy == approx(0.0117317)
    assert plane.total_fluoro_time_s == approx(72.46)
    assert plane.total_number_of_radiographic_frames == 0  # sent as "0.00"
    first = report.xray_events[0]
    assert first.dap_gym2 == approx(2.206e-5)  # unit code Gy.m2 in scheme "UCM"
    assert first.dose_rp_gy == approx(0.00107252)
    assert first.kvp == approx(72.4890976)
    assert first.tube_current_ma == approx(2.74306011)
    assert first.exposure_uas == approx(20918.59960938)
    assert first.exposure_time_ms == approx(7333)
    assert first.irradiation_duration_s == approx(7.62599993)
    assert first.collimated_field_area_m2 == approx(0.041968)
    assert first.fluoro_mode == "Continuous"
    assert first.patient_orientation == "Recumbent"
    assert first.patient_orientation_modifier == "Supine"
    assert first.patient_table_relationship == "Headfirst"
    assert first.grid == "Fixed Grid"
    assert first.filters == [{"type": "Strip Filter", "material": "Aluminium or Aluminium Compound",
                              "thickness_min_mm": approx(6.0), "thickness_max_mm": approx(7.2)}]
    assert first.distance_source_to_reference_point_mm == approx(700)
    assert first.positioner_primary_angle_deg is None  # sent empty
    assert report.equipment.device_observer_uid == "1.3.6.1.4.1.45593.912345678.9876543123"


def test_rf_siemens_zee():
    report = extract(read("RF-RDSR-Siemens-Zee.dcm"))
    assert decide_modality(report, None) == "RF"
    assert len(report.xray_events) == 8
    plane = report.planes[0]
    assert plane.dap_total_gym2 == approx(1.6e-5)  # "1.6e-005" in unit Gym2
    assert plane.dose_rp_total_gy == approx(0.00252)
    assert plane.total_fluoro_time_s == approx(28)
    assert plane.reference_point_definition == "15cm from Isocenter toward Source"
    assert plane.calibration == [{"dose_measurement_device": "Dosimeter",
                                  "date": "2015-03-04T12:05:42", "factor": approx(1),
                                  "uncertainty_percent": approx(5), "responsible_party": "Siemens"}]
    first = report.xray_events[0]
    assert first.dap_gym2 == approx(1e-6)
    assert first.dose_rp_gy == approx(0.00014)
    assert first.pulse_rate_per_s == approx(7.5)
    assert first.number_of_pulses == approx(24)
    assert first.kvp == approx(77)
    assert first.tube_current_ma == approx(95.1)
    assert first.exposure_time_ms == approx(100.8)  # retired code 113735
    assert first.pulse_width_ms == approx(4.2)
    assert first.exposure_uas == approx(9586)
    assert first.positioner_primary_angle_deg == approx(0.1)
    assert first.positioner_secondary_angle_deg == approx(-0.1)
    assert first.table_lateral_position_mm == approx(525.1)
    assert first.ii_field_size_mm == approx(220)  # from the Siemens comment
    assert first.per_pulse is None


def test_rf_philips_allura():
    report = extract(read("RF-RDSR-Philips_Allura.dcm"))
    assert decide_modality(report, None) == "RF"
    plane = report.planes[0]
    assert plane.dap_total_gym2 == approx(0.00015356864017)
    assert plane.acquisition_dap_total_gym2 == approx(0.00014301036616)
    assert plane.total_number_of_radiographic_frames == 27
    assert plane.reference_point_definition == "15cm below BeamIsocenter"  # as text
    first = report.xray_events[0]
    assert [f["material"] for f in first.filters] == ["Copper or Copper compound",
                                                      "Aluminum or Aluminum compound"]
    assert first.table_height_position_mm == approx(905)  # Philips private code
    assert first.kvp == approx(69.3977142857142)
    # ISO 2022 IR 87 (Japanese) person name survives
    assert report.study.performing_physician_name == "Yamada^Tarou=山田^太郎=やまだ^たろう"


def test_rf_canon_alphenix_rotational():
    report = extract(read("RF-RDSR-Canon-Alphenix-rotational.dcm"))
    assert len(report.xray_events) == 49
    plane = report.planes[0]
    assert plane.total_number_of_radiographic_frames == 217
    assert plane.calibration[0]["protocol"] == "Canon Medical Systems Standard"
    first = report.xray_events[0]
    assert first.collimated_field_area_m2 == approx(0.0956095174)  # unit code m2, meaning m^2
    assert first.collimated_field_height_mm == approx(635)
    assert first.pulse_width_ms == approx(7.02)
    rotational = [e for e in report.xray_events if e.event_type == "Rotational Acquisition"]
    assert rotational
    assert all(e.positioner_primary_end_angle_deg is not None for e in rotational)


def test_rf_large_report_and_missing_kvp():
    report = extract(read("RF-Pat-Orientation-Modifier-Missing.dcm"))
    assert len(report.xray_events) == 316
    assert Counter(e.event_type for e in report.xray_events) == \
        {"Fluoroscopy": 247, "Stationary Acquisition": 69}
    assert report.planes[0].dap_total_gym2 == approx(0.046881)
    no_kvp = extract(read("RF-No-kVp-and-others.dcm"))
    assert len(no_kvp.xray_events) == 20
    assert no_kvp.xray_events[0].kvp is None
    assert no_kvp.xray_events[0].filters[0] == {
        "type": "Strip filter", "material": "Aluminum or Aluminum compound",
        "thickness_min_mm": approx(3.0), "thickness_max_mm": None}


def test_dual_system_reports():
    dx = extract(read("Dual-RDSR-DX.dcm"))
    rf = extract(read("Dual-RDSR-RF.dcm"))
    assert dx.equipment.station_name == rf.equipment.station_name == "dRFMax-1234"
    assert decide_modality(dx, "Dual") == "DX"
    assert decide_modality(rf, "Dual") == "RF"
    assert decide_modality(dx, None) == "DX"
    assert decide_modality(rf, None) == "RF"
    assert decide_modality(dx, "RF") == "RF"  # user-defined DX/RF wins
    assert decide_modality(rf, "DX") == "DX"
    assert rf.planes[0].total_fluoro_time_s == approx(4)
    assert rf.planes[0].fluoro_dap_total_gym2 == approx(4e-7)
    assert len(rf.xray_events) == 4
    event = dx.xray_events[0]
    assert event.exposure_index == approx(326)
    assert event.target_exposure_index == approx(250)
    assert event.deviation_index == approx(1.0)
    assert event.column_angulation_deg == approx(0)  # unit meaning "º"
    assert event.filters == [{"type": "No Filter", "material": None, "thickness_min_mm": None,
                              "thickness_max_mm": None}]


def test_mg_hologic_2d():
    report = extract(read("MG-RDSR-Hologic_2D.dcm"))
    assert decide_modality(report, None) == "MG"
    assert decide_modality(report, "DX") == "MG"  # mammography is never re-labelled
    agd = {b.laterality: b.agd_mgy for b in report.breast_doses}
    assert agd == {"Left breast": approx(1.30), "Right breast": approx(1.28)}
    left, right = report.xray_events
    assert (left.laterality, left.image_view, left.agd_mgy) == ("Left", "cranio-caudal",
                                                                approx(1.30))
    assert (right.laterality, right.agd_mgy) == ("Right", approx(1.28))
    assert left.entrance_exposure_at_rp_mgy == approx(3.65)
    assert left.half_value_layer_mm == approx(0.535)
    assert left.compression_thickness_mm == approx(43)
    assert left.kvp == approx(28)
    assert left.exposure_uas == approx(90200)
    assert left.exposure_time_ms == approx(854)
    assert left.anode_target_material == "Tungsten or Tungsten compound"
    assert left.filters[0]["material"] == "Rhodium or Rhodium compound"
    assert left.filters[0]["thickness_max_mm"] == approx(0.05)
    assert left.anatomical_structure == "Breast"
    assert left.reference_point_definition == "Entrance exposure to a 4.2 cm breast thickness"


def test_mg_hologic_mix():
    report = extract(read("MG-RDSR-Hologic_mix.dcm"))
    assert decide_modality(report, None) == "MG"
    assert len(report.xray_events) == 7
    views = Counter((e.laterality, e.image_view) for e in report.xray_events)
    # the NHSBSP export names these RCC, RCC2, RCC3, RCC4, RCC5, ROB, LCC
    assert views == {("Right", "cranio-caudal"): 5, ("Right", "medio-lateral oblique"): 1,
                     ("Left", "cranio-caudal"): 1}
    materials = Counter(e.filters[0]["material"].split()[0] for e in report.xray_events)
    assert materials == {"Aluminum": 4, "Silver": 1, "Rhodium": 2}
    agd = {b.laterality: b.agd_mgy for b in report.breast_doses}
    assert agd == {"Left breast": approx(0.87), "Right breast": approx(2.71)}
    tomo = report.xray_events[0]
    assert tomo.event_type == "Rotational Acquisition"
    assert tomo.positioner_primary_angle_deg == approx(-7.4)
    assert tomo.positioner_primary_end_angle_deg == approx(7.6)
    assert tomo.grid == "No grid"


def test_siemens_varic_summary_report():
    report = extract(read("RF-ESR-Siemens-Varic.dcm"))
    assert report.source_kind == "esr"
    assert decide_modality(report, None) == "RF"
    assert report.xray_events == []
    (plane,) = report.planes
    assert plane.dap_total_gym2 == approx(0.2359e-4)  # 0.2359 Gy.cm^2
    assert plane.total_fluoro_time_s == approx(34.427)
    assert plane.dose_rp_total_gy is None  # "measurement not attempted"
    assert report.start_of_xray_irradiation == dt.datetime(2021, 2, 10, 14, 54, 28)
