"""Time and numbers on pages (issue #15 item 6): the DOSEAPP_TIMEZONE setting, one human date format,
plurals, and DAP in cGy·cm² everywhere."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from doseapp import config
from doseapp.display import timefmt
from doseapp.models import (DicomQuery, DicomQuerySeries, DicomQueryStudy, DicomTransaction, Equipment, Job,
                            QuarantinedObject, Study, db)
from tests.conftest import run_cli
from tests.web.config_helpers import imp, login

# Instants recorded by doseapp are stored as naive UTC.
SUMMER = dt.datetime(2026, 7, 1, 12, 0, 5)     # New York is UTC-4 then, Kolkata UTC+5:30
WINTER = dt.datetime(2026, 1, 15, 23, 30, 0)   # New York UTC-5; in Kolkata it is already 16 Jan

ZONES = {
    "America/New_York": {"summer": "1 Jul 2026 08:00:05", "winter": "15 Jan 2026 18:30", "winter_day": "2026-01-15"},
    "Asia/Kolkata": {"summer": "1 Jul 2026 17:30:05", "winter": "16 Jan 2026 05:00", "winter_day": "2026-01-16"},
    "UTC": {"summer": "1 Jul 2026 12:00:05", "winter": "15 Jan 2026 23:30", "winter_day": "2026-01-15"},
}


@pytest.fixture
def zone(app, monkeypatch):
    """The app's display zone for this test (the setting as load() leaves it in the config)."""
    def use(name: str) -> None:
        monkeypatch.setitem(app.config, "TIMEZONE", timefmt.check_zone_name(name))
    return use


# --- the setting -------------------------------------------------------------------------------

def test_setting_names_the_zone_defaults_to_the_machine_and_refuses_unknown_names(tmp_path, monkeypatch):
    env = {"DOSEAPP_INSTANCE": str(tmp_path)}
    assert config.load(env=env | {"DOSEAPP_TIMEZONE": "Asia/Kolkata"})["TIMEZONE"] == "Asia/Kolkata"
    monkeypatch.setenv("TZ", "America/New_York")  # how the machine says its zone, first of the ways looked at
    assert timefmt.machine_zone_name() == "America/New_York"
    assert config.load(env=env)["TIMEZONE"] == "America/New_York"
    assert config.load(env=env | {"DOSEAPP_TIMEZONE": " "})["TIMEZONE"] == "America/New_York"
    for bad in ("Mars/Olympus_Mons", "../etc/passwd", "Europe/"):
        with pytest.raises(timefmt.TimeZoneError, match="is not a time zone. Use an IANA name such as Europe/London"):
            config.load(env=env | {"DOSEAPP_TIMEZONE": bad})
    with pytest.raises(timefmt.TimeZoneError):  # an override is checked as the setting is
        config.load(env=env, TIMEZONE="Nowhere/Town")


def test_unknown_zone_stops_start_up_with_the_reason_in_words(app_env):
    done = run_cli(["user", "list"], app_env | {"DOSEAPP_TIMEZONE": "Mars/Olympus_Mons"})
    assert done.returncode == 1
    assert ("Error: DOSEAPP_TIMEZONE is 'Mars/Olympus_Mons', which is not a time zone. Use an IANA name such as "
            "Europe/London, America/New_York or UTC") in done.stderr
    assert "Traceback" not in done.stderr
    assert run_cli(["user", "list"], app_env | {"DOSEAPP_TIMEZONE": "Asia/Kolkata"}).returncode == 0


# --- formats ---------------------------------------------------------------------------------------

