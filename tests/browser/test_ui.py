"""The web interface in a real browser: headless Chromium driven by Selenium, against a real
`doseapp web` server on a free port and the test database with the OpenREM test files imported.
A screenshot of the page is saved in the test's tmp folder when a step fails."""
from __future__ import annotations

import contextlib
import datetime as dt
import subprocess
import sys
import time
import urllib.request

import pytest
from sqlalchemy import select

from doseapp.models import Equipment, Study, db
from tests.conftest import _empty_all_tables, free_port, require_tool
from tests.web import studydata
from tests.web.test_lists import CT_STUDIES

WAIT = 15  # seconds: generous on a loaded 2-core machine; every wait polls and returns at once when met


@contextlib.contextmanager
def running(args: list[str], env: dict, log_path):
    """`python -m doseapp.cli ARGS` as a process of its own, output to log_path; stopped after
    (SIGTERM, then SIGKILL if it has not ended within 30 s)."""
    log = open(log_path, "w")
    proc = subprocess.Popen([sys.executable, "-m", "doseapp.cli", *args], env=env, stdout=log,
                            stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@contextlib.contextmanager
def web_server(app_env, folder):
    """A real `doseapp web` on a free port of 127.0.0.1 (its output in folder/web.log); yields its
    base address, stops it after."""
    require_tool("chromium")
    require_tool("chromedriver")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with running(["web", "--host", "127.0.0.1", "--port", str(port)], app_env, folder / "web.log") as proc:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(base + "/login", timeout=2)
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"doseapp web did not start; see {folder / 'web.log'}")
                time.sleep(0.2)
        yield base


@pytest.fixture(scope="module")
def server(_session_app, app_env, tmp_path_factory):
    """The test files imported, then a real web server on the test database."""
    studydata.load_testdata(_session_app)
    with web_server(app_env, tmp_path_factory.mktemp("web")) as base:
        yield base
    _empty_all_tables(_session_app)


def chromium(profile, width: int = 1400, height: int = 1000):
    """A headless Chromium (Selenium driver) with its profile in the folder `profile`; quit it after use."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run", f"--window-size={width},{height}", f"--user-data-dir={profile}"):
        opts.add_argument(flag)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
    driver.implicitly_wait(0)
    return driver


@pytest.fixture
def browser(tmp_path):
    driver = chromium(tmp_path / "profile")
    yield driver
    driver.quit()


@contextlib.contextmanager
def screenshot_on_failure(driver, tmp_path, name):
    try:
        yield
    except BaseException:
        path = tmp_path / f"{name}.png"
        driver.save_screenshot(str(path))
        print(f"screenshot of the failing page: {path}")
        raise


def wait_for(driver, condition, what: str):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, WAIT, poll_frequency=0.1).until(lambda d: condition(d), message=what)


def login(driver, base, who, password=studydata.PASSWORD):
    from selenium.webdriver.common.by import By

    driver.get(base + "/login")
    driver.find_element(By.NAME, "username").send_keys(who)
    driver.find_element(By.NAME, "password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit], form input[type=submit]").click()
    wait_for(driver, lambda d: d.current_url.rstrip("/") == base, "the home page after logging in")


def row_ids(driver) -> list[int]:
    # Read in one script call: HTMX may swap the table between two Selenium calls.
    return driver.execute_script(
        "return Array.from(document.querySelectorAll('#studies tbody tr'), r => Number(r.dataset.studyId))")


def test_filter_ct_list_and_open_a_study(server, browser, tmp_path, _session_app):
    from selenium.webdriver.common.by import By

    with _session_app.app_context():
        want = set(db.session.scalars(select(Study.id).join(Equipment).where(
            Study.modality == "CT", Equipment.display_name.ilike("%ctawp%"),
            Study.study_date >= dt.date(2013, 1, 1))))
    assert len(want) == 2
    with screenshot_on_failure(browser, tmp_path, "ct-list"):
        login(browser, server, "viewer")
        browser.find_element(By.LINK_TEXT, "CT").click()
        # The test files hold 12 CT reports; two are one continued exam (one study).
        wait_for(browser, lambda d: len(row_ids(d)) == CT_STUDIES == 11, "the 11 CT studies")
        browser.find_element(By.NAME, "display_name").send_keys("CTAWP")
        # A date input's typing order follows the browser's locale; set the ISO value directly.
        browser.execute_script("document.querySelector('input[name=date_from]').value = '2013-01-01'")
        browser.find_element(By.CSS_SELECTOR, "#filter-form button[type=submit]").click()
        wait_for(browser, lambda d: set(row_ids(d)) == want, "the two CTAWP studies from 2013 on")
        assert "There are 2 studies" in browser.find_element(By.ID, "list-count").text
        # HTMX swapped the list in place and put the filter in the address bar (bookmarkable).
        assert "display_name=CTAWP" in browser.current_url and "date_from=2013-01-01" in browser.current_url
        assert browser.find_element(By.TAG_NAME, "h1").text == "CT studies"
        # The same address loaded afresh shows the same rows.
        browser.get(browser.current_url)
        wait_for(browser, lambda d: set(row_ids(d)) == want, "the same rows after a reload")
        # Open a study and see its events.
        browser.find_element(By.CSS_SELECTOR, "#studies a.study-link").click()
        wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#events tr.event"), "the event table")
        events = browser.find_elements(By.CSS_SELECTOR, "#events tr.event")
        assert len(events) >= 2
        assert "CTDIvol (mGy)" in browser.find_element(By.ID, "events").text
        browser.back()
        wait_for(browser, lambda d: set(row_ids(d)) == want, "the filtered list again after Back")


def test_viewer_is_refused_configuration_pages(server, browser, tmp_path):
    from selenium.webdriver.common.by import By

    with screenshot_on_failure(browser, tmp_path, "viewer-config"):
        login(browser, server, "viewer")
        assert not browser.find_elements(By.LINK_TEXT, "Users")
        browser.get(server + "/config/users")
        body = browser.find_element(By.TAG_NAME, "body").text
        assert "Not allowed" in body and "admin" in body


def test_admin_changes_a_display_name_and_sees_it_in_the_list(server, browser, tmp_path, _session_app):
    from selenium.webdriver.common.by import By

    with _session_app.app_context():
        eq_id = db.session.scalar(select(Equipment.id).where(Equipment.display_name.ilike("%geoptima%")))
    with screenshot_on_failure(browser, tmp_path, "admin-rename"):
        login(browser, server, "adminviewer")
        browser.get(f"{server}/config/display-names/edit?ids={eq_id}")
        browser.find_element(By.NAME, "display_name").send_keys("Optima room 2")
        browser.find_element(By.CSS_SELECTOR, "form.stack button[type=submit]").click()
        wait_for(browser, lambda d: "/config/display-names" in d.current_url and "edit" not in d.current_url,
                 "back on the display names page")
        browser.get(server + "/ct/?display_name=optima+room")
        wait_for(browser, lambda d: len(row_ids(d)) == 1, "the renamed system's study")
        assert "Optima room 2" in browser.find_element(By.ID, "studies").text
