"""The route table: every route answers as roles.ACCESS declares, for anonymous and for each role."""
from __future__ import annotations

import pytest
from flask import Blueprint

from doseapp import roles
from doseapp.models import Job, User, db
from doseapp.users import create_user
from tests.conftest import session_login

ANONYMOUS = "anonymous"
WHO = [ANONYMOUS, *roles.ROLES]
# The login page sends someone already logged in on to the home page.
REDIRECTS_WHEN_LOGGED_IN = {"auth.login": "/"}
# Routes about one fluoroscopy study (404 for the DX sample).
FLUOROSCOPY_ONLY = {"exports.openskin", "skinmaps.section", "skinmaps.data"}


@pytest.fixture
def no_csrf(app):
    app.config["WTF_CSRF_ENABLED"] = False
    yield
    app.config["WTF_CSRF_ENABLED"] = True


@pytest.fixture
def people(app, no_csrf):
    """One user per role holding only that role, each owning one job; plus a user to edit."""
    users = {r: create_user(f"only-{r}", "password-123", [r]) for r in roles.ROLES}
    jobs = {}
    for role, user in users.items():
        job = Job(kind="system_check", queue="default", title="t", user_id=user.id, rq_id=f"x-{role}")
        db.session.add(job)
        db.session.commit()
        jobs[role] = job.id
    target = create_user("edit-me", "password-123", ["viewer"])
    SAMPLES.update(_sample_rows())
    return users, jobs, target


# Rows that routes with an id in the URL show (equipment, study, not-patient pattern).
SAMPLES: dict[str, object] = {}


def _sample_rows() -> dict[str, object]:
    from doseapp.models import Equipment, NotPatientPattern, StandardName, StandardNameRule, Study

    # A standard name with one rule, for the /config/standard-names/<id>/... routes.
    name = StandardName(modality="DX", name="Route test chest")
    rule = StandardNameRule(standard_name=name, field="study_description", match="exact", value="XR CHEST")
    db.session.add_all([name, rule])
    eq = Equipment(identity_hash="0" * 64, display_name="Route test room", manufacturer="ACME")
    study = Study(study_instance_uid="1.2.3.4", modality="DX", equipment=eq, total_dap_gym2=0.0001)
    # Fluoroscopy-only routes (the openSkin export, the skin dose map) are asked about this one.
    rf_study = Study(study_instance_uid="1.2.3.5", modality="RF", equipment=eq, total_dap_gym2=0.0001)
    pattern = NotPatientPattern(field="id", pattern="phy*")
    db.session.add_all([eq, study, rf_study, pattern])
    db.session.commit()
    alert = _alert_sample(study.id)
    # The skin dose map API is asked about the fluoroscopy study (no events: it answers "no map" and why).
    return {"name_id": name.id, "rule_id": rule.id, "equipment_id": eq.id, "study_id": study.id, "rf_study_id": rf_study.id, "pattern_id": pattern.id,
            "study_key": rf_study.study_instance_uid,
            "study_instance_uid": study.study_instance_uid, "size_import_id": _size_import_sample(), **_scp_samples(),
            "export_id": _export_sample(), "fmt": "csv", **_qr_samples(), "quarantined_id": _quarantine_sample(),
            "alert_id": alert}


def _alert_sample(study_id: int) -> int:
    """A new alert on the DX sample study, for /alerts/<id>/review."""
    from doseapp.models.alerts import Alert

    alert = Alert(rule_key="drl_factor", study_id=study_id, modality="DX", value=2.5, threshold=2.0, unit="×")
    db.session.add(alert)
    db.session.commit()
    return alert.id


def _quarantine_sample() -> int:
    """An object in quarantine with its file, for the /quarantine/<id>/... routes."""
    from flask import current_app

    from doseapp.models import QuarantinedObject

    path = current_app.config["INSTANCE"] / "quarantine" / "route-test.dcm"
    path.write_bytes(b"not DICOM")
    row = QuarantinedObject(path=str(path), original_name="route-test.dcm", reason="not a readable DICOM file",
                            source="cli")
    db.session.add(row)
    db.session.commit()
    return row.id



