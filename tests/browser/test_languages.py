"""Languages in a real browser (issue 22): a user switches to German, then to French, on the Language
page; the home page, a study list with its charts, and a study page are in that language, numbers and
dates written the locale's way, and they fit the window at 1366x768 and 1920x1080 (German words are
long). With "export headings in my language" chosen, a CSV export started from the list (run by a real
worker) has its heading row in that language while its numbers stay machine-readable. Screenshots go to the test's tmp folder (and to DOSEAPP_SCREENSHOTS when set)."""
from __future__ import annotations

import csv
import io
import time
from pathlib import Path

import pytest
from babel.dates import format_date
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from sqlalchemy import select

from doseapp.display.i18n import TRANSLATIONS_DIR
from doseapp.models import Study, User, db
from tests.browser.test_layout_fit import LAYOUT_PROBLEMS_JS, _save, _settle
from tests.browser.test_ui import chromium, login, running, wait_for, web_server
from tests.conftest import _empty_all_tables
from tests.web import studydata

SIZES = ((1366, 768), (1920, 1080))


@pytest.fixture(scope="module")
def site(_session_app, app_env, tmp_path_factory):
    studydata.load_testdata(_session_app)
    with _session_app.app_context():
        study = db.session.scalars(select(Study).where(Study.modality == "CT", Study.total_dlp_mgycm.isnot(None))
                                   .order_by(Study.number_of_events.desc(), Study.id).limit(1)).one()
        facts = {"id": study.id, "dlp": study.total_dlp_mgycm, "date": study.study_date}
        # A fluoroscopy study with its widest event table (German headings are the longest).
        facts["rf"] = db.session.scalars(select(Study.id).where(Study.modality == "RF", Study.number_of_events.between(2, 40))
                                         .order_by(Study.number_of_events.desc(), Study.id).limit(1)).one()
        db.session.remove()
    folder = tmp_path_factory.mktemp("web")
    exports = Path(_session_app.config["INSTANCE"]) / "exports"
    before = set(exports.glob("*")) if exports.is_dir() else set()
    with web_server(app_env, folder) as base, running(["worker"], app_env, folder / "worker.log"):
        yield base, facts
    # The exports this module made are files in the session's instance: remove them with their job rows
    # (below), so that tests sharing the instance later see only their own files.
    made = set(exports.glob("*")) - before if exports.is_dir() else set()
    for path in made:
        if path.is_file():
            path.unlink()
    with _session_app.app_context():
        for user in db.session.scalars(select(User)):
            user.locale = None
            user.export_headings_translated = False
        db.session.commit()
    _empty_all_tables(_session_app)


