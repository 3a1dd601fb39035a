"""Users (create, roles, password reset) in the web and the command line, all in the audit log,
and the admin's audit log page with its filters and paging."""
from __future__ import annotations

from sqlalchemy import select

from doseapp.blueprints import config as config_bp
from doseapp.models import User, db
from tests.conftest import run_cli
from tests.web.config_helpers import audit_rows, login, post


def _user(name: str) -> User:
    db.session.expire_all()
    return db.session.scalar(select(User).where(User.username == name))


def test_web_user_changes_are_audited(app, client):
    login(client, "ada")
    resp = post(client, "/config/users/new", {"username": "bob", "password": "bobs-password-1", "roles": ["viewer"]})
    assert resp.status_code == 302
    bob = _user("bob")
    post(client, f"/config/users/{bob.id}", {"roles": ["viewer", "exporter"], "active": "on"})
    assert _user("bob").roles == {"viewer", "exporter"}
    # Password reset by the admin: mismatch and short refused, then set.
    url = f"/config/users/{bob.id}/password"
    assert "Reset the password of bob" in client.get(f"/config/users/{bob.id}").get_data(as_text=True)
    resp = post(client, url, {"password": "new-password-1", "password2": "other-password"})
    assert resp.status_code == 400 and b"The two passwords differ." in resp.data
    resp = post(client, url, {"password": "short", "password2": "short"})
    assert resp.status_code == 400 and b"at least 8 characters" in resp.data
    resp = post(client, url, {"password": "new-password-1", "password2": "new-password-1"})
    assert resp.status_code == 302
    assert _user("bob").check_password("new-password-1") and not _user("bob").check_password("bobs-password-1")
    rows = [(r.username, r.action, r.target, r.details) for r in audit_rows() if r.target == "bob"]
    assert rows == [
        ("ada", "user.create", "bob", {"roles": ["viewer"]}),
        ("ada", "user.roles", "bob", {"roles": [["viewer"], ["exporter", "viewer"]]}),
        ("ada", "user.password_reset", "bob", None),
    ]
    # Deactivating is a role-page change too.
    post(client, f"/config/users/{bob.id}", {"roles": ["viewer", "exporter"]})
    assert _user("bob").active is False
    assert audit_rows("user.roles")[-1].details == {"active": [True, False]}


def test_cli_user_commands_are_audited(app, app_env):
    done = run_cli(["user", "create", "carl", "--role", "viewer", "--password-stdin"], app_env,
                   input_text="carls-password-1\n")
    assert done.returncode == 0, done.stderr
    assert run_cli(["user", "set-roles", "carl", "--role", "admin"], app_env).returncode == 0
    done = run_cli(["user", "set-password", "carl", "--password-stdin"], app_env, input_text="carls-password-2\n")
    assert done.returncode == 0, done.stderr
    rows = [(r.action, r.details) for r in audit_rows() if r.target == "carl"]
    assert rows == [("user.create", {"roles": ["viewer"]}),
                    ("user.roles", {"roles": [["viewer"], ["admin"]]}),
                    ("user.password_reset", None)]
    assert all(r.username.startswith("command line (") and r.user_id is None for r in audit_rows())
    assert _user("carl").check_password("carls-password-2")


def test_audit_log_page_filters_and_pages(app, client, monkeypatch):
    login(client, "ada")
    for n in range(3):
        post(client, "/config/not-patient/new", {"field": "id", "pattern": f"qa{n}*"},
             form_page="/config/not-patient/new?field=id")
    post(client, "/config/users/new", {"username": "dora", "password": "doras-password", "roles": []})
    html = client.get("/config/audit").get_data(as_text=True)
    assert "5 entries." in html  # ada's own creation (command line) + 3 patterns + dora
    assert html.count('<tr data-action="pattern.add">') == 3
    html = client.get("/config/audit?action=user").get_data(as_text=True)
    assert "2 entries." in html and html.count('<tr data-action="user.create">') == 2
    html = client.get("/config/audit?action=pattern.add&user=ada").get_data(as_text=True)
    assert "3 entries." in html and "<td>patient ID pattern qa2*</td>" in html
    assert '<code>{"field": "id", "pattern": "qa0*"}</code>' in html  # details JSON shown
    html = client.get("/config/audit?user=nobody").get_data(as_text=True)
    assert "0 entries." in html and "No entries." in html
    monkeypatch.setattr(config_bp, "AUDIT_PAGE_SIZE", 2)
    html = client.get("/config/audit").get_data(as_text=True)
    assert "Page 1 of 3." in html and "/config/audit?page=2" in html
    html = client.get("/config/audit?page=3").get_data(as_text=True)
    assert html.count("<tr data-action=") == 1 and '<tr data-action="user.create">' in html  # the oldest


def test_config_index_and_nav_for_admin(app, client):
    login(client, "ada")
    home = client.get("/config/").get_data(as_text=True)
    assert '<a href="/config/">Config</a>' in home
    for label in ("Users", "Display names &amp; modality", "DICOM object deletion", "Patient ID",
                  "Not-patient indicators", "Audit log"):
        assert f">{label}</a>" in home
