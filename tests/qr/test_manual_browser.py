"""A manual query in a real browser (headless Chromium, a real `doseapp web`, a worker process, our
Store SCP process, Orthanc as the PACS): the query page with its level and patient criteria, the
results drawn once the job ends (the progress poll reloads the page), select all, Retrieve selected
of one study, and the retrieve jobs page whose progress HTMX refreshes until the retrieve is done.
Each page is checked at 1366x768 and 1920x1080 (nothing clipped, the page never scrolls sideways),
with a screenshot of each in the test's tmp folder (and DOSEAPP_SCREENSHOTS when set)."""
from __future__ import annotations

import os
import shutil

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from doseapp.models import DicomTransaction, db
from doseapp.users import create_user
from tests.browser.test_ui import browser, login, running, screenshot_on_failure, wait_for, web_server  # noqa: F401
from tests.qr.conftest import ISO_DAY

SIZES = ((1366, 768), (1920, 1080))
WAIT = 90  # seconds: a query job, then a C-MOVE into the Store SCP, on a loaded machine


def _text(driver, css: str) -> str:
    return driver.execute_script("const e = document.querySelector(arguments[0]); return e ? e.innerText : '';", css)


def _check_layout(driver, tmp_path, name: str, box: str) -> None:
    """At each size: the page does not scroll sideways, `box` fits the window; a screenshot of each."""
    for width, height in SIZES:
        driver.set_window_size(width, height)
        seen = driver.execute_script(
            "const b = document.querySelector(arguments[0]).getBoundingClientRect();"
            "return {box: [b.left, b.right, b.width], page: document.documentElement.scrollWidth,"
            "        inner: document.documentElement.clientWidth};", box)
        assert seen["page"] <= seen["inner"], (name, width, seen)
        assert seen["box"][2] > 0 and seen["box"][0] >= 0 and seen["box"][1] <= seen["inner"], (name, width, seen)
        path = tmp_path / f"{name}-{width}x{height}.png"
        driver.save_screenshot(str(path))
        if os.environ.get("DOSEAPP_SCREENSHOTS"):
            shutil.copy(path, os.environ["DOSEAPP_SCREENSHOTS"])
    driver.set_window_size(1400, 1000)


def test_manual_query_select_and_retrieve_in_the_browser(nodes, pacs, people, store_scp, app, app_env, browser,  # noqa: F811
                                                         tmp_path):
    from doseapp.models import SystemSettings

    remote, store = nodes
    settings = SystemSettings.get()
    settings.name_stored = settings.id_stored = True
    settings.name_hashed = settings.id_hashed = False
    db.session.commit()
    create_user("qr-pid-browser", "password-123", ["importqr", "pid", "viewer"])
    worker = ["worker", "--queues", "qr,import", "--no-fork"]
    with running(worker, app_env, tmp_path / "worker.log"), web_server(app_env, tmp_path) as base, \
            screenshot_on_failure(browser, tmp_path, "manual-qr"):
        login(browser, base, "qr-pid-browser", "password-123")
        browser.get(base + "/qr/")
        wait_for(browser, lambda d: "Test PACS ✓ responding to DICOM echo" in _text(d, "section.echo"), "the echo")
        Select(browser.find_element(By.NAME, "remote_id")).select_by_value(str(remote.id))
        Select(browser.find_element(By.NAME, "store_id")).select_by_value(str(store.id))
        Select(browser.find_element(By.NAME, "level")).select_by_value("SERIES")
        browser.find_element(By.NAME, "patient_name").send_keys("doe^j*")
        browser.execute_script("document.querySelector('input[name=date_from]').value = arguments[0];"
                               "document.querySelector('input[name=date_until]').value = arguments[0];", ISO_DAY)
        _check_layout(browser, tmp_path, "qr-query-page", "#query-kind")
        browser.find_element(By.CSS_SELECTOR, "main form.stack button[type=submit]").click()

        # The progress polls while the job runs, then the page is drawn again with the answers.
        wait_for(browser, lambda d: "/qr/queries/" in d.current_url, "the query's page")
        WebDriverWait(browser, WAIT, poll_frequency=0.2).until(
            lambda d: d.find_elements(By.CSS_SELECTOR, "table.qr-manual input.pick"), message="the answers to tick")
        assert "Found 2 patients, 3 studies, 5 series" in _text(browser, "#qr-progress")
        table = _text(browser, "table.qr-manual")
        assert table.count("DOE^JANE") == 2 and table.count("DOE^JOHN") == 1 and "SMITH" not in table
        _check_layout(browser, tmp_path, "qr-results", "#pick-form .table-scroll")

        boxes = lambda d: d.execute_script(  # noqa: E731
            "return Array.from(document.querySelectorAll('input.pick'), b => b.checked)")
        assert len(boxes(browser)) == 3 + 5 and not any(boxes(browser))
        browser.find_element(By.ID, "pick-all").click()
        assert all(boxes(browser))
        browser.find_element(By.ID, "pick-all").click()
        assert not any(boxes(browser))
        john = str(people["john_rf"][0].StudyInstanceUID)
        browser.find_element(By.CSS_SELECTOR, f'tr[data-study-uid="{john}"] input.pick').click()
        browser.find_element(By.ID, "retrieve-selected").click()
        wait_for(browser, lambda d: "Retrieve job #" in _text(d, "#qr-progress"), "the retrieve queued")

        browser.get(base + "/qr/retrieves")
        WebDriverWait(browser, WAIT, poll_frequency=0.2).until(
            lambda d: "3 of 3 objects" in _text(d, "#retrieve-jobs") and "finished" in _text(d, "#retrieve-jobs"),
            message="the retrieve's progress, refreshed by HTMX")
        assert browser.execute_script("return document.querySelector('#retrieve-jobs progress').value") == 3
        assert "selected: 1 study" in _text(browser, "#retrieve-jobs")
        _check_layout(browser, tmp_path, "qr-retrieve-jobs", "#retrieve-jobs")

        # The history, filtered by user, and Run again: a new query with the same answers.
        browser.get(base + "/qr/history")
        Select(browser.find_element(By.NAME, "status")).select_by_value("complete")
        browser.find_element(By.CSS_SELECTOR, "#history-filters button[type=submit]").click()
        wait_for(browser, lambda d: "status=complete" in d.current_url, "the filtered history")
        assert "Series level: patient name doe^j*" in _text(browser, "#query-history")
        _check_layout(browser, tmp_path, "qr-history", "#query-history")
        first = browser.current_url
        browser.find_element(By.CSS_SELECTOR, "#query-history button[type=submit]").click()
        wait_for(browser, lambda d: d.current_url != first and "/qr/queries/" in d.current_url, "the new query")
        WebDriverWait(browser, WAIT, poll_frequency=0.2).until(
            lambda d: "Found 2 patients, 3 studies, 5 series" in _text(d, "#qr-progress")
            and d.find_elements(By.CSS_SELECTOR, "table.qr-manual input.pick"), message="the same answers again")

    db.session.rollback()
    moved = {t.sop_instance_uid for t in db.session.query(DicomTransaction).filter_by(operation="C-STORE", direction="in")}
    assert moved == {str(ds.SOPInstanceUID) for ds in people["john_rf"]}
