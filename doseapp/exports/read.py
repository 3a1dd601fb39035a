"""Reading an export's studies from the database in batches, as plain records.

Only the attributes the export's columns read are selected (columns.reads). The studies come
through the list's own statement on one streamed cursor (server-side on PostgreSQL), in the list's
order; each batch's events come with one IN query, and CT sources with one more. Events and sources
are most of the rows (4 or more per study), so they are fetched as the driver's own tuples: an
SQLAlchemy Row per row, then a tuple per row, was most of an export's reading time. A record is a
tuple (named, for the NHSBSP rules and fluoroscopy grouping, which read by name).
"""
from __future__ import annotations

import datetime as dt
import json
import queue
import threading
from collections import namedtuple
from itertools import groupby
from operator import itemgetter

from sqlalchemy import JSON, Boolean, Date, DateTime, Text, Time, cast, select, text

from doseapp import filters
from doseapp.exports.columns import EQ, SOURCES
from doseapp.models import Study, db
from doseapp.models.ct import CtEvent, CtSource
from doseapp.models.equipment import Equipment
from doseapp.models.nm import NmAdministration
from doseapp.models.projection import XrayEvent

BATCH = 1000


class _Json:
    """JSON text -> value, remembering repeated texts (filter lists repeat per system)."""

    def __init__(self):
        self.seen: dict = {}

    def __call__(self, text):
        if text is None or not isinstance(text, str):
            return text
        got = self.seen.get(text)
        if got is None:
            if len(self.seen) > 5000:
                self.seen.clear()
            got = self.seen[text] = json.loads(text)
        return got


def _from_text(parse):
    """SQLite gives dates, times and timestamps as the ISO text SQLAlchemy stored."""
    return lambda v: parse(v) if isinstance(v, str) else v


_SQLITE_TYPES = [(DateTime, _from_text(dt.datetime.fromisoformat)), (Date, _from_text(dt.date.fromisoformat)),
                 (Time, _from_text(dt.time.fromisoformat)), (Boolean, lambda v: v if v is None else bool(v))]


def _columns(table, names, sqlite: bool):
    """The selected columns (JSON read as text, parsed once per distinct text rather than per row)
    and the conversions raw driver values need, as (position, function)."""
    parse = _Json()
    cols, convert = [], []
    for i, n in enumerate(names):
        c = table.c[n]
        if isinstance(c.type, JSON):
            cols.append(cast(c, Text).label(n))
            convert.append((i, parse))
            continue
        cols.append(c)
        for kind, fn in _SQLITE_TYPES if sqlite else ():
            if isinstance(c.type, kind):
                convert.append((i, fn))
                break
    return cols, convert


def _converted(rows, convert):
    if not convert:
        return rows
    out = []
    for r in rows:
        r = list(r)
        for i, fn in convert:
            r[i] = fn(r[i])
        out.append(tuple(r))
    return out


IDS = "__ids__"


def _sql(conn, stmt) -> str:
    """A statement's SQL for this database, with IDS where a batch's ids go."""
    return str(stmt.compile(dialect=conn.dialect))


def _fetch(conn, sql: str, ids: list[int]) -> list[tuple]:
    """All rows of `sql` for these ids (integers from the database, written into the SQL), as the
    driver's tuples."""
    cursor = conn.connection.cursor()
    try:
        cursor.execute(sql.replace(IDS, ",".join(map(str, ids))))
        return cursor.fetchall()
    finally:
        cursor.close()


class Layout:
    """What a stream reads: the fields (and so the positions) of study and event records.
    `named`: records are named tuples (read by attribute) rather than plain tuples."""

    def __init__(self, modality: str, study_reads, event_reads, named: bool = False):
        self.modality = modality
        self.eq = [n[len(EQ):] for n in study_reads if n.startswith(EQ)]
        self.study_cols = list(dict.fromkeys(["id", "equipment_id"] + [n for n in study_reads if not n.startswith(EQ)]))
        self.study = tuple(self.study_cols + [EQ + a for a in self.eq])
        # NM: a study's "events" are its radiopharmaceutical administrations.
        self.table = {"CT": CtEvent.__table__, "NM": NmAdministration.__table__}.get(modality, XrayEvent.__table__)
        self.wants_events = event_reads is None or bool(event_reads)  # no reads: no events query
        if event_reads is None:  # every event column (fluoroscopy grouping reads many)
            event_reads = [c.name for c in self.table.c]
        self.sources = [n[3:] for n in event_reads if n.startswith(SOURCES[0])]
        self.event_cols = list(dict.fromkeys(["id", "study_id"] + [n for n in event_reads
                                                                     if not n.startswith(SOURCES)]))
        self.event = tuple(self.event_cols + [p + a for p in SOURCES for a in self.sources])
        self.named = named
        self.Study = namedtuple("StudyRecord", self.study) if named else None
        self.Event = namedtuple("EventRecord", self.event) if named else None


