"""The alerts list and its review, the rules page, the badge, list marker and filter, the study
page, the API and the command line."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from doseapp.ingest import import_file
from doseapp.models import AuditEntry, Study, db
from doseapp.models.alerts import Alert
from doseapp.users import create_user
from tests.alerts.conftest import RF_FILES, alerts
from tests.conftest import FreshContextClient, run_cli, session_login

KEYS = {"id", "rule", "modality", "study_instance_uid", "value", "threshold", "state", "unit", "created_at",
        "study_id"}


@pytest.fixture
def raised(app, rule, id_privacy):
    """The RF files imported with the study DAP rule at 100 cGy·cm²: three alerts (315, 241, 154)."""
    id_privacy("plain")
    rule("rf_dap_study", 100)
    for f in RF_FILES:
        import_file(f)
    assert len(alerts()) == 3
    return alerts()


def _client(app, *roles_):
    app.test_client_class = FreshContextClient
    c = app.test_client()
    user = create_user("u-" + "-".join(roles_), "password-123", list(roles_))
    session_login(c, user)
    return c


@pytest.fixture
def no_csrf(app):
    app.config["WTF_CSRF_ENABLED"] = False
    yield
    app.config["WTF_CSRF_ENABLED"] = True


def test_list_shows_the_alerts_and_a_viewer_cannot_change_state(app, raised, no_csrf):
    viewer = _client(app, "viewer")
    page = viewer.get("/alerts")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert html.count('data-alert="') == 3 and "Fluoroscopy study total DAP" in html
    assert "315.2 cGy·cm²" in html and "100 cGy·cm²" in html
    assert "review-form" not in html  # no review buttons for a viewer
    assert 'id="alerts-badge">3<' in html
    resp = viewer.post(f"/alerts/{raised[0].id}/review", data={"state": "reviewed", "comment": "x"})
    assert resp.status_code == 403
    db.session.expire_all()
    assert db.session.get(Alert, raised[0].id).state == "new"


@pytest.mark.parametrize("role", ["pid", "admin"])
def test_reviewer_acknowledges_with_a_comment_and_it_is_audited(app, raised, no_csrf, role):
    reviewer = _client(app, role)
    a = raised[0]
    resp = reviewer.post(f"/alerts/{a.id}/review", data={"state": "reviewed", "comment": "Patient followed up"})
    assert resp.status_code == 302
    db.session.expire_all()
    row = db.session.get(Alert, a.id)
    assert (row.state, row.comment) == ("reviewed", "Patient followed up") and row.state_changed_by is not None
    entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "alerts.state")).one()
    assert entry.details == {"state": ["new", "reviewed"], "comment": [None, "Patient followed up"]}
    assert entry.username == f"u-{role}"
    reviewer.post(f"/alerts/{a.id}/review", data={"state": "reported", "comment": "Reported to CQC"})
    db.session.expire_all()
    assert db.session.get(Alert, a.id).state == "reported"
    # The tabs: new has two left, reviewed none, reported one.
    viewer = _client(app, "viewer")
    assert viewer.get("/alerts").get_data(as_text=True).count('data-alert="') == 2
    assert viewer.get("/alerts?state=reported").get_data(as_text=True).count('data-alert="') == 1
    assert viewer.get("/alerts?state=all&modality=CT").get_data(as_text=True).count('data-alert="') == 0


def test_home_count_list_marker_filter_and_study_page(app, raised):
    viewer = _client(app, "viewer")
    home = viewer.get("/").get_data(as_text=True)
    assert 'id="home-new-alerts">3<' in home
    listing = viewer.get("/rf/").get_data(as_text=True)
    assert listing.count('class="alert-marker"') == 3 and listing.count("data-study-id=") == 4
    only = viewer.get("/rf/?alert=yes").get_data(as_text=True)
    assert only.count("data-study-id=") == 3
    assert viewer.get("/rf/?alert=no").get_data(as_text=True).count("data-study-id=") == 1
    page = viewer.get(f"/rf/{raised[0].study_id}").get_data(as_text=True)
    assert 'id="study-alerts"' in page and "Fluoroscopy study total DAP" in page


def test_rules_page_saves_audits_and_queues_the_reevaluation(app, no_csrf):
    from doseapp.models import Job

    admin = _client(app, "admin")
    page = admin.get("/config/alerts").get_data(as_text=True)
    assert 'name="rf_dap_study-threshold"' in page and "20000" in page  # OpenREM's default, cGy·cm²
    resp = admin.post("/config/alerts", data={"rf_dap_study-enabled": "on", "rf_dap_study-threshold": "150",
                                              "rf_dap_cumulative-weeks": "8"})
    assert resp.status_code == 302 and "/jobs/" in resp.location
    job = db.session.scalars(select(Job).where(Job.kind == "alerts_reevaluate")).one()
    entries = {e.target: e.details for e in db.session.scalars(select(AuditEntry).where(AuditEntry.action == "alerts.rule"))}
    assert entries["Alert rule rf_dap_study"] == {"enabled": [False, True], "threshold": [20000.0, 150.0]}
    assert entries["Alert rule rf_dap_cumulative"] == {"period_weeks": [12, 8]}
    assert job.status == "queued"


def test_reevaluation_job_raises_what_is_missing_and_keeps_reviewed_alerts(app, raised):
    from doseapp.alerts.jobs import reevaluate
    from doseapp.alerts.review import change_state
    from doseapp.alerts.settings import set_rule

    change_state(raised[0], "reviewed", "seen")
    set_rule("rf_dap_study", threshold=10)  # now the 16 cGy·cm² study too
    set_rule("rf_rp_study", threshold=0.005, enabled=True)
    result = reevaluate()
    assert result["raised"] == {"rf_dap_study": 1, "rf_rp_study": 2} and result["studies"] == 4
    assert reevaluate()["total_raised"] == 0  # never twice
    db.session.expire_all()
    assert db.session.get(Alert, raised[0].id).state == "reviewed"
    assert db.session.get(Alert, raised[0].id).threshold == pytest.approx(100e-6)  # as raised


def test_api_alerts(app, raised):
    viewer = _client(app, "viewer")
    data = viewer.get("/api/v1/alerts?state=new&modality=RF&rule=rf_dap_study").get_json()
    assert data["count"] == 3 and len(data["results"]) == 3
    assert all(KEYS <= set(r) for r in data["results"])
    uids = {s.study_instance_uid for s in db.session.scalars(select(Study))}
    assert {r["study_instance_uid"] for r in data["results"]} <= uids
    assert viewer.get("/api/v1/alerts?state=reviewed").get_json()["count"] == 0
    assert viewer.get("/api/v1/alerts?state=bogus").status_code == 400
    assert viewer.get("/api/v1/alerts?date_from=2019-01-01").get_json()["count"] == 2  # 2019 and 2022 studies


def test_cli_list_and_rule_set(app, app_env, id_privacy):
    id_privacy("plain")
    for f in RF_FILES:
        import_file(f)
    done = run_cli(["alerts", "rule", "set", "rf_dap_study", "--threshold", "100", "--on"], app_env)
    assert done.returncode == 0, done.stderr
    assert "cGy·cm²" in done.stdout and "3 new alert(s)" in done.stdout
    out = json.loads(run_cli(["alerts", "list", "--state", "new", "--json"], app_env).stdout)
    assert len(out) == 3 and all(KEYS <= set(o) for o in out)
    assert {o["rule"] for o in out} == {"rf_dap_study"} and {o["state"] for o in out} == {"new"}
    assert sorted(round(o["value"] * 1e6, 2) for o in out) == [153.57, 241.26, 315.22]
    rules = json.loads(run_cli(["alerts", "rule", "list", "--json"], app_env).stdout)
    assert {r["rule"]: r["enabled"] for r in rules}["rf_dap_study"] is True
    id_privacy("none")
    done = run_cli(["alerts", "rule", "set", "rf_rp_cumulative", "--threshold", "1", "--weeks", "8", "--on"], app_env)
    assert done.returncode == 0 and "cannot work" in done.stdout and "patient IDs are not stored" in done.stdout
    assert json.loads(run_cli(["alerts", "list", "--state", "reviewed", "--json"], app_env).stdout) == []
