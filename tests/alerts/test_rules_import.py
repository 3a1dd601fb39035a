"""Alert rules evaluated at import, on the real OpenREM fluoroscopy, CT and mammography files."""
from __future__ import annotations

import datetime as dt

import pydicom
import pytest
from pydicom.uid import generate_uid
from pytest import approx
from sqlalchemy import select

from doseapp.ingest import import_file
from doseapp.models import Study, db
from tests.alerts.conftest import RF_FILES, alerts
from tests.conftest import TESTDATA


def rf_studies():
    return db.session.scalars(select(Study).where(Study.modality == "RF").order_by(Study.id)).all()


def test_rf_per_study_rules_raise_what_the_totals_say_once(app, rule, id_privacy):
    id_privacy("plain")
    rule("rf_dap_study", 100)      # cGy·cm²
    rule("rf_rp_study", 0.005)     # Gy
    for f in RF_FILES:
        import_file(f)
    studies = rf_studies()
    # The stored totals of the four studies the five files make (Siemens Zee_adjusted is a duplicate).
    dap = {s.study_instance_uid[-8:]: s.total_dap_gym2 * 1e6 for s in studies}
    assert sorted(round(v, 2) for v in dap.values()) == [16.0, 153.57, 241.26, 315.22]
    expected_dap = {s.id for s in studies if s.total_dap_gym2 * 1e6 >= 100}
    expected_rp = {s.id for s in studies if s.total_dose_rp_gy >= 0.005}
    assert len(expected_dap) == 3 and len(expected_rp) == 2  # 315, 241, 154 cGy·cm²; 12.7 and 11.7 mGy
    got_dap, got_rp = alerts("rf_dap_study"), alerts("rf_rp_study")
    assert {a.study_id for a in got_dap} == expected_dap and len(got_dap) == 3
    assert {a.study_id for a in got_rp} == expected_rp and len(got_rp) == 2
    by_study = {s.id: s for s in studies}
    for a in got_dap:
        assert a.value == approx(by_study[a.study_id].total_dap_gym2)
        assert a.threshold == approx(100e-6) and a.unit == "Gy·m²" and a.state == "new" and a.modality == "RF"
    ge = next(s for s in studies if s.equipment.manufacturer.startswith("GE"))
    assert next(a for a in got_rp if a.study_id == ge.id).value == approx(0.0117317)
    # Importing every file again raises nothing new.
    for f in RF_FILES:
        import_file(f)
    assert len(alerts()) == 5


def test_rules_off_raise_nothing(app, rule):
    rule("rf_dap_study", 1, on=False)
    for f in RF_FILES[:2]:
        import_file(f)
    assert alerts() == []


def _copy(src, tmp_path, name, study_date: dt.date, patient_id: str | None = None):
    ds = pydicom.dcmread(src)
    ds.StudyInstanceUID = generate_uid()
    ds.SOPInstanceUID = generate_uid()
    ds.StudyDate = study_date.strftime("%Y%m%d")
    if patient_id is not None:
        ds.PatientID = patient_id
    out = tmp_path / name
    ds.save_as(out)
    return out


GE = TESTDATA / "RF-RDSR-GE.dcm"  # 241.26 cGy·cm², 11.73 mGy at RP, 2019-03-16


@pytest.mark.parametrize("how", ["plain", "hashed"])
def test_cumulative_inside_the_period_raises_outside_not(app, rule, id_privacy, tmp_path, how):
    id_privacy(how)
    rule("rf_dap_cumulative", 400, weeks=12)  # one GE study is 241 cGy·cm², two are 482.5
    rule("rf_rp_cumulative", 0.02)             # one is 11.7 mGy, two are 23.5 mGy
    first = import_file(GE).study["id"]
    assert alerts() == []  # one study alone is never a cumulative alert
    inside = import_file(_copy(GE, tmp_path, "in.dcm", dt.date(2019, 3, 16) + dt.timedelta(weeks=11))).study["id"]
    raised = alerts("rf_dap_cumulative")
    assert [a.study_id for a in raised] == [inside]
    assert raised[0].value == approx(2 * 0.00024126)
    assert [s["id"] for s in raised[0].detail["studies"]] == [first, inside]
    assert [s["date"] for s in raised[0].detail["studies"]] == ["2019-03-16", "2019-06-01"]
    assert [a.study_id for a in alerts("rf_rp_cumulative")] == [inside]
    # 13 weeks after the second, 24 after the first: the period holds only the second and itself.
    import_file(_copy(GE, tmp_path, "later.dcm", dt.date(2019, 6, 1) + dt.timedelta(weeks=13)))
    # ...and one 20 weeks after the first alone of another patient ID: nothing.
    import_file(_copy(GE, tmp_path, "other.dcm", dt.date(2019, 6, 1), patient_id="someone-else"))
    assert [a.study_id for a in alerts("rf_dap_cumulative")] == [inside]
    stored = {s.patient_id for s in rf_studies()}
    assert len(stored) == 2 and (how == "plain") == ("7941723318697695" in stored)


def test_cumulative_outside_the_period_raises_nothing(app, rule, id_privacy, tmp_path):
    id_privacy("plain")
    rule("rf_dap_cumulative", 400, weeks=12)
    import_file(GE)
    import_file(_copy(GE, tmp_path, "out.dcm", dt.date(2019, 3, 16) + dt.timedelta(weeks=13)))
    assert alerts() == []


def test_cumulative_rule_without_stored_ids_says_it_cannot_work(app, rule, id_privacy, tmp_path):
    from doseapp.alerts.rules import cannot_work

    id_privacy("none")
    rule("rf_dap_cumulative", 400)
    assert "patient IDs are not stored" in cannot_work("rf_dap_cumulative")
    assert cannot_work("rf_dap_study") is None
    import_file(GE)
    import_file(_copy(GE, tmp_path, "in.dcm", dt.date(2019, 4, 1)))
    assert alerts() == []


