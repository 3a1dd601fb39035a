"""Exports as jobs and on the web: start from a list's filters, run on a real worker (real Redis),
see progress and the completed export, download, delete; abort leaves no file; who may do what;
the command line."""
from __future__ import annotations

import re
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import select

from doseapp.exports import jobs as export_jobs
from doseapp.exports.run import run_export
from doseapp.models import Job, db
from doseapp.runtime.queues import JobCancelled, JobContext
from doseapp.users import create_user
from tests.conftest import run_cli
from tests.exports.helpers import as_dicts, load, read_csv

CT = "CT-RDSR-Siemens_Flash-TAP-SS.dcm"


def _login(client, username):
    with client.session_transaction() as sess:
        sess.clear()  # log out whoever was logged in
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").get_data(as_text=True)).group(1)
    resp = client.post("/login", data={"username": username, "password": "long-enough-1", "csrf_token": token})
    assert resp.status_code == 302


def _token(client, path="/exports/") -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).get_data(as_text=True)).group(1)


@pytest.fixture
def people(app):
    return {name: create_user(name, "long-enough-1", roles) for name, roles in (
        ("erin", ["exporter"]), ("pat", ["exporter", "pid"]), ("otto", ["exporter"]), ("ada", ["admin"]),
        ("pia", ["pid", "viewer"]), ("vic", ["viewer"]))}


def _exports_folder(app) -> Path:
    return Path(app.config["INSTANCE"]) / "exports"


def test_aborted_export_leaves_no_file(app, tmp_path):
    load(CT, "CT-RDSR-Siemens_Flash-QA-DS.dcm")
    calls = []

    def cancel_after_first_batch(done, total):
        calls.append(done)
        if done >= 1:
            raise JobCancelled()
    for fmt in ("csv", "xlsx"):
        out = tmp_path / f"x.{fmt}"
        with pytest.raises(JobCancelled):
            run_export("CT", fmt, {}, out=out, progress=cancel_after_first_batch, batch=1)
        assert not list(tmp_path.iterdir())  # neither the file nor its .part


def test_abort_through_the_job_leaves_no_file(app, people):
    load(CT)
    folder = _exports_folder(app)
    before = set(folder.glob("*"))
    row = Job(kind="export", queue="export", status="started", user_id=people["erin"].id, modality="CT",
              parameters=export_jobs.parameters("CT", "xlsx", {}), cancel_requested=True)
    db.session.add(row)
    db.session.commit()
    with pytest.raises(JobCancelled):
        export_jobs.run_job(JobContext(row))
    assert set(folder.glob("*")) == before


def test_identifiers_refused_to_exporters_without_pid(app, people):
    load(CT)
    row = Job(kind="export", queue="export", status="started", user_id=people["erin"].id, modality="CT",
              parameters=export_jobs.parameters("CT", "csv", {}, name=True))
    db.session.add(row)
    db.session.commit()
    with pytest.raises(PermissionError):
        export_jobs.run_job(JobContext(row))
    assert export_jobs.may_export_pid(people["pat"]) and not export_jobs.may_export_pid(people["pia"])


def test_exports_page_flow_with_a_real_worker(app, client, app_env, people):
    load(CT, "CT-RDSR-Siemens_Flash-QA-DS.dcm", "CT-RDSR-GEPixelMed.dcm")
    _login(client, "erin")
    # The list's filter goes with the request; the export has exactly the list's studies.
    resp = client.post("/exports/start/ct/xlsx", data={"csrf_token": _token(client), "manufacturer": "siemens",
                                                       "page": "2", "not_a_filter": "x"})
    assert resp.status_code == 302 and resp.location == "/exports/"
    job = db.session.scalar(select(Job).where(Job.kind == "export"))
    assert job.status == "queued" and job.queue == "export" and job.parameters["args"] == {"manufacturer": "siemens"}
    page = client.get("/exports/").get_data(as_text=True)
    assert "Exports in progress" in page and "every 2s" in page and "Abort" in page and f'id="export-{job.id}"' in page

    done = run_cli(["worker", "--burst"], app_env)
    assert done.returncode == 0, done.stderr
    db.session.expire_all()
    job = db.session.get(Job, job.id)
    assert job.status == "finished", (job.message, job.result)
    assert job.result["records"] == 2 and job.progress == 1.0 and job.progress_total == 2
    path = Path(job.result_path)
    assert path.parent == _exports_folder(app) and re.fullmatch(r"ctexport\d{8}-\d{12}\.xlsx", path.name)

    page = client.get("/exports/tables").get_data(as_text=True)
    assert "every 2s" not in page and "Completed exports" in page and "XLSX export" in page
    assert f"/exports/{job.id}/download" in page and 'id="export-select-all"' in page
    download = client.get(f"/exports/{job.id}/download")
    assert download.status_code == 200 and "attachment" in download.headers["Content-Disposition"]
    (tmp := _exports_folder(app) / "readback.xlsx").write_bytes(download.data)
    sheet = openpyxl.load_workbook(tmp)["All data"]
    tmp.unlink()
    header = [c.value for c in sheet[1]]
    assert {r[header.index("Manufacturer")] for r in sheet.iter_rows(min_row=2, values_only=True)} == {"SIEMENS"}

    # Others' exports: hidden from other exporters, shown to admins.
    _login(client, "otto")
    assert f'id="export-{job.id}"' not in client.get("/exports/").get_data(as_text=True)
    assert client.get(f"/exports/{job.id}/download").status_code == 404
    _login(client, "ada")
    assert f'id="export-{job.id}"' in client.get("/exports/").get_data(as_text=True)

    _login(client, "erin")
    resp = client.post("/exports/delete", data={"csrf_token": _token(client), "export_id": [str(job.id)]})
    assert resp.status_code == 302
    assert not path.exists() and db.session.scalar(select(Job).where(Job.id == job.id)) is None