def _catalogue(code: str):
    with (TRANSLATIONS_DIR / code / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        catalogue = read_po(handle, locale=code)
    return lambda msgid, **values: (catalogue.get(msgid).string % values) if values else catalogue.get(msgid).string


def _choose_language(driver, base, code: str, headings: str = "english") -> None:
    from selenium.webdriver.common.by import By

    driver.get(base + "/account/language")
    driver.find_element(By.CSS_SELECTOR, f'#language-form input[name="locale"][value="{code}"]').click()
    driver.find_element(By.CSS_SELECTOR, f'#language-form input[name="export_headings"][value="{headings}"]').click()
    driver.find_element(By.CSS_SELECTOR, "#language-form button[type=submit]").click()
    wait_for(driver, lambda d: d.execute_script("return document.documentElement.lang") == code,
             f"the page in {code} after saving the language")


def _download_links(driver) -> list[str]:
    return driver.execute_script(
        "return Array.from(document.querySelectorAll('table.exports-done a[href*=\"/download\"]')).map(a => a.href)")


def _csv_export_from_the_list(driver, base, screenshot) -> tuple[list[str], list[list[str]]]:
    """Start the CT CSV export from the list's export panel as a user does, wait on the Exports page for
    it to be done (the worker runs it), fetch the file through its download link with the browser's
    session, and return its heading row and its rows."""
    from selenium.webdriver.common.by import By

    driver.get(base + "/exports/")
    before = set(_download_links(driver))
    driver.get(base + "/ct/")
    _settle(driver, "/ct/")
    driver.find_element(By.CSS_SELECTOR, '.export-panel form[action$="/start/ct/csv"] button[type=submit]').click()
    wait_for(driver, lambda d: d.current_url.rstrip("/").endswith("/exports"), "the Exports page after starting")
    deadline, new = time.monotonic() + 90, []
    while not new:
        assert time.monotonic() < deadline, "the CT CSV export did not finish within 90 s"
        time.sleep(1)
        driver.get(base + "/exports/")
        new = [href for href in _download_links(driver) if href not in before]
    _save(driver, screenshot)
    driver.set_script_timeout(60)
    text = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch(arguments[0], {credentials: 'same-origin'})"
        ".then(r => r.ok ? r.text() : 'HTTP ' + r.status).then(done, e => done('ERROR ' + e));", new[0])
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert len(rows) > 1, text[:300]
    return rows[0], rows[1:]


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_german_and_french_pages_read_and_fit(site, tmp_path, size):
    base, facts = site
    width, height = size
    driver = chromium(tmp_path / "profile", width, height)
    try:
        login(driver, base, "adminviewer")
        found = {}
        for code in ("de", "fr"):
            said = _catalogue(code)
            _choose_language(driver, base, code, headings="translated")
            assert said("Your language is saved.") in driver.find_element("css selector", ".flash").text
            pages = {"home": "/", "ct-list": "/ct/", "ct-study": f"/ct/{facts['id']}", "rf-study": f"/rf/{facts['rf']}", "language": "/account/language",
                     "alert-rules": "/config/alerts", "jobs": "/jobs/?periodic=1", "skin-maps": "/config/skin-maps",
                     "drl-config": "/config/drl"}
            text = {}
            for name, path in pages.items():
                driver.get(base + path)
                _settle(driver, path)
                text[name] = driver.execute_script("return document.body.innerText")
                problems = driver.execute_script(LAYOUT_PROBLEMS_JS)
                _save(driver, tmp_path / f"{code}-{name}-{width}x{height}.png")
                if name == "rf-study":  # and its event table, for a person to look at
                    driver.execute_script("document.getElementById('events').scrollIntoView()")
                    _save(driver, tmp_path / f"{code}-{name}-events-{width}x{height}.png")
                for problem in problems:
                    found.setdefault(f"{code}: {problem}", []).append(path)
            # The top bar, the home page, the list (with a chart's title) and the study page say it in the language.
            assert said("Home") in text["home"] and said("Radiation dose records") in text["home"]
            assert said("%(name)s studies", name="CT") in text["ct-list"] and said("Study filter") in text["ct-list"]
            driver.get(base + "/ct/")
            _settle(driver, "/ct/")
            chart_labels = driver.execute_script(
                "return Array.from(document.querySelectorAll('.chart-tools[aria-label]')).map(e => e.getAttribute('aria-label'))")
            wanted = said("%(title)s: chart controls", title=said("DLP per acquisition protocol"))
            assert wanted in chart_labels, chart_labels
            assert said("Irradiation events") in text["ct-study"]
            # (A heading, or in the line naming what no event records: lower case there, except in German.)
            assert said("Pulse rate (/s)").lower() in text["rf-study"].lower() and "Pulse rate" not in text["rf-study"]
            # The rules page, its long rule names in the language (German ones are long) and fitting the window.
            assert said("CT study total DLP") in text["alert-rules"]
            assert said("Nuclear medicine study administered activity") in text["alert-rules"]
            # Labels kept in the code's tables: job kinds and states, settings, DRL patient groups.
            assert said("Jobs") in text["jobs"] and said("waiting") in text["jobs"] and said("Housekeeping") in text["jobs"]
            assert said("Enable skin dose maps") in text["skin-maps"] and "Enable skin dose maps" not in text["skin-maps"]
            assert said("adult") in text["drl-config"] and said("age %(low)s–%(high)s y", low="1", high="6") in text["drl-config"]
            assert format_decimal(facts["dlp"], format="#,##0.00", locale=code) in text["ct-study"]
            assert format_date(facts["date"], format="medium", locale=code) in text["ct-study"]
            # The export: its heading row in the language, its numbers with a decimal point as ever.
            heading, rows = _csv_export_from_the_list(driver, base, tmp_path / f"{code}-export-{width}x{height}.png")
            assert heading[:3] == [said("Institution"), said("Manufacturer"), said("Model name")], heading[:3]
            assert said("Model name") != "Model name" and "Model name" not in heading
            assert said("DLP total (mGy.cm)") in heading and said("Study date") in heading
            dlps = [row[heading.index(said("DLP total (mGy.cm)"))] for row in rows]
            assert rows and all(v == "" or (float(v) >= 0 and "," not in v) for v in dlps), dlps[:5]
            assert any(v and abs(float(v) - facts["dlp"]) < 0.01 for v in dlps), (facts["dlp"], dlps[:5])
        assert not found, f"at {width}x{height}: " + "; ".join(f"{p} (on {', '.join(w)})" for p, w in found.items())
        _choose_language(driver, base, "en")
        assert "Log out" in driver.execute_script("return document.body.innerText")
    finally:
        driver.quit()
