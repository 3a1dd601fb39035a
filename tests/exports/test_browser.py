"""The exports page in a real browser (headless Chromium): start an XLSX export from a filtered CT
list, watch it complete on the exports page without reloading (HTMX every 2 s) after a real worker
ran it, then select all and delete."""
from __future__ import annotations

from doseapp import filters
from doseapp.models import Job, db
from tests.browser.test_ui import browser, login, screenshot_on_failure, server, wait_for  # noqa: F401 (fixtures)
from tests.conftest import run_cli


def test_export_from_list_complete_and_delete(server, browser, tmp_path, _session_app, app_env):  # noqa: F811
    from selenium.webdriver.common.by import By

    with _session_app.app_context():
        want = db.session.scalar(filters.study_query("CT", {"display_name": "CTAWP"}).count())
    assert want >= 1
    with screenshot_on_failure(browser, tmp_path, "exports"):
        login(browser, server, "adminviewer")
        browser.get(server + "/ct/?display_name=CTAWP")
        browser.find_element(By.CSS_SELECTOR, "form[action='/exports/start/ct/xlsx'] button").click()
        wait_for(browser, lambda d: d.current_url.rstrip("/").endswith("/exports"), "the exports page")
        wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "table.exports-running button"),
                 "the export in progress, with its Abort button")
        done = run_cli(["worker", "--burst"], app_env)
        assert done.returncode == 0, done.stderr
        # No reload: the 2-second HTMX refresh brings the completed export in.
        wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "table.exports-done a[href$='/download']"),
                 "the completed export with its download link")
        row = browser.find_element(By.CSS_SELECTOR, "table.exports-done tbody tr")
        assert "XLSX export" in row.text and "CT" in row.text
        assert row.find_elements(By.CSS_SELECTOR, "td.num")[0].text == str(want)
        browser.find_element(By.ID, "export-select-all").click()
        ticked = browser.find_elements(By.CSS_SELECTOR, "input.export-delete")
        assert all(b.is_selected() for b in ticked)
        browser.find_element(By.CSS_SELECTOR, "#export-delete-form button[type=submit]").click()
        said = f"{len(ticked)} export{'' if len(ticked) == 1 else 's'} deleted."
        wait_for(browser, lambda d: said in d.page_source, "the deletion message")
        assert not browser.find_elements(By.CSS_SELECTOR, "table.exports-done")
    with _session_app.app_context():
        assert db.session.query(Job).filter(Job.kind == "export").count() == 0
