"""The chart web pages: the panel under each list (loaded after the list by HTMX), every chart of
every modality drawn by Bokeh with its data table, CSV downloads equal to the computed numbers,
drill-down links that open the list filtered to a bar's studies, and the chart options (a user's
own; an admin's for anyone)."""
from __future__ import annotations

import csv
import io
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from doseapp import filters
from doseapp.charts import catalog
from doseapp.charts.data import compute
from doseapp.charts.options import ChartOptions
from doseapp.models import UserPreferences, db
from tests.conftest import _empty_all_tables
from tests.web import studydata
from tests.web.studydata import client_for

SLUG = {"CT": "ct", "RF": "rf", "MG": "mg", "DX": "dx", "NM": "nm"}
# No testdata file carries a water-equivalent diameter, so no SSDE: tests/web/test_ct_estimates.py draws
# the SSDE charts from a copy of a real RDSR with one added.
NEEDS_WED = {"study_ssde", "acquisition_ssde", "ssde_wed"}
ALL = [pytest.param(m, c, id=f"{m}-{c.key}") for m, cs in catalog.CHARTS.items() for c in cs
       if c.key not in NEEDS_WED]


@pytest.fixture(scope="module")
def loaded(_session_app):
    studydata.load_testdata(_session_app, skin_maps=True)  # the peak skin dose charts need maps
    _session_app.config["WTF_CSRF_ENABLED"] = False
    yield _session_app
    _session_app.config["WTF_CSRF_ENABLED"] = True
    _empty_all_tables(_session_app)


def set_options(app, who: str, enabled=True, **opts) -> None:
    with app.app_context():
        uid = app.config["TEST_USER_IDS"][who]
        prefs = db.session.get(UserPreferences, uid) or UserPreferences(user_id=uid)
        db.session.add(prefs)
        o = ChartOptions(**opts)
        prefs.charts_enabled = enabled
        prefs.chart_options = {k: getattr(o, k) for k in ("average", "sort", "direction", "series_per_system",
                                                          "histograms", "bins", "case_insensitive", "period", "charts")}
        db.session.commit()


def test_list_loads_the_chart_panel_after_the_list(loaded):
    client = client_for(loaded, "viewer")
    set_options(loaded, "viewer")
    html = client.get("/ct/?display_name=ctawp").get_data(as_text=True)
    # The panel is asked for by HTMX once the list is in the page, with the list's filters.
    panel = re.search(r'id="chart-panel" hx-get="([^"]+)" hx-trigger="load"', html)
    assert panel and html.index('id="list-count"') < html.index('id="chart-panel"')
    assert panel.group(1) == "/ct/charts?display_name=ctawp"
    assert "/bokehjs/bokeh.min.js" in html and "cdn.bokeh.org" not in html
    panel_html = client.get(panel.group(1)).get_data(as_text=True)
    slots = re.findall(r'hx-get="(/ct/charts/[^"]+)"', panel_html)
    assert slots == [f"/ct/charts/{k}?display_name=ctawp" for k in ChartOptions().charts["CT"]]


def test_charts_off_means_no_panel_and_no_bokeh(loaded):
    client = client_for(loaded, "viewer")
    set_options(loaded, "viewer", enabled=False)
    try:
        html = client.get("/ct/").get_data(as_text=True)
        assert "chart-panel" not in html and "bokeh" not in html
    finally:
        set_options(loaded, "viewer")


@pytest.mark.parametrize("modality,chart", ALL)
def test_every_chart_draws_with_its_table_and_csv(loaded, modality, chart):
    client = client_for(loaded, "viewer")
    set_options(loaded, "viewer", histograms=True, average="both")
    resp = client.get(f"/{SLUG[modality]}/charts/{chart.key}")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    # Bokeh's embed: a root element and the script that renders the document into it.
    assert re.search(r'data-root-id="p\d+"', html) and "Bokeh.embed.embed_items" in html
    assert "Toggle data table" in html and f'/{SLUG[modality]}/charts/{chart.key}/csv' in html
    with loaded.app_context():
        data = compute(chart, filters.study_query(modality, {}).where,
                       ChartOptions(histograms=True, average="both"))
    assert f'data-total="{data.total}"' in html
    assert data.rows, "the test files give every chart some data"
    got = client.get(f"/{SLUG[modality]}/charts/{chart.key}/csv")
    assert got.headers["Content-Type"].startswith("text/csv")
    table = list(csv.reader(io.StringIO(got.get_data(as_text=True).lstrip("\ufeff"))))
    assert table[0] == [heading for _, heading in data.columns]
    assert len(table) - 1 == len(data.rows)
    for line, row in zip(table[1:], data.rows):
        for cell, (key, _) in zip(line, data.columns):
            want = row.get(key)
            if isinstance(want, float):  # printed to 12 significant digits (charts.chart_csv_cell)
                assert float(cell) == pytest.approx(want, rel=1e-11)
            else:
                assert cell == ("" if want is None else str(want))


