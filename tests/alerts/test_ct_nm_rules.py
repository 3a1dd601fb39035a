"""The CT and nuclear medicine alert rules on the real OpenREM files: CT study DLP, CT cumulative DLP and
summed effective dose estimates per patient, NM administered activity; and no rule switched on without
a threshold."""
from __future__ import annotations

import datetime as dt
import json

import pytest
from pytest import approx

from doseapp.ingest import import_file
from tests.alerts.conftest import alerts
from tests.alerts.test_alerts_web import _client, no_csrf  # noqa: F401 - no_csrf is a fixture
from tests.alerts.test_rules_import import _copy
from tests.conftest import TESTDATA, run_cli

TAP = TESTDATA / "CT-RDSR-Siemens_Flash-TAP-SS.dcm"   # 724.52 mGy·cm, 10.695 mSv estimate, 1997-01-01
GE_CT = TESTDATA / "CT-RDSR-GEPixelMed.dcm"           # 586.34 mGy·cm
TOSHIBA = TESTDATA / "CT-RDSR-ToshibaPixelMed.dcm"     # 349.7 mGy·cm
NM = TESTDATA / "NM-RRDSR-Siemens.dcm"                 # 394.0 MBq
NM_HEART = TESTDATA / "NM-RRDSR-Siemens-Extended.dcm"  # 250.0 MBq
RF_GE = TESTDATA / "RF-RDSR-GE.dcm"


def test_ct_study_dlp_rule_raises_at_or_above_the_threshold(app, rule):
    rule("ct_dlp_study", 586.34)  # the GE study's DLP exactly: at the threshold raises
    ids = {f.name: import_file(f).study["id"] for f in (TAP, GE_CT, TOSHIBA)}
    got = alerts("ct_dlp_study")
    assert {a.study_id: round(a.value, 2) for a in got} == {ids[TAP.name]: 724.52, ids[GE_CT.name]: 586.34}
    assert {(a.modality, a.threshold, a.unit) for a in got} == {("CT", 586.34, "mGy·cm")}


def test_nm_activity_rule(app, rule):
    rule("nm_activity_study", 300)  # MBq
    fdg = import_file(NM).study["id"]
    import_file(NM_HEART)  # 250 MBq: below
    [a] = alerts("nm_activity_study")
    assert (a.study_id, a.modality, a.value, a.threshold, a.unit) == (fdg, "NM", approx(394.0), 300.0, "MBq")


def test_ct_cumulative_dlp_sums_one_patients_ct_studies_only(app, rule, id_privacy, tmp_path):
    id_privacy("plain")
    rule("ct_dlp_cumulative", 1400, weeks=52)  # one TAP study is 724.52, two are 1449.04
    first = import_file(TAP).study["id"]
    assert alerts() == []  # one study alone is never a cumulative alert
    from doseapp.models import Study, db

    patient = db.session.get(Study, first).patient_id
    assert patient
    # A fluoroscopy study of the same patient in the period is not CT: it is not summed.
    import_file(_copy(RF_GE, tmp_path, "rf.dcm", dt.date(1997, 2, 1), patient_id=patient))
    assert alerts() == []
    second = import_file(_copy(TAP, tmp_path, "second.dcm", dt.date(1997, 1, 1) + dt.timedelta(weeks=51))).study["id"]
    [a] = alerts("ct_dlp_cumulative")
    assert (a.study_id, a.modality, a.unit, a.threshold) == (second, "CT", "mGy·cm", 1400.0)
    assert a.value == approx(2 * 724.52)
    assert [s["id"] for s in a.detail["studies"]] == [first, second] and a.detail["period_weeks"] == 52
    # 51 weeks after the second (102 after the first): its period holds the second and itself.
    third = import_file(_copy(TAP, tmp_path, "third.dcm", dt.date(1997, 1, 1) + dt.timedelta(weeks=102))).study["id"]
    assert [x.study_id for x in alerts("ct_dlp_cumulative")] == [second, third]
    assert [s["id"] for s in alerts("ct_dlp_cumulative")[1].detail["studies"]] == [second, third]
    # 53 weeks after the third: alone in its period, nothing.
    import_file(_copy(TAP, tmp_path, "fourth.dcm", dt.date(1997, 1, 1) + dt.timedelta(weeks=155)))
    assert len(alerts()) == 2
    # Another patient's study inside the period adds nothing.
    import_file(_copy(TAP, tmp_path, "other.dcm", dt.date(1997, 3, 1), patient_id="someone-else"))
    assert len(alerts()) == 2


