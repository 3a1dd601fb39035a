"""Image headers and the Philips Dose Info capture, read by the pure extractors: the values OpenREM's
tests assert (testdata/README.md) and the header values of the other files."""
from __future__ import annotations

import pytest
from pydicom.uid import generate_uid
from tests.extract.extract_helpers import fresh, read

from doseapp.extract import Rejected, decide_modality, extract
from doseapp.extract.mammo_image import _force

REL = 1e-9


def test_mammography_image_ge_senographe_ds():
    report = extract(read("MG-Im-GE-SenDS-scaled.dcm"))
    assert (report.source_kind, report.tree, decide_modality(report, "RF")) == ("mg_image", "projection", "MG")
    assert report.equipment.institution_name == "中心医院"
    assert report.equipment.institution_address == "Москва"
    assert report.study.accession_number == "AAAA9876"
    assert report.study.patient_name == "Mamografía^Bịnhnhân"
    [e] = report.xray_events
    assert e.agd_mgy == pytest.approx(1.373, rel=REL)  # Organ Dose 0.01373 dGy
    assert e.entrance_exposure_at_rp_mgy == pytest.approx(5.071, rel=REL)
    assert (e.kvp, e.exposure_uas, e.exposure_time_ms, e.tube_current_ma) == (29, 51800, 834, 61)
    assert (e.compression_thickness_mm, e.compression_force_n, e.radiological_thickness_mm) == (53, 50, 45)
    assert e.anode_target_material == "Rhodium or Rhodium compound"
    assert e.filters == [{"type": "Strip filter", "material": "Rhodium or Rhodium compound",
                          "thickness_min_mm": None, "thickness_max_mm": None}]
    assert e.collimated_field_area_m2 == pytest.approx(0.043739, rel=REL)
    assert e.percent_fibroglandular_tissue == 31
    assert e.focal_spot_size_mm == pytest.approx(0.3)
    assert e.grid == "Reciprocating grid, Focused grid"
    assert (e.laterality, e.image_view, e.acquisition_protocol) == ("Left", "cranio-caudal", "ROUTINE")
    assert e.exposure_control_mode == "AUTOMATIC"
    assert (e.distance_source_to_detector_mm, e.magnification_factor) == (660, 1)
    assert e.irradiation_event_uid == report.sop_instance_uid
    assert str(e.date_time_started) == "2013-04-12 12:41:47"


def test_senographe_ds_force_in_tenths_of_newton_is_scaled():
    report = extract(read("MG-Im-GE-SenDS-scaled.dcm"))
    from doseapp.extract.sr import Ctx, TextDecoder
    ctx = Ctx(TextDecoder(None))
    assert _force(1200.0, report, ctx) == 120.0 and "tenths of a newton" in ctx.warnings[0]
    report.equipment.model_name = "Senographe Essential"
    assert _force(1200.0, report, ctx) == 1200.0


def test_seno_for_processing_and_presentation_are_the_same_exposure():
    a = extract(read("MG-Im-GE_Seno_1_ForPresentation.dcm")).xray_events[0]
    b = extract(read("MG-Im-GE_Seno_1_ForProcessing.dcm")).xray_events[0]
    c = extract(read("MG-Im-GE_Seno_2_ForPresentation.dcm")).xray_events[0]
    assert a.date_time_started == b.date_time_started != c.date_time_started
    assert a.agd_mgy + c.agd_mgy == pytest.approx(1.956, rel=REL)


def test_hologic_projection_secondary_capture_is_mammography():
    report = extract(read("MG-Im-Hologic-PropProj.dcm"))
    assert report.source_kind == "mg_image" and decide_modality(report) == "MG"
    [e] = report.xray_events
    assert (e.laterality, e.image_view, e.kvp, e.exposure_uas) == ("Right", "cranio-caudal", 28, 6000)
    assert e.agd_mgy == pytest.approx(0.26, rel=REL)
    assert e.anode_target_material == "Tungsten or Tungsten compound"
    assert e.filters[0]["material"] == "Aluminum or Aluminum compound"
    assert e.filters[0]["thickness_min_mm"] == pytest.approx(0.7)
    assert e.half_value_layer_mm == pytest.approx(0.479)


def test_other_secondary_captures_are_rejected():
    ds = fresh("MG-Im-Hologic-PropProj.dcm")
    ds.ImageType = ["DERIVED", "SECONDARY"]
    with pytest.raises(Rejected, match="Secondary Capture"):
        extract(ds)
    ds = fresh("CT-SC-Philips_Brilliance16P.dcm")
    ds.SeriesDescription = "Screen save"
    with pytest.raises(Rejected, match="Secondary Capture"):
        extract(ds)


def test_radiography_ge_optima_dx():
    report = extract(read("DX-Im-GE_XR220-1.dcm"))
    assert (report.source_kind, decide_modality(report)) == ("dx_image", "DX")
    assert report.equipment.institution_address == "Kvitfjell"
    [e] = report.xray_events
    assert e.dap_gym2 == pytest.approx(0.41e-5, rel=REL)  # 0.41 dGy·cm²
    assert e.kvp == pytest.approx(69.639999)
    assert (e.tube_current_ma, e.exposure_uas, e.exposure_time_ms) == (189, 1040, 6)
    assert e.acquisition_protocol == "ABD_1_VIEW"
    assert (e.image_view, e.anatomical_structure) == ("antero-posterior", "Abdomen")
    assert e.exposure_index == pytest.approx(51.745061)
    assert e.target_exposure_index == pytest.approx(438.469173)
    assert e.deviation_index == pytest.approx(-9.3)
    assert e.grid == "No grid" and e.laterality is None  # U: unpaired
    assert e.collimated_field_area_m2 == pytest.approx(0.402 * 0.402)