def test_abort_from_the_page_and_failed_exports_show_the_reason(app, client, app_env, people):
    load(CT)
    _login(client, "erin")
    client.post("/exports/start/ct/csv", data={"csrf_token": _token(client)})
    client.post("/exports/start/ct/nhsbsp", data={"csrf_token": _token(client)})  # refused: MG only
    client.post("/exports/start/ct/csv", data={"csrf_token": _token(client), "dlp_min": "not a number"})
    jobs = db.session.scalars(select(Job).where(Job.kind == "export")).all()
    assert len(jobs) == 1  # the two bad requests started nothing
    resp = client.post(f"/exports/{jobs[0].id}/abort", data={"csrf_token": _token(client)},
                       headers={"HX-Request": "true"})
    assert resp.status_code == 200
    db.session.expire_all()
    assert db.session.get(Job, jobs[0].id).status == "cancelled"
    assert run_cli(["worker", "--burst"], app_env).returncode == 0
    db.session.expire_all()
    assert db.session.get(Job, jobs[0].id).status == "cancelled" and not db.session.get(Job, jobs[0].id).result_path
    assert not list(_exports_folder(app).glob("ctexport*"))
    page = client.get("/exports/").get_data(as_text=True)
    assert "Failed or aborted exports" in page and "Cancelled" in page

    # A failure shows its reason.
    row = Job(kind="export", queue="export", status="failed", user_id=people["erin"].id, title="CT CSV export",
              message="Failed: disk full")
    db.session.add(row)
    db.session.commit()
    assert "Failed: disk full" in client.get("/exports/").get_data(as_text=True)


def test_identifier_exports_only_for_pid_exporters(app, client, people):
    load(CT)
    _login(client, "erin")
    assert client.post("/exports/start-pid/ct/csv", data={"csrf_token": _token(client), "name": "1"}).status_code == 403
    _login(client, "pia")  # pid without exporter: refused
    resp = client.post("/exports/start-pid/ct/csv", data={"csrf_token": _token(client, "/"), "name": "1"})
    assert resp.status_code == 302 and resp.location == "/"
    assert db.session.scalar(select(Job).where(Job.kind == "export")) is None
    _login(client, "vic")
    assert client.get("/exports/").status_code == 403
    _login(client, "pat")
    resp = client.post("/exports/start-pid/ct/xlsx", data={"csrf_token": _token(client), "pat_id": "1", "name": "0"})
    assert resp.status_code == 302
    job = db.session.scalar(select(Job).where(Job.kind == "export"))
    assert (job.parameters["name"], job.parameters["pat_id"]) == (False, True) and "with ID" in job.title


def test_export_panel_carries_the_list_filter(app, client, people):
    from flask import render_template_string

    from doseapp import filters

    _login(client, "pat")
    with app.test_request_context("/ct/?manufacturer=siemens&page=3"):
        from flask_login import login_user
        login_user(people["pat"])
        q = filters.study_query("CT", {"manufacturer": "siemens", "o": "-dlp"}, people["pat"])
        html = render_template_string('{% include "exports/_panel.html" %}', modality="ct", q=q)
    assert 'action="/exports/start/ct/csv"' in html and 'action="/exports/start/ct/xlsx"' in html
    assert "nhsbsp" not in html and 'name="manufacturer" value="siemens"' in html and 'name="o" value="-dlp"' in html
    assert 'action="/exports/start-pid/ct/csv"' in html and "with both" in html
    with app.test_request_context("/mg/"):
        from flask_login import login_user
        login_user(people["erin"])
        html = render_template_string('{% include "exports/_panel.html" %}', modality="mg")
    assert 'action="/exports/start/mg/nhsbsp"' in html and "start-pid" not in html


def test_command_line_export(app, app_env, tmp_path):
    load(CT, "CT-RDSR-GEPixelMed.dcm")
    out = tmp_path / "cli.csv"
    done = run_cli(["export", "--modality", "ct", "--format", "csv", "--with-id", "--filter", "manufacturer=siemens",
                    "--date-from", "1990-01-01", "--out", str(out)], app_env)
    assert done.returncode == 0, done.stderr
    assert "1 study written" in done.stdout
    rows = as_dicts(read_csv(out))
    assert [r["Accession number"] for r in rows] == ["ACC12345601"] and "Patient ID" in rows[0]
    bad = run_cli(["export", "--modality", "ct", "--format", "csv", "--filter", "nope=1", "--out", str(out)], app_env)
    assert bad.returncode != 0 and "no such CT filter" in bad.stderr
    nhs = run_cli(["export", "--modality", "ct", "--format", "nhsbsp", "--out", str(tmp_path / "n.csv")], app_env)
    assert nhs.returncode == 2 and "mammography only" in nhs.stderr and not (tmp_path / "n.csv").exists()


def test_list_page_offers_exports_of_its_filter(app, client, people):
    load(CT)
    _login(client, "pat")
    html = client.get("/ct/", query_string={"manufacturer": "siemens"}).get_data(as_text=True)
    assert 'action="/exports/start/ct/xlsx"' in html and 'name="manufacturer" value="siemens"' in html
    assert 'action="/exports/start-pid/ct/csv"' in html
    _login(client, "vic")  # a viewer: no export buttons
    html = client.get("/ct/").get_data(as_text=True)
    assert "/exports/start" not in html