def test_ct_cumulative_effective_dose_and_the_re_evaluation_pass_agree(app, rule, id_privacy, tmp_path):
    """Imported with the rule off, then switched on: the set-based pass over every study (the rules page's
    job) raises what the import would have."""
    from doseapp.alerts.evaluate import evaluate

    id_privacy("plain")
    first = import_file(TAP).study["id"]
    second = import_file(_copy(TAP, tmp_path, "b.dcm", dt.date(1999, 6, 1))).study["id"]
    import_file(_copy(TAP, tmp_path, "c.dcm", dt.date(2010, 1, 1)))  # 13 years later: alone in 5 years
    assert alerts() == []
    rule("ct_effective_dose_cumulative", 20)  # mSv; default period 260 weeks
    raised = evaluate(["ct_effective_dose_cumulative"])
    [a] = alerts("ct_effective_dose_cumulative")
    assert raised == {"ct_effective_dose_cumulative": [a.id]}
    assert (a.study_id, a.unit) == (second, "mSv") and a.value == approx(2 * 10.69515, rel=1e-5)
    assert [s["id"] for s in a.detail["studies"]] == [first, second] and a.detail["period_weeks"] == 260


@pytest.mark.parametrize("key", ["ct_dlp_study", "ct_dlp_cumulative", "ct_effective_dose_cumulative",
                                 "nm_activity_study"])
def test_a_rule_without_a_threshold_cannot_be_switched_on(app, key):
    from doseapp.alerts.rules import rule_rows
    from doseapp.alerts.settings import set_rule

    with pytest.raises(ValueError, match="has no threshold: set one to switch it on"):
        set_rule(key, enabled=True)
    assert rule_rows()[key].enabled is False
    row, changed = set_rule(key, threshold=5, enabled=True)
    assert row.enabled is True and changed["enabled"] == [False, True]


def test_rules_page_refuses_a_rule_on_without_threshold(app, no_csrf):
    from doseapp.alerts.rules import rule_rows
    from doseapp.models import AlertRule, db

    admin = _client(app, "admin")
    page = admin.post("/config/alerts", data={"ct_dlp_study-enabled": "on", "rf_dap_study-threshold": "20000"},
                      follow_redirects=True).get_data(as_text=True)
    assert "CT study total DLP: ct_dlp_study has no threshold: set one to switch it on" in page
    db.session.expire_all()
    assert rule_rows()["ct_dlp_study"].enabled is False
    assert db.session.query(AlertRule).filter_by(enabled=True).count() == 0
    # With a threshold typed, it is on.
    admin.post("/config/alerts", data={"ct_dlp_study-enabled": "on", "ct_dlp_study-threshold": "1000"})
    db.session.expire_all()
    row = rule_rows()["ct_dlp_study"]
    assert (row.enabled, row.threshold) == (True, 1000.0)


def test_command_line_refuses_on_without_threshold_then_evaluates_with_one(app, app_env):
    import_file(TAP)
    import_file(GE_CT)
    listed = run_cli(["alerts", "rule", "list"], app_env).stdout.splitlines()
    line = next(x for x in listed if x.startswith("ct_dlp_study "))
    assert line.split()[:5] == ["ct_dlp_study", "off", "no", "threshold", "set"] and "CT study total DLP" in line
    assert "what the scanner recorded" in next(x for x in listed if x.startswith("ct_dose_check "))
    done = run_cli(["alerts", "rule", "set", "ct_dlp_study", "--on"], app_env)
    assert done.returncode == 2 and "ct_dlp_study has no threshold: set one to switch it on" in done.stderr
    done = run_cli(["alerts", "rule", "set", "ct_dlp_study", "--threshold", "700", "--on"], app_env)
    assert done.returncode == 0, done.stderr
    assert "ct_dlp_study: on, threshold 700 mGy·cm" in done.stdout and "1 new alert(s)" in done.stdout
    out = json.loads(run_cli(["alerts", "list", "--rule", "ct_dlp_study", "--json"], app_env).stdout)
    assert [(o["modality"], round(o["value"], 2), o["unit"]) for o in out] == [("CT", 724.52, "mGy·cm")]