def test_peak_skin_dose_rule_runs_when_the_map_is_stored(app, rule, id_privacy):
    from doseapp.skin.store import compute_and_commit

    id_privacy("plain")
    rule("rf_psd_study", 0.001)
    study_id = import_file(TESTDATA / "RF-RDSR-Siemens-Zee.dcm").study["id"]
    assert alerts() == []  # no map yet: no peak skin dose
    row = compute_and_commit(db.session.get(Study, study_id))
    assert row.status == "ok" and row.peak_skin_dose_gy > 0.001
    [a] = alerts("rf_psd_study")
    assert a.study_id == study_id and a.value == approx(row.peak_skin_dose_gy)
    compute_and_commit(db.session.get(Study, study_id))  # computed again: still the one alert
    assert len(alerts()) == 1


def test_ct_dose_check_alert_carries_what_the_scanner_recorded(app, rule):
    rule("ct_dose_check")
    study_id = import_file(TESTDATA / "CT-RDSR-Toshiba_DoseCheck.dcm").study["id"]
    import_file(TESTDATA / "CT-RDSR-Toshiba_MultiValSD.dcm")  # alert value configured, never reached
    import_file(TESTDATA / "CT-RDSR-Siemens_Flash-TAP-SS.dcm")
    [a] = alerts("ct_dose_check")
    assert a.study_id == study_id and a.modality == "CT" and a.value == 2 and a.threshold is None
    first, second = a.detail["events"]
    assert first["dlp_alert_value_mgycm"] == approx(100) and first["ctdivol_alert_value_mgy"] == approx(10)
    assert first["accumulated_dlp_forward_estimate_mgycm"] == approx(251.2)
    assert first["alert_person"] == "Luuk" and first["kinds"] == ["alert"]
    assert second["accumulated_dlp_forward_estimate_mgycm"] == approx(502.4)
    assert second["accumulated_ctdivol_forward_estimate_mgy"] == approx(10.6)
    assert "alert_reason" in first or "alert_reason" in second or first["alert_person"]


def test_drl_factor_rule(app, rule):
    from doseapp.alerts.evaluate import evaluate

    rule("drl_factor", 2.0)
    ids = [import_file(TESTDATA / n).study["id"] for n in ("CT-RDSR-GEPixelMed.dcm", "DX-RDSR-Canon_CXDI.dcm")]
    assert alerts() == []  # no reference levels: no ratio
    db.session.get(Study, ids[0]).drl_ratio = 2.5
    db.session.get(Study, ids[1]).drl_ratio = 1.9
    db.session.commit()
    evaluate(["drl_factor"])
    [a] = alerts("drl_factor")
    assert (a.study_id, a.modality, a.value, a.threshold, a.unit) == (ids[0], "CT", 2.5, 2.0, "×")


def _mg_repeat_file(tmp_path):
    """A constructed repeat: the Hologic 2D RDSR with its first irradiation event duplicated (same view
    and laterality, a new event UID). No real testdata file has a repeat."""
    import copy

    ds = pydicom.dcmread(TESTDATA / "MG-RDSR-Hologic_2D.dcm")
    items = ds.ContentSequence
    events = [i for i in items if i.ConceptNameCodeSequence[0].CodeValue == "113706"]
    twin = copy.deepcopy(events[0])
    for item in twin.ContentSequence:
        if item.ConceptNameCodeSequence[0].CodeValue == "113769":  # Irradiation Event UID
            item.UID = generate_uid()
    items.append(twin)
    ds.SOPInstanceUID = generate_uid()
    ds.StudyInstanceUID = generate_uid()
    out = tmp_path / "mg-repeat.dcm"
    ds.save_as(out)
    return out


def test_mammography_repeat(app, rule, tmp_path):
    rule("mg_repeat", 1)
    plain = import_file(TESTDATA / "MG-RDSR-Hologic_2D.dcm").study["id"]
    assert alerts() == []
    repeated = import_file(_mg_repeat_file(tmp_path)).study["id"]
    [a] = alerts("mg_repeat")
    assert a.study_id == repeated != plain and a.value == 1
    assert [g["exposures"] for g in a.detail["repeated"]] == [2]


def test_dap_display_unit_is_the_lists_one():
    from doseapp import filters
    from doseapp.alerts import rules

    assert rules.DAP_DISPLAY_PER_STORED == filters.DAP_DISPLAY_PER_STORED


def test_drl_factor_rule_on_a_real_nm_import(app, rule):
    """A local activity DRL for the standard name an RRDSR's description maps to: its import raises the
    DRL rule for NM with the ratio of the stated 394.0 MBq to the DRL."""
    from doseapp.models import ReferenceLevel, StandardName
    from doseapp.standards import names

    rule("drl_factor", 2.0)
    names.add_rule("NM", "PET FDG", "study_description", "exact", "PET/CT Ganzkoerper FDG")
    db.session.commit()
    name = db.session.scalar(select(StandardName).where(StandardName.modality == "NM"))
    db.session.add(ReferenceLevel(standard_name_id=name.id, quantity="activity", value=150.0, source="local NM audit"))
    db.session.commit()
    result = import_file(TESTDATA / "NM-RRDSR-Siemens.dcm")
    assert result.status == "imported"
    [a] = alerts("drl_factor")
    assert (a.study_id, a.modality, a.threshold, a.unit) == (result.study["id"], "NM", 2.0, "×")
    assert a.value == approx(394.0 / 150.0, rel=1e-3)
