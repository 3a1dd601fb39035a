"""The skin dose map on the fluoroscopy study page in headless Chromium, against a real `doseapp web`
with real vendor files whose maps the real engine computed: the 2D map and the 3D view load from
doseapp alone (every request the page made went to 127.0.0.1), the hover shows the dose of the
stored cell under the pointer, window level and width and the colour scheme change the pictures,
dragging turns the 3D phantom, both PNG downloads are PNGs with the text on top, a study without
a map says why, and the section fits 1366x768 and 1920x1080 windows (screenshots in the tmp folder,
and in DOSEAPP_SCREENSHOTS when set)."""
from __future__ import annotations

import io
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pydicom
import pytest
from sqlalchemy import select

from doseapp.models import Study, SystemSettings, db
from doseapp.skin import store
from tests.browser.test_ui import chromium, login, screenshot_on_failure, wait_for, web_server
from tests.conftest import TESTDATA, _empty_all_tables
from tests.web import studydata

ZEE = "RF-RDSR-Siemens-Zee.dcm"
GE = "RF-RDSR-GE.dcm"


def _uid(name: str) -> str:
    return pydicom.dcmread(TESTDATA / name, stop_before_pixels=True).StudyInstanceUID


@pytest.fixture(scope="module")
def site(_session_app, app_env, tmp_path_factory):
    """Two fluoroscopy studies with their maps computed and kept (one map, one no-map), a web server."""
    studydata.load_testdata(_session_app, [TESTDATA / ZEE, TESTDATA / GE])
    ids, arrays = {}, {}
    with _session_app.app_context():
        SystemSettings.get().enable_skin_dose_maps = True
        for name in (ZEE, GE):
            study = db.session.scalar(select(Study).where(Study.study_instance_uid == _uid(name)))
            row = store.compute_for_study(study)
            ids[name] = study.id
            if row.status == "ok":
                arrays[name] = np.array(store.dose_array(row))
        db.session.commit()
        db.session.remove()
    with web_server(app_env, tmp_path_factory.mktemp("web")) as base:
        yield base, ids, arrays
    _empty_all_tables(_session_app)


def _save(driver, path: Path, element=None) -> None:
    if element is not None:
        element.screenshot(str(path))
    else:
        driver.save_screenshot(str(path))
    extra = os.environ.get("DOSEAPP_SCREENSHOTS")
    if extra:
        Path(extra).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(extra) / path.name)


def _open_map(driver, base, study_id) -> None:
    driver.get(f"{base}/rf/{study_id}")
    wait_for(driver, lambda d: d.execute_script(
        "const m = document.querySelector('.skin-map'); return !!m && m.dataset.ready2d === '1' && m.dataset.ready3d === '1'"),
        "the 2D map and the 3D view")
    driver.execute_script("document.getElementById('skin-map').scrollIntoView()")
    time.sleep(0.3)


# The pixels of the 2D map (the Bokeh plot as its PNG export draws it) and of the 3D canvas, hashed.
PIXELS_JS = r"""
const root = document.querySelector('.skin-map'), which = arguments[0];
const c = which === '3d' ? root.querySelector('.skin-3d-canvas') : root.skinMap.png('2d');
const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
let h = 0, distinct = new Set();
for (let i = 0; i < data.length; i += 4) { h = (h * 31 + data[i] * 7 + data[i + 1] * 3 + data[i + 2]) >>> 0; if (distinct.size < 5000) distinct.add((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]); }
return [h, distinct.size, c.width, c.height];
"""

# The text of Bokeh's tooltip (it sits in shadow roots).
TOOLTIP_JS = r"""
const out = [];
const walk = node => { for (const el of node.querySelectorAll('*')) {
  if (el.shadowRoot) walk(el.shadowRoot);
  if (typeof el.className === 'string' && el.className.includes('tooltip') && el.getClientRects().length) out.push(el.textContent); } };
walk(document);
return out.join('\n');
"""


