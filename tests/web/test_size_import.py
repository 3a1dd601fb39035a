"""The patient size import web flow: upload, map columns, run the job on real Redis with a real
worker, see it completed, download its log, delete it; abort; who may do what."""
from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from sqlalchemy import select

from doseapp.ingest import import_file
from doseapp.models import Job, Study, db
from doseapp.users import create_user
from tests.conftest import TESTDATA, run_cli


def _token(client, path="/imports/size/") -> str:
    html = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def _login(client, username):
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").get_data(as_text=True)).group(1)
    resp = client.post("/login", data={"username": username, "password": "long-enough-1", "csrf_token": token})
    assert resp.status_code == 302


def _upload(client, text: str, name="ris export.csv"):
    return client.post("/imports/size/upload", data={"csrf_token": _token(client),
                                                     "csv_file": (io.BytesIO(text.encode()), name)},
                       content_type="multipart/form-data")


@pytest.fixture
def sized(app):
    create_user("sam", "long-enough-1", ["importsize"])
    create_user("ada", "long-enough-1", ["admin"])
    for name in ("DX-Im-GE_XR220-1.dcm", "MG-Im-GE-SenDS-scaled.dcm"):
        assert import_file(TESTDATA / name).status == "imported"


def test_upload_map_run_download_delete(app, client, app_env, sized):
    _login(client, "sam")
    resp = _upload(client, "Accession,Height,Weight,Other\n00938475,184,82.5,x\nAAAA9876,162,61\nNOPE,1,1\n")
    assert resp.status_code == 302 and resp.location == "/imports/size/map"
    page = client.get("/imports/size/map").get_data(as_text=True)
    assert "ris_export.csv" in page
    for column in ("Accession", "Height", "Weight", "Other"):
        assert f'<option value="{column}"' in page
    uploads = list((Path(app.config["INSTANCE"]) / "size_imports" / "uploads").glob("*.csv"))
    assert len(uploads) == 1

    resp = client.post("/imports/size/map", data={
        "csrf_token": _token(client, "/imports/size/map"), "id_col": "Accession", "height_col": "Height",
        "weight_col": "Weight", "id_type": "accession"})
    assert resp.status_code == 302 and resp.location == "/imports/size/"
    job = db.session.scalar(select(Job).where(Job.kind == "size_import"))
    assert job.status == "queued" and job.parameters["id_col"] == "Accession"
    listing = client.get("/imports/size/").get_data(as_text=True)
    assert f'id="size-import-{job.id}"' in listing and "every 2s" in listing and "Abort" in listing

    done = run_cli(["worker", "--burst"], app_env)
    assert done.returncode == 0, done.stderr
    db.session.expire_all()
    job = db.session.get(Job, job.id)
    assert job.status == "finished", job.result
    assert job.result["rows"] == 3 and job.result["heights_inserted"] == 2 and job.result["unmatched_rows"] == 1
    assert job.progress == 1.0
    assert not uploads[0].exists()  # the uploaded CSV is deleted once imported
    dx = db.session.scalar(select(Study).where(Study.accession_number == "00938475"))
    assert (dx.patient_height_m, dx.patient_weight_kg) == (pytest.approx(1.84), pytest.approx(82.5))

    row = client.get(f"/imports/size/{job.id}/row").get_data(as_text=True)
    assert "every 2s" not in row and "finished" in row
    listing = client.get("/imports/size/").get_data(as_text=True)
    assert "Completed imports" in listing and f"/imports/size/{job.id}/log" in listing
    log = client.get(f"/imports/size/{job.id}/log")
    assert log.status_code == 200 and "attachment" in log.headers["Content-Disposition"]
    text = log.get_data(as_text=True)
    assert "Inserted height of 184 cm" in text and "NOPE: no study" in text

    # Delete needs the "Delete?" tick; then the record and the log file go.
    client.post(f"/imports/size/{job.id}/delete", data={"csrf_token": _token(client)})
    assert db.session.get(Job, job.id) is not None
    log_path = Path(job.result_path)
    job_id = job.id
    client.post(f"/imports/size/{job_id}/delete", data={"csrf_token": _token(client), "confirm": "yes"})
    db.session.expunge_all()
    assert db.session.get(Job, job_id) is None and not log_path.exists()


