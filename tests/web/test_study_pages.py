"""Study pages per modality, from real vendor files: the radiography page's exposure factors and
exposure index, events in the order they were made (real reports that list them otherwise), and
short target/filter names with the full DICOM name on hover."""
from __future__ import annotations

import re

import pydicom
import pytest
from sqlalchemy import select

from doseapp.extract.classify import extract
from doseapp.display.materials import short_material
from doseapp.models import Study, XrayEvent, db
from doseapp.studies import study_detail
from tests.conftest import TESTDATA, _empty_all_tables
from tests.web import studydata
from tests.web.studydata import client_for
from tests.web.tables import read_table

CANON = "DX-RDSR-Canon_CXDI.dcm"
GE_XR220 = ["DX-Im-GE_XR220-1.dcm", "DX-Im-GE_XR220-2.dcm", "DX-Im-GE_XR220-3.dcm"]
CARESTREAM = ["DX-Im-Carestream_DR7500-1.dcm", "DX-Im-Carestream_DR7500-2.dcm"]
HOLOGIC_MIX = "MG-RDSR-Hologic_mix.dcm"  # 7 exposures, listed out of time order
RF_316 = "RF-Pat-Orientation-Modifier-Missing.dcm"  # 316 events, listed out of time order
GE_RF = "RF-RDSR-GE.dcm"  # 8 events, each its own DAP
FLASH = "CT-RDSR-Siemens_Flash-TAP-SS.dcm"  # its events carry no time
FILES = [CANON, *GE_XR220, *CARESTREAM, HOLOGIC_MIX, RF_316, GE_RF, FLASH]


@pytest.fixture(scope="module")
def loaded(_session_app):
    studydata.load_testdata(_session_app, [TESTDATA / f for f in FILES])
    yield _session_app
    _empty_all_tables(_session_app)


def _study_id(app, name: str) -> int:
    uid = pydicom.dcmread(TESTDATA / name, stop_before_pixels=True).StudyInstanceUID
    with app.app_context():
        return db.session.scalar(select(Study.id).where(Study.study_instance_uid == uid))


def _page(app, modality: str, name: str) -> str:
    response = client_for(app, "viewer").get(f"/{modality}/{_study_id(app, name)}")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def _events_in_file(name: str):
    return extract(pydicom.dcmread(TESTDATA / name)).xray_events


def _in_time_order(events):
    """(time, position in the report): the order the pages must show."""
    return [e for _, _, e in sorted((e.date_time_started, n, e) for n, e in enumerate(events))]


def test_radiography_page_shows_the_canon_cxdi_exposure_factors(loaded):
    html = _page(loaded, "dx", CANON)
    table = read_table(html, "events")
    # What the RDSR records, and nothing of the fluoroscopy layout (pulse rate, angles, duration).
    assert table.headings == ["Time", "Protocol", "Anatomy", "kVp", "mA", "mAs", "Time (ms)", "DAP (cGy·cm²)"]
    (row,) = table.rows
    assert {k: c.text for k, c in row.items()} == {
        "Time": "19:26:17", "Protocol": "THORAX AP 90kv-0,9mAs", "Anatomy": "Chest", "kVp": "90", "mA": "160.0",
        "mAs": "0.80 (800 µAs)", "Time (ms)": "5.0", "DAP (cGy·cm²)": "10.700"}
    assert 'title="Exposure time (ms)">Time (ms)</abbr>' in html
    # What it does not record is said once, in words, instead of a column of dashes.
    assert ("Not recorded for any event of this study: view, patient position, filters, exposure index, "
            "target exposure index, deviation index, source to image (detector) distance (mm), grid, "
            "entrance dose (mGy).") in html
    assert "Summary by irradiation type" not in html and "Pulse rate" not in html


