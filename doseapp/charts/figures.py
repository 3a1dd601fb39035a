"""Bokeh figures from ChartData (doseapp/charts/data.py). Nothing here reads the database.

Every figure has Bokeh's hover, box zoom, reset and save-as-PNG tools; legends hide a series on
click. Tapping a bar, slice, point or histogram bin opens the study list filtered to it: each
source carries a `url` column (empty where no filter can select the item) that the tap follows.
"""
from __future__ import annotations

from math import pi

from bokeh.layouts import column
from bokeh.models import ColumnDataSource, CustomJS, HoverTool, Select, TapTool
from bokeh.palettes import Category10_10, Category20_20
from bokeh.plotting import figure
from bokeh.transform import dodge

from doseapp.charts.data import WEEKDAYS, ChartData, bin_args, drill_args

WIDTH, HEIGHT = 900, 420
TOOLS = "pan,xbox_zoom,box_zoom,wheel_zoom,reset,save"
# A Bokeh model belongs to one document, so each figure gets its own copy of the callback.
FOLLOW_JS = """
const s = cb_data.source, i = s.selected.indices[0];
if (i !== undefined && s.data.url && s.data.url[i]) { window.location.href = s.data.url[i]; }"""
STAT_LABEL = {"mean": "Mean", "median": "Median"}
PIE_MAX = 30


def palette(n: int) -> list[str]:
    colours = Category10_10 if n <= 10 else Category20_20
    return [colours[i % len(colours)] for i in range(max(n, 1))]


def _figure(title: str, height: int = HEIGHT, sizing_mode: str = "stretch_width", **kw):
    p = figure(title=title, width=WIDTH, height=height, tools=TOOLS, sizing_mode=sizing_mode, name="chart", **kw)
    p.toolbar.logo = None
    p.add_tools(TapTool(callback=CustomJS(code=FOLLOW_JS)))
    return p


def _legend(p) -> None:
    """Legends beside the plot; a click on an entry hides its series."""
    if p.legend:
        p.legend.click_policy = "hide"
        p.legend.location = "top_right"
        p.add_layout(p.legend[0], "right")


def build(data: ChartData, link):
    """The chart as a Bokeh layout. `link(args)` turns drill-down filter args into a list URL."""
    return {"bar": _bar, "pie": _pie, "line": _line, "workload": _workload, "scatter": _scatter}[data.chart.kind](
        data, link)


def _url(link, args) -> str:
    return link(args) if args is not None else ""


def _bar(data: ChartData, link):
    chart, opts = data.chart, data.options
    cats = list(dict.fromkeys(r["cat"] for r in data.rows))
    systems = data.series or [None]
    stats = ["box"] if opts.average == "boxplot" else [s for s in ("mean", "median")
                                                        if (s == "mean" and opts.wants_mean) or (s == "median" and opts.wants_median)]
    series = [(s, st) for s in systems for st in stats]
    unit = f" ({chart.unit})" if chart.unit else ""
    p = _figure(f"{chart.title} (n = {data.total})", x_range=cats or ["(no data)"],
                y_axis_label=f"{chart.value_label}{unit}")
    width = 0.8 / max(len(series), 1)
    colours = palette(len(series))
    for i, (system, stat) in enumerate(series):
        mine = [r for r in data.rows if r.get("sys") == system] if system else data.rows
        src = ColumnDataSource({
            "cat": [r["cat"] for r in mine], "sys": [r.get("sys") or "" for r in mine], "n": [r["n"] for r in mine],
            **{k: [r.get(k) for r in mine] for k in ("mean", "median", "min", "max", "q1", "q3")},
            "url": [_url(link, drill_args(chart, r)) for r in mine]})
        x = dodge("cat", -0.4 + width * (i + 0.5), range=p.x_range)
        label = " · ".join(t for t in (system, STAT_LABEL.get(stat, "")) if t) or STAT_LABEL.get(stat, chart.value_label)
        if stat == "box":
            p.segment(x0=x, y0="min", x1=x, y1="max", source=src, color="black", legend_label=label or "all")
            p.vbar(x=x, width=width * 0.9, top="q3", bottom="q1", source=src, fill_color=colours[i],
                   line_color="black", legend_label=label or "all")
            p.scatter(x=x, y="median", marker="dash", size=18, source=src, color="black", legend_label=label or "all")
        else:
            p.vbar(x=x, top=stat, width=width * 0.9, source=src, fill_color=colours[i], line_color=None,
                   legend_label=label, hatch_pattern="/" if stat == "median" and len(stats) > 1 else None)
    tips = [("Category", "@cat"), ("n", "@n")] + ([("System", "@sys")] if data.series else [])
    tips += [(STAT_LABEL[s], f"@{s}{{0.00}}") for s in ("mean", "median") if s in stats]
    if "box" in stats:
        tips += [("Median", "@median{0.00}"), ("Quartiles", "@q1{0.00} – @q3{0.00}"), ("Range", "@min{0.00} – @max{0.00}")]
    p.add_tools(HoverTool(tooltips=tips))
    p.xaxis.major_label_orientation = pi / 3
    p.y_range.start = 0
    p.xgrid.grid_line_color = None
    _legend(p)
    if not (opts.histograms and data.histograms):
        return p
    return column(p, *_histogram(data, link), sizing_mode="stretch_width")


