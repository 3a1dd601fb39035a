"""The DRL page, its XLSX, the API, the list marker and filter, and the config page's audited changes."""
from __future__ import annotations

import io

import openpyxl
import pytest
from sqlalchemy import select

from doseapp.models import AuditEntry, ReferenceLevel, SystemSettings, db
from doseapp.standards import flags
from doseapp.users import create_user
from tests.conftest import session_login
from tests.standards.drl_helpers import standard_name, study, system
from tests.web.config_helpers import login, post

A_DLP = [600, 650, 700, 750, 800, 850, 900, 950, 1000, 1050, 1100]


@pytest.fixture
def data(app):
    a, b = system("CT Room A"), system("CT Room B")
    name = standard_name("CT", "CT Head")
    for v in A_DLP:
        study(name, a, total_dlp_mgycm=v, mean_ctdivol_mgy=40.0, study_description="HEAD")
    for v in (1200, 900, 1000):
        study(name, b, total_dlp_mgycm=v, study_description="HEAD")
    db.session.commit()
    return name, a, b


def _as(client, role):
    session_login(client, create_user(f"drl-{role}", "password-123", [role]))


def test_page_table_and_chart(client, data):
    _as(client, "viewer")
    html = client.get("/drl?modality=CT&quantity=dlp").get_data(as_text=True)
    assert 'id="drl-table"' in html
    assert '<td class="num">11</td><td class="num">850</td><td class="num">975</td>' in html
    assert "1.08" in html and "Above the DRL" in html and "too few (under 10)" in html
    assert "UK Health Security Agency" in html
    assert "Bokeh" in html or "bokeh" in html  # the chart's script
    assert "drl-exceeds" in html
    # Bad arguments: said so, and the default comparison shown.
    html = client.get("/drl?modality=XX").get_data(as_text=True)
    assert "modality must be one of" in html


def test_xlsx_read_back(client, data):
    _as(client, "exporter")
    resp = client.get("/drl/comparison.xlsx?modality=CT&quantity=dlp")
    assert resp.status_code == 200
    wb = openpyxl.load_workbook(io.BytesIO(resp.data))
    ws = wb["DRL comparison"]
    rows = list(ws.iter_rows(values_only=True))
    assert rows[1][:9] == ("Standard name", "Patient group", "System", "Quantity", "Unit", "Studies (n)", "Median",
                           "75th percentile", "DRL")
    a = next(r for r in rows if r[2] == "CT Room A")
    assert a[:9] == ("CT Head", "adult", "CT Room A", "DLP", "mGy·cm", 11, 850, 975, 790)
    assert a[10] == pytest.approx(850 / 790) and a[11] == "yes"
    b = next(r for r in rows if r[2] == "CT Room B")
    assert b[5] == 3 and b[11] == "no" and b[12] == "too few studies (under 10)"
    # A viewer may not download it.
    _as(client, "viewer")
    assert client.get("/drl/comparison.xlsx").status_code == 403


def test_xlsx_text_is_never_a_formula(client, app):
    eq = system("=HYPERLINK(\"http://x\")")
    name = standard_name("CT", "=1+1")
    study(name, eq, total_dlp_mgycm=100)
    db.session.commit()
    _as(client, "exporter")
    wb = openpyxl.load_workbook(io.BytesIO(client.get("/drl/comparison.xlsx").data))
    row = list(wb.active.iter_rows(values_only=True))[2]
    assert row[0] == "=1+1" and row[2] == '=HYPERLINK("http://x")'
    assert wb.active["A3"].data_type == "s"


def test_api_shape_and_errors(client, data):
    _as(client, "viewer")
    got = client.get("/api/v1/drl-comparison?modality=CT&standard_name=ct head&quantity=dlp").get_json()
    assert [r["system"] for r in got] == ["CT Room A", "CT Room B"]
    a = got[0]
    assert {"system", "standard_name", "quantity", "n", "median", "p75", "drl", "ratio", "exceeds", "unit",
            "drl_source"} <= set(a)
    assert (a["n"], a["median"], a["p75"], a["drl"], a["exceeds"]) == (11, 850.0, 975.0, 790.0, True)
    assert a["ratio"] == pytest.approx(850 / 790) and a["unit"] == "mGy·cm"
    assert got[1]["exceeds"] is False and got[1]["too_few"] is True
    # Default quantity for CT is DLP.
    assert client.get("/api/v1/drl-comparison?modality=CT").get_json()[0]["quantity"] == "dlp"
    for bad, words in (("modality=XX", "modality must be one of"), ("modality=CT&quantity=dap", "quantity for CT"),
                       ("modality=CT&date_from=2026-13-01", "yyyy-mm-dd"),
                       ("modality=CT&date_from=2026-02-01&date_until=2026-01-01", "not be after")):
        resp = client.get(f"/api/v1/drl-comparison?{bad}")
        assert resp.status_code == 400 and words in resp.get_json()["detail"], bad
    client.get("/logout")