def test_csv_follows_the_filters(loaded):
    client = client_for(loaded, "viewer")
    set_options(loaded, "viewer")
    text = client.get("/ct/charts/study_dlp/csv?display_name=ctawp").get_data(as_text=True).lstrip("\ufeff")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert sum(int(r["n"]) for r in rows) == 3


def test_bar_drill_down_opens_the_list_of_its_studies(loaded):
    """Each bar's link (the data table's, the same URL the bar's tap opens) lists the studies of
    that category among the filtered ones."""
    client = client_for(loaded, "viewer")
    set_options(loaded, "viewer", charts={"CT": ["study_dlp"]})
    html = client.get("/ct/charts/study_dlp?date_from=2010-01-01").get_data(as_text=True)
    links = re.findall(r'<a class="drill" href="([^"]+)">([^<]+)</a>', html)
    assert links
    for href, category in links:
        href = href.replace("&amp;", "&")
        args = parse_qs(urlsplit(href).query)
        assert args["date_from"] == ["2010-01-01"]
        listed = client.get(href + "&per_page=200").get_data(as_text=True)
        ids = [int(i) for i in re.findall(r'data-study-id="(\d+)"', listed)]
        assert ids
        with loaded.app_context():
            from doseapp.models import Study

            descs = db.session.scalars(select(Study.study_description).where(Study.id.in_(ids))).all()
        assert all(category.replace("&amp;", "&").lower() in (d or "").lower() for d in descs)
        # the bar's own studies are all in the list it opens
        n = int(re.search(rf'<a class="drill" href="[^"]+">{re.escape(category)}</a></td><td class="num">(\d+)', html).group(1))
        assert len(ids) >= n


def test_user_sets_own_options_and_admin_sets_anyones(loaded):
    viewer = client_for(loaded, "viewer")
    form = {"enabled": "on", "average": "median", "sort": "name", "direction": "asc", "bins": "12",
            "period": "week", "CT-workload": "on", "CT-study_events": "on", "next": "/ct/"}
    resp = viewer.post("/charts/options", data=form)
    assert resp.status_code == 302 and resp.location == "/ct/"
    with loaded.app_context():
        prefs = db.session.get(UserPreferences, loaded.config["TEST_USER_IDS"]["viewer"])
        assert prefs.chart_options["charts"]["CT"] == ["study_events", "workload"]
        assert (prefs.chart_options["average"], prefs.chart_options["bins"]) == ("median", 12)
        assert prefs.chart_options["charts"]["DX"] == []
    panel = viewer.get("/ct/charts").get_data(as_text=True)
    assert re.findall(r'hx-get="/ct/charts/(\w+)', panel) == ["study_events", "workload"]
    # Bins outside 2-40 and unknown choices are refused with a reason, and nothing is saved (they
    # were once clamped to 40 and replaced by the default without a word).
    refused = viewer.post("/charts/options", data={**form, "bins": "400", "average": "bogus"})
    assert refused.status_code == 400
    page = refused.get_data(as_text=True)
    assert "Needs a whole number from 2 to 40; 400 is too many." in page and "Choose one of: Mean, Median" in page
    with loaded.app_context():
        prefs = db.session.get(UserPreferences, loaded.config["TEST_USER_IDS"]["viewer"])
        assert (prefs.chart_options["bins"], prefs.chart_options["average"]) == (12, "median")
    # An admin sets the viewer's options; a viewer cannot set anyone else's.
    admin = client_for(loaded, "admin")
    uid = loaded.config["TEST_USER_IDS"]["viewer"]
    assert admin.get(f"/charts/options/{uid}").status_code == 200
    admin.post(f"/charts/options/{uid}", data={"average": "boxplot", "CT-acquisition_dlp": "on"})
    with loaded.app_context():
        prefs = db.session.get(UserPreferences, uid)
        assert prefs.charts_enabled is False  # the box was not ticked
        assert prefs.chart_options["average"] == "boxplot" and prefs.chart_options["charts"]["CT"] == ["acquisition_dlp"]
    assert viewer.post(f"/charts/options/{loaded.config['TEST_USER_IDS']['admin']}", data=form).status_code == 403
    set_options(loaded, "viewer")