def _histogram(data: ChartData, link):
    """A histogram of one category (and system), chosen from a menu; its bins drill down too."""
    chart = data.chart
    choices, per_choice = [], {}
    for (cat, system), h in data.histograms.items():
        name = f"{cat} · {system}" if system else cat
        edges = h["edges"]
        choices.append(name)
        per_choice[name] = {
            "left": edges[:-1], "right": edges[1:], "top": h["counts"],
            "url": [_url(link, bin_args(chart, cat, system, edges[i], edges[i + 1])) for i in range(len(h["counts"]))]}
    order = {r["cat"] + (f" · {r['sys']}" if r.get("sys") else ""): i for i, r in enumerate(data.rows)}
    choices.sort(key=lambda c: order.get(c, len(order)))
    first = choices[0]
    src = ColumnDataSource(dict(per_choice[first]))
    unit = f" ({chart.unit})" if chart.unit else ""
    h = _figure(f"Histogram of {chart.value_label}", height=300, x_axis_label=f"{chart.value_label}{unit}",
                y_axis_label="Frequency")
    h.quad(left="left", right="right", top="top", bottom=0, source=src, fill_color="#4c78a8", line_color="white")
    h.add_tools(HoverTool(tooltips=[("Range", "@left{0.00} – @right{0.00}"), ("Frequency", "@top")]))
    h.y_range.start = 0
    pick = Select(title="Histogram of", value=first, options=choices, name="histogram-choice")
    pick.js_on_change("value", CustomJS(args=dict(src=src, all=per_choice, fig=h, what=chart.value_label),
                                        code="src.data = all[cb_obj.value]; fig.title.text = `Histogram of ${what}: ${cb_obj.value}`;"))
    h.title.text = f"Histogram of {chart.value_label}: {first}"
    return [pick, h]


def _pie(data: ChartData, link):
    chart = data.chart
    rows = data.rows
    if len(rows) > PIE_MAX:  # the smallest slices as one, or the legend would fill the chart
        rest = rows[PIE_MAX - 1:]
        rows = rows[:PIE_MAX - 1] + [{"cat": f"Other ({len(rest)} categories)", "n": sum(r["n"] for r in rest),
                                      "percent": sum(r["percent"] for r in rest), "other": True}]
    total = sum(r["n"] for r in rows) or 1
    start, starts, ends = 0.0, [], []
    for r in rows:
        starts.append(start)
        start += 2 * pi * r["n"] / total
        ends.append(start)
    src = ColumnDataSource({"cat": [r["cat"] for r in rows], "n": [r["n"] for r in rows],
                            "percent": [r["percent"] for r in rows], "start": starts, "end": ends,
                            "colour": palette(len(rows))[:len(rows)],
                            "url": ["" if r.get("other") else _url(link, drill_args(chart, r)) for r in rows]})
    p = _figure(f"{chart.title} (n = {data.total})", match_aspect=True)
    p.wedge(x=0, y=0, radius=1, start_angle="start", end_angle="end", fill_color="colour", line_color="white",
            legend_field="cat", source=src)
    p.add_tools(HoverTool(tooltips=[("Category", "@cat"), ("n", "@n"), ("%", "@percent{0.0}")]))
    p.axis.visible = False
    p.grid.grid_line_color = None
    _legend(p)
    return p