def _every_request_was_local(driver, base) -> list[str]:
    return driver.execute_script("""
        const base = arguments[0];
        const urls = performance.getEntriesByType('navigation').concat(performance.getEntriesByType('resource')).map(e => e.name);
        for (const el of document.querySelectorAll('script[src], link[href], img[src], iframe[src]')) urls.push(el.src || el.href);
        return urls.filter(u => !(u.startsWith(base + '/') || u.startsWith('data:') || u.startsWith('blob:')));""", base)


def test_the_map_loads_from_doseapp_alone_and_its_controls_work(site, tmp_path):
    from PIL import Image
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.actions.wheel_input import ScrollOrigin
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    base, ids, arrays = site
    assert ZEE in arrays, "the Siemens Zee file must have a map"
    dose = arrays[ZEE]
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    driver = chromium(tmp_path / "profile", 1400, 1000)
    try:
        with screenshot_on_failure(driver, tmp_path, "skin-map"):
            driver.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
            login(driver, base, "viewer")
            _open_map(driver, base, ids[ZEE])
            n_resources = driver.execute_script("return performance.getEntriesByType('resource').length")
            assert n_resources >= 5  # BokehJS, htmx, our scripts and styles, the section, the JSON
            assert _every_request_was_local(driver, base) == []
            assert driver.execute_script("return performance.getEntriesByType('resource').some(e => e.name.includes('/bokehjs/bokeh.min.js'))")
            assert driver.execute_script("return performance.getEntriesByType('resource').some(e => e.name.endsWith('/skin-map.json'))")
            text = driver.find_element(By.ID, "skin-map-text").text
            assert text.startswith("Peak skin dose") and "Patient height" in text

            # The dose at the pointer is the stored cell's: hover the peak cell's place on the map.
            i, j = np.unravel_index(int(np.argmax(dose)), dose.shape)
            # The cell's centre, as an offset from the plot's in-view centre point, which WebDriver moves
            # from and computes with floor() (W3C Actions): with the centre taken unfloored, a box at a
            # fractional position put the pointer a pixel off, in the neighbouring cell of a small map.
            plot = driver.find_element(By.CSS_SELECTOR, ".skin-2d-plot")
            driver.execute_script("arguments[0].scrollIntoView({block: 'center', inline: 'center'})", plot)
            offset = driver.execute_script("""
                const m = document.querySelector('.skin-map'), xy = m.skinMap.clientPoint(arguments[0], arguments[1]);
                const r = m.querySelector('.skin-2d-plot').getBoundingClientRect();
                const cx = Math.floor((Math.max(r.left, 0) + Math.min(r.right, window.innerWidth)) / 2);
                const cy = Math.floor((Math.max(r.top, 0) + Math.min(r.bottom, window.innerHeight)) / 2);
                return [xy[0] - cx, xy[1] - cy];""", float(j) + 0.5, float(i) + 0.5)
            ActionChains(driver).move_to_element_with_offset(plot, round(offset[0]), round(offset[1])).perform()
            wait_for(driver, lambda d: "mGy" in d.execute_script(TOOLTIP_JS), "the dose tooltip")
            tip = driver.execute_script(TOOLTIP_JS)
            peak = float(dose[i, j])
            shown = f"{peak:.4f} Gy ({peak * 1000:.1f} mGy)" if peak < 0.1 else f"{peak:.3f} Gy ({peak * 1000:.1f} mGy)"
            assert shown in tip, (tip, shown)
            assert f"{i} cm" in tip and f"{j} cm" in tip, tip

            _save(driver, tmp_path / "skin-map-section.png", driver.find_element(By.ID, "skin-map"))
            before_2d, before_3d = driver.execute_script(PIXELS_JS, "2d"), driver.execute_script(PIXELS_JS, "3d")
            assert before_2d[1] > 20 and before_3d[1] > 20, (before_2d, before_3d)  # a picture, not a blank

            # Window level: a new level (typed in) changes both pictures.
            level = driver.find_element(By.CSS_SELECTOR, ".skin-level")
            level.clear()
            level.send_keys(f"{float(dose.max()) * 0.9:.6g}\t")
            wait_for(driver, lambda d: d.execute_script(PIXELS_JS, "2d")[0] != before_2d[0], "the 2D map to change")
            wait_for(driver, lambda d: d.execute_script(PIXELS_JS, "3d")[0] != before_3d[0], "the 3D view to change")
            low, high = (float(v) for v in driver.execute_script(
                "return document.querySelector('.skin-map').dataset.window").split(":")[:2])
            width = float(dose.max())
            assert (low, high) == (pytest.approx(0.9 * width - width / 2, rel=1e-3), pytest.approx(0.9 * width + width / 2, rel=1e-3))
            assert driver.execute_script("""
                const m = Bokeh.documents.map(d => d.get_model_by_name('skin-colour-mapper')).find(x => x);
                return [m.low, m.high];""") == [pytest.approx(low), pytest.approx(high)]

            # Left-drag on the 2D map: up raises the level, right widens the window.
            ActionChains(driver).move_to_element(plot).click_and_hold().move_by_offset(30, -40).release().perform()
            low2, high2 = (float(v) for v in driver.execute_script(
                "return document.querySelector('.skin-map').dataset.window").split(":")[:2])
            assert (low2 + high2) / 2 > (low + high) / 2 and high2 - low2 > high - low

            # Another colour scheme changes the picture too; Reset brings back 0 Gy to the peak.
            after = driver.execute_script(PIXELS_JS, "2d")
            driver.execute_script("const s = document.querySelector('.skin-palette'); s.value = 'grey'; s.dispatchEvent(new Event('change'))")
            wait_for(driver, lambda d: d.execute_script(PIXELS_JS, "2d")[0] != after[0], "the grey map")
            driver.find_element(By.CSS_SELECTOR, ".skin-reset").click()
            low3, high3, scheme = driver.execute_script("return document.querySelector('.skin-map').dataset.window").split(":")
            assert (float(low3), float(high3), scheme) == (0.0, pytest.approx(float(dose.max())), "grey")

            # The 3D view turns with a drag and zooms with the wheel.
            canvas = driver.find_element(By.CSS_SELECTOR, ".skin-3d-canvas")
            driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", canvas)
            still = driver.execute_script(PIXELS_JS, "3d")
            yaw = driver.execute_script("return document.querySelector('.skin-map').skinMap.viewer().yaw")
            ActionChains(driver).move_to_element(canvas).click_and_hold().move_by_offset(80, 0).release().perform()
            wait_for(driver, lambda d: d.execute_script(PIXELS_JS, "3d")[0] != still[0], "the 3D view to turn")
            assert driver.execute_script("return document.querySelector('.skin-map').skinMap.viewer().yaw") == pytest.approx(yaw + 0.8, abs=0.05)
            ActionChains(driver).scroll_from_origin(ScrollOrigin.from_element(canvas), 0, -300).perform()
            wait_for(driver, lambda d: d.execute_script("return document.querySelector('.skin-map').skinMap.viewer().zoom") > 1.2, "the 3D view to zoom in")
            _save(driver, tmp_path / "skin-map-turned.png", driver.find_element(By.ID, "skin-map"))

            # Touch: one finger turns, two fingers apart zoom in (real touch input, through CDP).
            viewer = "document.querySelector('.skin-map').skinMap.viewer()"
            yaw, zoom = driver.execute_script(f"const v = {viewer}; return [v.yaw, v.zoom]")
            cx, cy = driver.execute_script("const r = arguments[0].getBoundingClientRect(); return [r.left + r.width / 2, r.top + r.height / 2]", canvas)

            def touch(kind, points):
                driver.execute_cdp_cmd("Input.dispatchTouchEvent", {
                    "type": kind, "touchPoints": [{"x": x, "y": y, "id": n} for n, (x, y) in enumerate(points)]})
            touch("touchStart", [(cx, cy)])
            for step in range(1, 6):
                touch("touchMove", [(cx + 12 * step, cy)])
            touch("touchEnd", [])
            assert driver.execute_script(f"return {viewer}.yaw") == pytest.approx(yaw + 0.6, abs=0.05)
            touch("touchStart", [(cx - 30, cy), (cx + 30, cy)])
            for step in range(1, 6):
                touch("touchMove", [(cx - 30 - 10 * step, cy), (cx + 30 + 10 * step, cy)])
            touch("touchEnd", [])
            assert driver.execute_script(f"return {viewer}.zoom") == pytest.approx(zoom * 160 / 60, rel=0.05)
            # The keyboard: arrows turn, - zooms out.
            canvas.send_keys(Keys.ARROW_LEFT, Keys.ARROW_LEFT, "-")
            yaw2, zoom2 = driver.execute_script(f"const v = {viewer}; return [v.yaw, v.zoom]")
            assert yaw2 == pytest.approx(yaw + 0.6 - 0.3, abs=0.05) and zoom2 == pytest.approx(zoom * 160 / 60 / 1.15, rel=0.05)

            # Both PNG downloads: real PNGs, the picture under the text.
            for view in ("2d", "3d"):
                driver.find_element(By.CSS_SELECTOR, f".skin-save[data-view='{view}']").click()
                path = downloads / f"skin-dose-map-{view}.png"
                wait_for(driver, lambda d: path.exists() and path.stat().st_size > 0, f"the {view} PNG download")
                raw = path.read_bytes()
                assert raw[:8] == b"\x89PNG\r\n\x1a\n"
                img = Image.open(io.BytesIO(raw)).convert("RGB")
                size = driver.execute_script(
                    "const m = document.querySelector('.skin-map'); const c = arguments[0] === '3d' ? m.querySelector('.skin-3d-canvas') : m.skinMap.png('2d');"
                    "return arguments[0] === '3d' ? [c.width, c.height] : [c.width, c.height];", view)
                if view == "3d":
                    assert img.size[0] >= size[0] and img.size[1] > size[1] + 100, (img.size, size)
                else:
                    assert img.size == tuple(size), (img.size, size)
                pixels = np.asarray(img)
                header = pixels[:40, :300]
                assert (header.sum(axis=2) < 200).sum() > 50  # dark text on white at the top left
                assert len({tuple(p) for p in pixels[::4, ::4].reshape(-1, 3)}) > 30  # a picture below it
                shutil.copy(path, tmp_path / path.name)
    finally:
        driver.quit()