def test_formats(app, zone):
    zone("Asia/Kolkata")
    assert timefmt.when(WINTER) == "16 Jan 2026 05:00"
    assert timefmt.when(WINTER, seconds=True) == "16 Jan 2026 05:00:00"
    assert timefmt.when("2026-01-15T23:30:00") == "16 Jan 2026 05:00"    # ISO text (the reports table)
    assert timefmt.when("2026-01-15T23:30:00Z") == "16 Jan 2026 05:00"
    aware = dt.datetime(2026, 1, 15, 18, 30, tzinfo=dt.timezone(dt.timedelta(hours=-5)))
    assert timefmt.when(aware) == "16 Jan 2026 05:00"
    assert timefmt.when(None) == "—"
    assert timefmt.utc_start_of(dt.date(2026, 1, 16)) == dt.datetime(2026, 1, 15, 18, 30)
    # Wall-clock values of the modality are never shifted.
    assert timefmt.day(dt.date(2026, 12, 3)) == "3 Dec 2026" and timefmt.day("2026-12-03") == "3 Dec 2026"
    assert timefmt.clock(dt.time(14, 5, 9)) == "14:05" and timefmt.clock(dt.time(14, 5, 9), seconds=True) == "14:05:09"
    assert timefmt.study_when(dt.date(2026, 12, 3), dt.time(14, 5)) == "3 Dec 2026 14:05"
    assert timefmt.study_when(dt.date(2026, 12, 3), None) == "3 Dec 2026"
    # DICOM DA / TM as a remote sends them.
    assert timefmt.dicom_date("19900101-20251231") == "1 Jan 1990 to 31 Dec 2025"
    assert timefmt.dicom_date("19900101") == "1 Jan 1990"
    assert timefmt.dicom_date("-20251231") == "until 31 Dec 2025"
    assert timefmt.dicom_date("20251231-") == "from 31 Dec 2025"
    assert timefmt.dicom_date("20251340") == "20251340"   # no such day: shown as sent, not hidden
    assert timefmt.dicom_time("001127.625") == "00:11:27"
    assert timefmt.dicom_time("1405") == "14:05" and timefmt.dicom_time("14") == "14:00"
    assert timefmt.dicom_time("14:05:09") == "14:05:09"
    assert timefmt.dicom_time("2599") == "2599"


def test_plurals():
    assert [timefmt.plural(n, "study") for n in (0, 1, 2)] == ["0 studies", "1 study", "2 studies"]
    assert [timefmt.plural(n, "series") for n in (0, 1, 2)] == ["0 series", "1 series", "2 series"]
    assert [timefmt.plural(n, "object") for n in (0, 1, 2)] == ["0 objects", "1 object", "2 objects"]
    assert timefmt.plural(1, "entry") == "1 entry" and timefmt.plural(3, "entry") == "3 entries"
    assert timefmt.plural(12500, "object") == "12,500 objects"
    assert [timefmt.is_are(n) for n in (0, 1, 2)] == ["are", "is", "are"]
    assert timefmt.noun(1, "study") == "study" and timefmt.noun(0, "study") == "studies"


def test_grouped_counts_per_language(app):
    """The |grouped filter the plural messages use: thousands grouped as each language writes them."""
    from flask_babel import force_locale

    assert timefmt.grouped(12500) == "12,500" and timefmt.grouped(None) == "—"
    with app.test_request_context("/"):
        assert timefmt.grouped(1250) == "1,250"
        with force_locale("de"):
            assert timefmt.grouped(1250) == "1.250"
        with force_locale("fr"):
            assert timefmt.grouped(1250).replace("\u202f", " ").replace("\xa0", " ") == "1 250"
        with force_locale("nb"):
            assert timefmt.grouped(1250).replace("\xa0", " ") == "1 250"


# --- recorded times on pages -------------------------------------------------------------------------

def _recorded_rows():
    job = Job(kind="export", queue="export", status="failed", title="CT export", created_at=SUMMER,
              started_at=SUMMER, ended_at=SUMMER + dt.timedelta(seconds=1))
    tx = DicomTransaction(at=SUMMER, direction="in", operation="C-ECHO", status="success", calling_aetitle="MODALITY1")
    q = QuarantinedObject(path="/nowhere/x.dcm", original_name="x.dcm", reason="Not a dose object", source="cli",
                          received_at=WINTER)
    db.session.add_all([job, tx, q])
    db.session.commit()
    return job


@pytest.mark.parametrize("name", ["America/New_York", "Asia/Kolkata"])
def test_recorded_times_are_shown_in_the_zone(app, client, zone, name):
    job = _recorded_rows()
    login(client, "tz-admin")
    zone(name)
    want = ZONES[name]
    jobs = client.get("/jobs/").get_data(as_text=True)
    assert f'<td class="nowrap">{want["summer"]}</td>' in jobs
    detail = client.get(f"/jobs/{job.id}").get_data(as_text=True)
    assert f"Queued {want['summer']}; started {want['summer']}; ended {want['summer'][:-1]}6" in detail
    assert f"({name})" in detail
    tx = client.get("/dicom/transactions").get_data(as_text=True)
    assert f"<td>{want['summer']}</td>" in tx and "UTC" not in tx
    quarantine = client.get("/quarantine/").get_data(as_text=True)
    assert f'<td class="nowrap">{want["winter"]}</td>' in quarantine
    # The day filters mean days where the users are: the winter instant is on its local day only.
    day = want["winter_day"]
    other = "2026-01-16" if day == "2026-01-15" else "2026-01-15"
    on_day = client.get(f"/quarantine/?from={day}&to={day}").get_data(as_text=True)
    assert '<p id="quarantine-count">1 object matches.</p>' in on_day
    assert "Nothing matches." in client.get(f"/quarantine/?from={other}&to={other}").get_data(as_text=True)


