"""One chart's data for the filtered studies: the SQL results (doseapp/charts/aggregate.py) in
display units, sorted as the user asked, with a table (the data-table toggle and the CSV download
show the same rows) and the list filters each bar, slice, point or bin drills down to."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from doseapp.charts import aggregate
from doseapp.charts.catalog import CATEGORY_LABEL, Chart
from doseapp.charts.options import ChartOptions
from doseapp.filters import exact_value

WEEKDAYS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
PERIOD_DAYS = {"day": 1, "week": 7}


@dataclass
class ChartData:
    chart: Chart
    options: ChartOptions
    columns: list[tuple[str, str]]          # (key in each row, heading) for the table and the CSV
    rows: list[dict] = field(default_factory=list)
    histograms: dict = field(default_factory=dict)   # (category, system) -> {"edges": [...], "counts": [...]}
    grid: int = 0                           # scatter drawn from counts on grid x grid cells (per system); 0: points
    series: list[str] = field(default_factory=list)  # system names (series per system)

    @property
    def gridded(self) -> bool:
        return self.grid > 0

    @property
    def total(self) -> int:
        return sum(r["n"] for r in self.rows)


def compute(chart: Chart, where: list, opts: ChartOptions) -> ChartData:
    """The data of `chart` for the studies selected by `where` (StudyQuery.where)."""
    aggregate.tune_postgresql()
    return {"bar": _bar, "pie": _pie, "line": _line, "workload": _workload, "scatter": _scatter}[chart.kind](
        chart, where, opts)


def _value_heading(chart: Chart, stat: str) -> str:
    return f"{stat} {chart.value_label}" + (f" ({chart.unit})" if chart.unit else "")


def _scaled(row: dict, scale: float, names=("mean", "median", "min", "max", "q1", "q3")) -> dict:
    for k in names:
        if row.get(k) is not None:
            row[k] = row[k] * scale
    return row


def _order(categories: list[str], rows: list[dict], opts: ChartOptions) -> list[str]:
    """Categories in the user's order: by value (the chosen average, n-weighted over systems),
    by frequency, or by name; ascending or descending."""
    stat = "median" if opts.average in ("median", "boxplot") else "mean"
    n, weighted = {}, {}
    for r in rows:
        n[r["cat"]] = n.get(r["cat"], 0) + r["n"]
        weighted[r["cat"]] = weighted.get(r["cat"], 0.0) + (r.get(stat) or 0.0) * r["n"]
    if opts.sort == "name":
        key = lambda c: (c.lower(), c)  # noqa: E731
    elif opts.sort == "value":
        key = lambda c: (weighted[c] / n[c] if n[c] else 0.0, c)  # noqa: E731
    else:
        key = lambda c: (n[c], c)  # noqa: E731
    return sorted(categories, key=key, reverse=opts.direction == "desc")


def _bar(chart: Chart, where: list, opts: ChartOptions) -> ChartData:
    series = opts.series_per_system
    keys = ["cat"] + (["sys"] if series else [])
    src = aggregate.rows(chart, where, category=True, case_insensitive=opts.case_insensitive, system=series)
    found = aggregate.averages(src, keys, median=opts.wants_median, quartiles=opts.average == "boxplot")
    # Bins from the stored-unit bounds, before scaling: the same arithmetic the SQL does.
    bounds = [dict(r) for r in found]
    found = [_scaled(r, chart.scale) for r in found]
    order = _order(sorted({r["cat"] for r in found}), found, opts)
    rank = {c: i for i, c in enumerate(order)}
    found.sort(key=lambda r: (rank[r["cat"]], r.get("sys") or ""))
    columns = [("cat", CATEGORY_LABEL[chart.category])] + ([("sys", "System")] if series else []) + [("n", "n")]
    if opts.wants_mean:
        columns.append(("mean", _value_heading(chart, "Mean")))
    if opts.wants_median:
        columns.append(("median", _value_heading(chart, "Median")))
    if opts.average == "boxplot":
        columns += [("min", "Minimum"), ("q1", "Lower quartile"), ("q3", "Upper quartile"), ("max", "Maximum")]
    data = ChartData(chart, opts, columns, found, series=sorted({r["sys"] for r in found}) if series else [])
    if opts.histograms:
        by_key = {tuple(b[k] for k in keys): b for b in bounds}
        for h in aggregate.histograms(src, keys, opts.bins, bounds):
            key = tuple(h[k] for k in keys)
            lo, hi = by_key[key]["min"], by_key[key]["max"]
            entry = data.histograms.setdefault((h["cat"], h.get("sys")), {
                "counts": [0] * opts.bins,
                "edges": [(lo + (hi - lo) * i / opts.bins) * chart.scale for i in range(opts.bins + 1)]})
            entry["counts"][h["bin"]] = h["n"]
    return data


def _pie(chart: Chart, where: list, opts: ChartOptions) -> ChartData:
    src = aggregate.rows(chart, where, category=True, case_insensitive=opts.case_insensitive)
    found = aggregate.frequencies(src, ["cat"])
    order = _order([r["cat"] for r in found], found, opts if opts.sort != "value" else _by_frequency(opts))
    by_cat = {r["cat"]: r for r in found}
    total = sum(r["n"] for r in found) or 1
    rows = [dict(by_cat[c], percent=100.0 * by_cat[c]["n"] / total) for c in order]
    return ChartData(chart, opts, [("cat", CATEGORY_LABEL[chart.category]), ("n", "n"), ("percent", "%")], rows)


def _by_frequency(opts: ChartOptions) -> ChartOptions:
    from dataclasses import replace

    return replace(opts, sort="frequency")  # a frequency chart's value is its frequency


def _line(chart: Chart, where: list, opts: ChartOptions) -> ChartData:
    src = aggregate.rows(chart, where, category=True, case_insensitive=opts.case_insensitive, period=opts.period)
    found = [_scaled(r, chart.scale) for r in aggregate.averages(src, ["cat", "period"], median=opts.wants_median)]
    for r in found:
        r["period"] = str(r["period"])[:10]
    order = _order(sorted({r["cat"] for r in found}), found, opts)
    rank = {c: i for i, c in enumerate(order)}
    found.sort(key=lambda r: (rank[r["cat"]], r["period"]))
    # Only bar charts show mean and median together (seed §6.3); other charts show the median then.
    stat = "mean" if opts.average == "mean" else "median"
    for r in found:
        r["period_kind"] = opts.period
    columns = [("cat", CATEGORY_LABEL[chart.category]), ("period", f"{opts.period.capitalize()} starting"),
               ("n", "n"), (stat, _value_heading(chart, stat.capitalize()))]
    return ChartData(chart, opts, columns, found)


def _workload(chart: Chart, where: list, opts: ChartOptions) -> ChartData:
    found = {(r["dow"], r["hour"]): r["n"] for r in aggregate.workload(where)}
    rows = [{"weekday": WEEKDAYS[d], "dow": d, "hour": h, "n": found[(d, h)]}
            for d in (1, 2, 3, 4, 5, 6, 0) for h in range(24) if (d, h) in found]
    return ChartData(chart, opts, [("weekday", "Weekday"), ("hour", "Hour"), ("n", "Studies")], rows)


def _scatter(chart: Chart, where: list, opts: ChartOptions) -> ChartData:
    series = opts.series_per_system
    src = aggregate.rows(chart, where, system=series, x=True)
    points, grid = aggregate.scatter(src, series)
    for p in points:
        p["val"] = p["val"] * chart.scale
    points.sort(key=lambda p: (p.get("sys") or "", p["x"], p["val"]))
    columns = [("x", chart.x_label), ("val", _value_heading(chart, "").strip())] + \
        ([("sys", "System")] if series else []) + [("n", "Events")]
    return ChartData(chart, opts, columns, points, grid=grid,
                     series=sorted({p["sys"] for p in points}) if series else [])


# --- drill-down: the list filters that select a bar's, slice's, point's or bin's studies ----------

def drill_args(chart: Chart, row: dict, any_case: bool = False) -> dict | None:
    """Filter arguments (added to the list's own) for one row of a bar, pie or line chart; None
    where no list filter can select it (the 'Blank' category). Exact matches (filters.text_match):
    the "AP" bar lists the studies whose protocol is AP, not also "THORAX AP". `any_case`: the
    chart merged categories that differ only in case (they are shown in lower case)."""
    if chart.drill_filter is None or row.get("cat") in (None, aggregate.BLANK, aggregate.BLANK.lower()):
        return None
    args = {chart.drill_filter: f'"{row["cat"]}"' if any_case else exact_value(row["cat"])}
    if row.get("sys"):
        args["display_name"] = exact_value(row["sys"])
    if row.get("period"):
        start = dt.date.fromisoformat(row["period"])
        last = _period_end(start, row) - dt.timedelta(days=1)
        args.update(date_from=start.isoformat(), date_until=last.isoformat())
    return args


def _period_end(start: dt.date, row: dict) -> dt.date:
    period = row.get("period_kind", "month")
    if period in PERIOD_DAYS:
        return start + dt.timedelta(days=PERIOD_DAYS[period])
    if period == "year":
        return start.replace(year=start.year + 1)
    return (start.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


def bin_args(chart: Chart, category: str, system: str | None, lo: float, hi: float,
             any_case: bool = False) -> dict | None:
    """Filter arguments for one histogram bin: the category, and the value range where the value
    is a study summary the list can filter on (event values have no list filter)."""
    args = drill_args(chart, {"cat": category, "sys": system}, any_case)
    if args is None:
        return None
    if chart.range_filter:
        args[f"{chart.range_filter}_min"] = repr(lo)
        args[f"{chart.range_filter}_max"] = repr(hi)
    return args
