"""The DRL comparison and the per-study DRL ratio, against hand-computed values (SQLite and PostgreSQL).

National levels: UK adult CT NDRLs (UKHSA 2024 table, adopted 2022): CT Head DLP 790 mGy·cm, CTDIvol 47 mGy."""
from __future__ import annotations

import datetime as dt

import pytest

from doseapp.models import ReferenceLevel, Study, SystemSettings, db
from doseapp.standards import comparison, drl, flags
from tests.standards.drl_helpers import RECENT, standard_name, study, system

A_DLP = [600, 650, 700, 750, 800, 850, 900, 950, 1000, 1050, 1100]  # 11 studies on system A
B_DLP = [1200, 900, 1000]  # 3 on system B


@pytest.fixture
def head(app):
    a, b = system("CT Room A"), system("CT Room B")
    name = standard_name("CT", "ct head")  # national rows match case-insensitively
    for v in A_DLP:
        study(name, a, total_dlp_mgycm=v, mean_ctdivol_mgy=40.0)
    for v in B_DLP:
        study(name, b, total_dlp_mgycm=v, mean_ctdivol_mgy=50.0, patient_age_years=40.0)
    study(name, a, total_dlp_mgycm=5000, when=RECENT - dt.timedelta(days=400))  # outside the year
    study(name, a, total_dlp_mgycm=None)  # no value: not counted
    db.session.commit()
    return name, a, b


def _by_system(rows):
    return {r.system: r for r in rows}


def test_medians_p75_ratios_and_too_few(head):
    rows = comparison.compare("CT", "dlp")
    got = _by_system(rows)
    assert set(got) == {"CT Room A", "CT Room B"}
    a, b = got["CT Room A"], got["CT Room B"]
    assert (a.n, a.median, a.p75) == (11, 850.0, 975.0)  # p75: rank 7.5 of 0..10 -> 950 + 0.5 * 50
    assert a.drl.value == 790 and not a.drl.is_local
    assert a.ratio == pytest.approx(850 / 790)
    assert a.exceeds and not a.too_few
    assert (b.n, b.median, b.p75) == (3, 1000.0, 1100.0)  # sorted 900, 1000, 1200: rank 1.5 -> 1100
    assert b.ratio == pytest.approx(1000 / 790)
    assert b.too_few and not b.exceeds  # above the DRL, but 3 < 10 studies
    d = b.as_dict()
    assert d["system"] == "CT Room B" and d["standard_name"] == "ct head" and d["drl"] == 790
    assert d["unit"] == "mGy·cm" and "UK Health Security Agency" in d["drl_source"]


def test_ctdivol_and_period(head):
    got = _by_system(comparison.compare("CT", "ctdivol"))
    assert got["CT Room A"].median == 40.0 and got["CT Room A"].drl.value == 47
    assert not got["CT Room A"].exceeds
    old = comparison.Period(RECENT.date() - dt.timedelta(days=500), RECENT.date() - dt.timedelta(days=300))
    [only] = comparison.compare("CT", "dlp", period=old)
    assert (only.system, only.n, only.median) == ("CT Room A", 1, 5000.0)


def test_minimum_sample_setting(head):
    SystemSettings.get().drl_min_sample = 3
    db.session.commit()
    assert _by_system(comparison.compare("CT", "dlp"))["CT Room B"].exceeds


def test_local_overrides_national_and_system_overrides_general(head):
    name, a, b = head
    db.session.add(ReferenceLevel(standard_name_id=name.id, quantity="dlp", value=1000.0, source="local audit 2026"))
    db.session.add(ReferenceLevel(standard_name_id=name.id, quantity="dlp", value=800.0, equipment_id=b.id,
                                  source="room B audit"))
    db.session.commit()
    got = _by_system(comparison.compare("CT", "dlp"))
    assert got["CT Room A"].drl.value == 1000 and got["CT Room A"].ratio == pytest.approx(0.85)
    assert not got["CT Room A"].exceeds
    assert got["CT Room B"].drl.source == "room B audit" and got["CT Room B"].ratio == pytest.approx(1.25)


def test_age_and_weight_bands(head):
    name, a, b = head
    SystemSettings.get().drl_sets = ["uk_ndrl"]  # the local bands alone (the European paediatric set is off)
    db.session.add(ReferenceLevel(standard_name_id=name.id, quantity="dlp", value=300.0, age_min_years=1,
                                  age_max_years=5, source="local paediatric"))
    chest = standard_name("CT", "CT Chest child")
    db.session.add(ReferenceLevel(standard_name_id=chest.id, quantity="dlp", value=100.0, weight_min_kg=15,
                                  weight_max_kg=30, source="local paediatric"))
    study(name, a, total_dlp_mgycm=450, patient_age_years=3.0)
    study(name, a, total_dlp_mgycm=200, patient_age_years=12.0)  # a child with no DRL for the age
    study(chest, b, total_dlp_mgycm=150, patient_age_years=6.0, patient_weight_kg=20.0)
    db.session.commit()
    rows = comparison.compare("CT", "dlp")
    groups = {(r.standard_name, r.system, r.patient_group): r for r in rows}
    young = groups[("ct head", "CT Room A", "age 1–5 y")]
    assert (young.n, young.median, young.drl.value, young.ratio) == (1, 450.0, 300.0, 1.5)
    assert groups[("ct head", "CT Room A", "adult")].n == 11  # the children are not in the adult group
    assert groups[("ct head", "CT Room A", "child, no DRL for the group")].drl is None
    light = groups[("CT Chest child", "CT Room B", "weight 15–30 kg")]
    assert light.ratio == pytest.approx(1.5)
    # The same choice for one study (ingest).
    s = db.session.query(Study).filter_by(total_dlp_mgycm=450).one()
    assert drl.applicable(s, "dlp").value == 300