def test_abort_before_it_runs_and_admin_may_abort_but_not_upload(app, client, sized):
    _login(client, "sam")
    _upload(client, "uid,h\n1.2.3,180\n")
    client.post("/imports/size/map", data={"csrf_token": _token(client, "/imports/size/map"), "id_col": "uid",
                                            "height_col": "h", "id_type": "si_uid"})
    job = db.session.scalar(select(Job).where(Job.kind == "size_import"))
    assert job.parameters["si_uid"] is True and job.parameters["weight_col"] is None
    client.post("/logout", data={"csrf_token": _token(client)})
    _login(client, "ada")
    assert "Import a CSV file" not in client.get("/imports/size/").get_data(as_text=True)
    assert client.post("/imports/size/upload", data={"csrf_token": _token(client)}).status_code == 403
    resp = client.post(f"/imports/size/{job.id}/abort", data={"csrf_token": _token(client)},
                       headers={"HX-Request": "true"})
    assert resp.status_code == 200 and "cancelled" in resp.get_data(as_text=True)
    db.session.expire_all()
    job = db.session.get(Job, job.id)
    assert job.status == "cancelled" and not Path(job.parameters["csv_path"]).exists()


def test_mapping_must_name_columns_and_bad_files_are_refused(app, client, sized):
    _login(client, "sam")
    resp = _upload(client, "")
    assert resp.location == "/imports/size/"
    assert "cannot be used" in client.get("/imports/size/").get_data(as_text=True)
    _upload(client, "a,b\n1,2\n")
    resp = client.post("/imports/size/map", data={"csrf_token": _token(client, "/imports/size/map"),
                                                   "id_col": "a"})
    assert resp.status_code == 400 and "a height column, a weight column, or both" in resp.get_data(as_text=True)
    assert db.session.scalar(select(Job).where(Job.kind == "size_import")) is None


def _upload_bytes(client, data: bytes, name: str):
    return client.post("/imports/size/upload", data={"csrf_token": _token(client),
                                                     "csv_file": (io.BytesIO(data), name)},
                       content_type="multipart/form-data")


def test_upload_refuses_what_is_not_a_csv_in_plain_words(app, client, sized):
    from tests.ingest.test_size_csv import PNG

    _login(client, "sam")
    uploads = Path(app.config["INSTANCE"]) / "size_imports" / "uploads"
    before = set(uploads.glob("*.csv"))
    for data, name, words in (
            (PNG, "photo.png", "this is a PNG image, not a CSV file"),
            (b"acc," + b"x" * 200_000 + b",weight\n1,2,3\n", "huge.csv", "line 1 has a value longer than 128 KB"),
            (b"no separators here\n", "words.csv", "its first row has one column only")):
        resp = _upload_bytes(client, data, name)
        assert resp.status_code == 302 and resp.location == "/imports/size/", name
        page = client.get("/imports/size/").get_data(as_text=True)
        assert "That file cannot be used: " + words in page, name
        assert client.get("/imports/size/map").get_data(as_text=True).count("<option") == 0
    assert set(uploads.glob("*.csv")) == before  # refused uploads are not kept


def test_utf16_upload_offers_its_column_names(app, client, sized):
    _login(client, "sam")
    data = "Patientenname,Größe,Gewicht,Accession\r\nMüller^Jörg,181,79,00938475\r\n".encode("utf-16")
    assert _upload_bytes(client, data, "ris.csv").location == "/imports/size/map"
    page = client.get("/imports/size/map").get_data(as_text=True)
    for column in ("Patientenname", "Größe", "Gewicht", "Accession"):
        assert f'<option value="{column}"' in page
