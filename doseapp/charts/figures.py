"""Bokeh figures from ChartData (doseapp/charts/data.py). Nothing here reads the database.

Every figure has Bokeh's hover, box zoom, reset and save-as-PNG tools. Tapping a bar, slice, point
or histogram bin opens the study list filtered to it: each source carries a `url` column (empty
where no filter can select the item) that the tap follows.

Series: every renderer of series i is named `series-i`, so static/js/charts.js can hide or show
them all (the "Hide all" / "Show all" buttons, and our own legend); a pie's slices are one renderer
named `slices`, hidden one by one through their `alpha` column. Up to LEGEND_MAX series the
legend is Bokeh's, beside the plot (a click hides a series); past that it would be cut off at the
plot's height, so the page draws it as a scrolling list instead (`Drawn.legend`). Colours come from
charts/palette.py and never repeat within a chart. Axes that count things (histogram frequencies,
studies per hour) have whole-number ticks. Bar, line and scatter charts can be drawn with a
logarithmic value axis (`log=True`); values that are not positive are left out of such a plot
(log 0 has no place on the axis), bars start at the power of ten below the smallest value.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from math import pi

from bokeh.layouts import column
from bokeh.models import BasicTicker, ColumnDataSource, CustomJS, HoverTool, NumeralTickFormatter, Select, TapTool
from bokeh.plotting import figure
from bokeh.transform import dodge
from flask_babel import gettext as _

from doseapp.charts.data import ChartData, bin_args, drill_args
from doseapp.charts.palette import palette

WIDTH, HEIGHT = 900, 420
TOOLS = "pan,xbox_zoom,box_zoom,wheel_zoom,reset,save"
# A Bokeh model belongs to one document, so each figure gets its own copy of the callback.
FOLLOW_JS = """
const s = cb_data.source, i = s.selected.indices[0];
if (i !== undefined && s.data.alpha && s.data.alpha[i] === 0) { return; }  // a hidden pie slice
if (i !== undefined && s.data.url && s.data.url[i]) { window.location.href = s.data.url[i]; }"""
STAT_LABEL = {"mean": "Mean", "median": "Median"}
PIE_MAX = 30
# More series than this, or a longer name: the legend is a list on the page (beside the plot, or under
# it in a narrow grid cell, scrolling past its height), not Bokeh's, which would squeeze the plot.
LEGEND_MAX = 6
LEGEND_LABEL_MAX = 18
LOG_KINDS = ("bar", "line", "scatter")  # charts with a value axis that may be logarithmic
NAN = float("nan")


@dataclass
class Drawn:
    """A drawn chart: the Bokeh layout, how many series it has (the hide/show-all buttons act on
    them), and, when there are too many for Bokeh's legend, the legend entries (label, colour)
    for the page to list, in series order."""
    layout: object
    series: int = 0
    legend: list[tuple[str, str]] = field(default_factory=list)
    log: bool = False


def _figure(title: str, height: int = HEIGHT, sizing_mode: str = "stretch_width", name: str = "chart", **kw):
    """A figure with our tools. The chart's main plot is named "chart" (charts.js resizes it in full
    screen); the second plot of a histogram or workload chart is "chart-part"."""
    p = figure(title=title, width=WIDTH, height=height, tools=TOOLS, sizing_mode=sizing_mode, name=name, **kw)
    p.toolbar.logo = None
    p.add_tools(TapTool(callback=CustomJS(code=FOLLOW_JS)))
    return p


def _legend(p) -> None:
    """Bokeh's legend beside the plot; a click on an entry hides its series."""
    if p.legend:
        p.legend.click_policy = "hide"
        p.legend.location = "top_right"
        p.add_layout(p.legend[0], "right")


