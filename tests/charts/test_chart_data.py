"""Every chart's numbers (counts, means, medians, quartiles, histogram bins, frequencies, workload,
averages over time, scatter points) from the SQL in doseapp/charts, against the same numbers worked
out by hand in Python (tests/charts/expected.py) from the OpenREM test files as imported."""
from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import func, select

from doseapp import filters
from doseapp.charts import catalog
from doseapp.charts.data import compute
from doseapp.charts.options import ChartOptions
from tests.charts import expected
from tests.conftest import _empty_all_tables
from tests.web import studydata

# No testdata file carries a water-equivalent diameter, so no SSDE: tests/web/test_ct_estimates.py
# checks the SSDE charts' numbers on a copy of a real RDSR with one added.
NEEDS_WED = {"study_ssde", "acquisition_ssde", "ssde_wed"}
BARS = [pytest.param(m, c, id=f"{m}-{c.key}") for m, cs in catalog.CHARTS.items() for c in cs
        if c.kind == "bar" and c.key not in NEEDS_WED]
PIES = [pytest.param(m, c, id=f"{m}-{c.key}") for m, cs in catalog.CHARTS.items() for c in cs if c.kind == "pie"]
LINES = [pytest.param(m, c, id=f"{m}-{c.key}") for m, cs in catalog.CHARTS.items() for c in cs if c.kind == "line"]
SCATTERS = [pytest.param(c, id=c.key) for c in catalog.MG if c.kind == "scatter"]


@pytest.fixture(scope="module")
def loaded(_session_app):
    studydata.load_testdata(_session_app, skin_maps=True)  # the peak skin dose charts need maps
    expected.add_standard_names(_session_app)  # the charts per standard name
    yield _session_app
    _empty_all_tables(_session_app)


def chart_data(app, modality, chart, args=None, **opts):
    with app.app_context():
        q = filters.study_query(modality, args or {})
        return compute(chart, q.where, replace(ChartOptions(), **opts))


