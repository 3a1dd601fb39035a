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
from itertools import chain
from pathlib import Path
from typing import Callable

from sqlalchemy import func, select

from doseapp import filters
from doseapp.display.i18n import headings_translator
from doseapp.exports import columns as C
from doseapp.exports import fluoro_groups, nhsbsp
from doseapp.exports.csv_writer import CsvOut, compile_cells
from doseapp.exports.read import BATCH, Layout, stream
from doseapp.exports.xlsx_writer import MAX_ROWS, XlsxOut, sheet_names
from doseapp.models import Study, db
from doseapp.models.ct import CtEvent
from doseapp.models.nm import NmAdministration
from doseapp.models.projection import XrayEvent
from doseapp.studies import sees_patterns

# "csv" is one row per study, except for mammography: one row per exposure, OpenREM's layout, with
# the one-row-per-study layout of the other modalities as "csv-wide".
FORMATS = ("csv", "csv-wide", "xlsx", "nhsbsp")
MG_ONLY = ("csv-wide", "nhsbsp")
TYPE_LABELS = {"csv": "CSV export", "csv-wide": "CSV export (one row per study)", "xlsx": "XLSX export",
               "nhsbsp": "NHSBSP CSV export"}


class ExportError(Exception):
    """An export that cannot be made as asked (e.g. NHSBSP for a modality other than mammography)."""


def file_name(modality: str, fmt: str, now: dt.datetime | None = None) -> str:
    """OpenREM's names: ctexport<YYYYMMDD-HHMMSSffffff>.csv, mg_nhsbsp_….csv; and mg_wide_….csv."""
    stamp = (now or dt.datetime.now()).strftime("%Y%m%d-%H%M%S%f")
    if fmt == "nhsbsp":
        return f"mg_nhsbsp_{stamp}.csv"
    if fmt == "csv-wide":
        return f"mg_wide_{stamp}.csv"
    return f"{modality.lower()}export{stamp}.{fmt}"


# What an XLSX export has a sheet per: the events' acquisition protocol, for NM the administrations'
# radiopharmaceutical.
SHEET_BY = {"NM": "radiopharmaceutical"}


def _protocols(q: filters.StudyQuery, modality: str) -> list:
    table = {"CT": CtEvent, "NM": NmAdministration}.get(modality, XrayEvent)
    column = getattr(table, SHEET_BY.get(modality, "acquisition_protocol"))
    ids = select(Study.id).where(*q.where)
    return list(db.session.scalars(select(column).where(table.study_id.in_(ids)).distinct()))


def run_export(modality: str, fmt: str, args, *, out: Path | str, user=None, name: bool = False,
               pat_id: bool = False, bom: bool = False, date_format: str = "dd/mm/yyyy",
               progress: Callable | None = None, batch: int = BATCH, headings: str = "en") -> dict:
    """Export the studies that `args` (list filter arguments) select for `user` (None: the command
    line, every filter allowed). Returns records, seconds and the file path. `headings`: the language
    of the column headings (English by default: scripts and spreadsheets read them; NHSBSP's fixed
    layout is always English)."""
    modality = modality.upper()
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r}")
    if fmt in MG_ONLY and modality != "MG":
        raise ExportError(f"the {TYPE_LABELS[fmt]} is for mammography only"
                          + (" (the CSV of other modalities is one row per study)" if fmt == "csv-wide" else ""))
    q = filters.study_query(modality, args, user)
    patterns = sees_patterns(user)
    if q.errors:
        raise ExportError("bad filter value(s): " + ", ".join(f"{k} ({v})" for k, v in q.errors.items()))
    out = Path(out)
    part = out.with_name(out.name + ".part")
    started = time.monotonic()
    total = db.session.scalar(q.count()) or 0
    report = progress or (lambda done, total: None)
    report(0, total)
    C.load_standard_names()
    heading = headings_translator(headings)
    try:
        if fmt == "nhsbsp":
            records = _nhsbsp(q, part, bom, report, total, batch)
        elif fmt == "csv" and modality == "MG":
            records = _csv_per_exposure(q, part, name, pat_id, bom, report, total, batch, patterns, heading)
        elif fmt in ("csv", "csv-wide"):
            records = _csv(q, modality, part, name, pat_id, bom, report, total, batch, patterns, heading)
        else:
            records = _xlsx(q, modality, part, name, pat_id, date_format, report, total, batch, patterns, heading)
        os.replace(part, out)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    return {"records": records, "seconds": round(time.monotonic() - started, 3), "path": str(out),
            "modality": modality, "format": fmt}


