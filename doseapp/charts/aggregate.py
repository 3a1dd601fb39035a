"""Chart data from SQL: GROUP BY over the studies the list filters select, never rows in Python.

Every query starts from `rows()`: the chart's table (study summary columns, or events joined to
their study) with the list's WHERE clauses from doseapp/filters.py, so a chart always shows the
studies the list shows. Only non-zero, non-null values enter averages, frequencies, histograms and
scatter plots (seed §6.1); workload counts every study with a date.

Medians and quartiles: PostgreSQL's percentile_cont; on SQLite an aggregate function registered on
the connection (`percentile_cont()` below) that does PostgreSQL's arithmetic step by step, so both
databases give the same answers to the last bit.
"""
from __future__ import annotations

import math

from sqlalchemy import Column, Float, Integer, case, cast, func, literal, select
from sqlalchemy.sql import visitors
from sqlalchemy.sql.expression import Select
from sqlalchemy.sql.util import ClauseAdapter

from doseapp.charts.catalog import Chart
from doseapp.database import dialect, percentile_cont, tune_postgresql  # noqa: F401  (used here and re-exported)
from doseapp.models import db
from doseapp.models.ct import CtEvent
from doseapp.models.equipment import Equipment
from doseapp.models.projection import XrayEvent
from doseapp.models.standards import StandardName
from doseapp.models.study import Study

TABLES = {"study": Study, "ct_event": CtEvent, "xray_event": XrayEvent}
CATEGORY_COLUMNS = {"acquisition_protocol": None,  # the event table's own column
                    "study_description": Study.study_description,
                    "requested_procedure": Study.requested_procedure_code_meaning,
                    # The study's standard name (doseapp.standards): a look-up in the small name table.
                    "standard_name": select(StandardName.name).where(StandardName.id == Study.standard_name_id)
                    .correlate(Study).scalar_subquery()}
BLANK = "Blank"
# Above this many events a scatter plot is drawn from a grid of counts instead of one dot each.
SCATTER_MAX = 20000
SCATTER_GRID = 100
SCATTER_GRID_MIN = 20  # the coarsest grid a series per system gets


def category_expr(chart: Chart, case_insensitive: bool):
    table = TABLES[chart.table]
    col = CATEGORY_COLUMNS[chart.category] if CATEGORY_COLUMNS[chart.category] is not None \
        else table.acquisition_protocol
    if case_insensitive:
        col = func.lower(col)
    # Empty and missing names are one category, "Blank", as OpenREM shows them (#389).
    return func.coalesce(func.nullif(col, ""), BLANK)


def period_expr(column, period: str):
    """The first day of the period a datetime falls in (weeks start on Monday): a timestamp on
    PostgreSQL, 'YYYY-MM-DD' text on SQLite; data.py reads both as a date."""
    if dialect() == "postgresql":
        return func.date_trunc(period, column)
    if period == "week":
        return func.date(column, "weekday 0", "-6 days")
    # SQLAlchemy stores SQLite datetimes as 'YYYY-MM-DD HH:MM:SS': the start of the text is the
    # day, month or year, far cheaper per row than strftime().
    return {"day": func.substr(column, 1, 10), "month": func.substr(column, 1, 7).op("||")("-01"),
            "year": func.substr(column, 1, 4).op("||")("-01-01")}[period]


def rows(chart: Chart, where: list, *, category: bool = False, case_insensitive: bool = False,
         system: bool = False, period: str | None = None, x: bool = False, positive: bool = True) -> Select:
    """SELECT of the chart's rows for the filtered studies: columns val [, cat] [, sys] [, period] [, x]."""
    table = TABLES[chart.table]
    cols = []
    if chart.value is not None:
        cols.append(cast(getattr(table, chart.value), Float).label("val"))
    if category:
        cols.append(category_expr(chart, case_insensitive).label("cat"))
    if system:
        cols.append(func.coalesce(Equipment.display_name, BLANK).label("sys"))
    if period:
        cols.append(period_expr(Study.study_datetime, period).label("period"))
    if x:
        cols.append(getattr(table, chart.x).label("x"))
    study_where = list(where) + ([Study.study_datetime.isnot(None)] if period else [])
    if table is not Study and dialect() == "sqlite":
        stmt, study = _events_in_study_order(table, cols, study_where, system)
    else:
        stmt = select(*cols)
        stmt = stmt.select_from(Study) if table is Study else \
            stmt.select_from(table).join(Study, table.study_id == Study.id)
        stmt, study = stmt.where(*study_where), Study.__table__.c
    if system:
        stmt = stmt.outerjoin(Equipment, study.equipment_id == Equipment.id)
    if positive and chart.value is not None:
        value = getattr(table, chart.value)
        # Nearly every row has a dose, so an index on it only adds a lookup per row; SQLite takes
        # `+ 0` as "do not use an index for this term" and reads the rows by the filters' indexes.
        stmt = stmt.where((value + 0 if dialect() == "sqlite" else value) > 0)
    if x:
        stmt = stmt.where(getattr(table, chart.x).isnot(None))
    return stmt


