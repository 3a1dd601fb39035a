"""Issue 15's chart work, without a browser: colours that never repeat within a chart, whole-number
ticks on axes that count, log-scale value axes (zero values and all), a legend of our own past
LEGEND_MAX series, exact-match drill-down (the "AP" bar opens exactly its studies, not "THORAX AP"'s
too) and the chart options form refusing values out of range instead of clamping them."""
from __future__ import annotations

import colorsys
import itertools
import math
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from bokeh.embed import components
from bokeh.models import BasicTicker, LogScale, NumeralTickFormatter
from sqlalchemy import func, select

from doseapp import filters
from doseapp.charts import catalog, figures
from doseapp.charts.data import ChartData, compute, drill_args
from doseapp.charts.options import ChartOptions
from doseapp.charts.palette import palette
from doseapp.models import Study, UserPreferences, db
from doseapp.models.projection import XrayEvent
from tests.charts.test_chart_pages import loaded, set_options  # noqa: F401
from tests.web.studydata import client_for


# --- palette -------------------------------------------------------------------------------------

def _lab(colour: str) -> tuple[float, float, float]:
    """CIELAB (D65) of #rrggbb: distances in it are close to how different two colours look."""
    r, g, b = (int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5))
    lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in (r, g, b)]
    x = (0.4124 * lin[0] + 0.3576 * lin[1] + 0.1805 * lin[2]) / 0.95047
    y = 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]
    z = (0.0193 * lin[0] + 0.1192 * lin[1] + 0.9505 * lin[2]) / 1.08883
    f = [t ** (1 / 3) if t > 0.008856 else 7.787 * t + 16 / 116 for t in (x, y, z)]
    return 116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])


@pytest.mark.parametrize("n", list(range(1, 61)))
def test_palette_has_n_distinct_colours(n):
    colours = palette(n)
    assert len(colours) == n
    assert all(re.fullmatch(r"#[0-9a-f]{6}", c) for c in colours)
    assert len(set(colours)) == n
    if n > 1:
        # Not just different strings: every two colours differ visibly (CIELAB distance; 2.3 is
        # the smallest difference people notice, ~6 is plain side by side).
        lab = [_lab(c) for c in colours]
        closest = min(math.dist(a, b) for a, b in itertools.combinations(lab, 2))
        assert closest >= 5.5, (n, closest)


def test_palette_past_twenty_is_spread_over_the_hues():
    hues = sorted(colorsys.rgb_to_hls(*(int(c[i:i + 2], 16) / 255 for i in (1, 3, 5)))[0] for c in palette(30))
    gaps = [b - a for a, b in zip(hues, hues[1:])] + [1 + hues[0] - hues[-1]]
    assert max(gaps) < 0.1  # no stretch of the colour wheel longer than 36° left unused


# --- figures built from chart data ---------------------------------------------------------------

def _data(key: str, rows: list[dict], modality="CT", **opts) -> ChartData:
    return ChartData(catalog.chart(modality, key), ChartOptions(**opts), [], rows)


def _no_link(args):
    return "/list"


def _named(layout) -> dict[str, list]:
    out = {}
    for m in layout.references():
        if isinstance(getattr(m, "name", None), str) and m.name.startswith("series-"):
            out.setdefault(m.name, []).append(m)
    return out


def test_pie_with_many_categories_has_a_scrolling_legend_of_distinct_colours():
    rows = [{"cat": f"Protocol {i}", "n": 100 - i, "percent": 1.0} for i in range(25)]
    drawn = figures.build(_data("acquisition_frequency", rows), _no_link)
    assert drawn.series == 25 and len(drawn.legend) == 25
    assert [label for label, _ in drawn.legend] == [r["cat"] for r in rows]
    assert len({colour for _, colour in drawn.legend}) == 25
    # No Bokeh legend (it would be cut off at the plot's height); one renderer draws the slices, in
    # the legend's colours, each shown until its alpha is set to 0 (charts.js).
    assert not drawn.layout.legend
    (slices,) = [m for m in drawn.layout.references() if getattr(m, "name", None) == "slices"]
    assert slices.data_source.data["colour"] == [colour for _, colour in drawn.legend]
    assert slices.data_source.data["alpha"] == [1.0] * 25 and slices.glyph.fill_alpha == "alpha"


