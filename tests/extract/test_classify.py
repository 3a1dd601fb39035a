"""Routing of every test file, and the modality decision."""
import pytest
from tests.extract.extract_helpers import all_files, read

from doseapp.extract import (
    ROUTES, AccumulatedPlaneRecord, DoseReport, EquipmentRecord, Malformed, Rejected,
    StudyRecord, XrayEventRecord, decide_modality, extract, route,
)

EXPECTED = {
    # file: (source kind, modality) for dose reports we read
    "CT-ESR-GE_Optima.dcm": ("esr", "CT"),
    "CT-RDSR-GEPixelMed.dcm": ("rdsr", "CT"),
    "CT-RDSR-Siemens-Continued-1.dcm": ("rdsr", "CT"),
    "CT-RDSR-Siemens-Continued-2.dcm": ("rdsr", "CT"),
    "CT-RDSR-Siemens-Multi-1.dcm": ("rdsr", "CT"),
    "CT-RDSR-Siemens-Multi-2.dcm": ("rdsr", "CT"),
    "CT-RDSR-Siemens-Multi-3.dcm": ("rdsr", "CT"),
    "CT-RDSR-Siemens_Flash-QA-DS.dcm": ("rdsr", "CT"),
    "CT-RDSR-Siemens_Flash-TAP-SS.dcm": ("rdsr", "CT"),
    "CT-RDSR-ToshibaPixelMed.dcm": ("rdsr", "CT"),
    "CT-RDSR-Toshiba_DoseCheck.dcm": ("rdsr", "CT"),
    "CT-RDSR-Toshiba_MultiValSD.dcm": ("rdsr", "CT"),
    "DX-RDSR-Canon_CXDI.dcm": ("rdsr", "DX"),
    "DX-RDSR-Canon_CXDI_noDAP.dcm": ("rdsr", "DX"),
    "Dual-RDSR-DX.dcm": ("rdsr", "DX"),
    "Dual-RDSR-RF.dcm": ("rdsr", "RF"),
    "MG-RDSR-Hologic_2D.dcm": ("rdsr", "MG"),
    "MG-RDSR-Hologic_mix.dcm": ("rdsr", "MG"),
    "NM-CT-RDSR-Siemens.dcm": ("rdsr", "CT"),
    "RF-ESR-Siemens-Varic.dcm": ("esr", "RF"),
    "RF-No-kVp-and-others.dcm": ("rdsr", "RF"),
    "RF-Pat-Orientation-Modifier-Missing.dcm": ("rdsr", "RF"),
    "RF-RDSR-Canon-Alphenix-rotational.dcm": ("rdsr", "RF"),
    "RF-RDSR-GE.dcm": ("rdsr", "RF"),
    "RF-RDSR-Philips_Allura.dcm": ("rdsr", "RF"),
    "RF-RDSR-Siemens-Zee.dcm": ("rdsr", "RF"),
    "RF-RDSR-Siemens-Zee_adjusted.dcm": ("rdsr", "RF"),
    # image headers and secondary captures (issue 4)
    "CT-SC-Philips_Brilliance16P.dcm": ("philips_sc", "CT"),
    "DX-Im-Carestream_DR7500-1.dcm": ("dx_image", "DX"),
    "DX-Im-Carestream_DR7500-2.dcm": ("dx_image", "DX"),
    "DX-Im-Carestream_DRX.dcm": ("dx_image", "DX"),
    "DX-Im-Date-Missing.dcm": ("dx_image", "DX"),
    "DX-Im-GE_XR220-1.dcm": ("dx_image", "DX"),
    "DX-Im-GE_XR220-2.dcm": ("dx_image", "DX"),
    "DX-Im-GE_XR220-3.dcm": ("dx_image", "DX"),
    "MG-Im-GE-SenDS-scaled.dcm": ("mg_image", "MG"),
    "MG-Im-GE_Seno_1_ForPresentation.dcm": ("mg_image", "MG"),
    "MG-Im-GE_Seno_1_ForProcessing.dcm": ("mg_image", "MG"),
    "MG-Im-GE_Seno_2_ForPresentation.dcm": ("mg_image", "MG"),
    "MG-Im-Hologic-PropProj.dcm": ("mg_image", "MG"),
    "PX-Im-NewTom_Go.dcm": ("dx_image", "DX"),
    # nuclear medicine: radiopharmaceutical dose reports and NM/PET image headers (issue 20)
    "NM-RRDSR-Siemens.dcm": ("rrdsr", "NM"),
    "NM-RRDSR-Siemens-Extended.dcm": ("rrdsr", "NM"),
    "NM-NmIm-Siemens-s1-1.dcm": ("nm_image", "NM"),
    "NM-NmIm-Siemens-s1-2.dcm": ("nm_image", "NM"),
    "NM-NmIm-Siemens.dcm": ("nm_image", "NM"),
    "NM-PetIm-GE.dcm": ("nm_image", "NM"),
    "NM-PetIm-Siemens-2.dcm": ("nm_image", "NM"),
    "NM-PetIm-Siemens-3-sameseries.dcm": ("nm_image", "NM"),
    "NM-PetIm-Siemens-3.dcm": ("nm_image", "NM"),
    "NM-PetIm-Siemens.dcm": ("nm_image", "NM"),
}


