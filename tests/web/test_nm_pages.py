"""Nuclear medicine pages against the OpenREM test files imported into the real database: the NM list
with its columns, the study page of the PET/CT (administration, organ doses, series, and the link to
its CT part, which links back), the home counts, and the NM charts' values computed by hand."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from doseapp import filters
from doseapp.charts import catalog
from doseapp.charts.data import compute
from doseapp.charts.options import ChartOptions
from doseapp.models import Study, db
from tests.conftest import _empty_all_tables
from tests.web import studydata
from tests.web.studydata import client_for

PETCT = "4400.13.8620675"


@pytest.fixture(scope="module")
def loaded(_session_app):
    studydata.load_testdata(_session_app)
    yield _session_app
    _empty_all_tables(_session_app)


def _studies(app, modality="NM"):
    with app.app_context():
        rows = db.session.scalars(select(Study).where(Study.modality == modality).order_by(Study.id)).all()
        db.session.expunge_all()
        return rows


def test_nm_list_shows_activity_radiopharmaceutical_and_sorts_by_activity(loaded):
    client = client_for(loaded, "viewer")
    html = client.get("/nm/?o=-activity").get_data(as_text=True)
    assert "<h1>Nuclear medicine studies</h1>" in html
    assert "There are <strong>5</strong> studies" in html
    assert "Administered activity (MBq)" in html and "Radiopharmaceutical · Radionuclide" in html
    activities = [float(a) for a in re.findall(r'<td class="num activity">([\d.]+)</td>', html)]
    assert activities == [764.0, 394.0, 320.0, 250.0, 221.6]
    assert "Fluorodeoxyglucose F^18^<br>^18^Fluorine" in html
    # the NM filters are on the form
    for name in ("radiopharmaceutical", "radionuclide", "activity_min", "activity_max", "weight_min", "age_min"):
        assert f'name="{name}"' in html


def test_pet_ct_study_page_shows_the_administration_and_links_its_ct_part(loaded):
    [nm] = [s for s in _studies(loaded) if s.study_instance_uid.endswith(PETCT)]
    [ct] = [s for s in _studies(loaded, "CT") if s.study_instance_uid.endswith(PETCT)]
    client = client_for(loaded, "viewer")
    html = client.get(f"/nm/{nm.id}").get_data(as_text=True)
    assert '<td id="nm-activity">394.0</td>' in html
    assert '<td id="nm-effective-dose">7.486</td>' in html
    assert "^18^Fluorine (half-life 6586.2 s)" in html
    assert "Organ doses (22)" in html and "51.22" in html  # the bladder
    assert html.count('<table class="list summary nm-administration"') == 1
    series = re.search(r'<table class="list" id="nm-series">(.*?)</table>', html, re.S).group(1)
    rows = re.findall(r"<tr><td>PT</td><td>([^<]+)</td>.*?<td class=\"num\">(\d+)</td></tr>", series)
    assert sorted(rows) == [("PET AC", "1"), ("PET NAC", "1"), ("pet ac", "2")]  # two images of one series
    assert f'href="/ct/{ct.id}">CT part of this study</a>' in html
    back = client.get(f"/ct/{ct.id}").get_data(as_text=True)
    assert f'href="/nm/{nm.id}">NM part of this study</a>' in back
    assert 'id="events"' in back  # the CT part keeps its events


def test_home_counts_nm_once(loaded):
    html = client_for(loaded, "viewer").get("/").get_data(as_text=True)
    assert re.search(r'data-modality="NM">5<', html)


def test_activity_per_study_description_by_hand(loaded):
    studies = _studies(loaded)
    by_description: dict[str, list[float]] = {}
    for s in studies:
        by_description.setdefault(s.study_description or "Blank", []).append(s.nm_activity_mbq)
    with loaded.app_context():
        data = compute(catalog.chart("NM", "study_activity"), filters.study_query("NM", {}).where,
                       ChartOptions(average="mean"))
    got = {r["cat"]: (r["n"], r["mean"]) for r in data.rows}
    assert got == {k: (len(v), pytest.approx(sum(v) / len(v))) for k, v in by_description.items()}
    # e.g. the two PET/CT studies (394 and 250 MBq) against the bone scan's 764 MBq
    assert got["Bone Scan"] == (1, pytest.approx(764.0))


def test_activity_vs_weight_points_are_the_studies(loaded):
    studies = _studies(loaded)
    with loaded.app_context():
        data = compute(catalog.chart("NM", "activity_weight"), filters.study_query("NM", {}).where, ChartOptions())
    points = sorted((r["x"], r["val"]) for r in data.rows)
    want = sorted((s.patient_weight_kg, s.nm_activity_mbq) for s in studies if s.patient_weight_kg and s.nm_activity_mbq)
    assert points == [(pytest.approx(x), pytest.approx(y)) for x, y in want]
    assert len(points) == 3  # the GE PET (74 kg), the PET/CT (110 kg), the Extended report (68 kg)