def _events_in_study_order(table, cols: list, study_where: list, system: bool):
    """SQLite: the events of the filtered studies, read study by study in id order. The filtered
    studies' ids (and the study columns the chart needs) come from a sub-query ordered by id, which
    SQLite materialises; each study's events are then next to the previous study's in the event
    table. Left to itself, SQLite walks the studies by whichever index covers the columns, e.g.
    (modality, equipment_id, study_datetime) for a series per system or a chart over time, and then
    reads the events in that order, all over the table: twice the time for the same rows (DX DAP
    over time 1.0 s against 0.5 s, docs/performance.md). Returns (select, the study columns)."""
    wanted = {Study.id.key: Study.__table__.c.id}
    for col in cols:
        for el in visitors.iterate(col):
            if isinstance(el, Column) and el.table is Study.__table__:
                wanted.setdefault(el.key, Study.__table__.c[el.key])
    if system:
        wanted.setdefault("equipment_id", Study.__table__.c.equipment_id)
    s = select(*wanted.values()).where(*study_where).order_by(Study.id).subquery("s")
    adapt = ClauseAdapter(s).traverse
    stmt = select(*(adapt(c) for c in cols)).select_from(s).join(table, table.study_id == s.c.id)
    return stmt, s.c


def _floor_int(expr):
    # x >= 0 here: SQLite's CAST truncates, which is floor; PostgreSQL's CAST would round.
    return cast(func.floor(expr), Integer) if dialect() == "postgresql" else cast(expr, Integer)


class _Values:
    """A SQLite aggregate's collection of the group's non-null values."""
    def __init__(self):
        self.values = []

    def step(self, value):
        if value is not None:
            self.values.append(value)


class _Median(_Values):
    """SQLite `doseapp_median(x)`: percentile_cont(0.5). A Python aggregate costs ~0.3 us a row (the
    values of 1M events in 0.3 s); the window functions it replaced sorted and numbered every row,
    4-5 s."""
    def finalize(self):
        return percentile_cont(self.values, 0.5)


class _Quartiles(_Values):
    """SQLite `doseapp_quartiles(x)` for box plots: q1, median and q3 from one collection and one
    sort (three aggregates collected and sorted the values three times: CT box plots 1.6 s), as text
    (an aggregate returns one value): the three floats' repr, which reads back exactly."""
    def finalize(self):
        if not self.values:
            return None
        return " ".join(repr(float(percentile_cont(self.values, q))) for q in (0.25, 0.5, 0.75))


def _register_sqlite_percentiles() -> None:
    # On the connection this session uses (pooled connections come and go, so every time: cheap).
    raw = db.session.connection().connection.driver_connection
    raw.create_aggregate("doseapp_median", 1, _Median)
    raw.create_aggregate("doseapp_quartiles", 1, _Quartiles)


def averages(src: Select, keys: list[str], median: bool = False, quartiles: bool = False) -> list[dict]:
    """Per group of `keys`: n, mean, min, max, and when asked median (and q1, q3)."""
    v = src.subquery("v")
    group = [v.c[k] for k in keys]
    stats = [func.count().label("n"), func.avg(v.c.val).label("mean"), func.min(v.c.val).label("min"),
             func.max(v.c.val).label("max")]
    wanted = ([("median", 0.5)] if median or quartiles else []) + ([("q1", 0.25), ("q3", 0.75)] if quartiles else [])
    if dialect() == "postgresql":
        stats += [func.percentile_cont(q).within_group(v.c.val).label(name) for name, q in wanted]
    elif quartiles:
        _register_sqlite_percentiles()
        stats.append(func.doseapp_quartiles(v.c.val).label("quartiles"))
    elif wanted:
        _register_sqlite_percentiles()
        stats.append(func.doseapp_median(v.c.val).label("median"))
    stmt = select(*group, *stats).group_by(*group)
    out = [dict(r._mapping) for r in db.session.execute(stmt)]
    if quartiles and dialect() != "postgresql":
        for row in out:
            packed = row.pop("quartiles")
            row["q1"], row["median"], row["q3"] = map(float, packed.split()) if packed else (None, None, None)
    return out