class _Series:
    """Names and legend entries of one chart's series: Bokeh's legend for a few, a list of
    (label, colour) for the page past LEGEND_MAX."""
    def __init__(self, labels: list[str], legend: bool = True):
        self.labels = labels
        self.colours = palette(len(labels))
        self.own_legend = len(labels) > 1 and (
            len(labels) > LEGEND_MAX or max(len(t) for t in labels) > LEGEND_LABEL_MAX)
        self.bokeh_legend = legend and not self.own_legend

    def kw(self, i: int) -> dict:
        """Renderer keywords for series i: its name, and its legend label when Bokeh draws the legend."""
        out = {"name": f"series-{i}"}
        if self.bokeh_legend:
            out["legend_label"] = self.labels[i]
        return out

    def drawn(self, layout, p, log: bool = False) -> Drawn:
        if self.bokeh_legend:
            _legend(p)
        return Drawn(layout, len(self.labels), list(zip(self.labels, self.colours)) if self.own_legend else [], log)


def _stat_word(stat: str) -> str:
    """STAT_LABEL[stat] in the page's language ("" for another statistic)."""
    return {"mean": _("Mean"), "median": _("Median")}.get(stat, "")


def _value_label(chart) -> str:
    """The chart's value_label in the page's language (abbreviations such as DLP stay as they are)."""
    name = chart.value_label
    return {"Number of events": _("Number of events"), "Peak skin dose": _("Peak skin dose"),
            "Administered activity": _("Administered activity")}.get(name, name)


def _x_label(chart) -> str:
    """The chart's x_label in the page's language."""
    name = chart.x_label
    return {"Compressed thickness (mm)": _("Compressed thickness (mm)"), "Patient weight (kg)": _("Patient weight (kg)"),
            "Water-equivalent diameter (mm)": _("Water-equivalent diameter (mm)")}.get(name, name)


def _stat_label(stat: str, chart) -> str:
    """"Mean DLP", "Median number of events": the statistic before the value's name."""
    name = _value_label(chart)
    # An English word, not an abbreviation such as DLP or kVp (a translation keeps its own case).
    if name == chart.value_label and name[:1].isupper() and name[1:2].islower():
        name = name[0].lower() + name[1:]
    return _("Mean %(value)s", value=name) if stat == "mean" else _("Median %(value)s", value=name)


def count_axis(axis) -> None:
    """Whole-number ticks for an axis that counts (no 2.5 studies), with thousands separators."""
    axis.ticker = BasicTicker(min_interval=1, desired_num_ticks=6)
    axis.formatter = NumeralTickFormatter(format="0,0")


def _positive(values: list, log: bool) -> list:
    """On a log axis, values that are not positive become NaN (a gap), not log(0)."""
    if not log:
        return values
    return [v if v is not None and v > 0 else NAN for v in values]


def _log_floor(values) -> float:
    """The power of ten at or below the smallest positive value: where log-axis bars start."""
    low = min((v for v in values if v is not None and v > 0), default=1.0)
    return 10.0 ** math.floor(math.log10(low))


def build(data: ChartData, link, log: bool = False) -> Drawn:
    """The chart, drawn. `link(args)` turns drill-down filter args into a list URL; `log` asks for a
    logarithmic value axis (bar, line and scatter charts; other kinds ignore it)."""
    kind = data.chart.kind
    if kind in LOG_KINDS:
        return {"bar": _bar, "line": _line, "scatter": _scatter}[kind](data, link, log)
    return {"pie": _pie, "workload": _workload}[kind](data, link)


def _url(link, args) -> str:
    return link(args) if args is not None else ""


