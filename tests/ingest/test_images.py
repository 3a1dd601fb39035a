"""Image headers and the Philips Dose Info capture imported into the database: every image file,
the For Processing / For Presentation duplicate rule, accumulation per breast and DAP totals."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from doseapp.models import Equipment, ProcessedObject, Study, SystemSettings, XrayEvent, db
from tests.conftest import TESTDATA
from tests.ingest.conftest import only_study, study_count

REL = 1e-9
IMAGE_FILES = sorted(p.name for p in TESTDATA.glob("*.dcm")
                     if p.name.startswith(("MG-Im", "DX-Im", "PX-Im")) or p.name == "CT-SC-Philips_Brilliance16P.dcm")
SENO = "1.3.6.1.4.1.5962.99.1.1270844358.1571783457.1525984267206.3.0"


def _snapshot():
    rows = db.session.scalars(select(Study).order_by(Study.id)).all()
    return [(s.id, s.number_of_events, s.total_dap_gym2, s.agd_left_mgy, s.total_dlp_mgycm) for s in rows], \
        db.session.scalar(select(func.count()).select_from(ProcessedObject))


def test_the_image_set_is_the_expected_one():
    assert len(IMAGE_FILES) == 14


@pytest.mark.parametrize("name", IMAGE_FILES)
def test_every_image_imports_and_reimport_changes_nothing(imp, name):
    result = imp(name)
    assert result.status == "imported", result
    study = db.session.get(Study, result.study["id"])
    assert study.number_of_events == 1 or name.startswith("CT-SC")
    before = _snapshot()
    again = imp(name)
    assert again.status == "duplicate" and "SOP Instance UID" in again.reason
    db.session.expire_all()
    assert _snapshot() == before


def test_mammography_image_values_and_non_latin_text(imp):
    result = imp("MG-Im-GE-SenDS-scaled.dcm")
    study = db.session.get(Study, result.study["id"])
    assert (study.modality, study.source_kind, study.number_of_events) == ("MG", "mg_image", 1)
    assert study.equipment.institution_name == "中心医院"
    assert study.equipment.institution_address == "Москва"
    assert study.agd_left_mgy == pytest.approx(1.373, rel=REL)
    assert study.agd_right_mgy is None
    assert study.agd_both_mgy == pytest.approx(1.373, rel=REL)
    e = study.xray_events[0]
    assert (e.kvp, e.exposure_uas, e.exposure_time_ms, e.tube_current_ma) == (29, 51800, 834, 61)
    assert (e.compression_thickness_mm, e.compression_force_n) == (53, 50)
    assert e.entrance_exposure_at_rp_mgy == pytest.approx(5.071, rel=REL)
    assert e.anode_target_material == "Rhodium or Rhodium compound"
    assert e.filters[0]["material"] == "Rhodium or Rhodium compound"
    assert e.collimated_field_area_m2 == pytest.approx(0.043739, rel=REL)
    assert e.percent_fibroglandular_tissue == 31
    # Identifiers follow the privacy settings, exactly as for RDSRs (default: not stored).
    settings = SystemSettings.get()
    assert (study.patient_name is None) == (not settings.name_stored)


def test_for_processing_and_presentation_give_one_event_and_seno_2_adds_one(imp):
    first = imp("MG-Im-GE_Seno_1_ForPresentation.dcm")
    second = imp("MG-Im-GE_Seno_1_ForProcessing.dcm")
    assert first.status == "imported"
    assert second.status == "duplicate" and "2013-04-12T13:22:23" in second.reason
    study = only_study(SENO)
    assert study.number_of_events == 1
    assert imp("MG-Im-GE_Seno_2_ForPresentation.dcm").status == "imported"
    db.session.expire_all()
    study = only_study(SENO)
    assert study_count() == 1 and study.number_of_events == 2
    assert study.agd_left_mgy == pytest.approx(1.956, rel=REL)
    # The For Processing copy is now known by its SOP Instance UID.
    again = imp("MG-Im-GE_Seno_1_ForProcessing.dcm")
    assert again.status == "duplicate" and "SOP Instance UID" in again.reason
    db.session.expire_all()
    assert only_study(SENO).number_of_events == 2


def test_radiography_images_of_one_study_sum_dap(imp):
    for n in (1, 2, 3):
        assert imp(f"DX-Im-GE_XR220-{n}.dcm").status == "imported"
    study = only_study()
    assert (study.modality, study.number_of_events, study.acquisition_count) == ("DX", 3, 3)
    assert study.total_dap_gym2 == pytest.approx((0.41 + 0.82 + 2.05) * 1e-5, rel=1e-9)
    assert study.dap_a_gym2 == pytest.approx(study.total_dap_gym2)
    assert study.equipment.institution_address == "Kvitfjell"
    assert db.session.scalar(select(func.count()).select_from(Equipment)) == 1


def test_carestream_pair_and_missing_dates(imp):
    assert [r.status for r in imp("DX-Im-Carestream_DR7500-1.dcm", "DX-Im-Carestream_DR7500-2.dcm")] == \
        ["imported", "imported"]
    study = only_study()
    assert study.number_of_events == 2
    assert study.total_dap_gym2 == pytest.approx((11.013 + 10.157) * 1e-5, rel=1e-9)
    result = imp("DX-Im-Date-Missing.dcm")
    assert result.status == "imported"
    missing = db.session.get(Study, result.study["id"])
    assert missing.study_date is None and missing.number_of_events == 1


def test_philips_dose_info_summary(imp):
    result = imp("CT-SC-Philips_Brilliance16P.dcm")
    study = db.session.get(Study, result.study["id"])
    assert (study.modality, study.source_kind, study.number_of_events) == ("CT", "philips_sc", 4)
    assert study.total_dlp_mgycm == pytest.approx(1102.44609, rel=REL)
    assert (study.ct_spiral_count, study.ct_sequenced_count, study.ct_stationary_count,
            study.ct_constant_angle_count) == (3, 0, 0, 1)
    assert study.study_description == "Abdomen/IH_KUB_2mm"
    assert "CT Thorax & abdo & pelvis with contrast" in study.comment


def test_image_of_a_study_that_has_an_rdsr_adds_nothing(imp, tmp_path):
    import pydicom
    rdsr = pydicom.dcmread(TESTDATA / "MG-RDSR-Hologic_2D.dcm")
    image = pydicom.dcmread(TESTDATA / "MG-Im-GE-SenDS-scaled.dcm")
    image.StudyInstanceUID = rdsr.StudyInstanceUID
    image.save_as(tmp_path / "image.dcm")
    assert imp("MG-RDSR-Hologic_2D.dcm").status == "imported"
    events = db.session.scalar(select(func.count()).select_from(XrayEvent))
    result = imp(str(tmp_path / "image.dcm"))
    assert result.status == "duplicate" and "dose report" in result.reason
    assert db.session.scalar(select(func.count()).select_from(XrayEvent)) == events


@pytest.mark.parametrize("report_name,image_names", [
    ("DX-RDSR-Canon_CXDI.dcm", ["DX-Im-GE_XR220-1.dcm", "DX-Im-GE_XR220-2.dcm"]),
    ("MG-RDSR-Hologic_2D.dcm", ["MG-Im-GE-SenDS-scaled.dcm"]),
])
def test_a_report_arriving_after_its_images_replaces_the_image_study(imp, tmp_path, report_name, image_names):
    """The other order of the test above: images first, then the study's dose report. One study
    remains, the report's, with the report's own numbers; the images stay known as imported."""
    import pydicom
    assert imp(report_name).status == "imported"
    reference = only_study()
    want = (reference.number_of_events, reference.total_dap_gym2, reference.agd_both_mgy, reference.source_kind)
    assert reference.source_kind == "rdsr"
    db.session.delete(reference)  # with its processed objects: the file can be imported again
    db.session.commit()
    assert study_count() == 0

    uid = pydicom.dcmread(TESTDATA / report_name).StudyInstanceUID
    paths = []
    for name in image_names:
        image = pydicom.dcmread(TESTDATA / name)
        image.StudyInstanceUID = uid
        paths.append(tmp_path / name)
        image.save_as(paths[-1])
    results = [imp(str(p)) for p in paths]
    assert [r.status for r in results] == ["imported"] * len(paths)
    image_study = only_study()
    assert image_study.source_kind in ("dx_image", "mg_image")
    assert image_study.number_of_events == len(paths)

    result = imp(report_name)
    assert result.status == "imported"
    assert any("built from" in w and "image header" in w for w in result.warnings), result.warnings
    study = only_study()
    assert (study.number_of_events, study.total_dap_gym2, study.agd_both_mgy, study.source_kind) == want
    kept = set(db.session.scalars(select(ProcessedObject.sop_instance_uid).where(ProcessedObject.study_id == study.id)))
    assert {pydicom.dcmread(p).SOPInstanceUID for p in paths} <= kept
    again = imp(str(paths[0]))
    assert again.status == "duplicate" and study_count() == 1


def test_delete_policy_applies_to_images(imp, tmp_path):
    import shutil
    settings = SystemSettings.get()
    settings.del_mg_im = True
    db.session.commit()
    copy = tmp_path / "mg.dcm"
    shutil.copy(TESTDATA / "MG-Im-GE-SenDS-scaled.dcm", copy)
    assert imp(str(copy)).status == "imported"
    assert not copy.exists()
    dx = tmp_path / "dx.dcm"
    shutil.copy(TESTDATA / "DX-Im-GE_XR220-1.dcm", dx)
    assert imp(str(dx)).status == "imported"
    assert dx.exists()  # del_dx_im is off
