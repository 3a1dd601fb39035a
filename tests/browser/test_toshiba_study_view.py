"""The study page of a CT study read from a Toshiba dose screen, in headless Chromium at 1366x768 and
1920x1080: it says where the dose data came from, shows the screen's values and the headers' exposure
values, and fits the window (the layout checks of test_layout_fit). Screenshots go to the test's tmp
folder, and to DOSEAPP_SCREENSHOTS when set.

The dose screen is SYNTHETIC (drawn from PixelMed's glyph set, tests/extract/toshiba_screen.py).
"""
from __future__ import annotations

import pytest

from doseapp.config import pixelmed_jar
from doseapp.models import Study, db
from tests.browser.test_layout_fit import LAYOUT_PROBLEMS_JS, _save
from tests.browser.test_ui import chromium, login, web_server
from tests.conftest import _empty_all_tables
from tests.extract.toshiba_screen import example_study, write_study
from tests.web import studydata

SIZES = ((1366, 768), (1920, 1080))


@pytest.fixture(scope="module")
def toshiba_site(_session_app, app_env, tmp_path_factory):
    from doseapp.ingest import import_file
    from doseapp.ingest.toshiba import build_settled

    studydata.load_testdata(_session_app, files=[])
    folder = tmp_path_factory.mktemp("toshiba")
    with _session_app.app_context():
        for path in write_study(example_study(), folder, pixelmed_jar({})):
            assert import_file(path).status == "held"
        (built,) = build_settled(0)
        assert built.status == "imported", built.reason
        study_id = db.session.scalar(db.select(Study.id))
        db.session.remove()
    with web_server(app_env, tmp_path_factory.mktemp("web")) as base:
        yield base, study_id
    _empty_all_tables(_session_app)


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_study_page_says_dose_screen_and_fits(toshiba_site, tmp_path, size):
    base, study_id = toshiba_site
    width, height = size
    driver = chromium(tmp_path / "profile", width, height)
    try:
        login(driver, base, "viewer")
        driver.get(f"{base}/ct/{study_id}")
        assert driver.execute_script("return document.getElementById('dose-source').innerText") == \
            "dose screen (OCR) and image headers"
        text = driver.execute_script("return document.body.innerText")
        for value in ("767.10", "45.6", "456.7", "8.2", "310.4", "120", "250", "0.641", "1.375"):
            assert value in text, value
        problems = driver.execute_script(LAYOUT_PROBLEMS_JS)
        _save(driver, tmp_path / f"toshiba-study-{width}x{height}.png")
        driver.execute_script("window.scrollTo(0, document.body.scrollHeight)")  # the events table
        _save(driver, tmp_path / f"toshiba-study-events-{width}x{height}.png")
        assert not problems, problems
    finally:
        driver.quit()