def test_the_same_instant_differs_between_zones_and_utc_is_utc(app, client, zone):
    _recorded_rows()
    login(client, "tz-admin2")
    seen = {}
    for name in ZONES:
        zone(name)
        seen[name] = client.get("/dicom/transactions").get_data(as_text=True)
        assert f"<td>{ZONES[name]['summer']}</td>" in seen[name]
    assert ZONES["UTC"]["summer"] not in seen["Asia/Kolkata"]


def test_study_date_and_time_are_the_modality_s_whatever_the_zone(app, client, zone):
    imp("DX-RDSR-Canon_CXDI.dcm")  # StudyDate 20160818, StudyTime 192501.65
    study = db.session.scalar(select(Study))
    login(client, "tz-viewer", ["viewer"])
    for name in ("America/New_York", "Asia/Kolkata"):
        zone(name)
        listing = client.get("/dx/").get_data(as_text=True)
        assert '<td class="nowrap">18 Aug 2016 19:25</td>' in listing
        page = client.get(f"/dx/{study.id}").get_data(as_text=True)
        assert "<tr><th>Study date</th><td>18 Aug 2016</td></tr>" in page
        assert "<tr><th>Study time</th><td>19:25</td></tr>" in page
        assert "2016-08-18" not in page


def test_imported_time_of_a_report_is_in_the_zone(app, client, zone):
    imp("DX-RDSR-Canon_CXDI.dcm")
    study = db.session.scalar(select(Study))
    for obj in study.objects:
        obj.imported_at = WINTER
    db.session.commit()
    login(client, "tz-viewer2", ["viewer"])
    zone("Asia/Kolkata")
    page = client.get(f"/dx/{study.id}").get_data(as_text=True)
    assert '<td class="nowrap">16 Jan 2026 05:00</td>' in page and "(UTC)" not in page


# --- query-retrieve ------------------------------------------------------------------------------------

def _query(n_studies: int, n_series: int) -> DicomQuery:
    query = DicomQuery(parameters={"modalities": ["CT"], "date_from": "19900101", "date_until": "20251231"},
                       stage="Query complete", complete=True, created_at=SUMMER, summary={"CT": n_studies})
    db.session.add(query)
    db.session.flush()
    for i in range(n_studies):
        study = DicomQueryStudy(query_id=query.id, study_instance_uid=f"1.2.3.{i}", study_date="20251230",
                                study_time="001127.625", modality="CT", modalities_in_study="CT\\SR",
                                number_of_series=n_series)
        db.session.add(study)
        db.session.flush()
        db.session.add(DicomQuerySeries(study_id=study.id, series_instance_uid=f"1.2.3.{i}.1", series_number=1,
                                        series_time="001127.625", modality="SR"))
    db.session.commit()
    return query


def test_query_pages_show_human_dates_and_counts(app, client, zone):
    login(client, "tz-qr", ["importqr"])
    zone("Asia/Kolkata")
    one = _query(1, 1)
    page = client.get(f"/qr/queries/{one.id}").get_data(as_text=True)
    assert "CT,\n   1 Jan 1990 to 31 Dec 2025" in page
    assert "<td>30 Dec 2025 00:11:27</td>" in page        # the study's date and time as the remote sent them
    assert "<td>00:11:27</td>" in page                   # the series time
    assert "<td>1 series</td>" in page
    assert "19900101" not in page and "20251231" not in page and "001127" not in page
    history = client.get("/qr/history").get_data(as_text=True)
    assert "<td>1 Jan 1990 to 31 Dec 2025</td>" in history
    assert f"<td>{ZONES['Asia/Kolkata']['summer'][:-3]}</td>" in history
    two = _query(2, 2)
    page = client.get(f"/qr/queries/{two.id}").get_data(as_text=True)
    assert page.count("<td>2 series</td>") == 2


