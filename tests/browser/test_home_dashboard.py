"""The home dashboard in a real browser (headless Chromium, a real `doseapp web`) at 1366×768, the
hospital PC: the four modality cards side by side, nothing wider than the window, the sparklines
drawn, a number and a week opening the list they count; a screenshot kept in the test's tmp folder."""
from __future__ import annotations

import re

from selenium.webdriver.common.by import By

from doseapp.users import create_user
from tests.browser.test_ui import (browser, login, screenshot_on_failure,  # noqa: F401 (browser: a fixture)
                                   wait_for, web_server)
from tests.web.studydata import PASSWORD
from tests.web.test_home_dashboard import (CT_TODAY, CT_WEEKS, _failures, _fill,  # noqa: F401 (_today: a fixture)
                                          _today)


def _list_count(driver) -> int:
    text = driver.find_element(By.ID, "list-count").text
    return int(re.search(r"([\d,]+) stud", text).group(1).replace(",", ""))


def test_home_dashboard_at_1366(app, app_env, tmp_path, browser):
    _fill()
    _failures()
    create_user("hilda", PASSWORD, ["admin", "viewer"])
    with web_server(app_env, tmp_path) as base, screenshot_on_failure(browser, tmp_path, "home-failed"):
        browser.set_window_size(1366, 768)
        login(browser, base, "hilda")
        seen = browser.execute_script(
            "const box = s => Array.from(document.querySelectorAll(s), e => e.getBoundingClientRect());"
            "return {page: document.documentElement.scrollWidth, inner: document.documentElement.clientWidth,"
            "  cards: box('.card').map(r => [r.left, r.top, r.right]),"
            "  sparks: box('svg.sparkline').map(r => [r.width, r.height]),"
            "  links: box('#attention a, .card a, #quiet-systems a').map(r => [r.left, r.right, r.width])};")
        assert seen["page"] <= seen["inner"], seen
        # Four cards in one row, inside the window.
        assert len(seen["cards"]) == 4 and len({round(top) for _, top, _ in seen["cards"]}) == 1, seen["cards"]
        assert all(0 <= left and right <= seen["inner"] for left, _, right in seen["cards"]), seen["cards"]
        assert len(seen["sparks"]) == 4 and all(w >= 100 and h >= 25 for w, h in seen["sparks"]), seen["sparks"]
        assert seen["links"] and all(w > 0 and left >= 0 and right <= seen["inner"] for left, right, w in seen["links"])
        browser.save_screenshot(str(tmp_path / "home-1366x768.png"))
        browser.execute_script("document.getElementById('quiet').scrollIntoView()")
        browser.save_screenshot(str(tmp_path / "home-1366x768-quiet.png"))
        print(f"screenshots: {tmp_path / 'home-1366x768.png'}, {tmp_path / 'home-1366x768-quiet.png'}")

        # The sparkline's own words, and a week of it opening that week's studies.
        label = browser.find_element(By.CSS_SELECTOR, "#card-CT svg.sparkline").get_attribute("aria-label")
        assert label.endswith(", ".join(map(str, CT_WEEKS[:-1] + [CT_WEEKS[-1] + CT_TODAY])))
        # Selenium cannot click an SVG link's invisible column reliably; the browser follows its address.
        week = browser.find_elements(By.CSS_SELECTOR, "#card-CT svg.sparkline a")[6]
        assert week.get_attribute("data-count") == "5"
        browser.get(base + week.get_dom_attribute("href"))
        wait_for(browser, lambda d: d.find_elements(By.ID, "list-count"), "the week's CT list")
        assert _list_count(browser) == 5

        browser.get(base + "/")
        this_week = browser.find_element(By.CSS_SELECTOR, '#card-RF a.period[data-period="1"]')
        expected = int(this_week.text)
        this_week.click()
        wait_for(browser, lambda d: "/rf/" in d.current_url and d.find_elements(By.ID, "list-count"),
                 "this week's fluoroscopy list")
        assert _list_count(browser) == expected > 0