def stream(q: filters.StudyQuery, layout: Layout, batch: int = BATCH):
    """Yield lists of (study record, [event records]) in the list's order, `batch` studies at a time,
    so memory stays flat whatever the size of the export. The next batch is read by a thread while
    the caller writes this one: the database's own work (SQLite's, which runs without the GIL, or
    the PostgreSQL server's) overlaps the writing."""
    engine = db.engine
    sqlite = engine.dialect.name == "sqlite"
    s_cols, _ = _columns(Study.__table__, layout.study_cols, sqlite)
    # The list's own statement (filters and order, and the equipment join when sorting by it).
    stmt = q.select().with_only_columns(*s_cols)
    yield from _ahead(_batches(engine, stmt, layout, batch, sqlite))


_DONE = object()


def _ahead(batches):
    """Yield what `batches` yields, running it one item ahead in a thread. Stopping early (an
    aborted export) stops and joins the thread; its errors are raised here."""
    items: queue.Queue = queue.Queue(maxsize=1)
    stop = threading.Event()

    def run():
        try:
            for item in batches:
                while not stop.is_set():
                    try:
                        items.put((item, None), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    break
            else:
                items.put((_DONE, None))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which raises it
            items.put((_DONE, exc))
        finally:
            batches.close()

    reader = threading.Thread(target=run, name="export-reader", daemon=True)
    reader.start()
    try:
        while True:
            item, error = items.get()
            if error is not None:
                raise error
            if item is _DONE:
                return
            yield item
    finally:
        stop.set()
        while reader.is_alive():  # let a blocked put() see the stop
            try:
                items.get(timeout=0.1)
            except queue.Empty:
                pass
        reader.join()


def _batches(engine, stmt, layout: Layout, batch: int, sqlite: bool):
    etable = layout.table
    e_cols, e_convert = _columns(etable, layout.event_cols, sqlite)
    src = CtSource.__table__
    s_select = [src.c.event_id, *[src.c[a] for a in layout.sources]]
    no_source = (None,) * len(layout.sources)
    with engine.connect() as conn, engine.connect() as events_conn:
        in_batch = text(f"{etable.name}.study_id IN ({IDS})")
        events_sql = _sql(events_conn, select(*e_cols).where(in_batch).order_by(etable.c.study_id, etable.c.id))
        # By the events' ids: joining on the batch's study ids made PostgreSQL scan every source.
        sources_sql = _sql(events_conn, select(*s_select).where(text(f"{src.name}.event_id IN ({IDS})"))
                           .order_by(src.c.event_id, src.c.id))
        equipment = {}
        if layout.eq:
            eq = Equipment.__table__
            for row in events_conn.execute(select(eq.c.id, *[eq.c[a] for a in layout.eq])):
                equipment[row[0]] = tuple(row[1:])
        no_equipment = (None,) * len(layout.eq)
        result = conn.execution_options(yield_per=batch, stream_results=True).execute(stmt)
        for rows in result.partitions():
            if layout.eq:
                studies = [(*s, *equipment.get(s[1], no_equipment)) for s in rows]
            else:
                studies = [tuple(s) for s in rows]
            ids = [s[0] for s in studies]
            events = _converted(_fetch(events_conn, events_sql, ids), e_convert) if layout.wants_events else []
            if layout.sources:
                sources = _fetch(events_conn, sources_sql, [e[0] for e in events]) if events else []
                # Each event's first source (rows are in id order: reversed, the first wins) and second.
                first = {r[0]: r[1:] for r in reversed(sources)}
                second: dict = {}
                if len(first) < len(sources):  # some event has two sources or more
                    seen = set()
                    for r in sources:
                        if r[0] in seen:
                            second.setdefault(r[0], r[1:])
                        seen.add(r[0])
                fget, sget = first.get, second.get
                events = [e + fget(e[0], no_source) + sget(e[0], no_source) for e in events]
            if layout.named:
                E, S, new = layout.Event, layout.Study, tuple.__new__
                events = [new(E, e) for e in events]
                studies = [new(S, s) for s in studies]
            by_study: dict = {i: [] for i in ids}
            for study_id, group in groupby(events, itemgetter(1)):
                by_study[study_id] = list(group)
            yield [(s, by_study[s[0]]) for s in studies]