def _headings(cols, heading) -> list[str]:
    """The columns' headings, each through `heading` (headings_translator: the export's language)."""
    return [heading(c.header) for c in cols]


def _max_events(q) -> int:
    return db.session.scalar(select(func.max(Study.number_of_events)).where(*q.where)) or 0


def _csv(q, modality, path, name, pat_id, bom, report, total, batch, patterns, heading) -> int:
    scols = C.study_columns(modality, name, pat_id, patterns)
    # Fluoroscopy CSV is study-level only (seed §8.3).
    ecols = [] if modality == "RF" else C.EVENT_COLUMNS[modality]
    n_ev = _max_events(q) if ecols else 0
    layout = Layout(modality, C.reads(scols), C.reads(ecols))
    study_cells = compile_cells(scols, layout.study)
    event_cells = compile_cells(ecols, layout.event)
    blank = (None,) * len(ecols)
    out = CsvOut(path, bom)
    try:
        event_headings = _headings(ecols, heading)
        out.row(_headings(scols, heading) + [f"E{n} {h}" for n in range(1, n_ev + 1) for h in event_headings])
        done = 0
        for part in stream(q, layout, batch):
            if ecols:
                # A study's cells, then each event's (up to the largest number of events), then blanks.
                out.rows([*study_cells(s), *chain.from_iterable(map(event_cells, events[:n_ev])),
                          *blank * (n_ev - min(len(events), n_ev))] for s, events in part)
            else:
                out.rows(study_cells(s) for s, _ in part)
            done += len(part)
            report(done, total)
    finally:
        out.close()
    return done


def _csv_per_exposure(q, path, name, pat_id, bom, report, total, batch, patterns, heading) -> int:
    """Mammography: a row per exposure, the study's columns repeated on each. A study without
    exposures still gets its row (OpenREM's left it out), with the exposure columns blank."""
    scols, ecols = C.mg_exposure_columns(name, pat_id, patterns)
    layout = Layout("MG", C.reads(scols), C.reads(ecols))
    study_cells = compile_cells(scols, layout.study)
    event_cells = compile_cells(ecols, layout.event)
    blank = (None,) * len(ecols)

    def rows(part):
        for s, events in part:
            cells = study_cells(s)
            if not events:
                yield cells + blank
            for e in events:
                yield cells + event_cells(e)

    out = CsvOut(path, bom)
    try:
        out.row(_headings(scols + ecols, heading))
        done = 0
        for part in stream(q, layout, batch):
            out.rows(rows(part))
            done += len(part)
            report(done, total)
    finally:
        out.close()
    return done


def _nhsbsp(q, path, bom, report, total, batch) -> int:
    layout = Layout("MG", nhsbsp.STUDY_READS, nhsbsp.EVENT_READS, named=True)
    out = CsvOut(path, bom)
    try:
        out.row(nhsbsp.HEADER)
        done = patient = 0
        for part in stream(q, layout, batch):
            for s, events in part:
                rows = nhsbsp.study_rows(s, events, patient + 1)
                if rows:
                    patient += 1
                    for r in rows:
                        out.row(r)
            done += len(part)
            report(done, total)
    finally:
        out.close()
    return done


