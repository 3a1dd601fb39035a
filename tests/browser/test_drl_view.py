"""Issue 17 in headless Chromium: an admin maps two real CT study descriptions to one standard name
("CT Chest", the name the shipped UK national DRLs use, with a stricter local DLP DRL of 100 mGy·cm,
as a site sets one) from the unmapped values on the standard names page; the background job names
the stored studies; the DRL page then shows the comparison with the DRL as a dashed line on its
chart (a Bokeh Span at the local DRL); and the CT list marks the study whose dose is above the flag
factor and not the one below it.
Screenshots at 1366x768 and 1920x1080 go to the test's tmp folder (and to DOSEAPP_SCREENSHOTS)."""
from __future__ import annotations

import urllib.parse

import pytest
from sqlalchemy import select

from tests.browser.test_layout_fit import LAYOUT_PROBLEMS_JS, _save, _settle
from tests.browser.test_ui import chromium, login, wait_for, web_server
from tests.conftest import _empty_all_tables, run_cli
from tests.web import studydata

CT_FILES = [p for p in studydata.FILES if p.name.startswith("CT-")]
CHEST = ("Thorax^Thorax_NON_CON (Adult)", "CT Chest With Contrast")
LOCAL_CHEST_DLP_DRL = 100.0  # mGy·cm: below both studies' DLP (116.6 and 136.9), so both exceed it
SIZES = ((1366, 768), (1920, 1080))
# The DRL line of each chart (one chart here: one standard name); [] until BokehJS has drawn.
SPANS_JS = """
return (window.Bokeh ? Bokeh.documents : []).map(d => d.get_model_by_name('drl-line'))
  .filter(m => m).map(m => m.location);"""


def check_list_flags(driver, url: str, slug: str, low_id: int, high_id: int, shot) -> None:
    """The study list at `url` marks the study above the flag factor (`high_id`) and not the one below
    (`low_id`), and fits the window; a screenshot goes to `shot`."""
    driver.get(url)
    _settle(driver, slug)
    marked = driver.execute_script(
        "return Array.from(document.querySelectorAll('tr[data-study-id]'))"
        ".map(r => [Number(r.dataset.studyId), !!r.querySelector('.drl-flag')])")
    assert sorted(marked) == sorted([[low_id, False], [high_id, True]])
    _save(driver, shot)
    assert not driver.execute_script(LAYOUT_PROBLEMS_JS)


