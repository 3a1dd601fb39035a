"""Security in a real browser (headless Chromium against a real `doseapp web`): a `next` of
javascript: becomes no link; the Content-Security-Policy is enforced (an inline script without the
page's nonce does not run) and yet nothing of ours is blocked: the charts draw and their taps drill
down, htmx swaps the list, the pages that had inline handlers still behave. Screenshots of the
pages changed for issue #14 at 1366×768 and 1920×1080 go to the test's tmp folder."""
from __future__ import annotations

from urllib.parse import quote

import pytest

from tests.browser.test_ui import browser, login, row_ids, screenshot_on_failure, server, wait_for  # noqa: F401
from tests.charts.test_chart_browser import BAR_POINT, COUNT_CANVASES
from tests.charts.test_chart_pages import set_options

# Runs in every page before its own scripts (DevTools injects it; the page's policy does not apply):
# records each Content-Security-Policy violation the page causes.
WATCH_CSP = """
window.__csp = [];
document.addEventListener('securitypolicyviolation',
  e => window.__csp.push(`${e.effectiveDirective} blocked ${e.blockedURI || 'inline'} (${e.sourceFile}:${e.lineNumber})`));"""
HREFS = "return Array.from(document.querySelectorAll('[href]'), e => e.getAttribute('href'))"


@pytest.fixture
def watched(browser):  # noqa: F811
    browser.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": WATCH_CSP})
    return browser


def violations(driver) -> list[str]:
    return driver.execute_script("return window.__csp || []")


def shoot(driver, tmp_path, name: str, show: str | None = None) -> None:
    """Screenshots at both window sizes, with the element `show` (a CSS selector) scrolled into view."""
    for width, height in ((1366, 768), (1920, 1080)):
        driver.set_window_size(width, height)
        if show:
            driver.execute_script("document.querySelector(arguments[0]).scrollIntoView({block: 'center'})", show)
        driver.save_screenshot(str(tmp_path / f"{name}-{width}x{height}.png"))
    print(f"screenshots: {tmp_path}/{name}-*.png")


def test_chart_options_next_javascript_renders_no_javascript_link(server, watched, tmp_path):  # noqa: F811
    from selenium.webdriver.common.by import By

    with screenshot_on_failure(watched, tmp_path, "options-next"):
        login(watched, server, "viewer")
        for attack in ("javascript:alert(1)", "JaVaScRiPt:alert(document.cookie)", " javascript:alert(1)",
                       "java\tscript:alert(1)", "data:text/html,<script>alert(1)</script>", "//evil.example/",
                       "/\\evil.example"):
            watched.get(f"{server}/charts/options?next={quote(attack, safe='')}")
            wait_for(watched, lambda d: d.find_elements(By.CSS_SELECTOR, "main form button[type=submit]"), "the options form")
            hrefs = watched.execute_script(HREFS)
            assert hrefs and all(h.startswith("/") and not h.startswith(("//", "/\\")) for h in hrefs), (attack, hrefs)
            assert not [h for h in hrefs if "script:" in h.lower() or "evil" in h], (attack, hrefs)
            assert watched.find_element(By.NAME, "next").get_attribute("value") == ""
            assert not watched.find_elements(By.LINK_TEXT, "Back to the list")
        shoot(watched, tmp_path, "chart-options-javascript-next")
        # Saving goes to the options page, not to the attacker's address.
        watched.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
        wait_for(watched, lambda d: d.current_url == f"{server}/charts/options", "the options page after saving")
        # A real list address is kept as the way back.
        watched.get(f"{server}/charts/options?next={quote('/ct/?display_name=CTAWP', safe='')}")
        back = watched.find_element(By.LINK_TEXT, "Back to the list")
        assert back.get_attribute("href") == f"{server}/ct/?display_name=CTAWP"
        assert violations(watched) == []


