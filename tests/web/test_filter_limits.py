"""Filter values out of range (dates past 9999-12-30, year 0, 2024-02-30, numbers that overflow a
float, NaN): each surface that reads filters (list page, chart data, JSON API, web export start,
command-line export) reports a bad filter as it does for "lots" or "yesterday", never an HTTP 500."""
from __future__ import annotations

import csv
import io
import re

import pytest
from sqlalchemy import select

from doseapp import filters
from doseapp.models import Job, db
from doseapp.users import create_user
from tests.conftest import run_cli
from tests.exports.helpers import load
from tests.web.studydata import client_for

CT_FILES = ("CT-RDSR-Siemens_Flash-TAP-SS.dcm", "CT-RDSR-GEPixelMed.dcm", "CT-RDSR-ToshibaPixelMed.dcm")
BAD = [
    ("date_until", "9999-12-31"), ("date_from", "9999-12-31"), ("date_from", "0000-01-01"),
    ("date_until", "10000-01-01"), ("date_from", "2024-02-30"), ("date_until", "99999999999999999999"),
    ("date_from", "0001-01-01"),
    ("dlp_min", "1e400"), ("dlp_max", "-1e400"), ("dlp_min", "nan"), ("dlp_max", "inf"), ("dlp_max", "9" * 400),
    ("age_max", "1e400"), ("age_min", "NaN"), ("weight_min", "-inf"),
    ("study_description", "HEAD\x00"), ("station_name", "\x00"), ("accession_number", "12\x0034"),
]
IDS = [f"{p}={v[:12]}" for p, v in BAD]


@pytest.fixture
def ct(app):
    load(*CT_FILES)
    ids = {name: create_user(name, "long-enough-1", r).id
           for name, r in (("viewer", ["viewer"]), ("exporter", ["exporter", "viewer"]))}
    app.config["TEST_USER_IDS"] = ids
    app.config["WTF_CSRF_ENABLED"] = False
    yield app
    app.config["WTF_CSRF_ENABLED"] = True


@pytest.mark.parametrize("param,value", BAD, ids=IDS)
def test_study_query_reports_the_value(app, param, value):
    q = filters.study_query("CT", {param: value})
    assert list(q.errors) == [param] and param not in q.values
    assert len(q.where) == 1  # only the modality: the bad filter is not applied


def test_good_edges_still_filter(app):
    load(*CT_FILES)
    q = filters.study_query("CT", {"date_from": "1900-01-01", "date_until": "2999-12-31", "dlp_max": "1e300"})
    assert q.errors == {}
    assert db.session.scalar(q.count()) == 3


@pytest.mark.parametrize("param,value", BAD, ids=IDS)
def test_list_page_shows_the_banner(ct, param, value):
    resp = client_for(ct, "viewer").get("/ct/", query_string={param: value})
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert "Not understood, so not applied" in html and f"{param} (needs" in html
    assert re.search(r"There (?:is|are) <strong>3</strong>", html)
    # the form's date pickers offer only the dates a filter may name
    assert 'name="date_until" value="" min="1900-01-01" max="2999-12-31"' in html


@pytest.mark.parametrize("param,value", BAD, ids=IDS)
def test_chart_data_is_that_of_the_list(ct, param, value):
    """The chart under the list shows the studies the list shows: the bad filter is not applied."""
    resp = client_for(ct, "viewer").get("/ct/charts/study_dlp/csv", query_string={param: value})
    assert resp.status_code == 200
    rows = list(csv.DictReader(io.StringIO(resp.get_data(as_text=True).lstrip("\ufeff"))))
    assert sum(int(r["n"]) for r in rows) == 3


@pytest.mark.parametrize("param,value", BAD, ids=IDS)
def test_api_answers_400(ct, param, value):
    resp = client_for(ct, "viewer").get("/api/v1/studies", query_string={"modality": "CT", param: value})
    assert resp.status_code == 400
    assert resp.json["error"] == "bad_request" and resp.json["detail"].startswith(f"{param} needs")


@pytest.mark.parametrize("param,value", BAD, ids=IDS)
def test_web_export_start_refuses(ct, param, value):
    client = client_for(ct, "exporter")
    resp = client.post("/exports/start/ct/csv", data={param: value}, follow_redirects=True)
    assert resp.status_code == 200
    assert f"Fix the filter first: {param}" in resp.get_data(as_text=True)
    assert db.session.scalar(select(Job).where(Job.kind == "export")) is None


@pytest.mark.parametrize("args", [["--date-until", "9999-12-31"], ["--date-from", "2024-02-30"],
                                  ["--filter", "dlp_min=1e400"]], ids=["until-9999", "from-feb-30", "dlp-inf"])
def test_command_line_export_says_which_filter(app, app_env, tmp_path, args):
    load(*CT_FILES)
    out = tmp_path / "ct.csv"
    done = run_cli(["export", "--modality", "ct", "--format", "csv", *args, "--out", str(out)], app_env)
    assert done.returncode == 2, done.stderr
    param = args[1].split("=")[0] if args[0] == "--filter" else args[0][2:].replace("-", "_")
    assert f"Error: bad filter value(s): {param} (" in done.stderr and "Traceback" not in done.stderr
    assert not out.exists()
