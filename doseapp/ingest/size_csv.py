"""Patient height and weight from a CSV file (typically a RIS export), matched to stored studies.

    result = import_sizes(csv_path, id_col="Accession", height_col="Height", weight_col="Weight")

Rules (seed §3.6/§3.7, OpenREM's ptsizecsv):
- a row matches studies by accession number, or by Study Instance UID with ``si_uid``; when the
  instance stores accession numbers hashed, the CSV value is hashed with the same keyed hash, so
  hashed and plain studies both match;
- height is in cm in the file and stored in m; weight in kg;
- values already in the database are never overwritten unless ``overwrite``;
- an identifier repeated in the file: the first row wins, the later ones are logged;
- rows without an identifier, with values that are not numbers or outside a person's range
  (HEIGHT_CM, WEIGHT_KG), or that match no study are logged; they never stop the import (a bad
  height still lets the row's weight in, and the other way round);
- a file that is not CSV text (a workbook, an image, binary data, a header that is not column
  names, a value over 128 KB) is refused whole with the reason, before anything is written.
  Encodings: UTF-8 with or without byte order mark, UTF-16 with one, else Windows-1252.

Every outcome is written to a plain-text log (Windows line endings, as hospital users open these in
Notepad). Progress is reported through ``progress(done, total, message)``, which a job uses to
update its bar and to learn of an abort (it raises, and the log says where it stopped).
"""
from __future__ import annotations

import datetime as dt
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import and_, or_, select

from doseapp.ingest import csv_text
from doseapp.security.privacy import keyed_hash
from doseapp.models import Study, SystemSettings, db

LOG_FOLDER = "size_imports"
_BATCH = 50  # rows between commits and progress reports
MAX_NAME = 256  # characters: a longer "column name" is data, and the file has no header row
# The values a person can have (docs/decisions.md): the smallest live-born babies measure about 25 cm
# and 0.25 kg, the tallest person measured 272 cm, the heaviest about 635 kg. Anything outside is a
# typo or another unit (metres, grams), and would skew every weight-based chart and filter.
HEIGHT_CM = (20.0, 300.0)
WEIGHT_KG = (0.2, 700.0)


class SizeCsvError(ValueError):
    """The file cannot be used at all (unreadable, no header, a named column missing)."""


@dataclass
class SizeImportResult:
    rows: int = 0
    matched_rows: int = 0
    heights_inserted: int = 0
    weights_inserted: int = 0
    kept_existing: int = 0
    unmatched_rows: int = 0
    bad_rows: int = 0
    repeated_rows: int = 0
    log_path: str | None = None
    aborted: bool = False
    messages: list[str] = field(default_factory=list)
    # Studies whose height or weight this import changed: their skin dose maps are out of date.
    resized_study_ids: set[int] = field(default_factory=set)

    def as_dict(self) -> dict:
        out = asdict(self)
        out.pop("messages")
        out.pop("resized_study_ids")
        return out


def log_folder() -> Path:
    """Where size-import logs (and uploaded CSVs waiting to be imported) are kept."""
    folder = Path(current_app.config["INSTANCE"]) / LOG_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def read_header(path: Path) -> list[str]:
    """The column names of a CSV file (its first row); SizeCsvError when it is not a size CSV."""
    return _read(path, "header")[0]


def check_file(path: Path) -> list[str]:
    """The column names, once every line of the file has been read; SizeCsvError for the first
    thing that makes it unusable (for refusing a file when it is uploaded, not when it is imported)."""
    return _read(path, "check")[0]


def read_table(path: Path) -> tuple[list[str], list[dict]]:
    """The column names and every row (a dict by column name); SizeCsvError when any of it cannot
    be read, so a file is refused whole before anything is written."""
    return _read(path, "rows")


def _read(path: Path, what: str) -> tuple[list[str], list[dict]]:
    try:
        text = csv_text.decode(Path(path).read_bytes())
        records = csv_text.records(text, csv_text.dialect(text))
        columns = _columns(next(records, None))
        if what == "rows":
            return columns, [dict(zip(columns, r)) for r in records if r]
        if what == "check":
            for _row in records:
                pass
        return columns, []
    except csv_text.NotCsvError as exc:
        raise SizeCsvError(str(exc)) from None