def test_a_study_without_a_map_shows_the_reason(site, tmp_path):
    from selenium.webdriver.common.by import By

    base, ids, arrays = site
    assert GE not in arrays
    driver = chromium(tmp_path / "profile", 1366, 768)
    try:
        login(driver, base, "viewer")
        driver.get(f"{base}/rf/{ids[GE]}")
        wait_for(driver, lambda d: d.find_elements(By.ID, "skin-map-reason"), "the no-map reason")
        reason = driver.find_element(By.ID, "skin-map-reason").text
        assert reason.startswith("No skin dose map: ") and len(reason) > 25
        assert not driver.find_elements(By.CSS_SELECTOR, ".skin-3d-canvas, .skin-2d-plot")
        assert _every_request_was_local(driver, base) == []
        _save(driver, tmp_path / "skin-map-none.png")
    finally:
        driver.quit()


# In the window: the page does not scroll sideways, and every control, both pictures and the text
# of the section are inside the window's width once scrolled to.
FIT_JS = r"""
const vw = document.documentElement.clientWidth, problems = [];
if (document.documentElement.scrollWidth > vw) problems.push('the page scrolls sideways');
const els = document.querySelectorAll('.skin-tools label, .skin-tools button, .skin-save, .skin-3d-reset, .skin-2d-plot, .skin-3d-canvas, #skin-map-text');
for (const el of els) {
  el.scrollIntoView({block: 'nearest'});
  const r = el.getBoundingClientRect();
  if (r.width <= 0 || r.height <= 0) problems.push(`${el.className || el.id}: not shown`);
  if (r.left < -1 || r.right > vw + 1) problems.push(`${el.className || el.id}: ${r.left}..${r.right} outside 0..${vw}`);
}
return problems;
"""