def test_few_series_keep_bokehs_legend_that_hides_on_click():
    rows = [{"cat": "Head", "sys": s, "n": 2, "mean": 10.0 + i} for i, s in enumerate(("CT A", "CT B", "CT C"))]
    data = ChartData(catalog.chart("CT", "study_dlp"), ChartOptions(series_per_system=True), [], rows,
                     series=["CT A", "CT B", "CT C"])
    drawn = figures.build(data, _no_link)
    assert drawn.series == 3 and drawn.legend == []
    legend = drawn.layout.legend[0]
    assert legend.click_policy == "hide" and [i.label.value for i in legend.items] == [
        "CT A · Mean", "CT B · Mean", "CT C · Mean"]
    assert sorted(_named(drawn.layout)) == ["series-0", "series-1", "series-2"]


def test_long_names_get_the_page_legend_too():
    rows = [{"cat": "Thorax^Thorax_NON_CON (Adult)", "n": 3, "percent": 60.0},
            {"cat": "CT Chest", "n": 2, "percent": 40.0}]
    drawn = figures.build(_data("study_frequency", rows), _no_link)
    assert [label for label, _ in drawn.legend] == [r["cat"] for r in rows] and not drawn.layout.legend


def test_count_axes_have_whole_number_ticks(loaded):  # noqa: F811
    with loaded.app_context():
        q = filters.study_query("CT", {})
        data = compute(catalog.chart("CT", "acquisition_dlp"), q.where, ChartOptions(histograms=True, bins=5))
        events = compute(catalog.chart("CT", "study_events"), q.where, ChartOptions(histograms=True, bins=20))
        work = compute(catalog.chart("CT", "workload"), q.where, ChartOptions())
    histogram = figures.build(data, _no_link).layout.children[-1]
    assert histogram.yaxis[0].axis_label == "Frequency"
    events_histogram = figures.build(events, _no_link).layout.children[-1]
    assert events_histogram.xaxis[0].axis_label == "Number of events"
    hours = figures.build(work, _no_link).layout.children[-1]
    for axis in (histogram.yaxis[0], events_histogram.xaxis[0], events_histogram.yaxis[0], hours.yaxis[0],
                 hours.xaxis[0]):
        assert isinstance(axis.ticker, BasicTicker) and axis.ticker.min_interval == 1
        assert isinstance(axis.formatter, NumeralTickFormatter) and "." not in axis.formatter.format
    # A dose is not a count: its histogram's value axis keeps Bokeh's own ticks.
    assert not isinstance(histogram.xaxis[0].formatter, NumeralTickFormatter)


def test_log_scale_bars_start_below_the_smallest_value_and_skip_zero():
    rows = [{"cat": "Big", "n": 3, "mean": 25000.0}, {"cat": "Small", "n": 2, "mean": 3.2},
            {"cat": "Zero", "n": 1, "mean": 0.0}]
    drawn = figures.build(_data("study_dlp", rows), _no_link, log=True)
    p = drawn.layout
    assert drawn.log and isinstance(p.y_scale, LogScale)
    (bars,) = _named(p)["series-0"]
    assert bars.glyph.bottom == 1.0 and p.y_range.start == 1.0  # 10 ** floor(log10(3.2))
    values = bars.data_source.data["mean"]
    assert values[:2] == [25000.0, 3.2] and math.isnan(values[2])
    script, div = components(p)  # NaN and the log axis serialise
    assert "LogScale" in script and "LogAxis" in script
    linear = figures.build(_data("study_dlp", rows), _no_link)
    assert not linear.log and linear.layout.y_range.start == 0
    assert _named(linear.layout)["series-0"][0].data_source.data["mean"][2] == 0.0


def test_log_scale_of_all_zero_or_missing_values_still_draws():
    rows = [{"cat": "A", "n": 1, "mean": None}, {"cat": "B", "n": 1, "mean": 0.0}]
    drawn = figures.build(_data("study_dlp", rows), _no_link, log=True)
    assert drawn.layout.y_range.start == 1.0
    components(drawn.layout)


