"""Every study list, study page and configuration page fits the window, at the sizes hospital PCs and
wide screens have (1366x768, 1920x1080, 2560x1440), in headless Chromium, logged in as an admin who
also browses, with the OpenREM test files imported and a row in each configuration table.

On each page, measured in the browser: the page itself never scrolls sideways; a table wider than the
space it has sits in a frame that scrolls sideways, whose scroll bar is on screen when the frame is;
every column heading can be brought into view by scrolling its table's frame; the top bar's links and
the footer are on screen. A screenshot of each page at each size goes to the test's tmp folder, and to
the folder DOSEAPP_SCREENSHOTS names when it is set.

Also: the Settings menu from the keyboard, and the print layout of study lists and pages.

One web server for the module, one browser per window size, reused across the pages."""
from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pydicom
import pytest
from sqlalchemy import func, select

from doseapp.models import DicomRemoteNode, DicomScheduledQuery, DicomStoreScp, Equipment, NotPatientPattern, Study, User, db
from tests.browser.test_ui import chromium, login, wait_for, web_server
from tests.conftest import TESTDATA, _empty_all_tables
from tests.web import studydata

SIZES = ((1366, 768), (1920, 1080), (2560, 1440))
SKIN_MAP_STUDY_UID = pydicom.dcmread(TESTDATA / "RF-RDSR-Siemens-Zee.dcm", stop_before_pixels=True).StudyInstanceUID

# What the page checks find, in the browser: a list of problems (empty when the page fits).
LAYOUT_PROBLEMS_JS = r"""
const problems = [];
const vw = document.documentElement.clientWidth, vh = window.innerHeight;
const shown = el => el.getClientRects().length > 0 && !el.closest('details:not([open]) > :not(summary)');
const scrollsX = el => ['auto', 'scroll'].includes(getComputedStyle(el).overflowX);
const frameOf = el => { for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) if (scrollsX(p)) return p; return null; };
const name = el => el.id ? '#' + el.id : el.tagName.toLowerCase() + (el.className && typeof el.className === 'string' ? '.' + el.className.trim().split(/\s+/).join('.') : '');
window.scrollTo(0, 0);
if (document.documentElement.scrollWidth > document.documentElement.clientWidth)
  problems.push(`the page scrolls sideways: ${document.documentElement.scrollWidth} px wide in ${document.documentElement.clientWidth}`);
const tables = Array.from(document.querySelectorAll('table')).filter(shown);
for (const table of tables) {
  const frame = frameOf(table);
  const t = table.getBoundingClientRect();
  if (frame) {
    const f = frame.getBoundingClientRect();
    if (f.left < -1 || f.right > vw + 1) problems.push(`${name(table)}: its frame is outside the window (${f.left}..${f.right} of ${vw})`);
    if (t.width > frame.clientWidth + 1) {
      if (frame.scrollWidth <= frame.clientWidth) problems.push(`${name(table)}: wider than its frame, which does not scroll`);
      if (f.height > vh + 1) problems.push(`${name(table)}: its frame (${f.height} px high) is taller than the window (${vh}), so its scroll bar is off screen`);
    }
  } else if (t.left < -1 || t.right > vw + 1) {
    problems.push(`${name(table)}: ${t.width} px wide, outside the window (${t.left}..${t.right} of ${vw}) and in no scrolling frame`);
  }
  for (const th of table.querySelectorAll('th')) {
    if (!shown(th) || th.closest('table') !== table) continue;
    th.scrollIntoView({block: 'nearest', inline: 'nearest'});
    const h = th.getBoundingClientRect();
    const label = `${name(table)} heading "${th.textContent.trim().slice(0, 40)}"`;
    if (frame) {
      const f = frame.getBoundingClientRect();
      const left = f.left + frame.clientLeft, right = left + frame.clientWidth;
      if (h.left < left - 1 || h.right > right + 1) problems.push(`${label}: not inside its frame after scrolling (${h.left}..${h.right}, frame ${left}..${right})`);
    }
    if (h.left < -1 || h.right > vw + 1 || h.top < -1 || h.bottom > vh + 1)
      problems.push(`${label}: not in the window after scrolling (${h.left},${h.top}..${h.right},${h.bottom})`);
  }
  if (frame) { frame.scrollLeft = 0; frame.scrollTop = 0; }
}
window.scrollTo(0, 0);
const bar = document.getElementById('topbar');
for (const el of bar.querySelectorAll('a, summary, button')) {
  if (!shown(el)) continue;
  const r = el.getBoundingClientRect();
  if (r.width <= 0 || r.left < -1 || r.right > vw + 1 || r.top < -1 || r.bottom > vh + 1)
    problems.push(`top bar "${el.textContent.trim()}" is not on screen (${r.left},${r.top}..${r.right},${r.bottom})`);
}
const menu = document.getElementById('settings-menu');
menu.open = true;
for (const a of menu.querySelectorAll('.menu-panel a')) {
  const r = a.getBoundingClientRect();
  if (r.width <= 0 || r.left < -1 || r.right > vw + 1 || r.bottom > vh + 1)
    problems.push(`menu entry "${a.textContent.trim()}" is not on screen (${r.left},${r.top}..${r.right},${r.bottom})`);
}
menu.open = false;
const footer = document.getElementById('footer');
window.scrollTo(0, document.documentElement.scrollHeight);
const fr = footer.getBoundingClientRect();
if (fr.height <= 0 || fr.left < -1 || fr.right > vw + 1 || fr.top < -1 || fr.bottom > vh + 1)
  problems.push(`the footer is not on screen at the bottom of the page (${fr.left},${fr.top}..${fr.right},${fr.bottom})`);
window.scrollTo(0, 0);
return problems;
"""