@pytest.mark.parametrize("size", [(1366, 768), (1920, 1080)], ids=["1366x768", "1920x1080"])
def test_the_section_fits_the_window(site, tmp_path, size):
    from selenium.webdriver.common.by import By

    base, ids, _ = site
    driver = chromium(tmp_path / "profile", *size)
    try:
        login(driver, base, "viewer")
        _open_map(driver, base, ids[ZEE])
        problems = driver.execute_script(FIT_JS)
        driver.execute_script("document.getElementById('skin-map').scrollIntoView()")
        time.sleep(0.3)
        _save(driver, tmp_path / f"skin-map-{size[0]}x{size[1]}.png")
        assert problems == [], problems
        # Full screen: the section takes the window, and the button brings it back.
        driver.find_element(By.CSS_SELECTOR, ".skin-fullscreen").click()
        wait_for(driver, lambda d: d.execute_script("return document.getElementById('skin-map').classList.contains('skin-full')"), "full screen")
        time.sleep(0.3)
        # (Headless Chromium grants the browser's full screen with its own 800x600 screen.)
        box = driver.execute_script("const r = document.getElementById('skin-map').getBoundingClientRect();"
                                    "return [r.left, r.top, r.width, r.height, window.innerWidth, window.innerHeight]")
        assert box[0] == 0 and box[1] == 0 and box[2] >= box[4] - 20 and box[3] >= box[5] - 20, box
        _save(driver, tmp_path / f"skin-map-full-{size[0]}x{size[1]}.png")
        driver.find_element(By.CSS_SELECTOR, ".skin-fullscreen").click()
        wait_for(driver, lambda d: not d.execute_script("return document.getElementById('skin-map').classList.contains('skin-full')"), "back from full screen")
    finally:
        driver.quit()


