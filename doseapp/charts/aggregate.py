"""Chart data from SQL: GROUP BY over the studies the list filters select, never rows in Python.

Every query starts from `rows()`: the chart's table (study summary columns, or events joined to
their study) with the list's WHERE clauses from doseapp/filters.py, so a chart always shows the
studies the list shows. Only non-zero, non-null values enter averages, frequencies, histograms and
scatter plots (seed §6.1); workload counts every study with a date.

Medians and quartiles: PostgreSQL's percentile_cont; on SQLite the same interpolation written out
with window functions (row number and count per group), so both databases give the same answers.
"""
from __future__ import annotations

from sqlalchemy import Float, Integer, case, cast, func, literal, select
from sqlalchemy.sql.expression import Select

from doseapp.charts.catalog import Chart
from doseapp.models import db
from doseapp.models.ct import CtEvent
from doseapp.models.equipment import Equipment
from doseapp.models.projection import XrayEvent
from doseapp.models.study import Study

TABLES = {"study": Study, "ct_event": CtEvent, "xray_event": XrayEvent}
CATEGORY_COLUMNS = {"acquisition_protocol": None,  # the event table's own column
                    "study_description": Study.study_description,
                    "requested_procedure": Study.requested_procedure_code_meaning}
BLANK = "Blank"
# Above this many events a scatter plot is drawn from a grid of counts instead of one dot each.
SCATTER_MAX = 20000
SCATTER_GRID = 100


def dialect() -> str:
    return db.engine.dialect.name


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
    stmt = select(*cols)
    if table is Study:
        stmt = stmt.select_from(Study)
    else:
        stmt = stmt.select_from(table).join(Study, table.study_id == Study.id)
    if system:
        stmt = stmt.outerjoin(Equipment, Study.equipment_id == Equipment.id)
    stmt = stmt.where(*where)
    if positive and chart.value is not None:
        value = getattr(table, chart.value)
        # Nearly every row has a dose, so an index on it only adds a lookup per row; SQLite takes
        # `+ 0` as "do not use an index for this term" and reads the rows by the filters' indexes.
        stmt = stmt.where((value + 0 if dialect() == "sqlite" else value) > 0)
    if x:
        stmt = stmt.where(getattr(table, chart.x).isnot(None))
    if period:
        stmt = stmt.where(Study.study_datetime.isnot(None))
    return stmt


def _floor_int(expr):
    # x >= 0 here: SQLite's CAST truncates, which is floor; PostgreSQL's CAST would round.
    return cast(func.floor(expr), Integer) if dialect() == "postgresql" else cast(expr, Integer)


def averages(src: Select, keys: list[str], median: bool = False, quartiles: bool = False) -> list[dict]:
    """Per group of `keys`: n, mean, min, max, and when asked median (and q1, q3)."""
    v = src.subquery("v")
    group = [v.c[k] for k in keys]
    stats = [func.count().label("n"), func.avg(v.c.val).label("mean"), func.min(v.c.val).label("min"),
             func.max(v.c.val).label("max")]
    wanted = ([("median", 0.5)] if median or quartiles else []) + ([("q1", 0.25), ("q3", 0.75)] if quartiles else [])
    if not wanted:
        stmt = select(*group, *stats).group_by(*group)
    elif dialect() == "postgresql":
        stmt = select(*group, *stats, *(func.percentile_cont(q).within_group(v.c.val).label(name)
                                        for name, q in wanted)).group_by(*group)
    else:
        # percentile_cont written out: position p = 1 + (n - 1) q in the sorted group; the value
        # there interpolated between rows floor(p) and floor(p) + 1, as PostgreSQL does it.
        r = select(*group, v.c.val,
                   func.row_number().over(partition_by=group or None, order_by=v.c.val).label("rn"),
                   func.count().over(partition_by=group or None).label("cnt")).subquery("r")
        rgroup = [r.c[k] for k in keys]
        rstats = [func.count().label("n"), func.avg(r.c.val).label("mean"), func.min(r.c.val).label("min"),
                  func.max(r.c.val).label("max")]
        cols = []
        for name, q in wanted:
            pos = 1 + (r.c.cnt - 1) * q
            lo = cast(pos, Integer)
            low = func.max(case((r.c.rn == lo, r.c.val)))
            high = func.coalesce(func.max(case((r.c.rn == lo + 1, r.c.val))), low)
            cols.append((low + (high - low) * func.max(pos - lo)).label(name))
        stmt = select(*rgroup, *rstats, *cols).group_by(*rgroup)
    return [dict(r._mapping) for r in db.session.execute(stmt)]


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


def scatter(src: Select, system: bool) -> tuple[list[dict], bool]:
    """(points, gridded): distinct (x, val[, sys]) with how many events share them; past SCATTER_MAX
    events, counts on a SCATTER_GRID x SCATTER_GRID grid (cell centres) so the page stays small."""
    v = src.subquery("v")
    # How many rows and their bounds first (one cheap pass): exact points for a few, a grid for many.
    count, lo_x, hi_x, lo_y, hi_y = db.session.execute(
        select(func.count(), func.min(v.c.x), func.max(v.c.x), func.min(v.c.val), func.max(v.c.val))).one()
    if count <= SCATTER_MAX:
        keys = [v.c.x, v.c.val] + ([v.c.sys] if system else [])
        return [dict(r._mapping) for r in db.session.execute(select(*keys, func.count().label("n")).group_by(*keys))], False
    step_x = (hi_x - lo_x) / SCATTER_GRID or 1.0
    step_y = (hi_y - lo_y) / SCATTER_GRID or 1.0
    gx = _floor_int((v.c.x - lo_x) / step_x).label("gx")
    gy = _floor_int((v.c.val - lo_y) / step_y).label("gy")
    group = [gx, gy] + ([v.c.sys] if system else [])
    out = []
    for r in db.session.execute(select(*group, func.count().label("n")).group_by(*group)):
        d = dict(r._mapping)
        out.append({"x": lo_x + (d.pop("gx") + 0.5) * step_x, "val": lo_y + (d.pop("gy") + 0.5) * step_y, **d})
    return out, True