@pytest.fixture(scope="module")
def fit_site(_session_app, app_env, tmp_path_factory):
    """The test files imported, one row in each configuration table, a web server; and the pages
    to check as (name, path)."""
    studydata.load_testdata(_session_app, skin_maps=True)  # the fluoroscopy list shows peak skin doses
    with _session_app.app_context():
        node = DicomStoreScp(name="Store one", aetitle="STORE1", port=11112, status="stopped")
        remote = DicomRemoteNode(name="Hospital PACS", aetitle="PACS", port=104, hostname="pacs.example.org")
        pattern = NotPatientPattern(field="id", pattern="*phantom*")
        db.session.add_all([node, remote, pattern])
        db.session.flush()
        schedule = DicomScheduledQuery(name="Nightly CT", remote_node_id=remote.id, store_scp_id=node.id,
                                       parameters={"modalities": ["CT"]})
        db.session.add(schedule)
        db.session.commit()
        # The study with the most events of each modality: the widest event tables.
        studies = {}
        for mod in ("CT", "RF", "MG", "DX"):
            studies[mod] = db.session.scalar(select(Study.id).where(Study.modality == mod)
                                             .order_by(Study.number_of_events.desc(), Study.id).limit(1))
        # A fluoroscopy study with a skin dose map (the one above may have none): the map section.
        studies["RF-skin-map"] = db.session.scalar(select(Study.id).where(Study.study_instance_uid == SKIN_MAP_STUDY_UID))
        eq_id = db.session.scalar(select(func.min(Equipment.id)))
        user_id = db.session.scalar(select(User.id).where(User.username == "viewer"))
        ids = dict(node=node.id, remote=remote.id, pattern=pattern.id, schedule=schedule.id)
        db.session.remove()
    pages = [(f"{m.lower()}-list", f"/{m.lower()}/") for m in ("CT", "RF", "MG", "DX")]
    pages += [(f"{m.lower()}-study", f"/{m[:2].lower()}/{sid}") for m, sid in studies.items()]
    pages += [
        ("config", "/config/"), ("users", "/config/users"), ("user-new", "/config/users/new"),
        ("user-edit", f"/config/users/{user_id}"), ("user-password", f"/config/users/{user_id}/password"),
        ("display-names", "/config/display-names"), ("display-names-edit", f"/config/display-names/edit?ids={eq_id}"),
        ("equipment-review", f"/config/equipment/{eq_id}/review"),
        ("equipment-delete", f"/config/equipment/{eq_id}/delete-studies"),
        ("patterns", "/config/not-patient"), ("pattern-edit", f"/config/not-patient/{ids['pattern']}"),
        ("patient-id", "/config/patient-id"), ("dicom-delete", "/config/dicom-delete"), ("audit", "/config/audit"),
        ("dicom-nodes", "/dicom/nodes"), ("dicom-node", f"/dicom/nodes/{ids['node']}"),
        ("dicom-dashboard", f"/dicom/nodes/{ids['node']}/dashboard"),
        ("dicom-allowed", f"/dicom/nodes/{ids['node']}/allowed"), ("dicom-transactions", "/dicom/transactions"),
        ("remote-nodes", "/qr/admin/remotes"), ("remote-node", f"/qr/admin/remotes/{ids['remote']}"),
        ("schedules", "/qr/admin/scheduled"), ("schedule", f"/qr/admin/scheduled/{ids['schedule']}"),
        ("query-history", "/qr/history"), ("retrieve-jobs", "/qr/retrieves"), ("size-imports", "/imports/size/"), ("quarantine", "/quarantine/"),
        ("jobs", "/jobs/"), ("exports", "/exports/"), ("study-delete", f"/studies/{studies['CT']}/delete"),
        ("help", "/help"), ("password", "/account/password"), ("home", "/"), ("chart-options", "/charts/options"),
        ("drl", "/drl"), ("config-drl", "/config/drl"),
        ("alerts", "/alerts?state=all"), ("alert-rules", "/config/alerts"),
    ]
    with web_server(app_env, tmp_path_factory.mktemp("web")) as base:
        yield base, pages
    _empty_all_tables(_session_app)


