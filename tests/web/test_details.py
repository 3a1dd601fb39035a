"""Study detail pages per modality, and the home page's system tables."""
from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import select

from doseapp.models import Study, XrayEvent, db
from tests.conftest import _empty_all_tables
from tests.web import studydata
from tests.web.studydata import client_for


@pytest.fixture(scope="module")
def loaded(_session_app):
    studydata.load_testdata(_session_app)
    yield _session_app
    _empty_all_tables(_session_app)


def _study(app, **where) -> Study:
    with app.app_context():
        s = db.session.scalar(select(Study).filter_by(**where).order_by(Study.id).limit(1))
        db.session.expunge_all()
        return s


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_ct_detail_shows_events_with_sources(loaded):
    s = _study(loaded, patient_name="SMITH^JOHN")
    html = client_for(loaded, "viewer").get(f"/ct/{s.id}").get_data(as_text=True)
    text = _text(html)
    assert "Thorax^TAP (Adult)" in text and "ACC12345601" in text and "724.52" in text
    assert len(re.findall(r'<tr class="event">', html)) == 4
    for protocol in ("Monitoring", "PreMonitoring", "TAP", "testæøå"):
        assert f"<td>{protocol}</td>" in html
    assert "CTDIvol (mGy)" in text and "Rotation (s)" in text and "Modulation" in text
    # Short headings, the full words on hover.
    assert '<abbr title="Exposure time per rotation (s)">Rotation (s)</abbr>' in html
    assert '<abbr title="X-ray modulation type">Modulation</abbr>' in html
    assert "Possible test data? No" in text
    assert "SMITH" not in text  # names are never shown


def test_ct_detail_dual_source_shows_two_source_lines(loaded):
    s = _study(loaded, patient_name="Fysiikka^kuvanlaatu")
    html = client_for(loaded, "viewer").get(f"/ct/{s.id}").get_data(as_text=True)
    assert "<br>" in html.split('<tr class="event">')[1].split("</tr>")[0]  # kVp of source A and B
    # A not-patient pattern matched: the viewer is told so; which pattern, only an admin.
    assert "Possible test data? Yes" in _text(html) and "id: *qa*" not in _text(html)
    admin = _text(client_for(loaded, "adminviewer").get(f"/ct/{s.id}").get_data(as_text=True))
    assert "Test patient indicators? id: *qa*" in admin


def test_fluoro_detail_summary_per_type_and_times(loaded):
    s = _study(loaded, patient_name="physics")
    html = client_for(loaded, "viewer").get(f"/rf/{s.id}").get_data(as_text=True)
    text = _text(html)
    assert "Summary by irradiation type" in text and "Duration (ms)" in text and "Exposure time (ms)" in text
    with loaded.app_context():
        events = db.session.scalars(select(XrayEvent).where(XrayEvent.study_id == s.id)).all()
        types = {e.event_type for e in events}
        fluoro_dap = sum(e.dap_gym2 or 0 for e in events if e.event_type == "Fluoroscopy")
    summary = html.split('id="type-summary"')[1].split("</table>")[0]
    for t in types:
        assert f"<td>{t}</td>" in summary
    assert f"{fluoro_dap * 1e6:.2f}" in summary  # cGy·cm²
    assert len(re.findall(r'<tr class="event">', html)) == len(events) == 49


def test_per_pulse_values_are_listed(loaded):
    # No test file carries per-pulse values (kept when a system sends several kVp/mA/pulse widths
    # for one event), so one event gets some here for the page to list.
    with loaded.app_context():
        e = db.session.scalar(select(XrayEvent).join(Study).where(Study.patient_name == "physics")
                              .order_by(XrayEvent.id).limit(1))
        e.per_pulse = {"kvp": [70.1, 70.4, 70.2], "pulse_width_ms": [8.0, 8.1, 8.0]}
        db.session.commit()
        url = f"/rf/{e.study_id}"
    try:
        html = client_for(loaded, "viewer").get(url).get_data(as_text=True)
        assert "Per-pulse values (3 pulses)" in html
        assert "<strong>kvp</strong>: 70.1, 70.4, 70.2" in html
    finally:
        with loaded.app_context():
            db.session.get(XrayEvent, e.id).per_pulse = None
            db.session.commit()


