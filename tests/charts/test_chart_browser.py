"""Charts in a real browser: headless Chromium opens the CT list with charts on, BokehJS (served by
doseapp, never a CDN) draws them after the list, and tapping a bar opens the list filtered to exactly
that bar's studies; the chart grid, lazy loading, full screen and hide/show all. Uses the web server
and driver of tests/browser/test_ui.py."""
from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from tests.browser.test_ui import browser, login, row_ids, screenshot_on_failure, server, wait_for  # noqa: F401
from tests.charts.test_chart_pages import set_options

# Canvases live in Bokeh's shadow roots, so they are counted by walking them.
COUNT_CANVASES = """
function walk(root) { let n = 0; for (const el of root.querySelectorAll('*')) {
  if (el.tagName === 'CANVAS') n++; if (el.shadowRoot) n += walk(el.shadowRoot); } return n; }
return walk(document);"""
# Where the middle of the first drillable bar of one chart is on screen: Bokeh's own scales map the bar's category and
# half its height to canvas pixels; the canvas's place in the page gives viewport coordinates.
BAR_POINT = """
const [key] = arguments;
const slot = document.querySelector(`figure.chart[data-chart="${key}"]`);
const rootId = slot.querySelector('[data-root-id]').dataset.rootId;
// Without histograms a bar chart's root model is the figure itself.
const plot = [...Bokeh.index.all_views()].find(v => v.model.id === rootId);
slot.scrollIntoView({block: 'center'});
const bar = plot.model.renderers[0];
const src = bar.data_source.data;
const index = src.url.findIndex(u => u);  // the first bar a list filter can select ("Blank" cannot)
const x = plot.frame.x_scale.compute(plot.model.x_range.synthetic(src.cat[index]));
const y = plot.frame.y_scale.compute(src.mean[index] / 2);
const box = plot.canvas_view.el.getBoundingClientRect();
return {x: box.left + x, y: box.top + y, url: src.url[index], cat: src.cat[index], n: src.n[index]};"""


def test_ct_charts_render_with_local_bokehjs_and_drill_down(server, browser, tmp_path, _session_app):  # noqa: F811
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.actions.action_builder import ActionBuilder

    set_options(_session_app, "viewer", charts={"CT": ["study_dlp", "workload"]})
    with screenshot_on_failure(browser, tmp_path, "ct-charts"):
        login(browser, server, "viewer")
        browser.get(server + "/ct/?date_from=2010-01-01")
        wait_for(browser, lambda d: len(row_ids(d)) > 0, "the CT list")
        # The charts arrive after the list: two figures, drawn (canvases exist) by BokehJS.
        wait_for(browser, lambda d: len(d.execute_script(
            "return document.querySelectorAll('figure.chart [data-root-id]')")) == 2, "two charts")
        wait_for(browser, lambda d: (d.execute_script("return window.Bokeh && Bokeh.index.roots.length") or 0) >= 2,
                 "BokehJS rendering both charts")
        wait_for(browser, lambda d: d.execute_script(COUNT_CANVASES) >= 2, "the charts' canvases")
        assert browser.execute_script("return Bokeh.version") == __import__("bokeh").__version__
        # Every resource the page loaded came from doseapp itself: no CDN, no network.
        urls = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
        assert any("/bokehjs/bokeh.min.js" in u for u in urls)
        assert all(u.startswith(server) for u in urls), [u for u in urls if not u.startswith(server)]
        # The data table is hidden until toggled.
        table = browser.find_element("css selector", 'figure.chart[data-chart="study_dlp"] details.chart-table')
        assert table.get_attribute("open") is None
        table.find_element("tag name", "summary").click()
        assert table.get_attribute("open") is not None
        # Tap a bar: the list opens filtered to its category, keeping the list's filter.
        bar = browser.execute_script(BAR_POINT, "study_dlp")
        assert bar["url"]
        actions = ActionBuilder(browser)
        actions.pointer_action.move_to_location(int(bar["x"]), int(bar["y"])).click()
        actions.perform()
        ActionChains(browser).pause(0.1).perform()
        wait_for(browser, lambda d: "study_description=" in d.current_url, "the list opened by the bar")
        args = parse_qs(urlsplit(browser.current_url).query)
        # Exactly the bar's category ("=" + name: filters.text_match), so exactly its n studies.
        assert args["study_description"] == ["=" + bar["cat"]] and args["date_from"] == ["2010-01-01"]
        wait_for(browser, lambda d: len(row_ids(d)) >= bar["n"], "the bar's studies in the list")
        count = browser.find_element("id", "list-count").text
        assert int(count.split()[2]) == bar["n"] == len(row_ids(browser))
    set_options(_session_app, "viewer")


GRID = """
const grid = document.querySelector('.chart-grid');
if (!grid) return null;
const slots = [...grid.querySelectorAll('.chart-slot')];
return {columns: getComputedStyle(grid).gridTemplateColumns.split(' ').length,
        lefts: slots.map(s => Math.round(s.getBoundingClientRect().left)),
        width: grid.getBoundingClientRect().width,
        drawn: slots.map(s => !!s.querySelector('figure.chart [data-root-id]')),
        asked: performance.getEntriesByType('resource').map(e => e.name)
                 .filter(u => u.includes('/ct/charts/')).map(u => new URL(u).pathname.split('/').pop())};"""
