"""Nuclear medicine in a real browser (headless Chromium, a real `doseapp web`) at 1366×768 and
1920×1080: the NM list filtered by radionuclide, an NM chart drawn, and the PET/CT study page with its
administration and the link to its CT part; nothing wider than the window; screenshots kept in the
test's tmp folder."""
from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By

from tests.charts.test_chart_browser import COUNT_CANVASES
from tests.browser.test_ui import (browser, login, row_ids, screenshot_on_failure,  # noqa: F401 (browser: a fixture)
                                   server, wait_for)

SIZES = [(1366, 768), (1920, 1080)]


def _fits(driver) -> bool:
    return driver.execute_script("return document.documentElement.scrollWidth <= document.documentElement.clientWidth")


@pytest.mark.parametrize("width,height", SIZES)
def test_nm_list_chart_and_study(server, browser, tmp_path, width, height):
    browser.set_window_size(width, height)
    with screenshot_on_failure(browser, tmp_path, f"nm-{width}"):
        login(browser, server, "viewer")
        browser.find_element(By.ID, "nav-nm").click()
        wait_for(browser, lambda d: len(row_ids(d)) == 5, "the 5 NM studies")
        assert browser.find_element(By.TAG_NAME, "h1").text == "Nuclear medicine studies"
        browser.find_element(By.NAME, "radionuclide").send_keys("fluorine")
        browser.find_element(By.CSS_SELECTOR, "#filter-form button[type=submit]").click()
        wait_for(browser, lambda d: len(row_ids(d)) == 3, "the three ^18^F studies")
        assert "radionuclide=fluorine" in browser.current_url
        # the charts load after the list: the activity per study description is drawn by Bokeh
        # (the three shown by default: study description frequency, activity per description, activity vs weight)
        # charts below the window load when scrolled to; the page grows as each arrives, so keep going to
        # the bottom as a reader would (one scroll made before the chart panels arrived reveals none of them)
        def drawn(d):
            d.execute_script("window.scrollTo(0, document.body.scrollHeight)")
            return len(d.find_elements(By.CSS_SELECTOR, "figure.chart")) == 3 and d.execute_script(COUNT_CANVASES) >= 3
        wait_for(browser, drawn, "the NM charts drawn")
        shown = browser.execute_script("return Array.from(document.querySelectorAll('figure.chart'),"
                                       " e => [e.dataset.chart, e.dataset.total])")
        assert sorted(shown) == [["activity_weight", "3"], ["study_activity", "3"], ["study_frequency", "3"]], shown
        assert _fits(browser)
        browser.save_screenshot(str(tmp_path / f"nm-list-{width}x{height}.png"))
        browser.execute_script("document.querySelector('figure.chart').scrollIntoView()")
        browser.save_screenshot(str(tmp_path / f"nm-chart-{width}x{height}.png"))

        link = next(a for a in browser.find_elements(By.CSS_SELECTOR, "#studies a.study-link")
                    if "Ganzkoerper" in a.text)
        link.click()
        wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "table.nm-administration"), "the administration")
        assert browser.find_element(By.ID, "nm-activity").text == "394.0"
        assert _fits(browser)
        browser.save_screenshot(str(tmp_path / f"nm-study-{width}x{height}.png"))
        browser.execute_script("document.getElementById('administrations-heading').scrollIntoView()")
        browser.save_screenshot(str(tmp_path / f"nm-study-administration-{width}x{height}.png"))
        browser.find_element(By.CSS_SELECTOR, "a.linked-study").click()
        wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#events tr.event"), "the CT part's events")
        assert browser.find_element(By.TAG_NAME, "h1").text.startswith("CT study")
        print(f"screenshots in {tmp_path}")
