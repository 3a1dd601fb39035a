"""Effective dose estimates (DLP × k, AAPM Report 96 Table 1): the shipped table, the pure function,
and real files' events at import."""
from __future__ import annotations

import pytest

from doseapp.models import Study, db
from doseapp.standards import effective_dose as ed


def test_table_values_as_published():
    """AAPM Report 96 (2008) Table 1, as reproduced in Li et al., Med Phys 2012;39:2129, Table XII."""
    k = ed.coefficients()
    assert k[("head", "adult")] == (0.0021, 16)
    assert k[("head", "0")] == (0.011, 16)
    assert k[("chest", "adult")] == (0.014, 32)
    assert k[("chest", "5")] == (0.018, 32)
    assert k[("abdomen and pelvis", "1")] == (0.030, 32)
    assert k[("trunk", "10")] == (0.014, 32)
    assert len(k) == 20


def test_age_bands_and_regions():
    assert [ed.age_band(a) for a in (None, 0.2, 2, 6, 12, 15, 40)] == ["adult", "0", "1", "5", "10", "adult", "adult"]
    assert ed.region_of("Chest, Abdomen and Pelvis") == "trunk"
    assert ed.region_of("Abdomen") == "abdomen and pelvis"
    assert ed.region_of("Entire body") is None
    assert ed.region_of(None, "CT Chest With Contrast") == "chest"
    assert ed.region_of(None, "CT head and chest") is None  # not clearly one region


def test_unknown_region_says_so():
    e = ed.estimate(dlp_mgycm=100, target_region="Entire body", age_years=50)
    assert e == ed.Estimate(None, None, "no estimate: target region 'Entire body' has no coefficient")


def test_real_file_dlp_times_the_table_value(imp):
    """Siemens Flash TAP (age 67.6: adult): the spiral abdomen event, DLP 708.2 mGy·cm × 0.015 mSv/(mGy·cm)
    = 10.623 mSv; the two abdomen bolus-tracking events 1.2 × 0.015 = 0.018 and 3.61 × 0.015 = 0.05415;
    the "Entire body" topogram has no coefficient. Study: 10.623 + 0.018 + 0.05415 = 10.69515 mSv."""
    result = imp("CT-RDSR-Siemens_Flash-TAP-SS.dcm")
    study = db.session.get(Study, result.study["id"])
    by_protocol = {e.acquisition_protocol: e for e in study.ct_events}
    tap = by_protocol["TAP"]
    assert tap.effective_dose_coefficient == 0.015
    assert tap.effective_dose_estimate_msv == pytest.approx(10.623, rel=1e-9)
    assert tap.effective_dose_region == "abdomen and pelvis, adult"
    topogram = [e for e in study.ct_events if e.acquisition_type == "Constant Angle Acquisition"][0]
    assert topogram.effective_dose_estimate_msv is None
    assert topogram.effective_dose_region == "no estimate: target region 'Entire body' has no coefficient"
    assert study.effective_dose_msv == pytest.approx(10.69515, rel=1e-9)


def test_chest_file(imp):
    """Siemens Multi-3 (age 60): chest, k = 0.014; 7.46 + 69.81 + 158.82 = 236.09 mGy·cm × 0.014 = 3.30526 mSv."""
    result = imp("CT-RDSR-Siemens-Multi-3.dcm")
    study = db.session.get(Study, result.study["id"])
    assert [e.effective_dose_coefficient for e in study.ct_events] == [0.014, 0.014, 0.014]
    assert study.effective_dose_msv == pytest.approx(3.30526, rel=1e-9)