# What is shown of one chart: each series renderer's visibility (figures.py names them series-<i>),
# or, for a pie, whether each slice is drawn (alpha > 0 in the "slices" renderer's source); and the
# page legend's pressed states.
SERIES_VISIBLE = """
const fig = document.querySelector(`figure.chart[data-chart="${arguments[0]}"]`);
const id = fig.querySelector('[data-root-id]').dataset.rootId;
const doc = Bokeh.documents.find(d => d.get_model_by_id(id));
const models = [...doc.all_models].filter(m => typeof m.name === 'string');
const slices = models.find(m => m.name === 'slices');
let shown = [];
if (slices) shown = [...slices.data_source.data.alpha].map(a => a > 0);
else for (const m of models.filter(m => /^series-\\d+$/.test(m.name))) {
  const i = Number(m.name.slice(7));  // a series may have several renderers (a line and its dots)
  shown[i] = (shown[i] || false) || m.visible;
}
const legend = [...fig.querySelectorAll('.legend-item')].map(b => b.getAttribute('aria-pressed') === 'true');
return {shown, legend};"""


def _open_ct_charts(browser, server, size):
    browser.set_window_size(*size)
    browser.get(server + "/ct/?date_from=1990-01-01")
    wait_for(browser, lambda d: len(row_ids(d)) > 0, "the CT list")
    wait_for(browser, lambda d: (d.execute_script(GRID) or {"drawn": []})["drawn"][:2] == [True, True],
             "the first two charts")


def test_chart_grid_lazy_loading_full_screen_and_hide_all(server, browser, tmp_path, _session_app):  # noqa: F811
    """Two columns on a 1920 px screen, one on 1366 px; the charts below the fold are asked for only
    when scrolled to; full screen fills the screen; hide all / show all act on every series."""
    from doseapp.charts import catalog

    keys = [c.key for c in catalog.CT]
    set_options(_session_app, "viewer", charts={"CT": keys})
    try:
        with screenshot_on_failure(browser, tmp_path, "ct-chart-grid"):
            login(browser, server, "viewer")
            _open_ct_charts(browser, server, (1920, 1080))
            grid = browser.execute_script(GRID)
            assert grid["columns"] == 2
            assert len(set(grid["lefts"])) == 2 and grid["lefts"][0] < grid["lefts"][1]
            # Only the first charts were asked for; the last, far below the fold, was not.
            assert keys[0] in grid["asked"] and keys[1] in grid["asked"]
            assert keys[-1] not in grid["asked"] and grid["drawn"][-1] is False
            browser.execute_script("document.getElementById('charts').scrollIntoView()")
            browser.save_screenshot(str(tmp_path / "ct-charts-1920.png"))
            last = browser.find_element("css selector", f'.chart-slot[data-chart="{keys[-1]}"]')
            browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", last)
            wait_for(browser, lambda d: d.execute_script(GRID)["drawn"][-1], "the last chart, once scrolled to")
            assert keys[-1] in browser.execute_script(GRID)["asked"]

            # Hide all / show all, and a legend entry, on a pie (slices) and a line chart (series).
            for key in ("study_frequency", "study_dlp_over_time"):
                fig = f'figure.chart[data-chart="{key}"]'
                slot = browser.find_element("css selector", f'.chart-slot[data-chart="{key}"]')
                browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", slot)
                wait_for(browser, lambda d: d.find_elements("css selector", fig + " [data-root-id]"), key)
                wait_for(browser, lambda d: d.execute_script(SERIES_VISIBLE, key)["shown"], f"{key}'s series")
                state = browser.execute_script(SERIES_VISIBLE, key)
                assert len(state["shown"]) > 1 and all(state["shown"]) and state["legend"] == state["shown"]
                browser.find_element("css selector", fig + " .chart-hide-all").click()
                state = browser.execute_script(SERIES_VISIBLE, key)
                assert not any(state["shown"]) and not any(state["legend"])
                browser.find_element("css selector", fig + " .chart-show-all").click()
                assert all(browser.execute_script(SERIES_VISIBLE, key)["shown"])
                browser.find_element("css selector", fig + ' .legend-item[data-series="1"]').click()
                state = browser.execute_script(SERIES_VISIBLE, key)
                assert state["shown"][1] is False and sum(state["shown"]) == len(state["shown"]) - 1
                assert state["legend"] == state["shown"]
                browser.find_element("css selector", fig + " .chart-show-all").click()

            # Full screen: the chart's figure fills the window, and its data table is hidden.
            browser.find_element("css selector", fig + " .chart-fullscreen").click()
            wait_for(browser, lambda d: d.execute_script(
                f"const f = document.querySelector('{fig}'); return document.fullscreenElement === f"
                " || f.classList.contains('chart-expanded')"), "the chart in full screen")
            box = browser.execute_script(
                f"const r = document.querySelector('{fig}').getBoundingClientRect();"
                "return {w: r.width, h: r.height, iw: innerWidth, ih: innerHeight}")
            assert box["w"] >= box["iw"] - 20 and box["h"] >= box["ih"] - 20
            assert not browser.find_element("css selector", fig + " details.chart-table").is_displayed()
            browser.find_element("css selector", fig + " .chart-fullscreen").click()
            wait_for(browser, lambda d: d.execute_script(
                f"const f = document.querySelector('{fig}'); return document.fullscreenElement !== f"
                " && !f.classList.contains('chart-expanded')"), "the chart back in the grid")

            # A hospital PC's 1366 px screen: one column, charts as wide as it.
            _open_ct_charts(browser, server, (1366, 768))
            grid = browser.execute_script(GRID)
            assert grid["columns"] == 1 and len(set(grid["lefts"])) == 1
            browser.execute_script("document.getElementById('charts').scrollIntoView()")
            browser.save_screenshot(str(tmp_path / "ct-charts-1366.png"))
            print(f"screenshots: {tmp_path}")
    finally:
        set_options(_session_app, "viewer")