@pytest.mark.parametrize("name", all_files())
def test_every_file_is_read_or_rejected_with_a_reason(name):
    ds = read(name)
    if name in EXPECTED:
        kind, modality = EXPECTED[name]
        # Secondary captures are routed by content: the class's route says "sc".
        assert route(ds).kind == (kind if "-SC-" not in name and "PropProj" not in name else "sc")
        report = extract(ds)
        assert report.source_kind == kind
        assert decide_modality(report, None) == modality
        assert report.sop_instance_uid == ds.SOPInstanceUID
        assert report.study.study_instance_uid == ds.StudyInstanceUID
    else:
        with pytest.raises(Rejected) as caught:
            extract(ds)
        assert not isinstance(caught.value, Malformed)
        assert len(caught.value.reason) > 20


def test_non_dose_enhanced_sr_is_rejected():
    with pytest.raises(Rejected, match="Diagnostic Imaging Report.*not an X-ray radiation dose"):
        route(read("ESR_non-dose.dcm"))


@pytest.mark.parametrize("name,kind", [("NM-RRDSR-Siemens.dcm", "rrdsr"), ("NM-RRDSR-Siemens-Extended.dcm", "rrdsr"),
                                       ("NM-PetIm-GE.dcm", "nm_image"), ("NM-NmIm-Siemens.dcm", "nm_image")])
def test_nuclear_medicine_objects_are_read_as_nm(name, kind):
    report = extract(read(name))
    assert (report.source_kind, decide_modality(report)) == (kind, "NM")


def test_routing_table_is_one_structure_keyed_by_sop_class():
    assert ROUTES["1.2.840.10008.5.1.4.1.1.88.67"].kind == "rdsr"
    assert ROUTES["1.2.840.10008.5.1.4.1.1.88.22"].kind == "esr"
    assert ROUTES["1.2.840.10008.5.1.4.1.1.88.33"].kind == "esr"
    assert ROUTES["1.2.840.10008.5.1.4.1.1.88.68"].kind == "rrdsr"


def _projection(device=None, planes=(), events=(), procedure="Projection X-Ray", model=None):
    return DoseReport(sop_instance_uid="1", sop_class_uid="1.2", source_kind="rdsr",
                      tree="projection", equipment=EquipmentRecord(model_name=model),
                      study=StudyRecord(), planes=list(planes), xray_events=list(events),
                      acquisition_device_type=device, procedure_reported=procedure)


FLUORO_PLANE = AccumulatedPlaneRecord(dap_total_gym2=1e-5, total_fluoro_time_s=12.0)
ACQ_PLANE = AccumulatedPlaneRecord(dap_total_gym2=1e-5, total_fluoro_time_s=0.0,
                                   fluoro_dap_total_gym2=0.0)


@pytest.mark.parametrize("report,user,expected", [
    (_projection(planes=[FLUORO_PLANE]), None, "RF"),
    (_projection(planes=[ACQ_PLANE]), None, "DX"),
    (_projection(planes=[FLUORO_PLANE]), "Dual", "RF"),
    (_projection(planes=[ACQ_PLANE]), "Dual", "DX"),
    (_projection(planes=[FLUORO_PLANE]), "DX", "DX"),
    (_projection(planes=[ACQ_PLANE]), "RF", "RF"),
    (_projection(device="Fluoroscopy-Guided Projection Radiography System", planes=[ACQ_PLANE]),
     None, "RF"),
    # Fluoroscopy systems are known to declare a radiography device: the fluoroscopy they report wins.
    (_projection(device="Integrated Projection Radiography System", planes=[FLUORO_PLANE]),
     None, "RF"),
    (_projection(device="Integrated Projection Radiography System", planes=[ACQ_PLANE]),
     None, "DX"),
    # A plane without the fluoroscopy/acquisition split: the events' types decide.
    (_projection(planes=[AccumulatedPlaneRecord(dap_total_gym2=1e-5)],
                 events=[XrayEventRecord(event_type="Fluoroscopy")] * 3), None, "RF"),
    (_projection(planes=[AccumulatedPlaneRecord(dap_total_gym2=1e-5)],
                 events=[XrayEventRecord(event_type="Stationary Acquisition")]), None, "DX"),
    (_projection(device="Cassette-based Projection Radiography System"), None, "DX"),
    (_projection(device="Integrated Projection Radiography System", planes=[FLUORO_PLANE]),
     "RF", "RF"),
    (_projection(device="Integrated Projection Radiography System", model="Azurion 7 M20"),
     None, "RF"),
    (_projection(planes=[ACQ_PLANE], procedure="Mammography"), None, "MG"),
    (_projection(planes=[ACQ_PLANE], procedure="Mammography"), "RF", "MG"),
    (_projection(events=[XrayEventRecord(event_type="Fluoroscopy")]), None, "RF"),
    (_projection(events=[XrayEventRecord(event_type="Stationary Acquisition")]), None, "DX"),
])
def test_decide_modality(report, user, expected):
    assert decide_modality(report, user) == expected


def test_ct_is_ct_whatever_the_equipment_says():
    report = _projection()
    report.tree = "ct"
    assert decide_modality(report, "RF") == "CT"
