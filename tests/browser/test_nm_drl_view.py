"""Issue 20 in headless Chromium: an admin maps two real FDG PET study descriptions of the NM test files
("PET/CT Ganzkoerper FDG", 394.0 MBq, and "PET/CT Herz FDG", 250.0 MBq) to one NM standard name from the
unmapped values on the standard names page; the background job names the stored studies; on the DRL
page the modality is changed to nuclear medicine (the form's CT quantity gives way to administered
activity) and the chart shows the local activity DRL of 300 MBq as a dashed line; the NM list marks
the 394 MBq study (ratio 1.31, above the flag factor 1.2) and not the 250 MBq one (0.83).
Screenshots at 1366x768 and 1920x1080 go to the test's tmp folder (and to DOSEAPP_SCREENSHOTS)."""
from __future__ import annotations

import datetime as dt

import pytest

from tests.browser.test_drl_view import (SIZES, SPANS_JS, assign_descriptions, check_list_flags, serve_testdata,
                                         studies_by_description)
from tests.browser.test_layout_fit import LAYOUT_PROBLEMS_JS, _save, _settle
from tests.browser.test_ui import chromium, login, wait_for
from tests.web import studydata

NM_FILES = [p for p in studydata.FILES if p.name.startswith("NM-")]
FDG = {"PET/CT Ganzkoerper FDG": 394.0, "PET/CT Herz FDG": 250.0}
LOCAL_FDG_DRL = 300.0  # MBq: 394 / 300 = 1.31, 250 / 300 = 0.83
FLAG_FACTOR = 1.2
FACTORS_JS = """
return (window.Bokeh ? Bokeh.documents : []).map(d => d.get_model_by_name('drl-chart'))
  .filter(m => m).map(m => m.x_range.factors);"""
CHART_HEIGHT_JS = "return document.querySelector('.drl-charts').getBoundingClientRect().height"


@pytest.fixture(scope="module")
def nm_site(_session_app, app_env, tmp_path_factory):
    yield from serve_testdata(_session_app, app_env, tmp_path_factory, NM_FILES)


def _fdg_studies(app) -> dict[str, tuple[int, str | None, float | None, float | None]]:
    """{description: (study id, standard name, activity, DRL ratio)} of the two FDG studies (NM part)."""
    from doseapp.models import Study

    return studies_by_description(app, FDG, Study.nm_activity_mbq, modality="NM")


def test_map_two_fdg_studies_see_the_activity_drl_line_and_the_flag(nm_site, _session_app, app_env, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    from doseapp.models import ReferenceLevel, StandardName, SystemSettings, db

    base = nm_site
    before = _fdg_studies(_session_app)
    assert {d: v[2] for d, v in before.items()} == FDG and all(v[1] is None for v in before.values())
    with _session_app.app_context():  # the site's name with its local activity DRL, and a flag factor
        name = StandardName(modality="NM", name="PET FDG")
        db.session.add(name)
        db.session.flush()
        db.session.add(ReferenceLevel(standard_name_id=name.id, quantity="activity", value=LOCAL_FDG_DRL,
                                      source="local NM audit (test)"))
        SystemSettings.get().drl_flag_factor = FLAG_FACTOR
        db.session.commit()

    driver = chromium(tmp_path / "profile", *SIZES[0])
    try:
        login(driver, base, "adminviewer")
        driver.get(base + "/config/standard-names?modality=NM")
        assert driver.find_element(By.ID, "nm-names-note").is_displayed()
        assign_descriptions(driver, FDG, "PET FDG", tmp_path / "nm-standard-names-ticked.png", app_env)
        after = _fdg_studies(_session_app)
        assert {d: v[1] for d, v in after.items()} == {d: "PET FDG" for d in FDG}
        ratios = {d: v[3] for d, v in after.items()}
        assert ratios == {d: pytest.approx(a / LOCAL_FDG_DRL) for d, a in FDG.items()}
        high_id, low_id = after["PET/CT Ganzkoerper FDG"][0], after["PET/CT Herz FDG"][0]

        today = dt.date.today().isoformat()
        for width, height in SIZES:
            driver.set_window_size(width, height)
            driver.get(f"{base}/drl?modality=CT&quantity=dlp&date_from=2022-01-01&date_until={today}")
            _settle(driver, "drl")
            Select(driver.find_element(By.NAME, "modality")).select_by_value("NM")
            driver.find_element(By.CSS_SELECTOR, "#drl-form button[type=submit]").click()
            wait_for(driver, lambda d: "modality=NM" in d.current_url and d.find_elements(By.ID, "drl-table"),
                     "the NM comparison")
            _settle(driver, "drl")
            assert Select(driver.find_element(By.NAME, "quantity")).first_selected_option.get_attribute(
                "value") == "activity"
            assert not driver.find_elements(By.CSS_SELECTOR, "p.error")
            wait_for(driver, lambda d: d.execute_script(SPANS_JS), "BokehJS drawing the DRL chart")
            assert driver.execute_script(SPANS_JS) == [LOCAL_FDG_DRL]
            # Both systems are "REMOVED REMOVED" in these files: the bars are told apart by the system's
            # id (a repeated category would leave BokehJS drawing nothing), and the chart is drawn.
            factors = driver.execute_script(FACTORS_JS)
            assert len(factors) == 1 and len(set(factors[0])) == 2 and all(
                f.startswith("REMOVED REMOVED (#") for f in factors[0]), factors
            wait_for(driver, lambda d: d.execute_script(CHART_HEIGHT_JS) > 200, "the DRL chart laid out")
            blocked = [e["message"] for e in driver.get_log("browser") if "Content Security Policy" in e["message"]]
            assert blocked == []
            rows = driver.find_elements(By.CSS_SELECTOR, "#drl-table tbody tr[data-name='PET FDG']")
            medians = sorted(r.find_elements(By.CSS_SELECTOR, "td.num")[1].text for r in rows)
            assert medians == ["250", "394"]  # one study on each of the two PET/CT systems
            systems = sorted(r.find_elements(By.CSS_SELECTOR, "td")[2].text for r in rows)
            assert systems == sorted(factors[0])  # the table names the systems as the chart does
            assert all("Local: local NM audit (test)" in r.text for r in rows)
            assert driver.find_element(By.ID, "drl-nm-note").is_displayed()
            _save(driver, tmp_path / f"nm-drl-{width}x{height}.png")
            driver.execute_script("document.querySelector('.drl-charts').scrollIntoView()")
            _save(driver, tmp_path / f"nm-drl-chart-{width}x{height}.png")
            assert not driver.execute_script(LAYOUT_PROBLEMS_JS)

            check_list_flags(driver, f"{base}/nm/?standard_name=PET+FDG", "nm", low_id, high_id,
                             tmp_path / f"nm-list-drl-{width}x{height}.png")
    finally:
        driver.quit()
        with _session_app.app_context():
            SystemSettings.get().drl_flag_factor = 1.5
            db.session.execute(db.delete(ReferenceLevel))
            db.session.commit()
