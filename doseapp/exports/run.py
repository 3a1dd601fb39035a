"""Run one export: the list's query (filters.study_query, the same code as the lists), read in
batches and written as it comes, to `<out>.part` renamed to `<out>` only when complete, so a failed
or aborted export leaves no file.

progress(done, total) is called after each batch; it may raise (JobCancelled) to stop the export.
"""
from __future__ import annotations

import datetime as dt
import os
import time
from collections import Counter
from pathlib import Path
from typing import Callable

from sqlalchemy import func, select

from doseapp import filters
from doseapp.exports import columns as C
from doseapp.exports import fluoro_groups, nhsbsp
from doseapp.exports.csv_writer import CsvOut
from doseapp.exports.xlsx_writer import MAX_ROWS, XlsxOut, sheet_names
from doseapp.models import Study, db
from doseapp.models.ct import CtEvent, CtSource
from doseapp.models.equipment import Equipment
from doseapp.models.projection import XrayEvent

FORMATS = ("csv", "xlsx", "nhsbsp")
TYPE_LABELS = {"csv": "CSV export", "xlsx": "XLSX export", "nhsbsp": "NHSBSP CSV export"}
BATCH = 500


class ExportError(Exception):
    """An export that cannot be made as asked (e.g. NHSBSP for a modality other than mammography)."""


def file_name(modality: str, fmt: str, now: dt.datetime | None = None) -> str:
    """OpenREM's names: ctexport<YYYYMMDD-HHMMSSffffff>.csv, mg_nhsbsp_….csv."""
    stamp = (now or dt.datetime.now()).strftime("%Y%m%d-%H%M%S%f")
    if fmt == "nhsbsp":
        return f"mg_nhsbsp_{stamp}.csv"
    return f"{modality.lower()}export{stamp}.{fmt}"


class Rec:
    """A database row as an object: columns as plain attributes (what the column getters read).
    Rows are read with Core, not the ORM: building and tracking ORM objects was ten times slower."""


def _recs(result) -> list[Rec]:
    """All rows of a Core result as Rec objects (zip with the keys: Row._asdict() took half the time)."""
    keys = list(result.keys())
    out = []
    for row in result.all():
        r = Rec()
        r.__dict__ = dict(zip(keys, row))
        out.append(r)
    return out


def stream(q: filters.StudyQuery, modality: str, batch: int = BATCH):
    """Yield lists of studies (Rec, with .equipment and their events, CT events with .sources) in
    the list's order, `batch` at a time: the studies come from one server-side cursor and each
    batch's events from one IN query, so memory stays flat whatever the size of the export."""
    # Every study column but the three timestamps no column shows (parsing datetimes is costly on SQLite).
    study_cols = [c for c in Study.__table__.c if c.name not in ("created_at", "updated_at", "study_datetime")]
    # The list's own statement (filters and order, and the equipment join when sorting by it),
    # reading plain columns.
    stmt = q.select().with_only_columns(*study_cols)
    with db.engine.connect() as conn, db.engine.connect() as events_conn:
        equipment = {r.id: r for r in _recs(events_conn.execute(select(Equipment.__table__)))}
        result = conn.execution_options(yield_per=batch, stream_results=True).execute(stmt)
        keys = list(result.keys())
        for rows in result.partitions():
            studies = []
            for row in rows:
                study = Rec()
                study.__dict__ = dict(zip(keys, row))
                studies.append(study)
            by_id = {}
            for s in studies:
                s.equipment = equipment.get(s.equipment_id)
                s.ct_events, s.xray_events = [], []
                by_id[s.id] = s
            ids = list(by_id)
            if modality == "CT":
                events = {}
                for e in _recs(events_conn.execute(select(CtEvent.__table__).where(CtEvent.study_id.in_(ids))
                                                   .order_by(CtEvent.study_id, CtEvent.id))):
                    e.sources = []
                    events[e.id] = e
                    by_id[e.study_id].ct_events.append(e)
                if events:
                    for src in _recs(events_conn.execute(
                            select(CtSource.__table__).where(CtSource.event_id.in_(list(events)))
                            .order_by(CtSource.event_id, CtSource.id))):
                        events[src.event_id].sources.append(src)
            else:
                for e in _recs(events_conn.execute(select(XrayEvent.__table__).where(XrayEvent.study_id.in_(ids))
                                                   .order_by(XrayEvent.study_id, XrayEvent.id))):
                    by_id[e.study_id].xray_events.append(e)
            yield studies


def _protocols(q: filters.StudyQuery, modality: str) -> list:
    table = CtEvent if modality == "CT" else XrayEvent
    ids = select(Study.id).where(*q.where)
    return list(db.session.scalars(select(table.acquisition_protocol).where(table.study_id.in_(ids)).distinct()))


def run_export(modality: str, fmt: str, args, *, out: Path | str, user=None, name: bool = False,
               pat_id: bool = False, bom: bool = False, date_format: str = "dd/mm/yyyy",
               progress: Callable | None = None, batch: int = BATCH) -> dict:
    """Export the studies that `args` (list filter arguments) select for `user` (None: the command
    line, every filter allowed). Returns records, seconds and the file path."""
    modality = modality.upper()
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r}")
    if fmt == "nhsbsp" and modality != "MG":
        raise ExportError("the NHSBSP export is for mammography only")
    q = filters.study_query(modality, args, user)
    if q.errors:
        raise ExportError("bad filter value(s): " + ", ".join(f"{k} ({v})" for k, v in q.errors.items()))
    out = Path(out)
    part = out.with_name(out.name + ".part")
    started = time.monotonic()
    total = db.session.scalar(q.count()) or 0
    report = progress or (lambda done, total: None)
    report(0, total)
    try:
        if fmt == "nhsbsp":
            records = _nhsbsp(q, part, bom, report, total, batch)
        elif fmt == "csv":
            records = _csv(q, modality, part, name, pat_id, bom, report, total, batch)
        else:
            records = _xlsx(q, modality, part, name, pat_id, date_format, report, total, batch)
        os.replace(part, out)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    return {"records": records, "seconds": round(time.monotonic() - started, 3), "path": str(out),
            "modality": modality, "format": fmt}