def test_one_standard_name_and_unknown_quantity(head):
    assert len(comparison.compare("CT", "dlp", standard_name="CT HEAD")) == 2
    assert comparison.compare("CT", "dlp", standard_name="CT Knee") == []
    with pytest.raises(ValueError):
        comparison.compare("CT", "dap")


def test_study_above_the_factor_is_flagged_and_one_below_is_not(head):
    name, a, b = head
    high = study(name, a, total_dlp_mgycm=1200, mean_ctdivol_mgy=40.0)   # 1200 / 790 = 1.519
    low = study(name, a, total_dlp_mgycm=800, mean_ctdivol_mgy=60.0)     # max(800/790, 60/47) = 1.277
    none = study(None, a, total_dlp_mgycm=5000)
    db.session.commit()
    flags.refresh_all()
    db.session.expire_all()
    factor = SystemSettings.get().drl_flag_factor
    assert factor == 1.5
    assert high.drl_ratio == pytest.approx(1200 / 790) and high.drl_ratio >= factor
    assert low.drl_ratio == pytest.approx(60 / 47) and low.drl_ratio < factor
    assert none.drl_ratio is None
    # Ingest's one-study path gives the same numbers.
    assert flags.study_ratio(high) == pytest.approx(1200 / 790)
    # A local DRL changes the ratio on the next refresh; for some studies only.
    db.session.add(ReferenceLevel(standard_name_id=name.id, quantity="dlp", value=600.0, source="local"))
    db.session.commit()
    flags.refresh_studies([low.id])
    db.session.expire_all()
    assert low.drl_ratio == pytest.approx(800 / 600)
    assert high.drl_ratio == pytest.approx(1200 / 790)


def test_mammography_uses_the_breast_with_the_higher_dose(app):
    eq = system("Mammo 1")
    name = standard_name("MG", "Screening mammography")
    db.session.add(ReferenceLevel(standard_name_id=name.id, quantity="agd", value=4.0, source="local"))
    s = study(name, eq, modality="MG", agd_left_mgy=3.0, agd_right_mgy=5.0)
    study(name, eq, modality="MG", agd_left_mgy=2.0, agd_right_mgy=None)
    db.session.commit()
    [row] = comparison.compare("MG", "agd")
    assert (row.n, row.median) == (2, 3.5)
    flags.refresh_all()
    db.session.expire_all()
    assert s.drl_ratio == pytest.approx(1.25)


def test_european_paediatric_bands(head):
    """The shipped European paediatric CT DRLs (RP 185, eu_rp185_paediatric.csv): head by age, chest by weight
    (children only); adults keep the UK adult NDRL. Values: head 1-6 years DLP 505, >6 years 650 (doseapp:
    6-18 y); chest 15-30 kg DLP 70 mGy·cm."""
    name, a, b = head
    chest = standard_name("CT", "CT Chest")
    for v in (400, 500, 700):  # three children of 1 to 6 years: median 500
        study(name, b, total_dlp_mgycm=v, patient_age_years=3.0)
    study(name, b, total_dlp_mgycm=975, patient_age_years=12.0)
    study(chest, b, total_dlp_mgycm=84, patient_age_years=6.0, patient_weight_kg=20.0)
    study(chest, b, total_dlp_mgycm=300, patient_age_years=45.0, patient_weight_kg=20.0)  # an adult: UK 290
    db.session.commit()
    groups = {(r.standard_name, r.system, r.patient_group): r for r in comparison.compare("CT", "dlp")}
    small = groups[("ct head", "CT Room B", "age 1–6 y")]
    assert (small.n, small.median, small.drl.value, small.drl.set_key) == (3, 500.0, 505.0, "eu_rp185_paediatric")
    assert small.ratio == pytest.approx(500 / 505)
    older = groups[("ct head", "CT Room B", "age 6–18 y")]
    assert (older.n, older.median, older.drl.value) == (1, 975.0, 650.0) and older.ratio == pytest.approx(1.5)
    assert groups[("ct head", "CT Room B", "adult")].n == 3  # B_DLP, aged 40
    light = groups[("CT Chest", "CT Room B", "age < 18 y, weight 15–30 kg")]
    assert (light.median, light.drl.value, light.ratio) == (84.0, 70.0, pytest.approx(1.2))
    adult = groups[("CT Chest", "CT Room B", "adult")]
    assert (adult.median, adult.drl.value, adult.drl.set_key) == (300.0, 290.0, "uk_ndrl")
    s = db.session.query(Study).filter_by(total_dlp_mgycm=975).one()
    assert drl.applicable(s, "dlp").value == 650  # ingest's one-study path agrees