def _bar(data: ChartData, link, log: bool = False):
    chart, opts = data.chart, data.options
    any_case = opts.case_insensitive
    cats = list(dict.fromkeys(r["cat"] for r in data.rows))
    systems = data.series or [None]
    stats = ["box"] if opts.average == "boxplot" else [s for s in ("mean", "median")
                                                        if (s == "mean" and opts.wants_mean) or (s == "median" and opts.wants_median)]
    series = [(s, st) for s in systems for st in stats]
    unit = f" ({chart.unit})" if chart.unit else ""
    labels = [" · ".join(t for t in (system, _stat_word(stat)) if t) or _stat_word(stat) or _value_label(chart)
              or "all" for system, stat in series]
    # One series: no legend (it would only say "Mean", taking a fifth of the width); the axis says it.
    one = len(series) == 1 and stats[0] in STAT_LABEL
    p = _figure(f"{chart.title} (n = {data.total})", x_range=cats or [_("(no data)")],
                y_axis_label=(_stat_label(stats[0], chart) if one else _value_label(chart)) + unit,
                y_axis_type="log" if log else "linear")
    width = 0.8 / max(len(series), 1)
    named = _Series(labels, legend=len(series) > 1)
    colours = named.colours
    stat_keys = ("mean", "median", "min", "max", "q1", "q3")
    bottom = _log_floor(r.get(k) for r in data.rows for k in stat_keys) if log else 0
    for i, (system, stat) in enumerate(series):
        mine = [r for r in data.rows if r.get("sys") == system] if system else data.rows
        src = ColumnDataSource({
            "cat": [r["cat"] for r in mine], "sys": [r.get("sys") or "" for r in mine], "n": [r["n"] for r in mine],
            **{k: _positive([r.get(k) for r in mine], log) for k in stat_keys},
            "url": [_url(link, drill_args(chart, r, any_case)) for r in mine]})
        x = dodge("cat", -0.4 + width * (i + 0.5), range=p.x_range)
        kw = named.kw(i)
        if stat == "box":
            p.segment(x0=x, y0="min", x1=x, y1="max", source=src, color="black", **kw)
            p.vbar(x=x, width=width * 0.9, top="q3", bottom="q1", source=src, fill_color=colours[i],
                   line_color="black", **kw)
            p.scatter(x=x, y="median", marker="dash", size=18, source=src, color="black", **kw)
        else:
            p.vbar(x=x, top=stat, bottom=bottom, width=width * 0.9, source=src, fill_color=colours[i], line_color=None,
                   hatch_pattern="/" if stat == "median" and len(stats) > 1 else None, **kw)
    tips = [(_("Category"), "@cat"), ("n", "@n")] + ([(_("System"), "@sys")] if data.series else [])
    tips += [(_stat_word(s), f"@{s}{{0.00}}") for s in ("mean", "median") if s in stats]
    if "box" in stats:
        tips += [(_("Median"), "@median{0.00}"), (_("Quartiles"), "@q1{0.00} – @q3{0.00}"),
                 (_("Range"), "@min{0.00} – @max{0.00}")]
    p.add_tools(HoverTool(tooltips=tips))
    p.xaxis.major_label_orientation = pi / 3
    p.y_range.start = bottom
    p.xgrid.grid_line_color = None
    if not (opts.histograms and data.histograms):
        return named.drawn(p, p, log)
    return named.drawn(column(p, *_histogram(data, link), sizing_mode="stretch_width"), p, log)


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
            "url": [_url(link, bin_args(chart, cat, system, edges[i], edges[i + 1], data.options.case_insensitive))
                    for i in range(len(h["counts"]))]}
    order = {r["cat"] + (f" · {r['sys']}" if r.get("sys") else ""): i for i, r in enumerate(data.rows)}
    choices.sort(key=lambda c: order.get(c, len(order)))
    first = choices[0]
    src = ColumnDataSource(dict(per_choice[first]))
    unit = f" ({chart.unit})" if chart.unit else ""
    label = _value_label(chart)
    h = _figure(_("Histogram of %(value)s", value=label), height=300, name="chart-part",
                x_axis_label=f"{label}{unit}",
                y_axis_label=_("Frequency"))
    h.quad(left="left", right="right", top="top", bottom=0, source=src, fill_color="#4c78a8", line_color="white")
    h.add_tools(HoverTool(tooltips=[(_("Range"), "@left{0.00} – @right{0.00}"), (_("Frequency"), "@top")]))
    h.y_range.start = 0
    count_axis(h.yaxis)
    if chart.counts:  # a histogram of numbers of events: whole numbers along the bottom too
        count_axis(h.xaxis)
    pick = Select(title=_("Histogram of"), value=first, options=choices, name="histogram-choice")
    # The title as the page's language words it, with {choice} for the menu's choice.
    title = _("Histogram of %(value)s: %(choice)s", value=label, choice="{choice}")
    pick.js_on_change("value", CustomJS(args=dict(src=src, all=per_choice, fig=h, title=title),
                                        code="src.data = all[cb_obj.value]; "
                                             "fig.title.text = title.replace('{choice}', cb_obj.value);"))
    h.title.text = title.replace("{choice}", first)
    return [pick, h]


