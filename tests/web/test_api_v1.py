"""The JSON API: the same rows as the lists for the same filters, tokens, roles, 401 without credentials."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from doseapp.models import ApiToken, Study, db
from tests.conftest import _empty_all_tables, run_cli
from tests.web import studydata
from tests.web.studydata import client_for
from tests.web.test_lists import CASES, CT_STUDIES, list_ids


@pytest.fixture(scope="module")
def loaded(_session_app):
    studydata.load_testdata(_session_app)
    yield _session_app
    _empty_all_tables(_session_app)


def _token(app, who: str) -> str:
    from doseapp.models import User

    with app.app_context():
        user = db.session.get(User, app.config["TEST_USER_IDS"][who])
        _, value = ApiToken.issue(user, "test")
        db.session.commit()
    return value


@pytest.mark.parametrize("modality,args,expected", CASES)
def test_api_returns_exactly_the_lists_rows(loaded, modality, args, expected):
    client = client_for(loaded, "viewer")
    count, ids = list_ids(client, modality, **args)
    for order in ("-date", "dlp" if modality == "CT" else "events"):
        _, ids = list_ids(client, modality, o=order, **args)
        resp = client.get("/api/v1/studies", query_string={"modality": modality, "per_page": 200, "o": order, **args})
        assert resp.status_code == 200
        data = resp.get_json()
        assert data["count"] == count and data["next"] is None
        assert [r["id"] for r in data["results"]] == ids


def test_api_pages_with_next(loaded):
    client = client_for(loaded, "viewer")
    _, everything = list_ids(client, "CT")
    url, seen = "/api/v1/studies?modality=ct&per_page=5", []
    while url:
        data = client.get(url).get_json()
        assert data["count"] == CT_STUDIES
        seen += [r["id"] for r in data["results"]]
        url = data["next"]
        if url:
            assert url.startswith("http://localhost/api/v1/studies?") and "page=" in url
    assert seen == everything


def test_api_summary_has_the_public_keys_and_units(loaded):
    client = client_for(loaded, "viewer")
    data = client.get("/api/v1/studies?modality=CT&display_name=CTAWP00001").get_json()
    assert data["count"] == 1
    s = data["results"][0]
    assert s["total_dlp_mGy_cm"] == pytest.approx(724.52)
    assert s["modality"] == "CT" and s["number_of_events"] == 4
    assert "patient_name" not in s and "patient_id" not in s
    detail = client.get(f"/api/v1/studies/{s['study_instance_uid']}").get_json()
    assert detail["id"] == s["id"]
    assert sorted(e["acquisition_protocol"] for e in detail["ct_events"]) == \
        ["Monitoring", "PreMonitoring", "TAP", "testæøå"]
    assert all(e["sources"] for e in detail["ct_events"])
    assert client.get("/api/v1/studies/1.2.3.nothing").status_code == 404


def test_api_without_modality_lists_every_study(loaded):
    client = client_for(loaded, "viewer")
    data = client.get("/api/v1/studies?per_page=500").get_json()
    with loaded.app_context():
        assert data["count"] == db.session.query(Study).count() == len(data["results"])
    data = client.get("/api/v1/studies?per_page=500&acquisition_protocol=topogram").get_json()
    # four CT studies have a topogram (the continued pair, one exam, has two)
    assert data["count"] == 3 and {r["modality"] for r in data["results"]} == {"CT"}


def test_bearer_token_401_and_roles(loaded):
    anon = client_for(loaded, None)
    resp = anon.get("/api/v1/studies?modality=CT")
    assert resp.status_code == 401 and resp.is_json and "Bearer" in resp.headers["WWW-Authenticate"]
    resp = anon.get("/api/v1/studies?modality=CT", headers={"Authorization": "Bearer dose_not-a-token"})
    assert resp.status_code == 401 and resp.get_json()["detail"] == "The API token is not valid."
    viewer = _token(loaded, "viewer")
    resp = anon.get("/api/v1/studies?modality=CT", headers={"Authorization": f"Bearer {viewer}"})
    assert resp.status_code == 200 and resp.get_json()["count"] == CT_STUDIES
    assert "Set-Cookie" not in resp.headers  # a token request makes no session
    # The token's user's roles apply: no identifier filters or fields without pid; admin alone cannot browse.
    resp = anon.get("/api/v1/studies?modality=CT&patient_name=smith", headers={"Authorization": f"Bearer {viewer}"})
    assert resp.status_code == 403 and "pid" in resp.get_json()["detail"]
    pid = _token(loaded, "pid")
    resp = anon.get("/api/v1/studies?modality=CT&patient_name=smith", headers={"Authorization": f"Bearer {pid}"})
    assert resp.status_code == 200
    [row] = resp.get_json()["results"]
    assert row["patient_name"] == "SMITH^JOHN" and row["patient_id_hashed"] is True
    admin = _token(loaded, "admin")
    resp = anon.get("/api/v1/studies?modality=CT", headers={"Authorization": f"Bearer {admin}"})
    assert resp.status_code == 403
    # A token works on the API only, never as a login for the web pages.
    resp = anon.get("/ct/", headers={"Authorization": f"Bearer {viewer}"})
    assert resp.status_code == 302
    with loaded.app_context():
        row = db.session.scalar(select(ApiToken).where(ApiToken.hint == viewer[:10]))
        assert row.digest != viewer and viewer not in row.digest and row.last_used_at is not None


def test_bad_arguments_are_400(loaded):
    client = client_for(loaded, "viewer")
    assert client.get("/api/v1/studies?modality=XX").status_code == 400
    assert client.get("/api/v1/studies?modality=CT&dlp_min=lots").status_code == 400
    assert client.get("/api/v1/studies?modality=CT&per_page=100000").status_code == 400


def test_token_command_prints_a_working_token(loaded, app_env):
    result = run_cli(["token", "create", "viewer", "--name", "report script"], app_env)
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    assert re.fullmatch(r"dose_[A-Za-z0-9_-]{40,}", token)
    resp = client_for(loaded, None).get("/api/v1/studies?modality=MG", headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 200 and resp.get_json()["count"] == 5
    listed = run_cli(["token", "list", "viewer"], app_env)
    assert token[:10] in listed.stdout and token not in listed.stdout and "report script" in listed.stdout
    assert run_cli(["token", "create", "nobody"], app_env).returncode != 0
    token_id = next(line.split()[0] for line in listed.stdout.splitlines() if token[:10] in line)
    assert run_cli(["token", "revoke", token_id], app_env).returncode == 0
    resp = client_for(loaded, None).get("/api/v1/studies?modality=MG", headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 401