def test_query_open_ended_range_reads_as_words(app, client):
    login(client, "tz-qr2", ["importqr"])
    query = DicomQuery(parameters={"modalities": ["DX"], "date_from": "20260101"}, stage="Queued", created_at=SUMMER)
    db.session.add(query)
    db.session.commit()
    page = client.get(f"/qr/queries/{query.id}").get_data(as_text=True)
    assert "DX,\n   1 Jan 2026 to now" in page


# --- plurals on the pages that count things ----------------------------------------------------------

def test_counts_on_list_pages_agree_with_their_numbers(app, client):
    login(client, "tz-counts", ["admin", "viewer"])
    assert "There are <strong>0</strong> studies in this list." in client.get("/ct/").get_data(as_text=True)
    imp("CT-RDSR-GEPixelMed.dcm")
    assert "There is <strong>1</strong> study in this list." in client.get("/ct/").get_data(as_text=True)
    imp("CT-RDSR-ToshibaPixelMed.dcm")
    assert "There are <strong>2</strong> studies in this list." in client.get("/ct/").get_data(as_text=True)

    assert "No jobs yet." in client.get("/jobs/").get_data(as_text=True)
    db.session.add(Job(kind="export", queue="export", status="failed", title="one"))
    db.session.commit()
    assert "<p>1 job." in client.get("/jobs/").get_data(as_text=True)
    db.session.add(Job(kind="export", queue="export", status="failed", title="two"))
    db.session.commit()
    assert "<p>2 jobs." in client.get("/jobs/").get_data(as_text=True)

    assert "0 objects in quarantine." in client.get("/quarantine/").get_data(as_text=True)
    db.session.add(QuarantinedObject(path="/nowhere/a.dcm", reason="bad", source="cli"))
    db.session.commit()
    page = client.get("/quarantine/").get_data(as_text=True)
    assert "1 object in quarantine." in page and '<p id="quarantine-count">1 object.</p>' in page
    matching = client.get("/quarantine/?source=cli").get_data(as_text=True)
    assert '<p id="quarantine-count">1 object matches.</p>' in matching
    db.session.add(QuarantinedObject(path="/nowhere/b.dcm", reason="bad", source="cli"))
    db.session.commit()
    assert "2 objects in quarantine." in client.get("/quarantine/").get_data(as_text=True)
    matching = client.get("/quarantine/?source=cli").get_data(as_text=True)
    assert '<p id="quarantine-count">2 objects match.</p>' in matching

    db.session.add(DicomTransaction(direction="in", operation="C-ECHO", status="success"))
    db.session.commit()
    assert "<p>1 transaction." in client.get("/dicom/transactions").get_data(as_text=True)


# --- DAP in cGy·cm² ---------------------------------------------------------------------------------

def test_equipment_review_and_study_delete_show_dap_in_cgycm2(app, client):
    imp("DX-RDSR-Canon_CXDI.dcm")
    study = db.session.scalar(select(Study))
    eq = db.session.scalar(select(Equipment))
    stored = study.total_dap_gym2  # Gy·m²; 1 Gy·m² = 100 cGy × 10,000 cm² = 1,000,000 cGy·cm²
    shown = f"{stored * 1e6:.2f}"
    assert 0.1 < stored * 1e6 < 1000  # a chest radiograph's DAP in cGy·cm²: the conversion is not off by powers of ten
    login(client, "tz-dap", ["admin", "viewer"])
    review = client.get(f"/config/equipment/{eq.id}/review").get_data(as_text=True)
    assert "<th>DAP (cGy·cm²)</th>" in review and "Gy·m²" not in review
    assert f'<td class="num">{shown}</td>' in review
    assert "There is <strong data-count=\"total\">1</strong> study associated with this equipment" in review
    assert "<td>18 Aug 2016</td><td>19:25</td>" in review
    delete = client.get(f"/studies/{study.id}/delete").get_data(as_text=True)
    assert f'<tr><th>Total DAP (cGy·cm²)</th><td data-value="dap">{shown}</td>' in delete
    assert "<tr><th>Date</th><td>18 Aug 2016 19:25</td></tr>" in delete
    # The same number as the study page shows.
    study_page = client.get(f"/dx/{study.id}").get_data(as_text=True)
    assert f"<tr><th>Total DAP (cGy·cm²)</th><td>{shown}</td></tr>" in study_page


def test_dap_conversion_of_the_issue_example():
    from doseapp.blueprints.studies import dap_cgycm2

    assert dap_cgycm2(1.6e-05) == "16.00"  # 1.6e-05 Gy·m² = 16 cGy·cm²
    assert dap_cgycm2(None) == "—"
