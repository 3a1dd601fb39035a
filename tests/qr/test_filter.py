"""The filtering rules as pure functions, over response records shaped like real PACS answers
(the quirks the acceptance PACS, Orthanc, does not produce: no series descriptions, missing
instance numbers, multi-valued or comma-joined ModalitiesInStudy, empty SR series). The image-level
query is a table look-up here; the same code runs against Orthanc in test_retrieve.py."""
from __future__ import annotations

from doseapp.dicomnet import qr_filter
from doseapp.dicomnet.qr_filter import ImageRsp, QueryOptions, SeriesRsp, StudyRsp
from doseapp.extract.classify import ENHANCED_SR, SECONDARY_CAPTURE, XRAY_DOSE_SR

CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"
BASIC_TEXT_SR = "1.2.840.10008.5.1.4.1.1.88.11"


def run(study: StudyRsp, images: dict[str, list[ImageRsp]], imported=None, **options):
    opts = QueryOptions(**({"modalities": ["CT"]} | options))
    series = study.series
    study.series = []
    qr_filter.run([study], opts, lambda s: series, lambda st, se: images.get(se.series_instance_uid, []),
                  lambda uid: imported)
    return study


def images(prefix: str, n: int, sop: str = CT_IMAGE, numbered: bool = True) -> list[ImageRsp]:
    return [ImageRsp(f"{prefix}.{i}", i if numbered else None, sop) for i in range(1, n + 1)]


def test_modalities_in_study_in_the_shapes_pacs_send():
    assert qr_filter.split_modalities(["CT", "SR"]) == ["CT", "SR"]
    assert qr_filter.split_modalities("CT\\SR") == ["CT", "SR"]
    assert qr_filter.split_modalities("ct, sr") == ["CT", "SR"]
    assert qr_filter.split_modalities("") is None and qr_filter.split_modalities(None) is None


def test_ct_without_series_descriptions_keeps_series_of_five_images_or_fewer():
    study = run(StudyRsp("1", "CT", ["CT"], series=[SeriesRsp("a", "CT", number_of_instances=250),
                                                       SeriesRsp("b", "CT", number_of_instances=2)]), {})
    assert [s.series_instance_uid for s in study.kept_series] == ["b"]
    assert "more than 5" in study.series[0].excluded_reason


def test_ct_prefers_the_rdsr_over_an_esr_and_drops_an_empty_sr_series():
    study = run(StudyRsp("1", "CT", ["CT", "SR"], series=[
        SeriesRsp("esr", "SR"), SeriesRsp("rdsr", "SR"), SeriesRsp("empty", "SR"),
        SeriesRsp("img", "CT", series_description="Axial")]),
        {"esr": images("e", 1, ENHANCED_SR), "rdsr": images("r", 1, XRAY_DOSE_SR)})
    assert [s.series_instance_uid for s in study.kept_series] == ["rdsr"]
    reasons = {s.series_instance_uid: s.excluded_reason for s in study.series}
    assert reasons["empty"] == "empty SR series: no instances at image level"
    assert "has an RDSR" in reasons["esr"] and "has an RDSR" in reasons["img"]


def test_toshiba_option_keeps_a_secondary_capture_whole_and_the_first_image_of_others():
    study = run(StudyRsp("1", "CT", ["CT"], series=[SeriesRsp("sc", "CT", series_description="Dose"),
                                                       SeriesRsp("ax", "CT", series_description="Axial")]),
                {"sc": images("s", 2, SECONDARY_CAPTURE),
                 "ax": [ImageRsp("a.3", 3, CT_IMAGE), ImageRsp("a.1", 1, CT_IMAGE), ImageRsp("a.2", None, CT_IMAGE)]},
                toshiba=True)
    sc, ax = study.series
    assert (sc.image_level_move, len(sc.kept_images)) == (False, 2)
    assert ax.image_level_move and [i.sop_instance_uid for i in ax.kept_images] == ["a.1"]
    # Missing instance numbers: the first response is the first image.
    assert qr_filter._first_image(images("n", 3, numbered=False)).sop_instance_uid == "n.1"


def test_fluoroscopy_keeps_rdsr_and_esr_series_only():
    study = run(StudyRsp("1", "RF", ["RF", "SR"], series=[SeriesRsp("img", "RF"), SeriesRsp("esr", "SR"),
                                                          SeriesRsp("txt", "SR")]),
                {"esr": images("e", 1, ENHANCED_SR), "txt": images("t", 1, BASIC_TEXT_SR)}, modalities=["FL"])
    assert [s.series_instance_uid for s in study.kept_series] == ["esr"]
    assert "neither an RDSR nor an Enhanced SR" in study.series[2].excluded_reason


def test_station_name_only_at_series_level_still_filters():
    study = run(StudyRsp("1", "DX", ["DX"], series=[SeriesRsp("a", "DX", station_name="ROOM1"),
                                                       SeriesRsp("b", "DX", station_name="MOBILE2")]),
                {}, modalities=["DX"], station_exclude=["mobile"])
    assert [s.series_instance_uid for s in study.kept_series] == ["a"]


def test_duplicates_leave_only_new_objects_and_move_them_image_by_image():
    study = run(StudyRsp("1", "DX", ["DX"], series=[SeriesRsp("a", "DX")]),
                {"a": images("x", 3, "1.2.840.10008.5.1.4.1.1.1.1")}, imported={"x.1", "x.2"}, modalities=["DX"])
    (series,) = study.kept_series
    assert series.image_level_move and [i.sop_instance_uid for i in series.kept_images] == ["x.3"]
    study = run(StudyRsp("1", "DX", ["DX"], series=[SeriesRsp("a", "DX")]), {"a": images("x", 1)},
                imported={"x.1"}, modalities=["DX"])
    assert study.excluded_reason == "already imported"


def test_duplicate_study_responses_are_kept_once():
    studies = [StudyRsp("1", "DX"), StudyRsp("1", "CR"), StudyRsp("2", "CR")]
    qr_filter.merge_duplicates(studies)
    assert [s.excluded_reason is None for s in studies] == [True, False, True]
    assert "DX query" in studies[1].excluded_reason


def test_nuclear_medicine_keeps_the_rrdsr_and_the_first_image_of_each_pet_series():
    from doseapp.extract.classify import PET_IMAGE, RADIOPHARMACEUTICAL_DOSE_SR

    study = run(StudyRsp("1", "PET/CT", ["PT", "CT", "SR"], series=[
        SeriesRsp("rr", "SR"), SeriesRsp("ctsr", "SR"), SeriesRsp("ac", "PT"), SeriesRsp("ct", "CT")]),
        {"rr": images("r", 1, RADIOPHARMACEUTICAL_DOSE_SR), "ctsr": images("c", 1, XRAY_DOSE_SR),
         "ac": images("p", 4, PET_IMAGE), "ct": images("x", 3)}, modalities=["NM"])
    assert [s.series_instance_uid for s in study.kept_series] == ["rr", "ac"]
    ac = study.series[2]
    assert ac.image_level_move and [i.sop_instance_uid for i in ac.kept_images] == ["p.1"]
    reasons = {s.series_instance_uid: s.excluded_reason for s in study.series}
    assert "no radiopharmaceutical dose report" in reasons["ctsr"] and "CT series" in reasons["ct"]
    assert QueryOptions(modalities=["NM"]).dicom_modalities() == ["NM", "PT"]
