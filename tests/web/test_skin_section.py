"""The skin dose map section of the fluoroscopy study page (doseapp/blueprints/skin_maps.py), from real
vendor files computed by the real engine and stored in the real database: the top-left text, the
no-map reason, the calculating panel, maps switched off, the 3D view's JSON (the stored array, cell
for cell; no patient identifiers) and who may see them."""
from __future__ import annotations

import json
import re

import numpy as np
import pydicom
import pytest
from sqlalchemy import select

from doseapp.models import SkinDoseMap, Study, SystemSettings, db
from doseapp.skin import display, store
from tests.conftest import TESTDATA, _empty_all_tables
from tests.web import studydata
from tests.web.studydata import client_for

ZEE = "RF-RDSR-Siemens-Zee.dcm"  # geometry enough for a map
GE = "RF-RDSR-GE.dcm"  # no map: the reason shows
FILES = [ZEE, GE, "DX-RDSR-Canon_CXDI.dcm"]


@pytest.fixture(scope="module")
def loaded(_session_app):
    studydata.load_testdata(_session_app, [TESTDATA / f for f in FILES])
    with _session_app.app_context():
        SystemSettings.get().enable_skin_dose_maps = True
        for name in (ZEE, GE):
            store.compute_for_study(db.session.get(Study, _study_id(_session_app, name)))
        db.session.commit()
        db.session.remove()
    yield _session_app
    _empty_all_tables(_session_app)


def _study_id(app, name: str) -> int:
    uid = pydicom.dcmread(TESTDATA / name, stop_before_pixels=True).StudyInstanceUID
    with app.app_context():
        return db.session.scalar(select(Study.id).where(Study.study_instance_uid == uid))


def _row(app, name: str) -> SkinDoseMap:
    with app.app_context():
        row = store.stored(_study_id(app, name))
        db.session.expunge(row)
        return row


def _get(app, who: str | None, url: str):
    return client_for(app, who).get(url)


def _set_maps(app, on: bool) -> None:
    with app.app_context():
        SystemSettings.get().enable_skin_dose_maps = on
        db.session.commit()


def test_the_study_page_loads_the_section_and_bokehjs_from_doseapp(loaded):
    sid = _study_id(loaded, ZEE)
    html = _get(loaded, "viewer", f"/rf/{sid}").get_data(as_text=True)
    assert f'hx-get="/rf/{sid}/skin-map"' in html and 'id="skin-map"' in html
    scripts = re.findall(r'<script src="([^"]+)"', html)
    assert "/bokehjs/bokeh.min.js" in scripts and "/static/js/skinmap.js" in scripts
    assert all(s.startswith("/") and not s.startswith("//") for s in scripts), scripts
    assert "/static/css/skinmap.css" in html


def test_only_the_fluoroscopy_page_with_maps_on_gets_the_bokeh_allowances(loaded):
    sid = _study_id(loaded, ZEE)
    with loaded.app_context():
        dx = db.session.scalar(select(Study.id).where(Study.modality == "DX"))
    policy = _get(loaded, "viewer", f"/rf/{sid}").headers["Content-Security-Policy"]
    assert "'unsafe-eval'" in policy  # BokehJS compiles the hover's formatters
    assert "'unsafe-eval'" not in _get(loaded, "viewer", f"/dx/{dx}").headers["Content-Security-Policy"]
    _set_maps(loaded, False)
    try:
        assert "'unsafe-eval'" not in _get(loaded, "viewer", f"/rf/{sid}").headers["Content-Security-Policy"]
    finally:
        _set_maps(loaded, True)


