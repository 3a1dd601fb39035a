"""Toshiba CT dose screens read by PixelMed's dose OCR, enriched from the CT image headers.

The dose screens here are SYNTHETIC: drawn from PixelMed's own glyph set with known values (see
toshiba_screen.py); the CT image headers are made with pydicom. PixelMed itself runs for real.
"""
import numpy as np
import pytest

from doseapp.config import pixelmed_jar
from doseapp.extract import Malformed
from doseapp.extract import toshiba_ct
from tests.extract.toshiba_screen import example_study, write_study

JAR = pixelmed_jar({})
TOOL = toshiba_ct.PixelMed("java", JAR, 120)


def test_screen_values_and_header_values_make_the_events(tmp_path):
    study = example_study()
    write_study(study, tmp_path, JAR)
    report = toshiba_ct.read_study(tmp_path, TOOL)
    assert report.source_kind == "toshiba" and report.tree == "ct"
    assert report.study.study_instance_uid == study.study_uid
    assert report.ct_total_dlp_mgycm == pytest.approx(767.1)
    assert [(e.ctdivol_mgy, e.dlp_mgycm) for e in report.ct_events] == [(45.6, 456.7), (8.2, 310.4)]
    assert [e.ctdiw_phantom_type for e in report.ct_events] == ["IEC Head Dosimetry Phantom",
                                                               "IEC Body Dosimetry Phantom"]
    assert [e.acquisition_type for e in report.ct_events] == ["Spiral Acquisition"] * 2
    assert [e.acquisition_protocol for e in report.ct_events] == ["Head", "Chest"]
    # from the image headers, series by series
    assert [(e.sources[0].kvp, e.sources[0].tube_current_ma, e.sources[0].exposure_time_per_rotation_s)
            for e in report.ct_events] == [(120, 250, 0.75), (100, 180, 0.5)]
    assert [e.pitch_factor for e in report.ct_events] == [0.641, 1.375]
    assert [(e.nominal_single_collimation_mm, e.nominal_total_collimation_mm) for e in report.ct_events] == [
        (0.5, 40.0), (0.5, 32.0)]
    assert [e.exposure_time_s for e in report.ct_events] == [1.5, 6.0]
    assert report.equipment.manufacturer == "TOSHIBA"


def test_a_screen_pixelmed_cannot_read_gives_its_message_without_patient_data(tmp_path):
    study = example_study()
    noise = (np.random.default_rng(1).random((400, 600)) > 0.5).astype(np.uint8) * 255
    write_study(study, tmp_path, JAR, pixels=noise)
    with pytest.raises(Malformed) as caught:
        toshiba_ct.read_study(tmp_path, TOOL)
    reason = caught.value.reason
    assert "PixelMed dose OCR made no dose report" in reason
    assert "Exceeded maximum number of connections" in reason  # PixelMed's own words
    assert study.patient_id not in reason and "Synthetic" not in reason


def test_a_blank_screen_says_no_exposures_were_found(tmp_path):
    write_study(example_study(), tmp_path, JAR, pixels=np.zeros((400, 600), np.uint8))
    with pytest.raises(Malformed, match="PixelMed read the dose screen but found no CT exposures on it"):
        toshiba_ct.read_study(tmp_path, TOOL)


def test_pixelmed_time_limit(tmp_path):
    write_study(example_study(), tmp_path, JAR)
    with pytest.raises(Malformed, match="did not finish within 0.01 s"):
        toshiba_ct.read_study(tmp_path, toshiba_ct.PixelMed("java", JAR, 0.01))


def test_which_objects_are_toshiba_screens_and_images(tmp_path):
    screen, *images = write_study(example_study(), tmp_path, JAR)
    import pydicom
    assert toshiba_ct.is_dose_screen(pydicom.dcmread(screen))
    assert not toshiba_ct.is_ct_image(pydicom.dcmread(screen))
    assert all(toshiba_ct.is_ct_image(pydicom.dcmread(p)) for p in images)
    other = pydicom.dcmread(images[0])
    other.Manufacturer = "SIEMENS"
    assert not toshiba_ct.is_ct_image(other)


def test_enrichment_of_a_real_pixelmed_report_keeps_its_values_and_skips_the_scout():
    """CT-RDSR-ToshibaPixelMed.dcm is what PixelMed made from a real Toshiba screen (OpenREM's test
    file): its values stay as read; the two helical scans get their exposure values from (synthetic)
    image headers, in order, and the scanogram (Constant Angle) gets none."""
    import pydicom

    from doseapp.extract.classify import extract
    from tests.conftest import TESTDATA
    from tests.extract.toshiba_screen import image_datasets

    report = extract(pydicom.dcmread(TESTDATA / "CT-RDSR-ToshibaPixelMed.dcm"))
    images = image_datasets(example_study())
    for ds in images:
        ds.SeriesDescription = ds.ProtocolName = "not named on the screen"
    toshiba_ct.enrich(report, images)
    assert report.ct_total_dlp_mgycm == 349.7
    assert [(e.acquisition_type, e.ctdivol_mgy, e.dlp_mgycm) for e in report.ct_events] == [
        ("Constant Angle Acquisition", None, None), ("Spiral Acquisition", 25.4, 208.5),
        ("Spiral Acquisition", 24.7, 141.2)]
    assert report.ct_events[0].sources == []
    assert [(e.sources[0].kvp, e.sources[0].tube_current_ma, e.pitch_factor) for e in report.ct_events[1:]] == [
        (120, 250, 0.641), (100, 180, 1.375)]