def test_radiography_carestream_filters_and_swapped_thicknesses():
    report = extract(read("DX-Im-Carestream_DR7500-2.dcm"))
    [e] = report.xray_events
    assert [f["material"] for f in e.filters] == ["Aluminum or Aluminum compound", "Copper or Copper compound"]
    assert [(f["thickness_min_mm"], f["thickness_max_mm"]) for f in e.filters] == [(0.94, 1.06), (0.194, 0.206)]
    assert any("swapped" in w for w in report.warnings)
    assert e.dap_gym2 == pytest.approx(10.157e-5, rel=REL)


def test_radiography_comma_separated_filters():
    # As Kodak systems send them: commas inside one value (invalid for CS and DS, so raw bytes here).
    from pydicom.dataelem import RawDataElement
    from pydicom.tag import Tag
    ds = fresh("DX-Im-GE_XR220-1.dcm")
    for tag, vr, raw in ((0x00187050, "CS", b"COPPER,ALUMINUM "), (0x00187052, "DS", b"0.1,1.0 "),
                         (0x00187054, "DS", b"0.1,1.0 ")):
        ds[tag] = RawDataElement(Tag(tag), vr, len(raw), raw, 0, False, True)
    e = extract(ds).xray_events[0]
    assert [(f["material"], f["thickness_max_mm"]) for f in e.filters] == [
        ("Copper or Copper compound", 0.1), ("Aluminum or Aluminum compound", 1.0)]


def test_radiography_protocol_falls_back_to_series_description_then_performed_protocol():
    ds = fresh("DX-Im-GE_XR220-1.dcm")
    del ds.ProtocolName
    assert extract(ds).xray_events[0].acquisition_protocol == "Abdomen"
    del ds.SeriesDescription
    ds.SOPInstanceUID = generate_uid()
    from pydicom.dataset import Dataset
    code = Dataset()
    code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = "X1", "99X", "Abdomen AP"
    ds.PerformedProtocolCodeSequence = [code]
    assert extract(ds).xray_events[0].acquisition_protocol == "Abdomen AP"


def test_radiography_without_dates_and_panoramic():
    e = extract(read("DX-Im-Date-Missing.dcm")).xray_events[0]
    assert e.date_time_started is None and e.dap_gym2 == pytest.approx(11.013e-5, rel=REL)
    report = extract(read("PX-Im-NewTom_Go.dcm"))
    [e] = report.xray_events
    assert (e.acquisition_protocol, e.kvp, e.tube_current_ma, e.exposure_time_ms) == ("PANORAMIC", 85, 9, 6800)
    assert e.dap_gym2 == pytest.approx(0.81e-5, rel=REL)
    assert e.laterality == "Both"


def test_cr_drx_exposure_and_indices():
    e = extract(read("DX-Im-Carestream_DRX.dcm")).xray_events[0]
    assert (e.kvp, e.exposure_uas, e.deviation_index, e.image_view) == (100, 1000, 0.55, "AP")
    assert e.dap_gym2 == pytest.approx(0.633e-5, rel=REL)


def test_philips_dose_info_capture():
    report = extract(read("CT-SC-Philips_Brilliance16P.dcm"))
    assert (report.source_kind, report.tree, decide_modality(report)) == ("philips_sc", "ct", "CT")
    assert report.ct_total_dlp_mgycm == pytest.approx(1102.44609, rel=REL)
    assert len(report.ct_events) == 4
    assert [e.acquisition_type for e in report.ct_events] == [
        "Constant Angle Acquisition", "Spiral Acquisition", "Spiral Acquisition", "Spiral Acquisition"]
    assert [e.dlp_mgycm for e in report.ct_events] == pytest.approx([0, 196.01, 248.585973, 657.85012])
    assert report.ct_events[1].ctdivol_mgy == pytest.approx(7.200978719152135)
    assert report.ct_events[1].pitch_factor == pytest.approx(0.8355391387939453)
    assert report.ct_events[1].sources[0].tube_current_ma == pytest.approx(165.044374)
    assert report.ct_events[1].acquisition_protocol == "PRE KIDNEYS"
    assert report.study.study_description == "Abdomen/IH_KUB_2mm"
    assert "CT Thorax & abdo & pelvis with contrast" in report.study.comment
    assert "Abdomen_Multi_1240_usr.proc" in report.study.comment


def test_philips_phantom_from_private_element():
    ds = fresh("CT-SC-Philips_Brilliance16P.dcm")
    item = ds.ExposureDoseSequence[1]
    block = item.private_block(0x01E1, "ELSCINT1", create=True)
    block.add_new(0x26, "CS", "BODY")
    assert extract(ds).ct_events[1].ctdiw_phantom_type == "IEC Body Dosimetry Phantom"


def test_mammography_class_with_another_modality_is_rejected():
    ds = fresh("MG-Im-GE_Seno_1_ForPresentation.dcm")
    ds.Modality = "OT"
    with pytest.raises(Rejected, match="Modality"):
        extract(ds)