def _max_events(q) -> int:
    return db.session.scalar(select(func.max(Study.number_of_events)).where(*q.where)) or 0


def _csv(q, modality, path, name, pat_id, bom, report, total, batch) -> int:
    scols = C.study_columns(modality, name, pat_id)
    # Fluoroscopy CSV is study-level only (seed §8.3).
    ecols = [] if modality == "RF" else C.EVENT_COLUMNS[modality]
    n_ev = _max_events(q) if ecols else 0
    out = CsvOut(path, bom)
    try:
        out.row([c.header for c in scols] + [f"E{n} {c.header}" for n in range(1, n_ev + 1) for c in ecols])
        done = 0
        for part in stream(q, modality, batch):
            for s in part:
                row = [c.get(s) for c in scols]
                if ecols:
                    row += C.events_row(C.events_of(s, modality), ecols, n_ev)
                out.row(row)
            done += len(part)
            report(done, total)
    finally:
        out.close()
    return done


def _nhsbsp(q, path, bom, report, total, batch) -> int:
    out = CsvOut(path, bom)
    try:
        out.row(nhsbsp.HEADER)
        done = patient = 0
        for part in stream(q, "MG", batch):
            for s in part:
                rows = nhsbsp.study_rows(s, patient + 1)
                if rows:
                    patient += 1
                    for r in rows:
                        out.row(r)
            done += len(part)
            report(done, total)
    finally:
        out.close()
    return done


def _xlsx(q, modality, path, name, pat_id, date_format, report, total, batch) -> int:
    scols = C.study_columns(modality, name, pat_id)
    ecols = C.EVENT_COLUMNS[modality]
    skinds = [c.kind for c in scols]
    if modality == "RF":
        # Groups per study are only known by grouping: one pass to size the header (grouping is cheap
        # next to writing).
        gcols = fluoro_groups.group_columns()
        n_all = max((len(fluoro_groups.group(s.xray_events)) for part in stream(q, modality, batch) for s in part),
                    default=0)
        all_header = [f"G{n} {c.header}" for n in range(1, n_all + 1) for c in gcols]
        all_kinds = [c.kind for c in gcols] * n_all
    else:
        n_all = _max_events(q)
        all_header = C.event_header(modality, n_all)
        all_kinds = [c.kind for c in ecols] * n_all
    sheets_for = sheet_names(_protocols(q, modality))
    book = XlsxOut(path, date_format)
    try:
        summary = book.sheet("Summary")
        all_data = book.sheet("All data")
        book.header(all_data, [c.header for c in scols] + all_header)
        proto_ws = {}
        for raw, sheet in sorted(sheets_for.items(), key=lambda kv: kv[1]):
            if sheet not in proto_ws:
                proto_ws[sheet] = book.sheet(sheet)
                book.header(proto_ws[sheet], [c.header for c in scols] + [c.header for c in ecols])
        ekinds = skinds + [c.kind for c in ecols]
        descriptions, requested, protocols = Counter(), Counter(), Counter()
        done = 0
        for part in stream(q, modality, batch):
            for s in part:
                srow = [c.get(s) for c in scols]
                events = C.events_of(s, modality)
                if modality == "RF":
                    extra = [v for g in fluoro_groups.group(events) for v in fluoro_groups.group_values(g)]
                else:
                    extra = C.events_row(events, ecols, n_all)
                book.row(all_data, srow + extra, skinds + all_kinds)
                for e in events:
                    ws = proto_ws.get(sheets_for.get(e.acquisition_protocol))
                    if ws is None:  # an event imported since the export began
                        continue
                    book.row(ws, srow + [c.get(e) for c in ecols], ekinds)
                    protocols[e.acquisition_protocol or ""] += 1
                descriptions[s.study_description or ""] += 1
                requested[s.requested_procedure_code_meaning or ""] += 1
            done += len(part)
            report(done, total)
        _summary(book, summary, done, descriptions, requested, protocols)
    finally:
        book.close()
    return done


def _summary(book: XlsxOut, ws, n: int, *tables: Counter) -> None:
    from importlib.metadata import version

    book.row(ws, [f"XLSX export from doseapp version {version('doseapp')} on "
                  f"{dt.datetime.now():%Y-%m-%d %H:%M}"], ["text"])
    book.row(ws, ["Total number of exams", n], ["text", "num"])
    for sheet, left_out in book.overflow.items():
        book.row(ws, [f"Sheet '{sheet}' reached Excel's limit of {MAX_ROWS:,} rows: {left_out:,} rows left out "
                      f"(export fewer studies, or use CSV)"], ["text"])
    book.row(ws, [], [])
    titles = ("Study description", "Requested procedure", "Acquisition protocol")
    book.row(ws, [t for title in titles for t in (title, "Frequency", None)], ["text"] * 9)
    ranked = [c.most_common() for c in tables]
    for i in range(max((len(r) for r in ranked), default=0)):
        values = []
        for r in ranked:
            values += [r[i][0], r[i][1], None] if i < len(r) else [None, None, None]
        book.row(ws, values, ["text", "num", "text"] * 3)