def test_radiography_page_shows_exposure_index_view_and_grid_of_ge_images(loaded):
    table = read_table(_page(loaded, "dx", GE_XR220[0]), "events")
    assert table.headings == ["Time", "Protocol", "Anatomy", "View", "kVp", "mA", "mAs", "Time (ms)", "EI",
                              "Target EI", "DI", "Grid", "DAP (cGy·cm²)"]
    assert table.column("Time") == ["14:11:33 from R1", "14:12:15 from R2", "14:12:43 from R3"]  # one image each
    assert table.column("Anatomy") == ["Abdomen"] * 3
    assert table.column("View") == ["antero-posterior"] * 3
    assert table.column("kVp") == ["70"] * 3
    assert table.column("mA") == ["189.0", "192.0", "190.0"]
    assert table.column("mAs") == ["1.04", "2.04", "5.04"]  # 1040, 2040, 5040 µAs
    assert table.column("Time (ms)") == ["6.0", "11.0", "27.0"]
    assert table.column("EI") == ["52", "109", "287"]
    assert table.column("Target EI") == ["438"] * 3
    assert table.column("DI") == ["-9.3", "-6.1", "-1.8"]
    assert table.column("Grid") == ["No grid"] * 3
    assert table.column("DAP (cGy·cm²)") == ["4.100", "8.200", "20.500"]


def test_radiography_filters_and_distance_of_carestream_images(loaded):
    html = _page(loaded, "dx", CARESTREAM[0])
    table = read_table(html, "events")
    assert table.column("Filters") == ["Al 1.00 mm", "Al 1.00 mm + Cu 0.20 mm"]  # mean of min and max
    assert [r["Filters"].titles for r in table.rows] == [
        ["Aluminum or Aluminum compound"], ["Aluminum or Aluminum compound", "Copper or Copper compound"]]
    assert table.column("SID (mm)") == ["12", "12"]  # the header says 11.5 mm
    assert table.column("Grid") == ["Reciprocating grid, Focused grid"] * 2
    assert table.column("mAs") == ["10.0", "9.00"]


def test_mammography_exposures_in_time_order_with_short_target_and_filter(loaded):
    listed = _events_in_file(HOLOGIC_MIX)
    ordered = _in_time_order(listed)
    assert ordered != listed  # the report lists them otherwise
    html = _page(loaded, "mg", HOLOGIC_MIX)
    table = read_table(html, "events")
    assert table.column("Thickness (mm)") == [f"{e.compression_thickness_mm:.0f}" for e in ordered] == [
        "19", "20", "21", "20", "23", "128", "46"]
    assert table.column("AGD (mGy)") == [f"{e.agd_mgy:.2f}" for e in ordered]
    assert table.column("View") == ["Right, cranio-caudal", "Right, cranio-caudal", "Right, medio-lateral oblique",
                                    "Left, cranio-caudal"] + ["Right, cranio-caudal"] * 3
    assert table.column("Target / filter") == ["W / Al 0.70 mm"] * 4 + [
        "W / Rh 0.05 mm", "W / Ag 0.05 mm", "W / Rh 0.05 mm"]
    assert table.rows[0]["Target / filter"].titles == ["Tungsten or Tungsten compound", "Aluminum or Aluminum compound"]
    assert table.rows[4]["Target / filter"].titles == ["Tungsten or Tungsten compound", "Rhodium or Rhodium compound"]
    assert table.rows[5]["Target / filter"].titles == ["Tungsten or Tungsten compound", "Silver or Silver compound"]
    assert "Tungsten or Tungsten compound /" not in html  # the long name only on hover


def test_fluoroscopy_events_in_time_order(loaded):
    listed = _events_in_file(RF_316)
    ordered = _in_time_order(listed)
    as_shown = [f"{e.dap_gym2 * 1e6:.3f}" for e in ordered]
    assert as_shown != [f"{e.dap_gym2 * 1e6:.3f}" for e in listed]  # listed otherwise, and it shows
    table = read_table(_page(loaded, "rf", RF_316), "events")
    assert len(table.rows) == 316
    assert table.column("DAP (cGy·cm²)") == as_shown
    assert table.column("Time") == [e.date_time_started.strftime("%H:%M:%S") for e in ordered]
    # The fluoroscopy layout stays: pulse rate, angles, duration and exposure time.
    for heading in ("Pulse rate (/s)", "Primary", "Secondary", "Duration (ms)"):
        assert heading in table.headings


