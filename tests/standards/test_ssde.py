"""SSDE (AAPM TG-204 fits, TG-220 water-equivalent diameter): the pure function, and the values a
real CT RDSR gets at import. No file in testdata carries a water-equivalent diameter: the tests that
need one add it to a copy of a real RDSR (tests/standards/rdsr_files.py)."""
from __future__ import annotations

import math

import pytest

from doseapp.models import Study, db
from doseapp.standards import ssde
from tests.standards.rdsr_files import with_wed


def test_conversion_factor_by_hand():
    # 32 cm: f = 3.704369 * exp(-0.03671937 * 28.4) = 3.704369 * exp(-1.042830108) = 3.704369 * 0.352455781 = 1.305626
    assert ssde.conversion_factor(28.4, 32) == pytest.approx(1.305626, rel=1e-6)
    # 16 cm: f = 1.874799 * exp(-0.03871313 * 15.0) = 1.874799 * exp(-0.58069695) = 1.874799 * 0.559508281 = 1.048966
    assert ssde.conversion_factor(15.0, 16) == pytest.approx(1.048966, rel=1e-6)


def test_phantom_from_the_reported_type():
    assert ssde.phantom_cm("IEC Body Dosimetry Phantom") == 32
    assert ssde.phantom_cm("IEC Head Dosimetry Phantom") == 16
    assert ssde.phantom_cm(None) is None and ssde.phantom_cm("Something else") is None


def test_order_of_sources_and_reasons():
    reported = ssde.estimate(ctdivol_mgy=10, phantom_type="IEC Body Dosimetry Phantom",
                             acquisition_type="Spiral Acquisition", reported_ssde_mgy=12.5,
                             reported_method="Estimated from Water Equivalent Diameter", wed_mm=250)
    assert reported == ssde.Ssde(12.5, "reported by the scanner (Estimated from Water Equivalent Diameter)")
    # recomputing from the stored row keeps the reported value and its method
    assert ssde.reported_part(reported.mgy, reported.method) == (12.5, "Estimated from Water Equivalent Diameter")
    computed = ssde.estimate(ctdivol_mgy=10, phantom_type="IEC Body Dosimetry Phantom",
                             acquisition_type="Spiral Acquisition", wed_mm=284)
    assert computed.method == "TG-220 from reported water-equivalent diameter 28.4 cm, 32 cm phantom"
    assert computed.mgy == pytest.approx(13.056263, rel=1e-6)
    assert ssde.reported_part(computed.mgy, computed.method) == (None, None)
    localizer = ssde.estimate(ctdivol_mgy=0.1, phantom_type="IEC Body Dosimetry Phantom",
                              acquisition_type="Constant Angle Acquisition", wed_mm=284)
    assert localizer.mgy is None and "localizer" in localizer.method
    unknown = ssde.estimate(ctdivol_mgy=10, phantom_type=None, acquisition_type="Spiral Acquisition", wed_mm=284)
    assert unknown.mgy is None and "phantom" in unknown.method and unknown.method.startswith("no SSDE")
    outside = ssde.estimate(ctdivol_mgy=10, phantom_type="IEC Body Dosimetry Phantom",
                            acquisition_type="Spiral Acquisition", wed_mm=600)
    assert outside.mgy is None and "outside" in outside.method
    adult = ssde.estimate(ctdivol_mgy=10, phantom_type="IEC Body Dosimetry Phantom",
                          acquisition_type="Spiral Acquisition", age_years=60)
    assert adult == ssde.Ssde(None, "no SSDE: the report gives no water-equivalent diameter and the patient is an adult (age 60 y)")