def test_policy_is_enforced_and_charts_htmx_and_handlers_still_work(server, watched, tmp_path, _session_app):  # noqa: F811
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.actions.action_builder import ActionBuilder
    from selenium.webdriver.common.by import By

    set_options(_session_app, "adminviewer", charts={"CT": ["study_dlp", "workload"]})
    with screenshot_on_failure(watched, tmp_path, "csp"):
        login(watched, server, "adminviewer")
        # Home: a click in a system row (no link under the pointer) opens its list (was an onclick=).
        row = watched.find_element(By.CSS_SELECTOR, "table.systems tr.clickable td.num")
        row.click()
        wait_for(watched, lambda d: "/ct/" in d.current_url or "/dx/" in d.current_url or "/rf/" in d.current_url
                 or "/mg/" in d.current_url, "a list opened by clicking a system row")
        assert violations(watched) == []

        # The CT list with charts: BokehJS draws both charts, its inline scripts run with the nonce.
        watched.get(server + "/ct/?date_from=2010-01-01")
        wait_for(watched, lambda d: len(row_ids(d)) > 0, "the CT list")
        wait_for(watched, lambda d: (d.execute_script("return window.Bokeh && Bokeh.index.roots.length") or 0) >= 2,
                 "BokehJS rendering both charts")
        wait_for(watched, lambda d: d.execute_script(COUNT_CANVASES) >= 2, "the charts' canvases")
        # Enforced: a script without the nonce is refused (and reported), while ours ran.
        watched.execute_script("const s = document.createElement('script'); s.textContent = 'window.__ran = 1';"
                               "document.body.appendChild(s);")
        wait_for(watched, lambda d: violations(d), "the violation report of the injected script")
        assert watched.execute_script("return window.__ran") is None
        assert [v for v in violations(watched) if "script-src" in v] == violations(watched)
        assert len(violations(watched)) == 1, violations(watched)
        shoot(watched, tmp_path, "ct-list-with-charts")

        # htmx still swaps: filter the list in place, the address bar follows.
        watched.execute_script("window.__csp = []")
        watched.find_element(By.NAME, "display_name").send_keys("CTAWP")
        watched.find_element(By.CSS_SELECTOR, "#filter-form button[type=submit]").click()
        wait_for(watched, lambda d: "display_name=CTAWP" in d.current_url, "the filter in the address bar")
        wait_for(watched, lambda d: len(row_ids(d)) >= 1, "the filtered rows")
        wait_for(watched, lambda d: d.execute_script(COUNT_CANVASES) >= 2, "the charts of the filtered list")

        # A chart tap (a Bokeh CustomJS callback) still opens the list filtered to the bar.
        watched.get(server + "/ct/?date_from=2010-01-01")
        wait_for(watched, lambda d: (d.execute_script("return window.Bokeh && Bokeh.index.roots.length") or 0) >= 2,
                 "the charts again")
        wait_for(watched, lambda d: d.execute_script(COUNT_CANVASES) >= 2, "the canvases again")
        bar = watched.execute_script(BAR_POINT, "study_dlp")
        actions = ActionBuilder(watched)
        actions.pointer_action.move_to_location(int(bar["x"]), int(bar["y"])).click()
        actions.perform()
        ActionChains(watched).pause(0.1).perform()
        wait_for(watched, lambda d: "study_description=" in d.current_url, "the list opened by the bar")
        assert violations(watched) == []

        # The display names page's own inline scripts carry the nonce: its headings sort.
        watched.get(server + "/config/display-names")
        wait_for(watched, lambda d: d.find_elements(By.CSS_SELECTOR, "table.equipment th.sortable"),
                 "sortable headings (the page's nonce script ran)")
        assert violations(watched) == []
    set_options(_session_app, "adminviewer")


def _answered(driver) -> bool:
    """Whether the browser shows a new page (the marker set on the old one is gone) with an error on it.

    One script call: asking an element of the page being left raised different errors as Chrome tore it down
    (stale element, or "Node with given id does not belong to the document"); a script running while the
    next page loads can fail too, and then the answer is simply not there yet.
    """
    from selenium.common.exceptions import WebDriverException

    try:
        return bool(driver.execute_script(
            "return window.__doseappLeaving === undefined && !!document.querySelector('p.error');"))
    except WebDriverException:
        return False