def test_events_of_the_same_time_keep_their_stored_order_and_events_without_time_come_last(loaded):
    sid = _study_id(loaded, GE_RF)
    with loaded.app_context():
        events = db.session.scalars(select(XrayEvent).where(XrayEvent.study_id == sid).order_by(XrayEvent.id)).all()
        saved = {e.id: e.date_time_started for e in events}
        assert len(events) == 8
        same = events[5].date_time_started
        for e in events:
            e.date_time_started = same
        events[2].date_time_started = None
        db.session.commit()
        expected = [f"{e.dap_gym2 * 1e6:.3f}" for e in events if e is not events[2]] + [
            f"{events[2].dap_gym2 * 1e6:.3f}"]
        expected_ids = [e.id for e in events if e is not events[2]] + [events[2].id]
    try:
        table = read_table(client_for(loaded, "viewer").get(f"/rf/{sid}").get_data(as_text=True), "events")
        assert len(set(expected)) == 8  # the DAPs tell the events apart
        assert table.column("DAP (cGy·cm²)") == expected
        assert table.column("Time")[-1] == "—"
        # The JSON API and `doseapp study show` read the same order.
        with loaded.app_context():
            detail = study_detail(db.session.get(Study, sid))
            by_uid = {e.irradiation_event_uid: e.id for e in db.session.get(Study, sid).xray_events}
        assert [by_uid[e["irradiation_event_uid"]] for e in detail["xray_events"]] == expected_ids
    finally:
        with loaded.app_context():
            for e in db.session.scalars(select(XrayEvent).where(XrayEvent.study_id == sid)):
                e.date_time_started = saved[e.id]
            db.session.commit()


def test_a_plane_every_event_shares_is_said_once(loaded):
    html = _page(loaded, "rf", GE_RF)
    assert "Plane" not in read_table(html, "events").headings
    assert "The same for every event: plane Single Plane." in html


def test_ct_events_without_times_in_the_reports_order(loaded):
    html = _page(loaded, "ct", FLASH)
    table = read_table(html, "events")
    assert table.headings == ["Protocol", "Type", "CTDIvol (mGy)", "DLP (mGy·cm)", "SSDE (mGy)", "E estimate (mSv)",
                              "Length (mm)", "kVp", "mA", "Max mA", "Rotation (s)", "Pitch", "Exposure time (s)",
                              "Slice", "Total", "Modulation"]
    assert table.column("Protocol") == [e.acquisition_protocol for e in
                                        extract(pydicom.dcmread(TESTDATA / FLASH)).ct_events]
    assert table.column("DLP (mGy·cm)") == ["11.51", "1.20", "3.61", "708.20"]
    assert table.rows[3]["Max mA"].text == "560.0" and table.rows[3]["CTDIvol (mGy)"].text == "9.91 body"
    assert table.rows[3]["CTDIvol (mGy)"].titles == ["IEC Body Dosimetry Phantom"]
    assert "In the order the report lists them: no event records its time." in html
    # the one thing no event has: the water-equivalent diameter (so no SSDE; doseapp.standards)
    assert "Not recorded for any event of this study: water-equivalent diameter (cm)." in html


@pytest.mark.parametrize("name, short", [
    ("Tungsten or Tungsten compound", "W"), ("Molybdenum or Molybdenum compound", "Mo"),
    ("Rhodium or Rhodium compound", "Rh"), ("Aluminum or Aluminum compound", "Al"),
    ("Silver or Silver compound", "Ag"), ("Copper or Copper compound", "Cu"), ("Lead or Lead compound", "Pb"),
    ("Tin or Tin compound", "Sn"), ("Niobium or Niobium compound", "Nb"), ("Tantalum or Tantalum compound", "Ta"),
    ("Europium or Europium compound", "Eu"), ("Titanium or Titanium compound", "Ti"),
    ("Aluminium", "Al"), ("Beryllium window", "Beryllium window"), (None, None)])
def test_short_material_names(name, short):
    assert short_material(name) == short