def _scp_samples() -> dict[str, int]:
    """A stopped Store SCP node with one allowed calling AE, for the /dicom/... routes."""
    from doseapp.models import DicomAllowedAe, DicomStoreScp

    node = DicomStoreScp(name="Route test store", aetitle="ROUTETEST", port=11112, status="stopped")
    node.allowed_aes.append(DicomAllowedAe(aetitle="MODALITY1"))
    db.session.add(node)
    db.session.commit()
    return {"node_id": node.id, "ae_id": node.allowed_aes[0].id}

def _qr_samples() -> dict[str, int]:
    """A remote node (nothing listens on its port), a finished query with a dropped response, and a
    scheduled query, for the /qr/... routes."""
    from doseapp.models import (DicomQuery, DicomQueryStudy, DicomRemoteNode, DicomScheduledQuery,
                                DicomStoreScp)

    remote = DicomRemoteNode(name="Route test PACS", aetitle="ROUTEPACS", ip="127.0.0.1", port=1)
    store = db.session.scalar(db.select(DicomStoreScp).limit(1))
    db.session.add(remote)
    db.session.flush()
    query = DicomQuery(remote_node_id=remote.id, store_scp_id=store.id, parameters={"modalities": ["CT"]},
                       complete=True, stage="Query complete", summary={})
    query.studies.append(DicomQueryStudy(study_instance_uid="1.2.3.9", excluded_reason="already imported"))
    saved = DicomScheduledQuery(name="Hourly CT", remote_node_id=remote.id, store_scp_id=store.id,
                                parameters={"modalities": ["CT"]})
    db.session.add_all([query, saved])
    db.session.commit()
    # A finished retrieve with a failure, for the retrieve jobs page.
    db.session.add(Job(kind="qr_retrieve", queue="qr", title=f"Retrieve for query #{query.id} (C-MOVE)",
                       status="finished", rq_id="x-qr-retrieve", parameters={"query_id": query.id, "method": "move"},
                       result={"requested": 3, "received": 2, "failed": 1, "failures": ["SERIES 1.2.3: status 0xA702"]}))
    db.session.commit()
    return {"remote_id": remote.id, "query_id": query.id, "schedule_id": saved.id}


def _export_sample() -> int:
    """A finished CSV export owned by the exporter, with its file, for the /exports/<id>/... routes."""
    from sqlalchemy import select

    from doseapp.exports.jobs import export_folder

    path = export_folder() / "dxexport-route-test.csv"
    path.write_text("Institution\r\nRoute test\r\n")
    owner = db.session.scalar(select(User).where(User.username == "only-exporter"))
    job = Job(kind="export", queue="export", title="DX CSV export", status="finished", rq_id="x-export",
              user_id=owner.id, modality="DX", parameters={"format": "csv"},
              result={"records": 1, "seconds": 0.1, "file": path.name}, result_path=str(path))
    db.session.add(job)
    db.session.commit()
    return job.id


def _size_import_sample() -> int:
    """A finished patient size import with its log, for the /imports/size/<id>/... routes."""
    from doseapp.ingest.size_csv import log_folder

    log = log_folder() / "route-test.log"
    log.write_text("Row 1: 123: Inserted height of 180 cm\r\n")
    job = Job(kind="size_import", queue="default", title="sizes", status="finished", rq_id="x-size",
              parameters={"original_name": "sizes.csv"}, result={"rows": 1}, result_path=str(log))
    db.session.add(job)
    db.session.commit()
    return job.id


def _login(client, user: User | None) -> None:
    if user is not None:
        session_login(client, user)
        return
    with client.session_transaction() as sess:
        sess.clear()