def _settle(driver, path: str) -> None:
    """Wait until the page has loaded and HTMX has had nothing in flight for a third of a second (the
    charts under a list load after it, each by its own request)."""
    deadline = time.monotonic() + 90
    quiet = 0
    while quiet < 3:
        busy = driver.execute_script("return document.readyState !== 'complete' || !!document.querySelector('.htmx-request')")
        quiet = 0 if busy else quiet + 1
        if time.monotonic() > deadline:
            raise AssertionError(f"{path}: still loading after 90 s")
        time.sleep(0.12)


def _save(driver, path: Path) -> None:
    driver.save_screenshot(str(path))
    extra = os.environ.get("DOSEAPP_SCREENSHOTS")
    if extra:
        Path(extra).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(extra) / path.name)


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_every_page_fits_the_window(fit_site, tmp_path, size):
    base, pages = fit_site
    width, height = size
    driver = chromium(tmp_path / "profile", width, height)
    try:
        # The browser window is the screen's size, as a maximised window on that screen: the page gets
        # its full width and the height left under the browser's own bars (625 px of 768 here).
        inner = driver.execute_script("return [window.innerWidth, window.innerHeight]")
        assert inner[0] == width and height - 200 < inner[1] <= height, f"the window is not {width}x{height}: {inner}"
        login(driver, base, "adminviewer")
        found = {}
        for name, path in pages:
            driver.get(base + path)
            _settle(driver, path)
            assert driver.execute_script("return document.getElementById('footer') !== null"), f"{path}: not a doseapp page"
            title = driver.title
            assert not title.startswith(("Not allowed", "Not found")), f"{path}: {title}"
            problems = driver.execute_script(LAYOUT_PROBLEMS_JS)
            _save(driver, tmp_path / f"{name}-{width}x{height}.png")
            for problem in problems:  # the same problem on many pages is told once, with its pages
                found.setdefault(problem, []).append(path)
        assert not found, f"at {width}x{height}: " + "; ".join(f"{p} (on {', '.join(where)})" for p, where in found.items())
    finally:
        driver.quit()


