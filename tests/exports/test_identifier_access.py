"""Exports with patient identifiers: made by a pid exporter, downloaded only by users holding pid
(admins see every export, but without pid they get a plain 403 and no link), and every start and
download of one is in the audit log. Runs the export on a real worker."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import select

from doseapp.models import AuditEntry, Job, SystemSettings, db
from doseapp.users import create_user
from tests.conftest import run_cli
from tests.exports.helpers import as_dicts, load

CT = "CT-RDSR-Siemens_Flash-TAP-SS.dcm"  # patient SMITH^JOHN
PASSWORD = "long-enough-1"


def _token(client, path="/exports/") -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).get_data(as_text=True)).group(1)


def _login(client, username):
    with client.session_transaction() as sess:
        sess.clear()
    resp = client.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": _token(client, "/login")})
    assert resp.status_code == 302


def _audit(action):
    db.session.expire_all()
    return list(db.session.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)))


@pytest.fixture
def exports(app, client, app_env):
    """A finished CSV export with names (started by pat, exporter + pid, filtered on a patient name)
    and a finished one without identifiers (started by erin)."""
    settings = SystemSettings.get()
    settings.name_stored, settings.name_hashed = True, False
    db.session.commit()
    load(CT)
    for name, roles in (("pat", ["exporter", "pid"]), ("erin", ["exporter"]), ("ada", ["admin"]),
                        ("adp", ["admin", "pid"])):
        create_user(name, PASSWORD, roles)
    _login(client, "pat")
    resp = client.post("/exports/start-pid/ct/csv", data={"csrf_token": _token(client), "name": "1", "pat_id": "0",
                                                           "patient_name": "smith", "manufacturer": "siemens"})
    assert resp.status_code == 302
    _login(client, "erin")
    assert client.post("/exports/start/ct/csv", data={"csrf_token": _token(client)}).status_code == 302
    done = run_cli(["worker", "--burst"], app_env)
    assert done.returncode == 0, done.stderr
    db.session.expire_all()
    with_names, plain = db.session.scalars(select(Job).where(Job.kind == "export").order_by(Job.id)).all()
    assert (with_names.status, plain.status) == ("finished", "finished"), (with_names.message, plain.message)
    assert with_names.parameters["name"] and not plain.parameters["name"]
    files = [Path(j.result_path) for j in (with_names, plain)]
    yield with_names.id, plain.id
    for path in files:  # the exports folder is the session's: other tests count its files
        path.unlink(missing_ok=True)


def test_admin_without_pid_sees_the_export_but_gets_no_identifiers(client, exports):
    with_names, plain = exports
    _login(client, "ada")
    page = client.get("/exports/").get_data(as_text=True)
    assert f'id="export-{with_names}"' in page  # admins see every export...
    assert f"/exports/{with_names}/download" not in page  # ...but no link to one with identifiers
    assert "patient identifiers, for the pid role only" in page
    assert f"/exports/{plain}/download" in page
    resp = client.get(f"/exports/{with_names}/download")
    assert resp.status_code == 403
    assert "This export holds patient names or IDs: downloading it needs the pid role." in resp.get_data(as_text=True)
    assert "SMITH" not in resp.get_data(as_text=True)
    assert client.get(f"/exports/{plain}/download").status_code == 200
    assert _audit("export.download_identifiers") == []  # a refusal sends nothing, and a plain export is not audited


def test_pid_users_download_and_every_download_is_audited(client, exports):
    with_names, _ = exports
    for who in ("pat", "adp"):
        _login(client, who)
        assert f"/exports/{with_names}/download" in client.get("/exports/").get_data(as_text=True)
        resp = client.get(f"/exports/{with_names}/download")
        assert resp.status_code == 200
        rows = as_dicts(list(__import__("csv").reader(resp.get_data(as_text=True).lstrip("\ufeff").splitlines())))
        assert [r["Patient name"] for r in rows] == ["SMITH^JOHN"]
    downloads = _audit("export.download_identifiers")
    assert [(a.username, a.target) for a in downloads] == [("pat", "CT CSV export with names"),
                                                           ("adp", "CT CSV export with names")]
    assert all(a.details["export_id"] == with_names and a.details["owner"] == "pat"
               and a.details["file"].startswith("ctexport") for a in downloads)


def test_starting_an_export_with_identifiers_is_audited_without_the_identifiers(client, exports):
    [start] = _audit("export.start_identifiers")
    assert (start.username, start.target) == ("pat", "CT CSV export with names")
    assert start.details == {"modality": "CT", "format": "csv", "names": True, "ids": False,
                             "filter": {"manufacturer": "siemens", "patient_name": "(patient identifier, not recorded)"}}
    assert "smith" not in str(start.details).lower()


def test_losing_pid_loses_the_download(app, client, exports):
    from doseapp.users import change_roles, find_user

    with_names, _ = exports
    change_roles(find_user("pat"), ["exporter"])
    _login(client, "pat")
    assert client.get(f"/exports/{with_names}/download").status_code == 403


def test_command_line_exports_with_identifiers_are_audited_too(app, app_env, tmp_path):
    settings = SystemSettings.get()
    settings.name_stored, settings.name_hashed = True, False
    db.session.commit()
    load(CT)
    out = tmp_path / "names.csv"
    done = run_cli(["export", "--modality", "ct", "--format", "csv", "--with-names", "--filter", "patient_name=smith",
                    "--out", str(out)], app_env)
    assert done.returncode == 0, done.stderr
    assert "SMITH^JOHN" in out.read_text()
    [start] = _audit("export.start_identifiers")
    assert start.username.startswith("command line (") and str(out) in start.target
    assert start.details == {"modality": "CT", "format": "csv", "names": True, "ids": False,
                             "filter": {"patient_name": "(patient identifier, not recorded)"}}
    plain = run_cli(["export", "--modality", "ct", "--format", "csv", "--out", str(tmp_path / "plain.csv")], app_env)
    assert plain.returncode == 0 and len(_audit("export.start_identifiers")) == 1
