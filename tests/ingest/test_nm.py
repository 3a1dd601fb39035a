"""Nuclear medicine and PET ingest: radiopharmaceutical dose reports and NM/PET image headers make
one NM study per StudyInstanceUID, in any order, with one administration; a PET/CT's CT dose report
is the CT study of the same StudyInstanceUID, linked to the NM one; duplicates and the delete policy
as for the other modalities. Imports are real: `import_file` (which the CLI, the Store SCP and
query-retrieve use), the `doseapp import` command and dcmtk's storescu to our Store SCP."""
from __future__ import annotations

import itertools
import shutil

import pytest
from sqlalchemy import select

from doseapp.models import NmAdministration, NmSeries, Study, SystemSettings, db
from doseapp.studies import linked_studies, study_detail
from tests.conftest import TESTDATA
from tests.ingest.conftest import study_count

PETCT = "4400.13.8620675"  # the PET/CT exam: CT RDSR, RRDSR and four PET images
PET_IMAGES = ["NM-PetIm-Siemens.dcm", "NM-PetIm-Siemens-2.dcm", "NM-PetIm-Siemens-3.dcm",
              "NM-PetIm-Siemens-3-sameseries.dcm"]
NM_FILES = sorted(p.name for p in TESTDATA.glob("NM-*.dcm") if not p.name.startswith("NM-CT"))


def _nm(uid_suffix: str) -> Study:
    [study] = [s for s in db.session.scalars(select(Study).where(Study.modality == "NM"))
               if s.study_instance_uid.endswith(uid_suffix)]
    return study


def test_rrdsr_imports_with_the_stated_values(imp):
    r = imp("NM-RRDSR-Siemens.dcm")
    assert r.status == "imported", r.reason
    s = r.study
    assert (s["modality"], s["number_of_events"]) == ("NM", 1)
    assert s["administered_activity_MBq"] == pytest.approx(394.0)
    assert s["nm_effective_dose_mSv"] == pytest.approx(7.486)
    assert (s["radiopharmaceutical"], s["radionuclide"]) == ("Fluorodeoxyglucose F^18^", "^18^Fluorine")
    assert s["activity_per_kg_MBq"] == pytest.approx(394.0 / 110)
    [a] = _nm(PETCT).nm_administrations
    assert a.radionuclide_half_life_s == pytest.approx(6586.2)
    assert a.from_report and len(a.organ_doses) == 22
    assert _nm(PETCT).source_kind == "rrdsr"


def test_extended_rrdsr_keeps_its_further_fields(imp):
    assert imp("NM-RRDSR-Siemens-Extended.dcm").status == "imported"
    [a] = db.session.scalars(select(NmAdministration)).all()
    assert (a.pre_administration_activity_mbq, a.post_administration_activity_mbq) == (11.0, 12.0)
    assert (a.glucose_mmol_l, a.bmi_kg_m2, a.body_surface_area_m2) == (0.87, 23.0, 1.5)
    assert (a.brand_name, a.route, a.site) == ("Some Brand", "Intravenous route", "Via vein")
    assert a.study.patient_weight_kg == 68


@pytest.mark.parametrize("name", NM_FILES)
def test_every_nm_file_imports_and_again_is_a_duplicate(imp, name):
    first = imp(name)
    assert first.status == "imported", first.reason
    assert first.study["modality"] == "NM"
    again = imp(name)
    assert again.status == "duplicate" and "SOP Instance UID" in again.reason
    assert study_count() == 1


def test_image_headers_alone_make_a_study(imp):
    for name in ("NM-NmIm-Siemens-s1-1.dcm", "NM-NmIm-Siemens-s1-2.dcm"):
        assert imp(name).status == "imported"
    study = _nm("4400.13.8597212")
    assert study.source_kind == "nm_image"
    assert [s.series_description for s in study.nm_series] == ["Rest IQ", "Rest IQ-Gated"]
    [a] = study.nm_administrations  # both images state it: kept once
    assert (a.radiopharmaceutical, a.administered_activity_mbq, a.from_report) == ("Sestamibi", 320.0, False)
    assert study.nm_activity_mbq == 320.0 and study.number_of_events == 1


@pytest.mark.parametrize("order", list(itertools.permutations(["NM-RRDSR-Siemens.dcm", "NM-PetIm-Siemens.dcm",
                                                               "NM-PetIm-Siemens-2.dcm"])))