def _line(data: ChartData, link):
    import datetime as dt

    chart = data.chart
    stat = "mean" if data.options.average == "mean" else "median"
    cats = list(dict.fromkeys(r["cat"] for r in data.rows))
    unit = f" ({chart.unit})" if chart.unit else ""
    p = _figure(f"{chart.title} (n = {data.total})", x_axis_type="datetime",
                y_axis_label=f"{STAT_LABEL[stat]} {chart.value_label}{unit}")
    for cat, colour in zip(cats, palette(len(cats))):
        mine = [r for r in data.rows if r["cat"] == cat]
        src = ColumnDataSource({"when": [dt.datetime.fromisoformat(r["period"]) for r in mine],
                                "period": [r["period"] for r in mine], "cat": [cat] * len(mine),
                                "n": [r["n"] for r in mine], "value": [r[stat] for r in mine],
                                "url": [_url(link, drill_args(chart, r)) for r in mine]})
        p.line(x="when", y="value", source=src, color=colour, legend_label=cat)
        p.scatter(x="when", y="value", source=src, color=colour, size=6, legend_label=cat)
    p.add_tools(HoverTool(tooltips=[("Category", "@cat"), ("Period", "@period"), ("n", "@n"),
                                    (STAT_LABEL[stat], "@value{0.00}")]))
    _legend(p)
    return p


def _workload(data: ChartData, link):
    """Studies per weekday (a pie), and per hour of the weekday chosen from the menu."""
    per_day = {d: 0 for d in range(7)}
    hours = {d: [0] * 24 for d in range(7)}
    for r in data.rows:
        per_day[r["dow"]] += r["n"]
        hours[r["dow"]][r["hour"]] = r["n"]
    days = [d for d in (1, 2, 3, 4, 5, 6, 0)]
    total = sum(per_day.values()) or 1
    start, starts, ends = 0.0, [], []
    for d in days:
        starts.append(start)
        start += 2 * pi * per_day[d] / total
        ends.append(start)
    src = ColumnDataSource({"day": [WEEKDAYS[d] for d in days], "n": [per_day[d] for d in days], "start": starts,
                            "end": ends, "colour": palette(7)})
    p = _figure(f"Studies per weekday (n = {data.total})", match_aspect=True)
    p.wedge(x=0, y=0, radius=1, start_angle="start", end_angle="end", fill_color="colour", line_color="white",
            legend_field="day", source=src)
    p.add_tools(HoverTool(tooltips=[("Day", "@day"), ("Studies", "@n")]))
    p.axis.visible = False
    p.grid.grid_line_color = None
    _legend(p)
    by_name = {WEEKDAYS[d]: {"hour": list(range(24)), "n": hours[d]} for d in range(7)}
    busiest = WEEKDAYS[max(days, key=lambda d: per_day[d])]
    hsrc = ColumnDataSource(dict(by_name[busiest]))
    h = _figure(f"Studies per hour: {busiest}", height=300, x_axis_label="Hour", y_axis_label="Studies")
    h.vbar(x="hour", top="n", width=0.8, source=hsrc, fill_color="#4c78a8", line_color=None)
    h.add_tools(HoverTool(tooltips=[("Hour", "@hour"), ("Studies", "@n")]))
    h.y_range.start = 0
    pick = Select(title="Studies per hour of", value=busiest, options=[WEEKDAYS[d] for d in days], name="weekday-choice")
    pick.js_on_change("value", CustomJS(args=dict(src=hsrc, all=by_name, fig=h),
                                        code="src.data = all[cb_obj.value]; fig.title.text = `Studies per hour: ${cb_obj.value}`;"))
    # Tapping a weekday's slice shows its hours, as OpenREM's workload pie does.
    src.selected.js_on_change("indices", CustomJS(args=dict(src=src, pick=pick), code="""
const i = src.selected.indices[0]; if (i !== undefined) { pick.value = src.data.day[i]; }"""))
    return column(p, pick, h, sizing_mode="stretch_width")


def _scatter(data: ChartData, link):
    chart = data.chart
    systems = data.series or [None]
    unit = f" ({chart.unit})" if chart.unit else ""
    note = ", points binned" if data.gridded else ""
    p = _figure(f"{chart.title} (n = {data.total}{note})", x_axis_label=chart.x_label,
                y_axis_label=f"{chart.value_label}{unit}")
    for system, colour in zip(systems, palette(len(systems))):
        mine = [r for r in data.rows if r.get("sys") == system] if system else data.rows
        src = ColumnDataSource({"x": [r["x"] for r in mine], "y": [r["val"] for r in mine], "n": [r["n"] for r in mine],
                                "sys": [r.get("sys") or "" for r in mine]})
        kw = {"legend_label": system} if system else {}
        p.scatter(x="x", y="y", source=src, color=colour, alpha=0.5, size=5, **kw)
    tips = [(chart.x_label, "@x{0.0}"), (f"{chart.value_label}{unit}", "@y{0.00}"), ("Events", "@n")]
    p.add_tools(HoverTool(tooltips=tips + ([("System", "@sys")] if data.series else [])))
    _legend(p)
    return p