def histograms(src: Select, keys: list[str], bins: int, groups: list[dict]) -> list[dict]:
    """Per group: counts in `bins` equal bins from the group's min to max (the max in the last bin).
    `groups` are averages() rows (keys, min, max): their bounds go into the query as constants, so
    the rows are read once more, not twice. Rows: keys..., bin, n."""
    if not groups:
        return []
    v = src.subquery("v")
    # One CASE on one key expression (the category, or category + system), so the key is worked
    # out once per row; the bounds typed as floats (PostgreSQL would do numeric arithmetic on
    # untyped literals, several times slower).
    key = v.c.cat if keys == ["cat"] else v.c.cat.op("||")(literal("\x1f")).op("||")(v.c.sys)
    names = [g["cat"] if keys == ["cat"] else g["cat"] + "\x1f" + g["sys"] for g in groups]
    lo = case({n: cast(literal(float(g["min"])), Float) for n, g in zip(names, groups)}, value=key)
    width = case({n: cast(literal(float(g["max"] - g["min"])), Float) for n, g in zip(names, groups)}, value=key)
    raw = _floor_int((v.c.val - lo) / width * bins)
    bin_ = case((width == 0, 0), (raw >= bins, bins - 1), else_=raw).label("bin")
    group = [v.c[k] for k in keys]
    stmt = select(*group, bin_, func.count().label("n")).group_by(*group, bin_)
    return [dict(r._mapping) for r in db.session.execute(stmt)]


def frequencies(src: Select, keys: list[str]) -> list[dict]:
    v = src.subquery("v")
    group = [v.c[k] for k in keys]
    return [dict(r._mapping) for r in db.session.execute(select(*group, func.count().label("n")).group_by(*group))]


def workload(where: list) -> list[dict]:
    """Studies per (weekday, hour): weekday 0 = Sunday .. 6 = Saturday, as strftime('%w') and
    PostgreSQL's dow count them. Every study with a date counts, whatever its dose."""
    dt = Study.study_datetime
    if dialect() == "postgresql":
        dow, hour = cast(func.extract("dow", dt), Integer), cast(func.extract("hour", dt), Integer)
    else:
        dow, hour = cast(func.strftime("%w", dt), Integer), cast(func.strftime("%H", dt), Integer)
    stmt = (select(dow.label("dow"), hour.label("hour"), func.count().label("n")).select_from(Study)
            .where(*where, dt.isnot(None)).group_by(dow, hour))
    return [dict(r._mapping) for r in db.session.execute(stmt)]


def scatter(src: Select, system: bool) -> tuple[list[dict], int]:
    """(points, grid): distinct (x, val[, sys]) with how many events share them, grid 0; past
    SCATTER_MAX events, counts on a grid x grid grid (cell centres) so the page stays small. With a
    series per system each system has its own grid, so the grid is SCATTER_GRID / sqrt(systems)
    (at least SCATTER_GRID_MIN): ten systems on 100 x 100 grids made 68,000 points and a 13 MB page."""
    v = src.subquery("v")
    # How many rows and their bounds first (one cheap pass): exact points for a few, a grid for many.
    first = [func.count(), func.min(v.c.x), func.max(v.c.x), func.min(v.c.val), func.max(v.c.val)]
    if system:
        first.append(func.count(v.c.sys.distinct()))  # sys is never NULL: rows() names a blank system
    count, lo_x, hi_x, lo_y, hi_y, *systems = db.session.execute(select(*first)).one()
    if count <= SCATTER_MAX:
        keys = [v.c.x, v.c.val] + ([v.c.sys] if system else [])
        return [dict(r._mapping) for r in db.session.execute(select(*keys, func.count().label("n")).group_by(*keys))], 0
    grid = SCATTER_GRID
    if system and systems[0] > 1:
        grid = max(SCATTER_GRID_MIN, round(SCATTER_GRID / math.sqrt(systems[0])))
    step_x = (hi_x - lo_x) / grid or 1.0
    step_y = (hi_y - lo_y) / grid or 1.0
    gx = _floor_int((v.c.x - lo_x) / step_x).label("gx")
    gy = _floor_int((v.c.val - lo_y) / step_y).label("gy")
    group = [gx, gy] + ([v.c.sys] if system else [])
    out = []
    for r in db.session.execute(select(*group, func.count().label("n")).group_by(*group)):
        d = dict(r._mapping)
        out.append({"x": lo_x + (d.pop("gx") + 0.5) * step_x, "val": lo_y + (d.pop("gy") + 0.5) * step_y, **d})
    return out, grid