def assign_descriptions(driver, descriptions, name: str, shot, app_env) -> None:
    """On the unmapped-values page: tick the study descriptions, assign them to `name` (screenshot to
    `shot` before submitting), see it saved, and run the job the page queued that names the stored studies."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    for description in descriptions:
        box = driver.find_element(By.CSS_SELECTOR, f"input[name=pick][value='study_description:{description}']")
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", box)
        box.click()
    form = driver.find_element(By.ID, "bulk-assign")
    Select(form.find_element(By.NAME, "name_id")).select_by_visible_text(name)
    _save(driver, shot)
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait_for(driver, lambda d: f"mapped to {name}" in d.page_source, "the mapping saved")
    done = run_cli(["worker", "--burst"], app_env)
    assert done.returncode == 0, done.stderr


def serve_testdata(app, app_env, tmp_path_factory, files):
    """The test files imported and a web server on them (a module fixture's body); emptied after."""
    studydata.load_testdata(app, files=files)
    with web_server(app_env, tmp_path_factory.mktemp("web")) as base:
        yield base
    _empty_all_tables(app)


def studies_by_description(app, descriptions, value_column, modality: str | None = None) -> dict[str, tuple]:
    """{description: (study id, standard name, value, DRL ratio)} of the studies with these descriptions."""
    from doseapp.models import StandardName, Study, db

    with app.app_context():
        stmt = (select(Study.study_description, Study.id, StandardName.name, value_column, Study.drl_ratio)
                .outerjoin(StandardName, StandardName.id == Study.standard_name_id)
                .where(Study.study_description.in_(descriptions)))
        if modality:
            stmt = stmt.where(Study.modality == modality)
        return {r[0]: tuple(r[1:]) for r in db.session.execute(stmt).all()}


@pytest.fixture(scope="module")
def ct_site(_session_app, app_env, tmp_path_factory):
    yield from serve_testdata(_session_app, app_env, tmp_path_factory, CT_FILES)


def _chest_studies(app) -> dict[str, tuple[int, str | None, float | None, float | None]]:
    """{description: (study id, standard name, DLP, DRL ratio)} of the two chest studies."""
    from doseapp.models import Study

    return studies_by_description(app, CHEST, Study.total_dlp_mgycm)


def test_map_two_descriptions_see_the_drl_line_and_the_flagged_study(ct_site, _session_app, app_env, tmp_path):
    from selenium.webdriver.common.by import By

    from selenium.webdriver.support.ui import Select

    from doseapp.models import SystemSettings, db

    from doseapp.models import ReferenceLevel, StandardName

    base = ct_site
    before = _chest_studies(_session_app)
    assert set(before) == set(CHEST) and all(v[1] is None for v in before.values())
    with _session_app.app_context():  # the site's name, with its own DLP level (the national CTDIvol one stays)
        name = StandardName(modality="CT", name="CT Chest")
        db.session.add(name)
        db.session.flush()
        db.session.add(ReferenceLevel(standard_name_id=name.id, quantity="dlp", value=LOCAL_CHEST_DLP_DRL,
                                      source="local audit (test)"))
        db.session.commit()

    driver = chromium(tmp_path / "profile", *SIZES[0])
    try:
        login(driver, base, "adminviewer")
        driver.get(base + "/config/standard-names?modality=CT")
        assign_descriptions(driver, CHEST, "CT Chest", tmp_path / "standard-names-ticked.png", app_env)
        after = _chest_studies(_session_app)
        assert {d: v[1] for d, v in after.items()} == {d: "CT Chest" for d in CHEST}
        # Each study's ratio is its highest quantity over its DRL: DLP / 100 (local) or mean CTDIvol / 8.5 (UK).
        for _, _, dlp, ratio in after.values():
            assert ratio is not None and ratio >= dlp / LOCAL_CHEST_DLP_DRL - 1e-9 > 1
        (low_id, low), (high_id, high) = sorted(((v[0], v[3]) for v in after.values()), key=lambda x: x[1])
        assert high > low > 1
        with _session_app.app_context():  # a flag factor between the two: one marked, one not
            SystemSettings.get().drl_flag_factor = round((low + high) / 2, 3)
            db.session.commit()

        for width, height in SIZES:
            driver.set_window_size(width, height)
            query = urllib.parse.urlencode({"modality": "CT", "quantity": "dlp", "date_from": "1990-01-01",
                                            "date_until": "2026-12-31", "standard_name": "CT Chest"})
            driver.get(f"{base}/drl?{query}")
            _settle(driver, "drl")
            wait_for(driver, lambda d: d.execute_script(SPANS_JS), "BokehJS drawing the DRL chart")
            assert driver.execute_script(SPANS_JS) == [LOCAL_CHEST_DLP_DRL]
            blocked = [e["message"] for e in driver.get_log("browser") if "Content Security Policy" in e["message"]]
            assert blocked == []
            rows = driver.find_elements(By.CSS_SELECTOR, "#drl-table tbody tr[data-name='CT Chest']")
            assert rows and sum(int(r.find_elements(By.CSS_SELECTOR, "td.num")[0].text) for r in rows) == 2
            assert all("Local: local audit (test)" in r.text for r in rows)
            _save(driver, tmp_path / f"drl-{width}x{height}.png")
            assert not driver.execute_script(LAYOUT_PROBLEMS_JS)

            check_list_flags(driver, f"{base}/ct/?standard_name=CT+Chest", "ct", low_id, high_id,
                             tmp_path / f"ct-list-drl-{width}x{height}.png")
    finally:
        driver.quit()
        with _session_app.app_context():
            SystemSettings.get().drl_flag_factor = 1.5
            db.session.execute(db.delete(ReferenceLevel))
            db.session.commit()
