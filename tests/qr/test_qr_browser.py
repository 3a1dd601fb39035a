"""Query-retrieve in a real browser: headless Chromium against a real `doseapp web`, a real worker
process running the query and import jobs, our Store SCP process and Orthanc as the PACS. What the
test client cannot show: the page's HTMX parts (the echo status, the progress that polls every two
seconds and turns into the review, then into the retrieve's count) working in a browser."""
from __future__ import annotations

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from doseapp.users import create_user
from tests.browser.test_ui import browser, login, running, screenshot_on_failure, wait_for, web_server  # noqa: F401
from tests.qr.conftest import QUERY_DAY, imported_sop_uids, study_by_uid

WAIT_RETRIEVE = 90  # seconds: a query, then a C-MOVE into the Store SCP and three imports


def _text(driver, css: str) -> str:
    # Read in one script call: HTMX may swap the element between finding it and reading it.
    return driver.execute_script("const e = document.querySelector(arguments[0]); return e ? e.innerText : '';", css)


def test_query_review_retrieve_in_the_browser(nodes, pacs, store_scp, app, app_env, browser, tmp_path):  # noqa: F811
    from selenium.webdriver.support.ui import WebDriverWait

    remote, store = nodes
    create_user("qr-browser", "password-123", ["importqr", "viewer"])
    worker = ["worker", "--queues", "qr,import", "--no-fork"]
    with running(worker, app_env, tmp_path / "worker.log"), web_server(app_env, tmp_path) as base, \
            screenshot_on_failure(browser, tmp_path, "qr"):
        login(browser, base, "qr-browser", "password-123")
        browser.get(base + "/qr/")
        # The echo status arrives by its own HTMX request after the page.
        wait_for(browser, lambda d: "Test PACS ✓ responding to DICOM echo" in _text(d, "section.echo")
                 and "QR store ✓ responding to DICOM echo" in _text(d, "section.echo"), "both nodes echoed")
        Select(browser.find_element(By.NAME, "remote_id")).select_by_value(str(remote.id))
        Select(browser.find_element(By.NAME, "store_id")).select_by_value(str(store.id))
        for name in ("mod_MG", "mod_DX"):
            browser.find_element(By.NAME, name).click()
        day = f"{QUERY_DAY[:4]}-{QUERY_DAY[4:6]}-{QUERY_DAY[6:]}"
        browser.execute_script("document.querySelector('input[name=date_from]').value = arguments[0];"
                               "document.querySelector('input[name=date_until]').value = arguments[0];", day)
        browser.find_element(By.NAME, "desc_exclude").send_keys("imported")
        if not browser.find_element(By.NAME, "remove_duplicates").is_selected():
            browser.find_element(By.NAME, "remove_duplicates").click()
        Select(browser.find_element(By.NAME, "method")).select_by_value("move")
        browser.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()

        # The query page polls its progress until the worker has run the query: the review.
        wait_for(browser, lambda d: "/qr/queries/" in d.current_url, "the query's page")
        WebDriverWait(browser, WAIT_RETRIEVE, poll_frequency=0.2).until(
            lambda d: d.find_elements(By.CSS_SELECTOR, "#qr-progress button[name=retrieve]"),
            message="the review with its Retrieve button")
        review = _text(browser, "#qr-progress")
        assert "Mammography 1" in review and "Radiography 1" in review, review
        browser.find_element(By.CSS_SELECTOR, "#qr-progress button[name=retrieve]").click()

        WebDriverWait(browser, WAIT_RETRIEVE, poll_frequency=0.2).until(
            lambda d: "3 of 3 objects received" in _text(d, "#qr-progress")
            and "finished" in _text(d, "#qr-progress"), message="the retrieve's count")
        assert not browser.find_elements(By.CSS_SELECTOR, "#qr-progress button[name=retrieve]")
        wait_for(browser, lambda d: imported_sop_uids() == {pacs.sop("mg", 0), pacs.sop("mg", 1), pacs.sop("dx")},
                 "the three retrieved objects imported")

        # The retrieved mammography study is in the list, with its dose.
        study = study_by_uid(pacs.uid("mg"))
        assert study is not None and study.agd_both_mgy > 0
        browser.get(base + "/mg/")
        wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#studies tbody tr"), "the mammography list")
        assert "There is 1 study" in _text(browser, "#list-count")
        row = _text(browser, f'#studies tr[data-study-id="{study.id}"]')
        assert f"{study.agd_both_mgy:.2f}" in row, row