def test_event_tables_in_german(loaded):
    """A German reader: the event table's headings, their groups and hover words, and the line naming
    what no event records, in German (nouns keep their capital); the values as in English, with decimal
    commas."""
    client = client_for(loaded, "viewer")
    html = client.get(f"/dx/{_study_id(loaded, CANON)}", headers={"Accept-Language": "de"}).get_data(as_text=True)
    table = read_table(html, "events")
    assert table.headings == ["Zeit", "Protokoll", "Anatomie", "kVp", "mA", "mAs", "Zeit (ms)", "DAP (cGy·cm²)"]
    (row,) = table.rows
    assert row["Zeit (ms)"].text == "5,0" and row["DAP (cGy·cm²)"].text == "10,700"
    assert 'title="Expositionszeit (ms)">Zeit (ms)</abbr>' in html
    assert ("Ansicht, Patientenlagerung, Filter, Expositionsindex, Ziel-Expositionsindex, Abweichungsindex, "
            "Abstand Fokus–Bildempfänger (mm), Raster, Eintrittsdosis (mGy).") in html
    rf = client.get(f"/rf/{_study_id(loaded, GE_RF)}", headers={"Accept-Language": "de"}).get_data(as_text=True)
    groups = [g.strip() for g in re.findall(r'<th colspan="\d+" class="group">(.*?)</th>', rf)]
    assert groups == ["Dosis", "Exposition", "Zeiten"], groups
    assert read_table(rf, "events").headings[:3] == ["Zeit", "Typ", "Protokoll"]
    # French writes them in lower case inside the sentence, as English does.
    fr = client.get(f"/dx/{_study_id(loaded, CANON)}", headers={"Accept-Language": "fr"}).get_data(as_text=True)
    line = re.search(r'<p class="hint" id="not-recorded">(.*?)</p>', fr, re.S).group(1)
    assert ": incidence, position du patient, filtres, indice d&#39;exposition, " in line, line
    assert '<abbr title="Dosis am Referenzpunkt (Gy)">Dosis am RP (Gy)</abbr>' in rf
    # DICOM code meanings shown as words (event type, plane) read in German; the English page keeps them.
    types = read_table(rf, "events").column("Typ")
    assert types and set(types) <= {"Durchleuchtung", "Stationäre Aufnahme", "Rotationsaufnahme", "Schrittaufnahme"}, types
    summary = re.search(r'<table class="list" id="type-summary">(.*?)</table>', rf, re.S).group(1)
    assert re.findall(r"<tr><td>([^<]*)</td>", summary) == ["Durchleuchtung"]
    english = read_table(client.get(f"/rf/{_study_id(loaded, GE_RF)}").get_data(as_text=True), "events").column("Type")
    assert set(english) <= {"Fluoroscopy", "Stationary Acquisition", "Rotational Acquisition", "Stepping Acquisition"}
    assert len(english) == len(types)


def test_openskin_section_words_in_german(loaded):
    """The openSkin section's copper warning and column list follow the page (the file has no header row);
    in English the warning is the one the export writes."""
    from flask_babel import force_locale

    from doseapp.blueprints.exports import openskin_layout
    from doseapp.exports.openskin import COPPER_WARNING

    with loaded.test_request_context():
        english = openskin_layout()
        with force_locale("de"):
            german = openskin_layout()
    assert english["warning"] == COPPER_WARNING
    assert german["warning"].startswith("In diesem Export werden nur Kupferfilter berücksichtigt")
    assert len(german["columns"]) == len(english["columns"]) and german["columns"] != english["columns"]
    assert "Pulsrate (/s)" in german["columns"] and "Pulse rate (/s)" in english["columns"]


def test_unknown_age_and_size_are_a_dash_without_units(loaded):
    """A study whose report gives no age, height or weight says '—', not '— years' or '— cm, — kg'."""
    with loaded.app_context():
        rows = db.session.execute(select(Study.id, Study.modality, Study.patient_age_years, Study.patient_height_m,
                                         Study.patient_weight_kg, Study.patient_sex)).all()
    unknown = [r for r in rows if r.patient_age_years is None and not r.patient_height_m and r.patient_weight_kg is None]
    known = [r for r in rows if r.patient_age_years is not None]
    assert unknown and known
    client = client_for(loaded, "viewer")
    for r in (unknown[0], known[0]):
        html = client.get(f"/{r.modality.lower()}/{r.id}").get_data(as_text=True)
        age = re.search(r"<th>Patient age</th><td>(.*?)</td>", html).group(1)
        size = re.search(r"<th>Patient height and weight</th><td>(.*?)</td>", html).group(1)
        if r is known[0]:
            assert age.startswith(f"{r.patient_age_years:.1f} years"), age
        else:
            assert age == ("—" + (f", sex {r.patient_sex}" if r.patient_sex else "")) and size == "—", (age, size)