def test_the_section_shows_the_map_and_its_text(loaded):
    row = _row(loaded, ZEE)
    assert row.status == "ok" and row.peak_skin_dose_gy > 0
    sid = _study_id(loaded, ZEE)
    resp = _get(loaded, "viewer", f"/rf/{sid}/skin-map")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    text = re.search(r'<ul id="skin-map-text">(.*?)</ul>', html, re.S).group(1)
    lines = [re.sub(r"<[^>]+>", "", li).strip() for li in re.findall(r"<li>(.*?)</li>", text, re.S)]
    assert lines == display.summary_lines(row)
    psd = row.peak_skin_dose_gy
    assert lines[0] == f"Peak skin dose {psd:.4f} Gy ({psd * 1000:.1f} mGy), {row.peak_surface} surface" if psd < 0.1 \
        else lines[0] == f"Peak skin dose {psd:.2f} Gy, {row.peak_surface} surface"
    assert f"Phantom: {row.phantom_description}" in lines
    size = [ln for ln in lines if ln.startswith("Patient height")][0]
    assert f"({row.height_source})" in size and f"({row.mass_source})" in size
    assert row.height_source in ("extracted", "assumed") and row.mass_source in ("extracted", "assumed")
    assert f"Events: {row.events_used} used, {row.events_skipped} skipped" in lines
    assert f"Cells over 3 Gy: {row.cells_over_3gy}, over 5 Gy: {row.cells_over_5gy}, over 10 Gy: {row.cells_over_10gy}" \
        in [ln.split(" (")[0] for ln in lines]
    # The 2D Bokeh map, the 3D canvas, the controls, the JSON address; a skip list when events were skipped.
    assert 'data-root-id=' in html and 'class="skin-3d-canvas"' in html
    assert f'data-json-url="/rf/{sid}/skin-map.json"' in html
    for control in ("skin-palette", "skin-low", "skin-high", "skin-level", "skin-width", "skin-save", "skin-fullscreen"):
        assert f'class="{control}' in html, control
    options = re.findall(r'<option value="(\w+)"', html)
    assert len(options) >= 3 and {"viridis", "hot", "grey"} <= set(options)
    assert ('Why ' in html and 'skipped</summary>' in html) == bool(row.skipped)


def test_a_study_without_a_map_says_why(loaded):
    row = _row(loaded, GE)
    assert row.status == "no_map" and row.reason
    html = _get(loaded, "viewer", f"/rf/{_study_id(loaded, GE)}/skin-map").get_data(as_text=True)
    reason = re.search(r'<p id="skin-map-reason"><strong>(.*?)</strong></p>', html).group(1)
    assert reason == f"No skin dose map: {row.reason}".replace("'", "&#39;").replace('"', "&#34;")
    # Never a picture: no Bokeh document, no 3D canvas.
    assert "data-root-id" not in html and "skin-3d-canvas" not in html
    data = _get(loaded, "viewer", f"/rf/{_study_id(loaded, GE)}/skin-map.json").get_json()
    assert data["state"] == "no_map" and data["reason"] == row.reason and "dose" not in data


def test_the_json_holds_the_stored_array_and_no_identifiers(loaded):
    sid = _study_id(loaded, ZEE)
    resp = _get(loaded, "viewer", f"/rf/{sid}/skin-map.json")
    assert resp.status_code == 200 and resp.is_json
    data = resp.get_json()
    with loaded.app_context():
        row = store.stored(sid)
        want = store.dose_array(row)
        study = db.session.get(Study, sid)
        identifiers = [v for v in (study.patient_name, study.patient_id, study.accession_number) if v]
        ph = display.phantom_of(row)
        assert ph is not None
    assert data["state"] == "ok" and (data["rows"], data["cols"]) == want.shape
    got = np.array(data["dose"], dtype=np.float64)
    np.testing.assert_array_equal(got, want.astype(np.float64))
    assert data["peak_skin_dose_Gy"] == pytest.approx(float(want.max()), rel=1e-6)
    assert data["window"] == [0.0, pytest.approx(float(want.max()))]
    n = want.size
    assert len(data["points"]) == len(data["normals"]) == 3 * n and len(data["surface"]) == n
    np.testing.assert_allclose(np.array(data["points"]).reshape(want.shape + (3,)), ph.points, atol=0.051)
    np.testing.assert_allclose(np.array(data["normals"]).reshape(want.shape + (3,)), ph.normals, atol=0.0051)
    names = np.array(data["surfaces"])[np.array(data["surface"])].reshape(want.shape)
    assert (names == np.asarray(ph.surface).astype(str)).all()
    assert data["text"] == display.summary_lines(row)
    assert set(data["palettes"]) >= {"viridis", "hot", "grey"}
    text = json.dumps(data)
    assert identifiers and not [v for v in identifiers if v in text]