@pytest.mark.parametrize("size", [(1366, 768), (1920, 1080)], ids=["1366x768", "1920x1080"])
def test_the_section_in_german_fits_the_window(site, _session_app, tmp_path, size):
    """The map's text in German (longer lines than English) neither clips nor pushes the page sideways."""
    from doseapp.models import User

    base, ids, _ = site
    with _session_app.app_context():
        db.session.scalar(select(User).where(User.username == "viewer")).locale = "de"
        db.session.commit()
    driver = chromium(tmp_path / "profile", *size)
    try:
        login(driver, base, "viewer")
        _open_map(driver, base, ids[ZEE])
        text = driver.execute_script("return document.getElementById('skin-map-text').innerText")
        assert text.startswith("Maximale Hautdosis") and "Ereignisse:" in text and "Zellen über 3 Gy" in text, text
        # The colour schemes, the 2D figure's axis titles and the script's own words, in German too.
        options = driver.execute_script(
            "return Array.from(document.querySelectorAll('.skin-palette option'), o => o.text)")
        assert "Viridis (farbenblind-tauglich)" in options and "Regenbogen" in options, options
        axes = driver.execute_script(
            "const doc = Bokeh.documents[0], p = doc.get_model_by_name(arguments[0]);"
            "return [p.below[0].axis_label, p.left[0].axis_label];", "skin-map-2d")
        assert axes == ["Um den Körper von vorne nach links (cm)", "Ab dem Scheitel (cm)"], axes
        colours = driver.execute_script("return document.querySelector('.skin-map').skinMap.state.say('colours')")
        assert colours == "Farben: {palette}, von {low} Gy bis {high} Gy", colours
        problems = driver.execute_script(FIT_JS)
        driver.execute_script("document.getElementById('skin-map').scrollIntoView()")
        time.sleep(0.3)
        _save(driver, tmp_path / f"skin-map-de-{size[0]}x{size[1]}.png")
        assert problems == [], problems
    finally:
        driver.quit()
        with _session_app.app_context():
            db.session.scalar(select(User).where(User.username == "viewer")).locale = None
            db.session.commit()