def test_list_marker_and_filter(client, data):
    name, a, b = data
    high = study(name, a, total_dlp_mgycm=1580, study_description="HIGH HEAD")  # 1580 / 790 = 2.0
    study(name, a, total_dlp_mgycm=800, study_description="LOW HEAD")            # 1.01: no marker
    db.session.commit()
    flags.refresh_all()
    _as(client, "viewer")
    html = client.get("/ct/?drl=yes&per_page=100").get_data(as_text=True)
    assert "HIGH HEAD" in html and "above DRL ×2.0" in html
    assert "LOW HEAD" not in html
    all_html = client.get("/ct/?per_page=100").get_data(as_text=True)
    # Marked: 1580 (×2.0) and room B's 1200 (1200 / 790 = 1.52, over the factor 1.5); not 800 and the rest.
    assert "LOW HEAD" in all_html and all_html.count("above DRL ×") == 2 and "above DRL ×1.5" in all_html
    assert db.session.get(type(high), high.id).drl_ratio == pytest.approx(2.0)


def test_config_changes_are_audited(client, data):
    name, a, b = data
    login(client, "drl-admin")
    resp = post(client, "/config/drl", {"drl_min_sample": "3", "drl_flag_factor": "2", "drl_period_days": "90"})
    assert resp.status_code == 302
    s = SystemSettings.get()
    db.session.refresh(s)
    assert (s.drl_min_sample, s.drl_flag_factor, s.drl_period_days, s.drl_sets) == (3, 2.0, 90, [])
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "settings.drl"))
    assert entry.details["drl_min_sample"] == [10, 3] and entry.details["drl_sets"] == [None, []]
    # A local DRL in display units: DLP mGy·cm is stored as is; an edit and a delete are audited too.
    post(client, "/config/drl/levels", {"standard_name_id": str(name.id), "quantity": "dlp", "value": "700",
                                        "age_min_years": "", "equipment_id": str(b.id), "source": "local audit"},
         form_page="/config/drl")
    level = db.session.scalar(select(ReferenceLevel))
    assert (level.value, level.equipment_id, level.source) == (700.0, b.id, "local audit")
    post(client, "/config/drl/levels", {"id": str(level.id), "standard_name_id": str(name.id), "quantity": "dlp",
                                        "value": "650", "source": "local audit"}, form_page="/config/drl")
    db.session.refresh(level)
    assert level.value == 650 and level.equipment_id is None
    post(client, "/config/drl/levels/delete", {"id": str(level.id)}, form_page="/config/drl")
    assert db.session.scalar(select(ReferenceLevel)) is None
    log = {e.action: e.details for e in db.session.scalars(select(AuditEntry))}
    assert log["drl.add"]["value"] == [None, 700.0]
    assert log["drl.edit"]["value"] == [700.0, 650.0] and log["drl.edit"]["equipment_id"] == [b.id, None]
    assert log["drl.delete"]["value"] == [650.0, None]
    # A wrong quantity for the modality is refused, in words.
    resp = post(client, "/config/drl/levels", {"standard_name_id": str(name.id), "quantity": "dap", "value": "1"},
                form_page="/config/drl", follow_redirects=True)
    assert "CT reference levels are for" in resp.get_data(as_text=True)
    html = client.get("/config/drl").get_data(as_text=True)
    assert "Shipped national DRLs" in html and "Paranasal sinuses" in html


def test_study_page_shows_the_drl_and_ratio(client, data):
    name, a, b = data
    s = study(name, a, total_dlp_mgycm=1580, mean_ctdivol_mgy=47.0)
    db.session.commit()
    flags.refresh_all()
    _as(client, "viewer")
    html = client.get(f"/ct/{s.id}").get_data(as_text=True)
    assert "DLP DRL (mGy·cm)" in html and "790 (national, adult;" in html
    assert "this study 1580" in html and "×2.00 the DRL" in html
    assert "CTDIvol DRL (mGy)" in html and "×1.00 the DRL" in html
    assert 'id="drl-ratio">×2.00' in html and "above DRL ×2.0" in html


def test_page_and_chart_in_the_readers_language(client, data):
    user = create_user("drl-deutsch", "password-123", ["viewer"])
    user.locale = "de"
    db.session.commit()
    session_login(client, user)
    html = client.get("/drl?modality=CT&quantity=dlp").get_data(as_text=True)
    # The chart (Bokeh's JSON in the page): title, legend and tooltips in German; DLP stays DLP.
    assert "CT Head (Erwachsene): Median DLP je System" in html
    assert '"75. Perzentil"' in html and "DRW 790 mGy" in html  # the UK NDRL, head DLP 790 mGy·cm
    html = client.get("/drl?modality=RF&quantity=dose_rp").get_data(as_text=True)
    assert "Dosis am RP (mGy)</option>" in html and ">Durchleuchtung</option>" in html