def test_the_openskin_phantom_map_marks_the_cells_that_are_not_skin(loaded):
    sid = _study_id(loaded, ZEE)
    with loaded.app_context():
        row = store.compute_for_study(db.session.get(Study, sid), phantom="openskin")
        db.session.commit()
        want = store.dose_array(row)
        valid = display.phantom_of(row).valid
    try:
        data = _get(loaded, "viewer", f"/rf/{sid}/skin-map.json").get_json()
        assert data["state"] == "ok" and (data["rows"], data["cols"]) == want.shape
        np.testing.assert_array_equal(np.array(data["dose"]), want.astype(float))
        assert np.array_equal(np.array(data["valid"], bool).reshape(want.shape), valid) and not valid.all()
        html = _get(loaded, "viewer", f"/rf/{sid}/skin-map").get_data(as_text=True)
        assert "Phantom: openSkin phantom" in html
    finally:
        with loaded.app_context():
            store.compute_for_study(db.session.get(Study, sid))
            db.session.commit()


def test_out_of_date_or_missing_maps_show_the_calculating_panel(loaded):
    sid = _study_id(loaded, ZEE)
    with loaded.app_context():
        study = db.session.get(Study, sid)
        old_height = study.patient_height_m
        study.patient_height_m = 1.55  # a size import changed the patient: the kept map is out of date
        db.session.commit()
    try:
        html = _get(loaded, "viewer", f"/rf/{sid}/skin-map?poll=3").get_data(as_text=True)
        assert "Calculating the skin dose map" in html
        # It polls itself: the next request is poll 4, every 2 s; after many polls every 10 s with the Jobs link.
        assert f'hx-get="/rf/{sid}/skin-map?poll=4"' in html and 'hx-trigger="load delay:2s"' in html
        assert _get(loaded, "viewer", f"/rf/{sid}/skin-map.json").get_json() == {"state": "calculating", "ok": False}
        late = _get(loaded, "viewer", f"/rf/{sid}/skin-map?poll=60").get_data(as_text=True)
        assert 'hx-trigger="load delay:10s"' in late
        assert ('Still waiting. The <a href="/jobs/">Jobs</a> page shows whether the calculation is queued, '
                'running or failed.') in late
    finally:
        with loaded.app_context():
            db.session.get(Study, sid).patient_height_m = old_height
            db.session.commit()
    assert "Calculating" not in _get(loaded, "viewer", f"/rf/{sid}/skin-map?poll=5").get_data(as_text=True)


def test_the_first_look_at_a_study_without_a_kept_map_starts_it(loaded):
    from doseapp.models import Job

    sid = _study_id(loaded, ZEE)
    with loaded.app_context():
        db.session.execute(db.delete(SkinDoseMap).where(SkinDoseMap.study_id == sid))
        db.session.commit()
    try:
        html = _get(loaded, "viewer", f"/rf/{sid}/skin-map").get_data(as_text=True)
        # Reloading the page while the job waits finds that job: no second one is queued.
        _get(loaded, "viewer", f"/rf/{sid}/skin-map")
        with loaded.app_context():
            row = store.stored(sid)
            queued = [j for j in db.session.scalars(select(Job).where(Job.kind == "skin_map"))
                      if (j.parameters or {}).get("study_id") == sid]
        # Queued as a job, not computed in the request: the panel polls until a worker has kept it.
        assert row is None
        assert "Calculating the skin dose map" in html
        assert len(queued) == 1 and queued[0].status == "queued"
    finally:
        with loaded.app_context():
            store.compute_for_study(db.session.get(Study, sid))
            db.session.commit()


def test_maps_switched_off(loaded):
    sid = _study_id(loaded, ZEE)
    _set_maps(loaded, False)
    try:
        page = _get(loaded, "viewer", f"/rf/{sid}").get_data(as_text=True)
        assert "/bokehjs/bokeh.min.js" not in page  # no map, no BokehJS
        html = _get(loaded, "viewer", f"/rf/{sid}/skin-map").get_data(as_text=True)
        assert "Skin dose maps are switched off" in html and "<a " not in html
        admin = _get(loaded, "adminviewer", f"/rf/{sid}/skin-map").get_data(as_text=True)
        assert "Skin dose maps are switched off" in admin
        assert '<a href="/config/skin-maps">Switch them on in the settings</a>' in admin  # Config → Skin dose maps
        assert _get(loaded, "viewer", f"/rf/{sid}/skin-map.json").get_json() == {"state": "off", "ok": False}
    finally:
        _set_maps(loaded, True)