def test_mammography_and_radiography_details(loaded):
    client = client_for(loaded, "viewer")
    s = _study(loaded, patient_name="OpenREM^Filters")
    html = client.get(f"/mg/{s.id}").get_data(as_text=True)
    assert "medio-lateral oblique" in _text(html) and "3.58" in _text(html)
    assert '<abbr title="Compressed thickness (mm)">Thickness (mm)</abbr>' in html
    s = _study(loaded, patient_name="Maessen^Aytac")
    text = _text(client.get(f"/dx/{s.id}").get_data(as_text=True))
    assert "CR THORAX" in text and "THORAX AP 90kv-0,9mAs" in text and "10.70" in text  # DAP cGy·cm²
    assert client.get(f"/ct/{s.id}").status_code == 404  # a DX study is not at a CT address


def test_back_link_keeps_the_filtered_list(loaded):
    client = client_for(loaded, "viewer")
    html = client.get("/ct/?display_name=ctawp").get_data(as_text=True)
    link = re.search(r'class="study-link" href="([^"]+)"', html).group(1).replace("&amp;", "&")
    detail = client.get(link).get_data(as_text=True)
    assert 'href="/ct/?display_name=ctawp"' in detail
    s = _study(loaded, patient_name="SMITH^JOHN")
    assert "//evil.example" not in client.get(f"/ct/{s.id}?back=//evil.example").get_data(as_text=True)


def test_home_system_tables(loaded):
    client = client_for(loaded, "viewer")
    with loaded.app_context():
        # One CT study moved to now, one to three days ago: the today / 7-day counts must see them.
        a, b = db.session.scalars(select(Study).where(Study.patient_name.in_(["Križ^Gilead", "OpenREM^Sally"]))).all()
        old = [(s.id, s.study_datetime, s.study_date) for s in (a, b)]
        now = dt.datetime.now().replace(microsecond=0)
        a.study_datetime, a.study_date = now, now.date()
        b.study_datetime, b.study_date = now - dt.timedelta(days=3), (now - dt.timedelta(days=3)).date()
        names = (a.equipment.display_name, b.equipment.display_name)
        db.session.commit()
    from doseapp.blueprints import home
    home.clear_cache()  # the system table is recounted at most once a minute
    moved = None
    try:
        html = client.get("/").get_data(as_text=True)
        ct = html.split('id="systems-CT"')[1].split("</table>")[0]
        rows = {_text(r).strip() for r in re.findall(r"<tr class=\"clickable\".*?</tr>", ct, re.S)}
        assert any(r.startswith(names[0]) and r.endswith("1 1") for r in rows), rows
        assert any(r.startswith(names[1]) and "3 days ago 0 1" in r for r in rows), rows
        assert len(rows) == 11  # eleven CT display names, one study each (the continued pair is one exam)
        assert "OpenREM CONTINUED 1" in " ".join(rows)
        assert 'href="/ct/?display_name=OpenREM+CONTINUED"' in ct
        for mod in ("RF", "MG", "DX"):
            assert f'id="systems-{mod}"' in html
        # Sorting by total, most first: every CT system has one study, so move SMITH^JOHN's to the
        # continued study's system, which then has two.
        with loaded.app_context():
            smith = db.session.scalar(select(Study).where(Study.patient_name == "SMITH^JOHN"))
            moved = (smith.id, smith.equipment_id)
            smith.equipment_id = db.session.scalar(select(Study.equipment_id).where(
                Study.patient_name == "OpenREM^ContinuedStudy"))
            db.session.commit()
        home.clear_cache()
        html = client.get("/?o=-total").get_data(as_text=True)
        ct = html.split('id="systems-CT"')[1].split("</table>")[0]
        first = _text(re.findall(r"<tr class=\"clickable\".*?</tr>", ct, re.S)[0])
        assert "OpenREM CONTINUED 2" in first
    finally:
        with loaded.app_context():
            for sid, when, day in old:
                s = db.session.get(Study, sid)
                s.study_datetime, s.study_date = when, day
            if moved:
                db.session.get(Study, moved[0]).equipment_id = moved[1]
            db.session.commit()
        home.clear_cache()


def test_home_for_a_user_without_browse(loaded):
    html = client_for(loaded, "admin").get("/").get_data(as_text=True)
    assert "do not include browsing" in html and "systems-CT" not in html
