"""Charts in a real browser: headless Chromium opens the CT list with charts on, BokehJS (served by
doseapp, never a CDN) draws them after the list, and tapping a bar opens the list filtered to that
bar's studies. Uses the web server and driver of tests/browser/test_ui.py."""
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
        assert args["study_description"] == [bar["cat"]] and args["date_from"] == ["2010-01-01"]
        wait_for(browser, lambda d: len(row_ids(d)) >= bar["n"], "the bar's studies in the list")
        count = browser.find_element("id", "list-count").text
        assert int(count.split()[2]) >= bar["n"]
    set_options(_session_app, "viewer")