def test_chart_page_log_toggle(loaded):  # noqa: F811
    client = client_for(loaded, "viewer")
    set_options(loaded, "viewer")
    linear = client.get("/ct/charts/study_dlp?display_name=ctawp").get_data(as_text=True)
    toggle = re.search(r'class="chart-scale" hx-get="([^"]+)"', linear)
    assert toggle and "Log scale" in linear and "LogScale" not in linear
    href = toggle.group(1).replace("&amp;", "&")
    assert parse_qs(urlsplit(href).query) == {"display_name": ["ctawp"], "scale": ["log"]}
    log = client.get(href).get_data(as_text=True)
    assert 'class="chart log-scale"' in log and "LogScale" in log and "Linear scale" in log
    back = re.search(r'class="chart-scale" hx-get="([^"]+)"', log).group(1).replace("&amp;", "&")
    assert parse_qs(urlsplit(back).query) == {"display_name": ["ctawp"]}
    # The same numbers either way (the CSV and the table do not change with the axis).
    assert re.findall(r'<td class="num">([^<]+)</td>', log) == re.findall(r'<td class="num">([^<]+)</td>', linear)
    # Pies have no value axis: no toggle, and scale=log changes nothing.
    pie = client.get("/ct/charts/study_frequency?scale=log").get_data(as_text=True)
    assert "chart-scale" not in pie and "log-scale" not in pie


def test_panel_loads_the_first_charts_at_once_and_the_rest_when_seen(loaded):  # noqa: F811
    client = client_for(loaded, "viewer")
    keys = [c.key for c in catalog.CT]
    set_options(loaded, "viewer", charts={"CT": keys})
    try:
        panel = client.get("/ct/charts").get_data(as_text=True)
    finally:
        set_options(loaded, "viewer")
    triggers = re.findall(r'hx-get="/ct/charts/(\w+)"\s+hx-trigger="([^"]+)"', panel)
    assert [k for k, _ in triggers] == keys
    assert [t for _, t in triggers] == ["load"] * 2 + ["intersect once"] * (len(keys) - 2)
    assert 'class="chart-grid"' in panel and "/static/css/charts.css" in panel


# --- exact drill-down ----------------------------------------------------------------------------

def _bar_link(client, url: str, category: str) -> tuple[str, int]:
    """The drill-down link of one category in a chart's data table, and the n beside it."""
    html = client.get(url).get_data(as_text=True)
    m = re.search(rf'<a class="drill" href="([^"]+)">{re.escape(category)}</a></td><td class="num">(\d+)</td>', html)
    assert m, f"no drill-down link for {category!r}"
    return m.group(1).replace("&amp;", "&"), int(m.group(2))


def _listed(client, href: str) -> tuple[int, list[int]]:
    page = client.get(href + "&per_page=200").get_data(as_text=True)
    count = int(re.search(r'id="list-count">[^<]*<strong>([\d,]+)</strong>', page).group(1).replace(",", ""))
    return count, [int(i) for i in re.findall(r'data-study-id="(\d+)"', page)]


@pytest.mark.parametrize("modality,chart,category,longer", [
    ("dx", "acquisition_dap", "AP", "THORAX AP 90kv-0,9mAs"),  # the "AP" bar (events)
    ("rf", "study_dap", "Cardiac", "Cardiac pacemaker temporary"),  # studies
])
def test_drill_down_opens_exactly_the_bars_studies(loaded, modality, chart, category, longer):  # noqa: F811
    """A category whose name is part of another's: its bar's link lists exactly its studies,
    as many as the bar's n (each of these test-file categories has one event in one study), where
    the old contains-link also listed the other category's."""
    client = client_for(loaded, "viewer")
    set_options(loaded, "viewer")
    href, n = _bar_link(client, f"/{modality}/charts/{chart}?date_from=1990-01-01", category)
    args = parse_qs(urlsplit(href).query)
    assert args["date_from"] == ["1990-01-01"]
    count, ids = _listed(client, href)
    assert count == n == len(ids) == 1
    spec = catalog.chart(modality.upper(), chart)
    with loaded.app_context():
        if spec.table == "study":
            names = db.session.scalars(select(Study.study_description).where(Study.id.in_(ids))).all()
        else:
            table = figures_table(spec)
            names = db.session.scalars(select(table.acquisition_protocol).where(table.study_id.in_(ids))).all()
    assert category in names and longer not in names
    # The contains-search of the same word finds both: the test tells the two apart.
    contains = {k: v[0] for k, v in args.items()}
    contains[spec.drill_filter] = category
    wide, _ = _listed(client, "/" + modality + "/?" + "&".join(f"{k}={v}" for k, v in contains.items()))
    assert wide == 2