def _pie(data: ChartData, link):
    """One wedge renderer for all slices (named "slices"; a renderer per slice cost ~10 ms of Bokeh
    models each, 300 ms for a full pie), so its legend is always the page's own list, whose entries
    hide a slice by its `alpha` (static/js/charts.js)."""
    chart = data.chart
    rows = data.rows
    if len(rows) > PIE_MAX:  # the smallest slices as one: past that, slices are too thin to see or tap
        rest = rows[PIE_MAX - 1:]
        rows = rows[:PIE_MAX - 1] + [{"cat": _("Other (%(count)s categories)", count=len(rest)),
                                      "n": sum(r["n"] for r in rest),
                                      "percent": sum(r["percent"] for r in rest), "other": True}]
    total = sum(r["n"] for r in rows) or 1
    colours = palette(len(rows))[:len(rows)]
    start, starts, ends = 0.0, [], []
    for r in rows:
        starts.append(start)
        start += 2 * pi * r["n"] / total
        ends.append(start)
    any_case = data.options.case_insensitive
    src = ColumnDataSource({"cat": [r["cat"] for r in rows], "n": [r["n"] for r in rows],
                            "percent": [r["percent"] for r in rows], "start": starts, "end": ends,
                            "colour": colours, "alpha": [1.0] * len(rows),
                            "url": ["" if r.get("other") else _url(link, drill_args(chart, r, any_case)) for r in rows]})
    p = _figure(f"{chart.title} (n = {data.total})", match_aspect=True)
    p.wedge(x=0, y=0, radius=1, start_angle="start", end_angle="end", fill_color="colour", fill_alpha="alpha",
            line_color="white", line_alpha="alpha", source=src, name="slices")
    p.add_tools(HoverTool(tooltips=[(_("Category"), "@cat"), ("n", "@n"), ("%", "@percent{0.0}")]))
    p.axis.visible = False
    p.grid.grid_line_color = None
    return Drawn(p, len(rows), [(r["cat"], c) for r, c in zip(rows, colours)])