def test_images_and_report_make_one_study_with_one_administration_in_any_order(imp, order):
    for name in order:
        assert imp(name).status == "imported"
    study = _nm(PETCT)
    [a] = study.nm_administrations
    assert a.from_report  # the report's administration, never the images' as well
    assert a.start_datetime.isoformat() == "2022-02-24T10:40:30"  # as the report states it
    assert study.nm_activity_mbq == pytest.approx(394.0)
    assert sorted(s.series_description for s in study.nm_series) == ["PET AC", "PET NAC"]
    assert len(study.objects) == 3
    assert db.session.scalars(select(Study).where(Study.modality == "NM")).all() == [study]


def test_images_of_one_series_are_counted_in_it(imp):
    imp("NM-PetIm-Siemens-3.dcm", "NM-PetIm-Siemens-3-sameseries.dcm")
    [series] = db.session.scalars(select(NmSeries)).all()
    assert (series.series_description, series.image_count, series.units) == ("pet ac", 2, "BQML")


def test_pet_ct_shows_its_ct_events_and_its_activity(imp):
    for name in ("NM-CT-RDSR-Siemens.dcm", "NM-RRDSR-Siemens.dcm", *PET_IMAGES):
        assert imp(name).status == "imported"
    studies = db.session.scalars(select(Study).order_by(Study.modality)).all()
    assert [s.modality for s in studies] == ["CT", "NM"]  # counted once in each modality's list
    ct, nm = studies
    assert ct.study_instance_uid == nm.study_instance_uid
    assert ct.number_of_events > 0 and ct.total_dlp_mgycm > 0 and ct.nm_activity_mbq is None
    assert linked_studies(nm) == [ct] and linked_studies(ct) == [nm]
    detail = study_detail(nm)
    assert detail["linked_studies"] == [{"id": ct.id, "modality": "CT"}]
    assert [a["administered_activity_mbq"] for a in detail["nm_administrations"]] == [pytest.approx(394.0)]
    assert len(detail["nm_series"]) == 3


def test_ct_report_after_the_nm_study_does_not_touch_it(imp):
    imp("NM-RRDSR-Siemens.dcm", "NM-PetIm-Siemens.dcm")
    r = imp("NM-CT-RDSR-Siemens.dcm")
    assert r.status == "imported" and r.study["modality"] == "CT"
    assert len(_nm(PETCT).nm_administrations) == 1 and study_count() == 2


def test_same_report_sent_under_a_new_sop_instance_uid_is_a_duplicate(imp, tmp_path):
    import pydicom
    from pydicom.uid import generate_uid

    ds = pydicom.dcmread(TESTDATA / "NM-RRDSR-Siemens.dcm")
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    copy = tmp_path / "copy.dcm"
    ds.save_as(copy)
    assert imp("NM-RRDSR-Siemens.dcm").status == "imported"
    again = imp(str(copy))
    assert again.status == "duplicate" and "administration" in again.reason
    assert len(_nm(PETCT).nm_administrations) == 1


def test_delete_policy_for_nm_images(app, imp, tmp_path):
    settings = SystemSettings.get()
    settings.del_nm_im = True
    db.session.commit()
    image = tmp_path / "pet.dcm"
    report = tmp_path / "rrdsr.dcm"
    shutil.copy(TESTDATA / "NM-PetIm-GE.dcm", image)
    shutil.copy(TESTDATA / "NM-RRDSR-Siemens.dcm", report)
    assert imp(str(image)).status == "imported" and not image.exists()
    assert imp(str(report)).status == "imported" and report.exists()  # del_rdsr is off


def test_import_command_makes_the_pet_ct_pair_and_shows_it(app, app_env, tmp_path):
    import json

    from tests.conftest import run_cli

    folder = tmp_path / "petct"
    folder.mkdir()
    for name in ("NM-CT-RDSR-Siemens.dcm", "NM-RRDSR-Siemens.dcm", "NM-PetIm-Siemens.dcm"):
        shutil.copy(TESTDATA / name, folder / name)
    done = run_cli(["import", "--json", str(folder)], app_env)
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert sorted((line["status"], line["study"]["modality"]) for line in lines) == [
        ("imported", "CT"), ("imported", "NM"), ("imported", "NM")]
    uid = lines[0]["study"]["study_instance_uid"]
    ct, shown = json.loads(run_cli(["study", "show", uid, "--json"], app_env).stdout)  # both parts of the exam
    assert (ct["modality"], shown["modality"]) == ("CT", "NM")
    assert shown["administered_activity_MBq"] == pytest.approx(394.0)
    assert [s["modality"] for s in ct["linked_studies"]] == ["NM"]
    text = run_cli(["study", "show", uid], app_env).stdout
    assert "administered_activity_MBq" in text and "radionuclide=^18^Fluorine" in text
    assert [a["radionuclide"] for a in shown["nm_administrations"]] == ["^18^Fluorine"]
    assert [s["modality"] for s in shown["linked_studies"]] == ["CT"]