def test_rdsr_with_added_wed_gives_ctdivol_times_the_hand_factor(imp, tmp_path):
    """Siemens Flash TAP: the spiral event (CTDIvol 9.91 mGy, IEC Body phantom) with a water-equivalent
    diameter of 28.4 cm ADDED BY THIS TEST to its CT Dose container."""
    path = with_wed("CT-RDSR-Siemens_Flash-TAP-SS.dcm", {3: 28.4}, tmp_path / "wed.dcm")
    result = imp(str(path))
    assert result.status == "imported", result
    study = db.session.get(Study, result.study["id"])
    spiral = [e for e in study.ct_events if e.acquisition_type == "Spiral Acquisition"]
    assert len(spiral) == 1
    event = spiral[0]
    assert event.water_equivalent_diameter_mm == pytest.approx(284.0)
    # f = 3.704369 * exp(-0.03671937 * 28.4) = 1.3056262698; SSDE = 9.91 mGy * 1.3056262698 = 12.938756 mGy
    factor = 3.704369 * math.exp(-0.03671937 * 28.4)
    assert factor == pytest.approx(1.3056262698, rel=1e-9)
    assert event.ssde_mgy == pytest.approx(9.91 * 1.3056262698, rel=1e-9)
    assert event.ssde_mgy == pytest.approx(12.938756, rel=1e-6)
    assert event.ssde_method == "TG-220 from reported water-equivalent diameter 28.4 cm, 32 cm phantom"
    # the study: one scan (the spiral), so its mean SSDE is that event's; the localizer and the two
    # bolus-tracking (stationary) events are not in the mean CTDIvol either
    assert study.mean_ssde_mgy == pytest.approx(12.938756, rel=1e-6)
    assert study.mean_ctdivol_mgy == pytest.approx(9.91)
    assert study.ssde_method == event.ssde_method
    others = [e for e in study.ct_events if e is not event]
    assert all(e.ssde_mgy is None for e in others)
    assert [e.ssde_method for e in others if e.acquisition_type == "Constant Angle Acquisition"] == [
        "no SSDE: a localizer (constant angle acquisition) is not a scan"]


def test_importing_the_same_object_twice_changes_nothing(imp, tmp_path):
    path = with_wed("CT-RDSR-Siemens_Flash-TAP-SS.dcm", {3: 28.4}, tmp_path / "wed.dcm")
    first = imp(str(path))
    study = db.session.get(Study, first.study["id"])
    before = [(e.ssde_mgy, e.ssde_method, e.effective_dose_estimate_msv) for e in study.ct_events]
    summary = (study.mean_ssde_mgy, study.ssde_method, study.effective_dose_msv, study.mean_ctdivol_mgy)
    imp(str(path))
    from doseapp.ingest.summary import summarise_ct_estimates
    summarise_ct_estimates(study)  # and computing again from the stored rows gives the same
    db.session.commit()
    study = db.session.get(Study, first.study["id"])
    assert [(e.ssde_mgy, e.ssde_method, e.effective_dose_estimate_msv) for e in study.ct_events] == before
    assert (study.mean_ssde_mgy, study.ssde_method, study.effective_dose_msv, study.mean_ctdivol_mgy) == summary


def test_real_adult_file_says_why_there_is_no_ssde(imp):
    """Siemens Multi-3 (age 60, no water-equivalent diameter): no SSDE, and the method says why."""
    result = imp("CT-RDSR-Siemens-Multi-3.dcm")
    study = db.session.get(Study, result.study["id"])
    assert study.mean_ssde_mgy is None
    assert study.ssde_method == ("no SSDE: the report gives no water-equivalent diameter and the patient is "
                                 "an adult (age 60 y)")
    # mean CTDIvol over the two spirals (8.13 and 7.02 mGy), not the topogram (0.15 mGy): (8.13 + 7.02) / 2 = 7.575
    assert study.mean_ctdivol_mgy == pytest.approx(7.575)


def test_child_copy_says_which_estimate(imp, tmp_path):
    """Siemens Multi-3 with the patient's age changed BY THIS TEST to 7 years."""
    path = with_wed("CT-RDSR-Siemens-Multi-3.dcm", {}, tmp_path / "child.dcm", age="007Y")
    result = imp(str(path))
    study = db.session.get(Study, result.study["id"])
    assert study.patient_age_years == pytest.approx(7)
    assert study.mean_ssde_mgy is None
    assert study.ssde_method.startswith("no SSDE: the report gives no water-equivalent diameter and the "
                                        "patient is a child (age 7 y)")