def test_changed_pages_at_two_window_sizes(server, watched, tmp_path, _session_app):  # noqa: F811
    """Pages changed for issue #14, for a person to look at: none may clip a table or hide a control."""
    from selenium.webdriver.common.by import By

    from doseapp.models import Job, Study, User, db

    with _session_app.app_context():
        flagged = db.session.scalar(db.select(Study.id).where(Study.not_patient_indicator.isnot(None),
                                                              Study.modality == "CT").limit(1))
        owner = db.session.scalar(db.select(User.id).where(User.username == "pid"))
        export = Job(kind="export", queue="export", title="CT CSV export with names", status="finished",
                     user_id=owner, modality="CT", parameters={"format": "csv", "name": True, "pat_id": False},
                     result={"records": 3, "seconds": 0.2, "file": "ctexport20240101-000000000000.csv"},
                     result_path="/nonexistent/ctexport20240101-000000000000.csv")
        db.session.add(export)
        # A Store node's audit entry, as long as they come (every setting, with its SOP class list).
        from doseapp import audit
        from doseapp.dicomnet.config_audit import settings
        from doseapp.dicomnet.nodes import ALL_STORAGE_CLASSES
        from doseapp.models import DicomStoreScp

        node = DicomStoreScp(name="Screenshot store", aetitle="SHOTSTORE", port=11197, bind_address="0.0.0.0",
                             sop_classes=ALL_STORAGE_CLASSES[:12], allowed_addresses="10.0.0.0/8\n192.168.1.0/24")
        audit.record_change("dicom.node_add", node.name, {}, settings(node))
        db.session.commit()
        export_id = export.id
    with screenshot_on_failure(watched, tmp_path, "pages"):
        login(watched, server, "viewer")
        watched.get(f"{server}/ct/{flagged}")
        assert watched.find_element(By.ID, "not-patient").text == "Yes"
        shoot(watched, tmp_path, "study-detail-viewer", "#not-patient")
        watched.delete_all_cookies()
        login(watched, server, "adminviewer")
        watched.get(f"{server}/ct/{flagged}")
        assert ":" in watched.find_element(By.ID, "not-patient").text  # the pattern, e.g. "id: *phy*"
        shoot(watched, tmp_path, "study-detail-admin", "#not-patient")
        watched.get(f"{server}/exports/")
        # Read in one step: the tables are swapped every 2 s while any export is waiting or running.
        text, downloads = watched.execute_script(
            "const row = document.getElementById(arguments[0]);"
            "return [row.innerText, row.querySelectorAll(\"a[href$='/download']\").length];", f"export-{export_id}")
        assert "for the pid role only" in text and downloads == 0
        shoot(watched, tmp_path, "exports-admin-without-pid", f"#export-{export_id}")
        watched.get(f"{server}/config/audit?action=dicom")
        assert "SHOTSTORE" in watched.find_element(By.CSS_SELECTOR, "table.audit").text
        assert watched.execute_script("return document.documentElement.scrollWidth <= window.innerWidth")
        shoot(watched, tmp_path, "audit-log")
        assert violations(watched) == []
        watched.delete_all_cookies()
        for attempt in range(6):
            watched.get(server + "/login")
            watched.find_element(By.NAME, "username").send_keys("no-such-user")
            watched.find_element(By.NAME, "password").send_keys("wrong-password")
            watched.execute_script("window.__doseappLeaving = true;")
            watched.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
            # The answer page, before the next attempt: leaving earlier would cancel this one's POST.
            wait_for(watched, _answered, f"the answer to failed login {attempt + 1}")
        assert "Too many failed logins for this user name." in watched.execute_script(
            "return document.querySelector('p.error').innerText")
        shoot(watched, tmp_path, "login-throttled")
    with _session_app.app_context():
        db.session.delete(db.session.get(Job, export_id))
        db.session.commit()