def figures_table(spec):
    from doseapp.charts.aggregate import TABLES

    return TABLES[spec.table]


def test_exact_filter_forms(loaded):  # noqa: F811
    """`=AP` is the whole value in its case, `"ap"` the whole value in any case, `AP` contains; the
    list, the API and exports all read filters through study_query, so they all agree."""
    def count(args):
        with loaded.app_context():
            return db.session.scalar(filters.study_query("DX", args).count())

    with loaded.app_context():
        exact = db.session.scalar(select(func.count(XrayEvent.study_id.distinct()))
                                  .where(XrayEvent.acquisition_protocol == "AP"))
    assert exact == 1
    assert count({"acquisition_protocol": "=AP"}) == exact
    assert count({"acquisition_protocol": '"ap"'}) == exact
    assert count({"acquisition_protocol": "=ap"}) == 0
    assert count({"acquisition_protocol": "AP"}) == 2
    assert filters.text_match("=") == (filters.CONTAINS, "=")
    assert filters.text_match('""') == (filters.CONTAINS, '""')
    # Equipment names too: a series per system drills down to exactly that system.
    assert drill_args(catalog.chart("CT", "study_dlp"), {"cat": "Head", "sys": "CT A"}) == {
        "study_description": "=Head", "display_name": "=CT A"}
    assert drill_args(catalog.chart("CT", "study_dlp"), {"cat": "head"}, any_case=True) == {
        "study_description": '"head"'}


# --- chart options -------------------------------------------------------------------------------

def _stored(app) -> dict:
    with app.app_context():
        return dict(db.session.get(UserPreferences, app.config["TEST_USER_IDS"]["viewer"]).chart_options)


@pytest.mark.parametrize("bins,why", [
    ("5000", "Needs a whole number from 2 to 40; 5000 is too many."),
    ("-3", "Needs a whole number from 2 to 40; -3 is too few."),
    ("1", "Needs a whole number from 2 to 40; 1 is too few."),
    ("lots", "Needs a whole number from 2 to 40; “lots” is not one."),
    ("7.5", "Needs a whole number from 2 to 40; “7.5” is not one."),
    ("", "Needs a whole number from 2 to 40."),
])
def test_options_refuse_bins_out_of_range_and_save_nothing(loaded, bins, why):  # noqa: F811
    client = client_for(loaded, "viewer")
    set_options(loaded, "viewer", bins=9, average="median")
    before = _stored(loaded)
    resp = client.post("/charts/options", data={"enabled": "on", "average": "mean", "bins": bins, "CT-workload": "on"})
    assert resp.status_code == 400
    page = resp.get_data(as_text=True)
    # The reason is next to the field it is about, and the typed value is kept in the field.
    field = re.search(r'<input type="number" id="opt-bins" name="bins"[^>]*>(.*?)</div>', page, re.S)
    assert field and f'<p class="field-error" id="bins-error">{why}</p>' in field.group(1)
    assert f'value="{bins}"' in field.group(0) and 'aria-invalid="true"' in field.group(0)
    assert "Not saved" in page
    assert _stored(loaded) == before  # nothing saved: not the bins, not the other fields either
    set_options(loaded, "viewer")


def test_options_save_a_valid_value(loaded):  # noqa: F811
    client = client_for(loaded, "viewer")
    set_options(loaded, "viewer", bins=9)
    resp = client.post("/charts/options", data={"enabled": "on", "average": "both", "bins": "40", "CT-workload": "on"})
    assert resp.status_code == 302
    stored = _stored(loaded)
    assert (stored["bins"], stored["average"], stored["charts"]["CT"]) == (40, "both", ["workload"])
    set_options(loaded, "viewer")


def test_options_form_has_one_labelled_option_per_row(loaded):  # noqa: F811
    client = client_for(loaded, "viewer")
    page = client.get("/charts/options").get_data(as_text=True)
    assert "/static/css/charts.css" in page
    rows = re.findall(r'<div class="option-row[^"]*">(.*?)</div>\s*(?=<div class="option-row|</fieldset>)', page, re.S)
    assert len(rows) >= 9
    for name in ("average", "sort", "direction", "bins", "period", "enabled", "histograms"):
        assert re.search(rf'<label for="opt-{name}">', page) and f'id="opt-{name}"' in page, name