def approx(x):
    return pytest.approx(x, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("modality,chart", BARS)
@pytest.mark.parametrize("average", ["mean", "median", "both", "boxplot"])
def test_bar_chart_averages(loaded, modality, chart, average):
    data = chart_data(loaded, modality, chart, average=average, histograms=False)
    want = expected.values(chart, expected.studies(loaded, modality))
    assert want, "the test files give this chart data"
    got = {(r["cat"],): r for r in data.rows}
    assert set(got) == set(want)
    for key, vals in want.items():
        r = got[key]
        assert r["n"] == len(vals), key
        if average in ("mean", "both"):
            assert r["mean"] == approx(sum(vals) / len(vals) * chart.scale), key
        if average != "mean":
            assert r["median"] == approx(expected.percentile(vals, 0.5) * chart.scale), key
        if average == "boxplot":
            assert r["q1"] == approx(expected.percentile(vals, 0.25) * chart.scale), key
            assert r["q3"] == approx(expected.percentile(vals, 0.75) * chart.scale), key
            assert (r["min"], r["max"]) == (approx(min(vals) * chart.scale), approx(max(vals) * chart.scale))
    assert data.total == sum(len(v) for v in want.values())


@pytest.mark.parametrize("modality,chart", BARS)
def test_bar_chart_series_per_system_and_histograms(loaded, modality, chart):
    data = chart_data(loaded, modality, chart, average="median", series_per_system=True, histograms=True, bins=7)
    want = expected.values(chart, expected.studies(loaded, modality), system=True)
    got = {(r["cat"], r["sys"]): r for r in data.rows}
    assert set(got) == set(want)
    for key, vals in want.items():
        assert got[key]["n"] == len(vals)
        assert got[key]["median"] == approx(expected.percentile(vals, 0.5) * chart.scale)
        h = data.histograms[key]
        assert h["counts"] == expected.histogram(vals, 7), key
        assert h["edges"][0] == approx(min(vals) * chart.scale) and h["edges"][-1] == approx(max(vals) * chart.scale)
    assert data.series == sorted({k[1] for k in want})


def test_numbers_read_from_the_files_by_hand(loaded):
    """Values read off the test files themselves. CT topograms: 4.62 and 5.05 mGy·cm
    (CT-RDSR-GEPixelMed's study), 7.46 and 6.58 (two more studies): mean 5.9275, median
    (5.05 + 6.58) / 2; four bins of 0.71 from 4.62 hold 2, 0, 1, 1. Radiography "AEC" studies
    (the Carestream DR7500 files): 2.117e-4 and 1.1013e-4 Gy·m², so 211.7 and 110.13 cGy·cm²."""
    topo = next(r for r in chart_data(loaded, "CT", catalog.chart("CT", "acquisition_dlp"), average="both",
                                      histograms=False).rows if r["cat"] == "Topogram")
    assert (topo["n"], topo["mean"], topo["median"]) == (4, approx(5.9275), approx(5.815))
    data = chart_data(loaded, "CT", catalog.chart("CT", "acquisition_dlp"), histograms=True, bins=4)
    assert data.histograms[("Topogram", None)]["counts"] == [2, 0, 1, 1]
    assert data.histograms[("Topogram", None)]["edges"] == [approx(4.62 + 0.71 * i) for i in range(5)]
    aec = next(r for r in chart_data(loaded, "DX", catalog.chart("DX", "study_dap"), average="both",
                                     histograms=False).rows if r["cat"] == "AEC")
    assert (aec["n"], aec["mean"], aec["median"]) == (2, approx(160.915), approx(160.915))
    # The DX study without a description is "Blank"; the one without any DAP is left out.
    dap = {r["cat"]: r["n"] for r in chart_data(loaded, "DX", catalog.chart("DX", "study_dap")).rows}
    events = {r["cat"]: r["n"] for r in chart_data(loaded, "DX", catalog.chart("DX", "study_events")).rows}
    assert (dap["Blank"], events["Blank"]) == (1, 2)


@pytest.mark.parametrize("modality,chart", PIES)
def test_frequency_charts(loaded, modality, chart):
    data = chart_data(loaded, modality, chart, sort="frequency", direction="desc")
    want = {k[0]: len(v) for k, v in expected.values(chart, expected.studies(loaded, modality)).items()}
    assert {r["cat"]: r["n"] for r in data.rows} == want
    assert [r["n"] for r in data.rows] == sorted(want.values(), reverse=True)
    assert sum(r["percent"] for r in data.rows) == approx(100.0)


@pytest.mark.parametrize("modality", ["CT", "DX", "RF", "MG"])
def test_workload_counts_every_study(loaded, modality):
    data = chart_data(loaded, modality, catalog.chart(modality, "workload"))
    want = expected.weekday_hour(expected.studies(loaded, modality))
    assert {(r["dow"], r["hour"]): r["n"] for r in data.rows} == dict(want)
    # Workload counts studies whatever their dose: every study with a date.
    assert data.total == sum(1 for s in expected.studies(loaded, modality) if s.study_datetime is not None)


@pytest.mark.parametrize("modality,chart", LINES)
@pytest.mark.parametrize("period", ["day", "week", "month", "year"])
def test_averages_over_time(loaded, modality, chart, period):
    average = "median" if period in ("week", "year") else "mean"
    data = chart_data(loaded, modality, chart, period=period, average=average)
    want = expected.over_time(chart, expected.studies(loaded, modality), period)
    got = {(r["cat"], r["period"]): r for r in data.rows}
    assert set(got) == set(want)
    for key, vals in want.items():
        assert got[key]["n"] == len(vals)
        if average == "mean":
            assert got[key]["mean"] == approx(sum(vals) / len(vals) * chart.scale)
        else:
            assert got[key]["median"] == approx(expected.percentile(vals, 0.5) * chart.scale)


@pytest.mark.parametrize("chart", SCATTERS)
def test_scatter_points(loaded, chart):
    data = chart_data(loaded, "MG", chart)
    want = expected.scatter_points(chart, expected.studies(loaded, "MG"))
    assert want
    got = sorted((r["x"], r["val"] / chart.scale, r["n"]) for r in data.rows)
    assert len(got) == len(want)
    for (x, v, n), ((wx, wv), wn) in zip(got, sorted(want.items())):
        assert (x, v, n) == (wx, approx(wv), wn)
    assert not data.gridded


def test_case_insensitive_categories_merge(loaded):
    """One study's protocol written in capitals (as another scanner might send it) is its own
    category, and merges with the lower-case one when categories are case-insensitive."""
    from sqlalchemy import update

    from doseapp.models import CtEvent, db

    chart = catalog.chart("CT", "acquisition_dlp")
    with loaded.app_context():
        # A protocol used in two studies or more: one study's events get the shouted spelling.
        name = db.session.scalars(select(CtEvent.acquisition_protocol).where(CtEvent.dlp_mgycm > 0, CtEvent.acquisition_protocol.isnot(None))
                                  .group_by(CtEvent.acquisition_protocol)
                                  .having(func.count(CtEvent.study_id.distinct()) >= 2)
                                  .order_by(CtEvent.acquisition_protocol)).first()
        study_id = db.session.scalars(select(CtEvent.study_id).where(CtEvent.acquisition_protocol == name)
                                      .order_by(CtEvent.study_id)).first()
        shouted = "X" + name.upper()  # new in the data: its own category until case is ignored
        db.session.execute(update(CtEvent).where(CtEvent.study_id == study_id, CtEvent.acquisition_protocol == name)
                           .values(acquisition_protocol=shouted))
        db.session.execute(update(CtEvent).where(CtEvent.acquisition_protocol == name).values(acquisition_protocol="x" + name))
        db.session.commit()
    try:
        plain = chart_data(loaded, "CT", chart, histograms=False)
        merged = chart_data(loaded, "CT", chart, histograms=False, case_insensitive=True)
        studies = expected.studies(loaded, "CT")
        want_plain = expected.values(chart, studies)
        want = expected.values(chart, studies, case_insensitive=True)
        assert {r["cat"]: r["n"] for r in plain.rows} == {k[0]: len(v) for k, v in want_plain.items()}
        assert {r["cat"]: r["n"] for r in merged.rows} == {k[0]: len(v) for k, v in want.items()}
        assert shouted in {r["cat"] for r in plain.rows} and shouted not in {r["cat"] for r in merged.rows}
        assert ("x" + name).lower() in {r["cat"] for r in merged.rows}
        assert len(merged.rows) < len(plain.rows)
    finally:
        with loaded.app_context():
            db.session.execute(update(CtEvent).where(CtEvent.acquisition_protocol.in_((shouted, "x" + name)))
                               .values(acquisition_protocol=name))
            db.session.commit()


def test_charts_follow_the_list_filters(loaded):
    chart = catalog.chart("CT", "study_dlp")
    data = chart_data(loaded, "CT", chart, args={"display_name": "ctawp"})
    keep = [s for s in expected.studies(loaded, "CT") if "ctawp" in s.equipment.display_name.lower()]
    want = expected.values(chart, keep)
    assert data.total == sum(len(v) for v in want.values()) == 3
    assert {r["cat"]: r["mean"] for r in data.rows} == {k[0]: approx(sum(v) / len(v)) for k, v in want.items()}


def test_event_charts_follow_the_list_filters(loaded):
    """A chart over events (on SQLite read study by study from an id-ordered sub-query of the
    filtered studies) with a list filter, a series per system and medians."""
    chart = catalog.chart("CT", "acquisition_dlp")
    data = chart_data(loaded, "CT", chart, args={"display_name": "ctawp"}, series_per_system=True, average="median")
    keep = [s for s in expected.studies(loaded, "CT") if "ctawp" in s.equipment.display_name.lower()]
    want = expected.values(chart, keep, system=True)
    assert want and len(want) < len(expected.values(chart, expected.studies(loaded, "CT"), system=True))
    assert {(r["cat"], r["sys"]): (r["n"], r["median"]) for r in data.rows} == {
        k: (len(v), approx(expected.percentile(v, 0.5))) for k, v in want.items()}


@pytest.mark.parametrize("sort,direction", [("value", "asc"), ("value", "desc"), ("frequency", "asc"),
                                            ("name", "asc"), ("name", "desc")])
def test_sorting(loaded, sort, direction):
    chart = catalog.chart("CT", "acquisition_dlp")
    data = chart_data(loaded, "CT", chart, sort=sort, direction=direction, histograms=False)
    key = {"value": lambda r: r["mean"], "frequency": lambda r: r["n"], "name": lambda r: r["cat"].lower()}[sort]
    got = [key(r) for r in data.rows]
    assert got == sorted(got, reverse=direction == "desc")


def test_scatter_grid_per_system_is_coarser(loaded, monkeypatch):
    """With a series per system each system gets its own grid, SCATTER_GRID / sqrt(systems) cells
    a side, so the number of points does not grow with the number of systems; every event is still
    counted once, in its own system's series."""
    import math
    from collections import Counter

    from doseapp.charts import aggregate

    chart = catalog.chart("MG", "agd_thickness")
    study_list = expected.studies(loaded, "MG")
    per_system = Counter()
    for s, e in expected.items(chart, study_list):
        if getattr(e, chart.value) is not None and getattr(e, chart.value) > 0 and e.compression_thickness_mm is not None:
            per_system[s.equipment.display_name] += 1
    assert len(per_system) >= 2
    monkeypatch.setattr(aggregate, "SCATTER_MAX", 3)
    monkeypatch.setattr(aggregate, "SCATTER_GRID", 12)
    monkeypatch.setattr(aggregate, "SCATTER_GRID_MIN", 2)
    data = chart_data(loaded, "MG", chart, series_per_system=True)
    assert data.grid == round(12 / math.sqrt(len(per_system))) and data.gridded
    got = Counter()
    for r in data.rows:
        got[r["sys"]] += r["n"]
    assert got == per_system
    one = chart_data(loaded, "MG", chart)
    assert one.grid == 12


def test_scatter_with_many_points_is_drawn_from_a_grid(loaded, monkeypatch):
    """Past SCATTER_MAX events the points are counts on a grid: every event is in one cell, and
    each cell centre lies within half a cell of the events it counts."""
    from doseapp.charts import aggregate

    chart = catalog.chart("MG", "agd_thickness")
    want = expected.scatter_points(chart, expected.studies(loaded, "MG"))
    monkeypatch.setattr(aggregate, "SCATTER_MAX", 3)
    monkeypatch.setattr(aggregate, "SCATTER_GRID", 4)
    data = chart_data(loaded, "MG", chart)
    assert data.gridded
    assert data.total == sum(want.values())
    xs, ys = [x for x, _ in want], [v for _, v in want]
    step_x, step_y = (max(xs) - min(xs)) / 4, (max(ys) - min(ys)) / 4
    for r in data.rows:
        inside = sum(n for (x, v), n in want.items()
                     if abs(x - r["x"]) <= step_x / 2 + 1e-9 and abs(v - r["val"]) <= step_y / 2 + 1e-9)
        assert inside >= r["n"]
