"""Reviewing a high-dose alert in headless Chromium against a real `doseapp web`: a pid user
acknowledges an alert with a comment; the alert is reviewed, the audit log has it; the alerts page
fits 1366x768 and 1920x1080 windows (screenshots in the tmp folder, and in DOSEAPP_SCREENSHOTS)."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from doseapp.models import AuditEntry, db
from doseapp.models.alerts import Alert
from tests.browser.test_layout_fit import LAYOUT_PROBLEMS_JS, _save, _settle
from tests.browser.test_ui import chromium, login, screenshot_on_failure, wait_for, web_server
from tests.conftest import TESTDATA, _empty_all_tables
from tests.web import studydata

RF = sorted(TESTDATA.glob("RF-RDSR-*.dcm"))


@pytest.fixture(scope="module")
def alert_site(_session_app, app_env, tmp_path_factory):
    """The fluoroscopy files imported with the study DAP rule at 100 cGy·cm² (three alerts), a web server."""
    from doseapp.alerts.evaluate import evaluate
    from doseapp.alerts.settings import set_rule

    studydata.load_testdata(_session_app, RF)
    with _session_app.app_context():
        set_rule("rf_dap_study", threshold=100, enabled=True)
        set_rule("rf_rp_study", threshold=0.005, enabled=True)
        evaluate()
        assert len(db.session.scalars(select(Alert)).all()) == 5
        db.session.remove()
    with web_server(app_env, tmp_path_factory.mktemp("web")) as base:
        yield base
    _empty_all_tables(_session_app)


def test_pid_user_acknowledges_an_alert_with_a_comment(alert_site, tmp_path, _session_app):
    from selenium.webdriver.common.by import By

    base = alert_site
    driver = chromium(tmp_path / "profile", 1366, 768)
    try:
        with screenshot_on_failure(driver, tmp_path, "alert-review"):
            login(driver, base, "pid")
            assert driver.find_element(By.ID, "alerts-badge").text == "5"
            driver.find_element(By.ID, "nav-alerts").click()
            wait_for(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#alert-list tr[data-alert]"), "the alerts")
            row = driver.find_elements(By.CSS_SELECTOR, "#alert-list tr[data-alert]")[0]
            alert_id = int(row.get_attribute("data-alert"))
            row.find_element(By.NAME, "comment").send_keys("Skin checked at follow-up, no reaction")
            row.find_element(By.CSS_SELECTOR, "button[value=reviewed]").click()
            wait_for(driver, lambda d: "reviewed" in d.find_element(By.CSS_SELECTOR, ".flash").text, "the flash")
            assert driver.find_element(By.ID, "alerts-badge").text == "4"
            assert str(alert_id) not in [r.get_attribute("data-alert") for r in
                                         driver.find_elements(By.CSS_SELECTOR, "#alert-list tr[data-alert]")]
            driver.find_element(By.CSS_SELECTOR, "#alert-tabs a[data-state=reviewed]").click()
            wait_for(driver, lambda d: d.find_elements(By.CSS_SELECTOR, f"tr[data-alert='{alert_id}']"), "the reviewed tab")
            assert "Skin checked at follow-up" in driver.find_element(By.CSS_SELECTOR, f"tr[data-alert='{alert_id}']").text
    finally:
        driver.quit()
    with _session_app.app_context():
        alert = db.session.get(Alert, alert_id)
        assert (alert.state, alert.comment) == ("reviewed", "Skin checked at follow-up, no reaction")
        entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "alerts.state")).one()
        assert entry.username == "pid" and entry.details["state"] == ["new", "reviewed"]
        db.session.remove()


@pytest.mark.parametrize("size", ((1366, 768), (1920, 1080)), ids=["1366x768", "1920x1080"])
def test_alerts_page_fits(alert_site, tmp_path, size):
    base = alert_site
    driver = chromium(tmp_path / "profile", *size)
    try:
        login(driver, base, "pid")
        for name, path in (("alerts", "/alerts?state=all"), ("rf-list", "/rf/")):
            driver.get(base + path)
            _settle(driver, path)
            problems = driver.execute_script(LAYOUT_PROBLEMS_JS)
            _save(driver, tmp_path / f"{name}-{size[0]}x{size[1]}.png")
            assert not problems, f"{path} at {size}: {problems}"
    finally:
        driver.quit()
