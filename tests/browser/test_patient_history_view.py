"""The patient dose history page in headless Chromium (issue 18 item 4): a pid user finds the patient by
typing their ID, the history's table fits the window (or scrolls in its frame) at 1366x768 and
1920x1080, the chart's three panels are drawn by BokehJS with no Content-Security-Policy violation,
and the study page links to the history. Screenshots go to the test's tmp folder (and to
DOSEAPP_SCREENSHOTS when set)."""
from __future__ import annotations

import pytest

from tests.browser.test_layout_fit import LAYOUT_PROBLEMS_JS, _save, _settle
from tests.browser.test_security import WATCH_CSP
from tests.browser.test_ui import chromium, login, wait_for, web_server
from tests.charts.test_chart_browser import COUNT_CANVASES
from tests.conftest import _empty_all_tables
from tests.web import test_patient_history as data

SIZES = ((1366, 768), (1920, 1080))


@pytest.fixture(scope="module")
def history_site(_session_app, app_env, tmp_path_factory):
    data.load(_session_app, tmp_path_factory.mktemp("files"), "clear")
    with web_server(app_env, tmp_path_factory.mktemp("web")) as base:
        yield base
    _empty_all_tables(_session_app)


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_find_a_patient_and_see_the_history(history_site, tmp_path, size):
    from selenium.webdriver.common.by import By

    base = history_site
    width, height = size
    driver = chromium(tmp_path / "profile", width, height)
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": WATCH_CSP})
    try:
        login(driver, base, "h-pidexporter", "password-123")
        driver.find_element(By.ID, "nav-patient-history").click()
        wait_for(driver, lambda d: d.current_url == base + "/patients/history", "the patient history page")
        _save(driver, tmp_path / f"history-search-{width}x{height}.png")
        assert not driver.execute_script(LAYOUT_PROBLEMS_JS)
        box = driver.find_element(By.NAME, "q")
        box.send_keys(data.PATIENT_ID)
        box.submit()
        wait_for(driver, lambda d: "/patients/history?study=" in d.current_url, "the history after the search")
        assert data.PATIENT_ID not in driver.current_url
        _settle(driver, "history")
        wait_for(driver, lambda d: (d.execute_script("return window.Bokeh && Bokeh.index.roots.length") or 0) >= 1,
                 "BokehJS drawing the history chart")
        wait_for(driver, lambda d: d.execute_script(COUNT_CANVASES) >= 3, "the chart's three panels")
        rows = driver.execute_script("return document.querySelectorAll('#history-studies tbody tr').length")
        assert rows == len(data.SAME_PATIENT)
        chart_box = driver.execute_script(
            "const r = document.getElementById('history-chart').getBoundingClientRect(); return [r.width, r.height]")
        assert chart_box[0] > 600 and chart_box[1] > 500, chart_box
        problems = driver.execute_script(LAYOUT_PROBLEMS_JS)
        _save(driver, tmp_path / f"history-{width}x{height}.png")
        driver.execute_script("document.getElementById('history-chart').scrollIntoView({block: 'start'})")
        _save(driver, tmp_path / f"history-chart-{width}x{height}.png")
        driver.execute_script("document.getElementById('history-studies').scrollIntoView({block: 'start'})")
        _save(driver, tmp_path / f"history-table-{width}x{height}.png")
        assert not problems, problems
        assert driver.execute_script("return window.__csp || []") == []
        # From a study of the history, its link leads back to this history.
        driver.find_element(By.CSS_SELECTOR, "#history-studies tr[data-modality='CT'] a.study-link").click()
        wait_for(driver, lambda d: d.find_elements(By.ID, "patient-history-link"), "the study page's history link")
        driver.find_element(By.ID, "patient-history-link").click()
        wait_for(driver, lambda d: d.find_elements(By.ID, "history-studies"), "the history again")
    finally:
        driver.quit()