def test_settings_menu_works_from_the_keyboard(fit_site, tmp_path):
    """The Settings menu (a <details>) is reached with Tab, opens with Enter, its entries follow in the
    tab order, Enter opens one; Escape closes the menu (focus back on it), and so does a click elsewhere."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    base, _ = fit_site
    driver = chromium(tmp_path / "profile", 1366, 768)
    try:
        login(driver, base, "adminviewer")
        driver.get(base + "/config/")
        active = lambda: driver.execute_script(  # noqa: E731
            "const a = document.activeElement; return [a.tagName, a.textContent.trim(), a.closest('#settings-menu') !== null]")
        is_open = lambda: driver.execute_script("return document.getElementById('settings-menu').open")  # noqa: E731
        keys = ActionChains(driver)
        for _ in range(30):
            keys.send_keys(Keys.TAB).perform()
            if active()[0] == "SUMMARY":
                break
        assert active() == ["SUMMARY", "Settings", True] and not is_open()
        entry = driver.find_element(By.CSS_SELECTOR, "#settings-menu a[href='/qr/admin/remotes']")
        assert not entry.is_displayed()
        keys.send_keys(Keys.ENTER).perform()
        assert is_open() and entry.is_displayed()
        seen = []
        for _ in range(20):
            keys.send_keys(Keys.TAB).perform()
            seen.append(active()[1])
            if seen[-1] == "Remote nodes":
                break
        assert seen[0] == "Config" and seen[-1] == "Remote nodes", seen
        keys.send_keys(Keys.ENTER).perform()
        wait_for(driver, lambda d: d.current_url == base + "/qr/admin/remotes", "the remote nodes page")
        assert driver.find_element(By.TAG_NAME, "h1").text.startswith("Remote nodes")
        summary = driver.find_element(By.CSS_SELECTOR, "#settings-menu > summary")
        summary.click()
        assert is_open()
        keys.send_keys(Keys.ESCAPE).perform()
        assert not is_open() and active()[0] == "SUMMARY"
        summary.click()
        assert is_open()
        driver.find_element(By.CSS_SELECTOR, "#footer > span").click()  # a click outside the menu
        assert not is_open()
    finally:
        driver.quit()


def test_study_pages_print_without_the_frame(fit_site, tmp_path):
    """Printed (print media), a study list and a study page lose the top bar, breadcrumbs, filter,
    buttons and footer; their tables take the full width and are not cut by scroll frames."""
    base, pages = fit_site
    driver = chromium(tmp_path / "profile", 1366, 768)
    try:
        login(driver, base, "adminviewer")
        for path, table in (("/ct/", "studies"), (dict(pages)["ct-study"], "events")):
            driver.get(base + path)
            _settle(driver, path)
            driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
            seen = driver.execute_script("""
                const hidden = sel => Array.from(document.querySelectorAll(sel)).every(e => getComputedStyle(e).display === 'none');
                const t = document.getElementById(arguments[0]), frame = t.parentElement, main = document.querySelector('main');
                return {frame: hidden('#topbar') && hidden('#footer') && hidden('.breadcrumbs') && hidden('button')
                               && hidden('.filter-panel') && hidden('.export-panel'),
                        overflow: getComputedStyle(frame).overflowX, maxHeight: getComputedStyle(frame).maxHeight,
                        table: t.getBoundingClientRect().width, main: main.clientWidth};""", table)
            driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})
            assert seen["frame"], (path, seen)
            assert (seen["overflow"], seen["maxHeight"]) == ("visible", "none"), (path, seen)
            assert seen["table"] >= seen["main"] - 1, (path, seen)
    finally:
        driver.quit()