def _url(app, rule, role, jobs, target) -> str:
    values = {}
    for arg in rule.arguments:
        values[arg] = {
            "job_id": jobs.get(role, next(iter(jobs.values()))),
            "user_id": target.id,
            "filename": "bokeh.min.js" if rule.endpoint == "bokehjs.file" else "css/doseapp.css",
            **SAMPLES,
            "modality": "dx",  # the sample study above is a DX study
            "chart": "workload",  # a chart every modality has
        }[arg]
    if rule.endpoint in FLUOROSCOPY_ONLY:
        values["study_id"] = SAMPLES["rf_study_id"]
    with app.test_request_context():
        from flask import url_for

        return url_for(rule.endpoint, **values)


def test_every_route_is_declared(app):
    declared = set(roles.ACCESS)
    endpoints = {r.endpoint for r in app.url_map.iter_rules()}
    assert endpoints <= declared, f"undeclared: {endpoints - declared}"
    assert declared <= endpoints, f"declared but no such route: {declared - endpoints}"


def test_a_route_without_a_declared_role_stops_the_app(app):
    from doseapp import create_app
    from doseapp.access import init_access

    fresh = create_app(dict(app.config))
    bp = Blueprint("sneaky", __name__)
    bp.add_url_rule("/sneaky", "page", lambda: "secret")
    fresh.register_blueprint(bp)
    with pytest.raises(RuntimeError, match="sneaky.page"):
        init_access(fresh)


@pytest.mark.parametrize("who", WHO)
def test_route_table(app, client, people, who):
    users, jobs, target = people
    _login(client, None if who == ANONYMOUS else users[who])
    checked = 0
    for rule in app.url_map.iter_rules():
        requirement = roles.ACCESS[rule.endpoint]
        url = _url(app, rule, who, jobs, target)
        method = "GET" if "GET" in rule.methods else "POST"
        resp = client.open(url, method=method)
        user = None if who == ANONYMOUS else users[who]
        allowed = roles.allowed(user, requirement) if user else requirement == roles.PUBLIC
        where = f"{method} {url} as {who} (needs {roles.describe(requirement)}) -> {resp.status_code} {resp.location}"
        if allowed:
            if method == "GET" and user is not None and rule.endpoint in REDIRECTS_WHEN_LOGGED_IN:
                assert (resp.status_code, resp.location) == (302, REDIRECTS_WHEN_LOGGED_IN[rule.endpoint]), where
            elif method == "GET":
                assert resp.status_code == 200, where
            else:
                assert resp.status_code not in (401, 403), where
                assert "next=" not in (resp.location or ""), where
        elif who == ANONYMOUS and rule.endpoint.startswith("api_v1."):
            assert resp.status_code == 401 and resp.is_json, where  # an API answers, never redirects
        elif who == ANONYMOUS:
            assert resp.status_code == 302, where
            assert resp.location.startswith("/login?next="), where
        else:
            assert resp.status_code == 403, where
            assert b"role" in resp.data, where
        checked += 1
        _login(client, user)  # logout or role edits must not leak into the next route
    assert checked == len(list(app.url_map.iter_rules()))


def test_admin_does_not_imply_other_roles(app, people):
    users, _, _ = people
    admin = users["admin"]
    assert not roles.allowed(admin, roles.BROWSE)
    assert not roles.allowed(admin, roles.any_of("importqr"))
    assert roles.allowed(admin, roles.ACCESS["config.users"])


def test_instance_without_users_explains_how_to_create_the_first_admin(client):
    resp = client.get("/")
    assert resp.status_code == 200
    assert b"doseapp user create admin --role admin" in resp.data
    resp = client.get("/jobs/")
    assert b"There are no users yet" in resp.data
    html = resp.get_data(as_text=True)
    assert 'add other users on the <a href="/config/users">Users</a> page (Settings › Users)' in html
    assert 'Then <a href="/login">log in</a>.' in html
    german = client.get("/", headers={"Accept-Language": "de"}).get_data(as_text=True)
    assert 'weitere Benutzer auf der Seite <a href="/config/users">Benutzer</a> anzulegen' in german
    assert 'Dann <a href="/login">anmelden</a>.' in german