def _columns(header: list[str] | None) -> list[str]:
    names = [h.strip() for h in header or ()]
    if not any(names):
        raise SizeCsvError(_("the file has no header row (the first row must name the columns)"))
    if len(names) < 2:
        raise SizeCsvError(_("its first row has one column only: a size CSV needs an identifier column and a "
                             "height or weight column, separated by commas, semicolons or tabs"))
    longest = max(names, key=len)
    if len(longest) > MAX_NAME:
        raise SizeCsvError(_("its first row holds a value of %(count)s characters, which is not a column "
                             "name (the first row must name the columns)", count=len(longest)))
    return names


def _number(text: str | None, low: float, high: float, unit: str) -> tuple[float | None, str | None]:
    """(value, problem): empty gives (None, None); a number from low to high (decimal comma allowed)
    gives (value, None); anything else (None, why)."""
    text = (text or "").strip()
    if not text:
        return None, None
    try:
        value = float(text.replace(",", ".")) if text.count(",") == 1 and "." not in text else float(text)
    except ValueError:
        return None, "not a number"
    if not math.isfinite(value):
        return None, "not a number"
    if not low <= value <= high:
        return None, f"outside {low:g} to {high:g} {unit}"
    return value, None


def import_sizes(csv_path, *, id_col: str, height_col: str | None, weight_col: str | None, si_uid: bool = False,
                 overwrite: bool = False, log_path: Path | None = None,
                 progress: Callable[[int, int, str], None] | None = None,
                 echo: Callable[[str], None] | None = None) -> SizeImportResult:
    """Import heights and weights from ``csv_path``; commits as it goes. See the module docstring."""
    path = Path(csv_path)
    columns, rows = read_table(path)
    for label, name in (("identifier", id_col), ("height", height_col), ("weight", weight_col)):
        if name and name not in columns:
            raise SizeCsvError(f"the {label} column {name!r} is not in the file (columns: {', '.join(columns)})")
    if not height_col and not weight_col:
        raise SizeCsvError("name a height column, a weight column, or both")

    log_path = Path(log_path or log_folder() / f"size-import-{dt.datetime.now():%Y%m%d-%H%M%S-%f}.log")
    result = SizeImportResult(rows=len(rows), log_path=str(log_path))
    settings = SystemSettings.get()
    hash_ids = bool(settings.accession_hashed) and not si_uid
    kind = "Study Instance UID" if si_uid else "accession number"
    seen: set[str] = set()
    with open(log_path, "w", encoding="utf-8", newline="\r\n") as log:
        def note(line: str, verbose: bool = True) -> None:
            log.write(line + "\n")
            if echo and verbose:
                echo(line)

        note(f"Patient size import from {path.name} at {dt.datetime.now():%Y-%m-%d %H:%M:%S}", False)
        note(f"Identifier: {id_col} ({kind}); height: {height_col or '-'} (cm); weight: {weight_col or '-'} (kg); "
             f"overwrite existing values: {'yes' if overwrite else 'no'}; {len(rows)} rows", False)
        n = 0
        try:
            for n, row in enumerate(rows, start=1):
                _row(n, row, id_col, height_col, weight_col, si_uid, hash_ids, overwrite, seen, result, note)
                if n % _BATCH == 0:
                    db.session.commit()
                    if progress:
                        progress(n, len(rows), f"Processing row {n} of {len(rows)}")
            db.session.commit()
        except BaseException:
            # An abort (or a fault): what was written stays written, and the log says where it stopped.
            db.session.commit()
            result.aborted = True
            note(f"Import stopped after row {n} of {len(rows)}: {result.heights_inserted} heights and "
                 f"{result.weights_inserted} weights inserted before it stopped", False)
            raise
        finally:
            if not result.aborted:
                note(f"Done: {result.rows} rows; {result.matched_rows} matched; {result.heights_inserted} heights and "
                     f"{result.weights_inserted} weights inserted; {result.kept_existing} existing values kept; "
                     f"{result.unmatched_rows} unmatched, {result.bad_rows} bad and {result.repeated_rows} repeated rows",
                     False)
    if progress:
        progress(len(rows), len(rows), f"Processed {len(rows)} rows")
    return result