def _xlsx(q, modality, path, name, pat_id, date_format, report, total, batch, patterns, heading) -> int:
    scols = C.study_columns(modality, name, pat_id, patterns)
    ecols = C.EVENT_COLUMNS[modality]
    counted = ["study_description", "requested_procedure_code_meaning"]
    if modality == "RF":
        layout = Layout(modality, C.reads(scols) + counted, None, named=True)
        # Groups per study are only known by grouping: one pass to size the header (grouping is cheap
        # next to writing).
        gcols = fluoro_groups.group_columns()
        n_all = max((len(fluoro_groups.group(events)) for part in stream(q, layout, batch) for _, events in part),
                    default=0)
        all_header = [f"G{n} {h}" for n in range(1, n_all + 1) for h in _headings(gcols, heading)]
        all_kinds = [c.kind for c in gcols] * n_all
    else:
        layout = Layout(modality, C.reads(scols) + counted, C.reads(ecols) + [SHEET_BY.get(modality, "acquisition_protocol")])
        n_all = _max_events(q)
        all_header = [f"E{n} {h}" for n in range(1, n_all + 1) for h in _headings(ecols, heading)]
    sheets_for = sheet_names(_protocols(q, modality))
    book = XlsxOut(path, date_format)
    try:
        summary = book.sheet("Summary")
        all_data = book.sheet("All data")
        book.header(all_data, _headings(scols, heading) + all_header)
        proto_ws = {}
        for raw, sheet in sorted(sheets_for.items(), key=lambda kv: kv[1]):
            if sheet not in proto_ws:
                proto_ws[sheet] = book.sheet(sheet)
                book.header(proto_ws[sheet], _headings(scols, heading) + _headings(ecols, heading))
        ws_for = {raw: proto_ws[sheet] for raw, sheet in sheets_for.items()}
        n_s, n_e, n_all_cols = len(scols), len(ecols), len(scols) + len(all_header)
        # Each study's and event's cells are made once, as fragments, and placed by templates: the
        # study's on "All data" and on each of its events' protocol-sheet rows, an event's at its place
        # on "All data" (E<n>) and on its protocol sheet (where its place is E1's).
        study_cells, event_cells = book.compile(scols, layout.study), book.compile(ecols, layout.event)
        study_tpl = book.template(n_s)
        event_tpl = [book.template(n_e, n_s + n * n_e) for n in range(max(n_all, 1))]
        first_tpl = event_tpl[0]
        protocol_at = layout.event.index(SHEET_BY.get(modality, "acquisition_protocol"))
        description_at = layout.study.index("study_description")
        requested_at = layout.study.index("requested_procedure_code_meaning")
        descriptions, requested, protocols = Counter(), Counter(), Counter()
        put = book.put
        done = 0
        for part in stream(q, layout, batch):
            for s, events in part:
                sx = study_tpl % study_cells(s)
                cells = [event_cells(e) for e in events]
                if modality == "RF":
                    values = [v for g in fluoro_groups.group(events) for v in fluoro_groups.group_values(g)]
                    put(all_data, sx + book.cells(values, all_kinds, n_s), n_all_cols)
                else:
                    put(all_data, sx + "".join([t % c for t, c in zip(event_tpl[:n_all], cells)]), n_all_cols)
                for e, c in zip(events, cells):
                    ws = ws_for.get(e[protocol_at], False)
                    if ws is False:  # an event imported since the export began
                        continue
                    put(ws, sx + first_tpl % c, n_s + n_e)
                    protocols[e[protocol_at] or ""] += 1
                descriptions[s[description_at] or ""] += 1
                requested[s[requested_at] or ""] += 1
            book.flush()
            done += len(part)
            report(done, total)
        _summary(book, summary, done, descriptions, requested, protocols,
                 third="Radiopharmaceutical" if modality == "NM" else "Acquisition protocol")
    finally:
        book.close()
    return done


def _summary(book: XlsxOut, ws, n: int, *tables: Counter, third: str = "Acquisition protocol") -> None:
    from importlib.metadata import version

    from doseapp.display.timefmt import local_now

    book.row(ws, [f"XLSX export from doseapp version {version('doseapp')} on "
                  f"{local_now():%Y-%m-%d %H:%M}"], ["text"])
    book.row(ws, ["Total number of exams", n], ["text", "num"])
    for sheet, left_out in book.overflow.items():
        book.row(ws, [f"Sheet '{sheet}' reached Excel's limit of {MAX_ROWS:,} rows: {left_out:,} rows left out "
                      f"(export fewer studies, or use CSV)"], ["text"])
    book.row(ws, [], [])
    titles = ("Study description", "Requested procedure", third)
    book.row(ws, [t for title in titles for t in (title, "Frequency", None)], ["text"] * 9)
    ranked = [c.most_common() for c in tables]
    for i in range(max((len(r) for r in ranked), default=0)):
        values = []
        for r in ranked:
            values += [r[i][0], r[i][1], None] if i < len(r) else [None, None, None]
        book.row(ws, values, ["text", "num", "text"] * 3)