def _line(data: ChartData, link, log: bool = False):
    import datetime as dt

    chart = data.chart
    stat = "mean" if data.options.average == "mean" else "median"
    cats = list(dict.fromkeys(r["cat"] for r in data.rows))
    unit = f" ({chart.unit})" if chart.unit else ""
    p = _figure(f"{chart.title} (n = {data.total})", x_axis_type="datetime",
                y_axis_label=f"{_stat_label(stat, chart)}{unit}", y_axis_type="log" if log else "linear")
    named = _Series(cats)
    for i, cat in enumerate(cats):
        colour = named.colours[i]
        mine = [r for r in data.rows if r["cat"] == cat]
        src = ColumnDataSource({"when": [dt.datetime.fromisoformat(r["period"]) for r in mine],
                                "period": [r["period"] for r in mine], "cat": [cat] * len(mine),
                                "n": [r["n"] for r in mine], "value": _positive([r[stat] for r in mine], log),
                                "url": [_url(link, drill_args(chart, r, data.options.case_insensitive)) for r in mine]})
        p.line(x="when", y="value", source=src, color=colour, **named.kw(i))
        p.scatter(x="when", y="value", source=src, color=colour, size=6, **named.kw(i))
    p.add_tools(HoverTool(tooltips=[(_("Category"), "@cat"), (_("Period"), "@period"), ("n", "@n"),
                                    (_stat_word(stat), "@value{0.00}")]))
    return named.drawn(p, p, log)


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
    weekdays = (_("Sunday"), _("Monday"), _("Tuesday"), _("Wednesday"), _("Thursday"), _("Friday"), _("Saturday"))
    src = ColumnDataSource({"day": [weekdays[d] for d in days], "n": [per_day[d] for d in days], "start": starts,
                            "end": ends, "colour": palette(7)})
    p = _figure(_("Studies per weekday (n = %(count)s)", count=data.total), match_aspect=True)
    p.wedge(x=0, y=0, radius=1, start_angle="start", end_angle="end", fill_color="colour", line_color="white",
            legend_field="day", source=src)
    p.add_tools(HoverTool(tooltips=[(_("Day"), "@day"), (_("Studies"), "@n")]))
    p.axis.visible = False
    p.grid.grid_line_color = None
    _legend(p)
    by_name = {weekdays[d]: {"hour": list(range(24)), "n": hours[d]} for d in range(7)}
    busiest = weekdays[max(days, key=lambda d: per_day[d])]
    hsrc = ColumnDataSource(dict(by_name[busiest]))
    title = _("Studies per hour: %(day)s", day="{day}")  # {day}: the weekday chosen
    h = _figure(title.replace("{day}", busiest), height=300, name="chart-part", x_axis_label=_("Hour"),
                y_axis_label=_("Studies"))
    h.vbar(x="hour", top="n", width=0.8, source=hsrc, fill_color="#4c78a8", line_color=None)
    h.add_tools(HoverTool(tooltips=[(_("Hour"), "@hour"), (_("Studies"), "@n")]))
    h.y_range.start = 0
    count_axis(h.yaxis)
    count_axis(h.xaxis)
    pick = Select(title=_("Studies per hour of"), value=busiest, options=[weekdays[d] for d in days],
                  name="weekday-choice")
    pick.js_on_change("value", CustomJS(args=dict(src=hsrc, all=by_name, fig=h, title=title),
                                        code="src.data = all[cb_obj.value]; "
                                             "fig.title.text = title.replace('{day}', cb_obj.value);"))
    # Tapping a weekday's slice shows its hours, as OpenREM's workload pie does.
    src.selected.js_on_change("indices", CustomJS(args=dict(src=src, pick=pick), code="""
const i = src.selected.indices[0]; if (i !== undefined) { pick.value = src.data.day[i]; }"""))
    return Drawn(column(p, pick, h, sizing_mode="stretch_width"))


def _scatter(data: ChartData, link, log: bool = False):
    chart = data.chart
    systems = data.series or [None]
    unit = f" ({chart.unit})" if chart.unit else ""
    title = (_("%(title)s (n = %(count)s, points binned)", title=chart.title, count=data.total) if data.gridded
             else f"{chart.title} (n = {data.total})")
    p = _figure(title, x_axis_label=_x_label(chart),
                y_axis_label=f"{_value_label(chart)}{unit}", y_axis_type="log" if log else "linear")
    named = _Series([s or _value_label(chart) for s in systems], legend=bool(data.series))
    for i, system in enumerate(systems):
        mine = [r for r in data.rows if r.get("sys") == system] if system else data.rows
        src = ColumnDataSource({"x": [r["x"] for r in mine], "y": _positive([r["val"] for r in mine], log),
                                "n": [r["n"] for r in mine], "sys": [r.get("sys") or "" for r in mine]})
        p.scatter(x="x", y="y", source=src, color=named.colours[i], alpha=0.5, size=5, **named.kw(i))
    tips = [(_x_label(chart), "@x{0.0}"), (f"{_value_label(chart)}{unit}", "@y{0.00}"), (_("Events"), "@n")]
    p.add_tools(HoverTool(tooltips=tips + ([(_("System"), "@sys")] if data.series else [])))
    return named.drawn(p, p, log)