def _row(n, row, id_col, height_col, weight_col, si_uid, hash_ids, overwrite, seen, result, note) -> None:
    ident = (row.get(id_col) or "").strip()
    if not ident:
        result.bad_rows += 1
        note(f"Row {n}: no identifier in column {id_col!r}; skipped")
        return
    if ident in seen:
        result.repeated_rows += 1
        note(f"Row {n}: {ident} appeared on an earlier row; only the first row is used")
        return
    seen.add(ident)
    height, height_bad = _number(row.get(height_col), *HEIGHT_CM, "cm") if height_col else (None, None)
    weight, weight_bad = _number(row.get(weight_col), *WEIGHT_KG, "kg") if weight_col else (None, None)
    if height_bad or weight_bad:
        result.bad_rows += 1
        bad = [f"{label} {row.get(col)!r} {why}" for label, col, why in (("height", height_col, height_bad),
                                                                         ("weight", weight_col, weight_bad)) if why]
        note(f"Row {n}: {ident}: {' and '.join(bad)}; "
             + ("the other value is still used" if (height is not None or weight is not None) else "skipped"))
        if height is None and weight is None:
            return
    studies = _studies(ident, si_uid, hash_ids)
    if not studies:
        result.unmatched_rows += 1
        note(f"Row {n}: {ident}: no study with this {'Study Instance UID' if si_uid else 'accession number'}")
        return
    result.matched_rows += 1
    for study in studies:
        label = f"Row {n}: {ident} (study {study.id})"
        if height is not None:
            _set(study, "patient_height_m", height / 100, f"height of {height:g} cm", "cm", 100, overwrite,
                 result, label, note)
        if weight is not None:
            _set(study, "patient_weight_kg", weight, f"weight of {weight:g} kg", "kg", 1, overwrite,
                 result, label, note)


def _set(study, column, value, words, unit, scale, overwrite, result, label, note) -> None:
    old = getattr(study, column)
    if old is not None and not overwrite:
        result.kept_existing += 1
        note(f"{label}: {words.capitalize()} not inserted as {old * scale:g} {unit} is already in the database")
        return
    setattr(study, column, value)
    if old != value:
        result.resized_study_ids.add(study.id)
    if column == "patient_height_m":
        result.heights_inserted += 1
    else:
        result.weights_inserted += 1
    replaced = f" (replacing {old * scale:g} {unit})" if old is not None else ""
    note(f"{label}: Inserted {words}{replaced}")


def _studies(ident: str, si_uid: bool, hash_ids: bool) -> list[Study]:
    if si_uid:
        where = Study.study_instance_uid == ident
    else:
        where = and_(Study.accession_number == ident, Study.accession_hashed.isnot(True))
        if hash_ids:
            where = or_(where, and_(Study.accession_number == keyed_hash(ident), Study.accession_hashed.is_(True)))
    return db.session.scalars(select(Study).where(where).order_by(Study.id)).all()


# --- the background job ----------------------------------------------------------------------------

def run_job(ctx) -> dict:
    """The "size_import" job: import the uploaded CSV named in the job's parameters with progress
    and abort, keep the log as the job's result file, and delete the upload whatever happens."""
    p = ctx.parameters
    upload = Path(p["csv_path"])
    log_path = log_folder() / f"size-import-{ctx.row.id}.log"
    ctx.row.result_path = str(log_path)
    try:
        ctx.progress(0, None, "Starting")  # commits result_path, so an aborted import keeps its log
        result = import_sizes(upload, id_col=p["id_col"], height_col=p.get("height_col") or None,
                              weight_col=p.get("weight_col") or None, si_uid=bool(p.get("si_uid")),
                              overwrite=bool(p.get("overwrite")), log_path=log_path, progress=ctx.progress)
    finally:
        upload.unlink(missing_ok=True)  # the uploaded file is not kept once imported (or aborted)
    ctx.row.message = (f"{result.rows} rows: {result.heights_inserted} heights, {result.weights_inserted} weights "
                       f"inserted; {result.unmatched_rows} unmatched, {result.bad_rows} bad rows.")
    out = result.as_dict() | {"file": p.get("original_name") or upload.name}
    if result.resized_study_ids:
        from doseapp.skin.jobs import after_size_change

        # Raises when Redis is down: the sizes are in, and the failed job says their maps are not.
        job = after_size_change(result.resized_study_ids, user_id=ctx.row.user_id)
        if job is not None:
            out["skin_map_job"] = job.id
            ctx.row.message += f" Skin dose maps recomputed by job {job.id}."
    return out