@pytest.mark.parametrize("who, status", [("viewer", 200), ("pid", 200), ("adminviewer", 200), ("admin", 403)])
def test_who_may_see_the_map(loaded, who, status):
    sid = _study_id(loaded, ZEE)
    for url in (f"/rf/{sid}/skin-map", f"/rf/{sid}/skin-map.json"):
        assert _get(loaded, who, url).status_code == status, (who, url)


def test_anonymous_is_sent_to_log_in_and_other_modalities_have_no_map(loaded):
    sid = _study_id(loaded, ZEE)
    resp = _get(loaded, None, f"/rf/{sid}/skin-map.json")
    assert resp.status_code == 302 and resp.location.startswith("/login?next=")
    with loaded.app_context():
        other = db.session.scalar(select(Study.id).where(Study.modality != "RF"))
    if other is not None:
        assert _get(loaded, "viewer", f"/rf/{other}/skin-map").status_code == 404
    assert _get(loaded, "viewer", "/rf/999999/skin-map.json").status_code == 404


def test_the_section_in_german(loaded):
    """A German reader: the map's text and the no-map reason in German, numbers with decimal commas; the
    patient support's name (a product and where it was measured) as it is."""
    row = _row(loaded, ZEE)
    client = client_for(loaded, "viewer")
    html = client.get(f"/rf/{_study_id(loaded, ZEE)}/skin-map", headers={"Accept-Language": "de"}).get_data(as_text=True)
    text = re.search(r'<ul id="skin-map-text">(.*?)</ul>', html, re.S).group(1)
    lines = [re.sub(r"<[^>]+>", "", li).strip().replace("&#39;", "'") for li in re.findall(r"<li>(.*?)</li>", text, re.S)]
    psd = row.peak_skin_dose_gy
    surface = {"anterior": "anterior", "posterior": "posterior", "left": "links", "right": "rechts"}[row.peak_surface]
    dose = (f"{psd:.4f} Gy ({psd * 1000:.1f} mGy)" if psd < 0.1 else f"{psd:.2f} Gy").replace(".", ",")
    assert lines[0] == f"Maximale Hautdosis {dose}, Fläche: {surface}"
    body, support = row.phantom_description.split("; on the ")
    h, w, d = re.fullmatch(r"whole body (\d+) cm, torso (\d+) × (\d+) cm \(stadium cross-sections\)", body).groups()
    assert lines[1] == f"Phantom: ganzer Körper {h} cm, Rumpf {w} × {d} cm (stadionförmige Querschnitte); auf: {support}"
    sources = {"extracted": "ausgelesen", "assumed": "angenommen"}
    assert lines[2] == (f"Patientengröße {row.patient_height_m:.3f} m ({sources[row.height_source]}), "
                        f"Gewicht {row.patient_mass_kg:.1f} kg ({sources[row.mass_source]})").replace(".", ",")
    assert f"Ereignisse: {row.events_used} verwendet, {row.events_skipped} übersprungen" in lines
    assert lines[-1] == (f"Zellen über 3 Gy: {row.cells_over_3gy}, über 5 Gy: {row.cells_over_5gy}, "
                         f"über 10 Gy: {row.cells_over_10gy} (Zellen von {row.cell_size_cm:g} cm)")
    ge = _row(loaded, GE)
    html = client.get(f"/rf/{_study_id(loaded, GE)}/skin-map", headers={"Accept-Language": "de"}).get_data(as_text=True)
    reason = re.search(r'<p id="skin-map-reason"><strong>(.*?)</strong></p>', html).group(1)
    assert ge.reason == "no source-to-isocentre distance in 8 of 8 events"
    assert reason == "Keine Hautdosiskarte: kein Abstand Fokus–Isozentrum bei 8 von 8 Ereignissen"
