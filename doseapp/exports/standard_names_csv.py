"""The standard name mapping as CSV (modality, standard_name, field, match, value), so sites can
share one. Import checks every row first and applies nothing when any row is wrong."""
from __future__ import annotations

import csv
import io

from sqlalchemy import select

from doseapp.exports.csv_writer import neutral
from doseapp.ingest.csv_text import NotCsvError, decode, records
from doseapp.models import StandardName, StandardNameRule, db
from doseapp.standards import names

COLUMNS = ("modality", "standard_name", "field", "match", "value")


def export_text() -> str:
    """The whole mapping as CSV text (formulas neutralised, as every export)."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow(COLUMNS)
    for row in names.mapping_rows():
        w.writerow([neutral(row[c]) for c in COLUMNS])
    return out.getvalue()


class ImportErrors(ValueError):
    """Row-numbered problems (row 1 is the header); nothing was applied."""

    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


def _unneutral(text: str) -> str:
    # Our own export writes '=x as text; read it back as =x.
    return text[1:] if len(text) > 1 and text[0] == "'" and text[1] in "=+-@\t\r" else text


def _dialect(text: str):
    """Comma, semicolon or tab, by the header line; quotes as Excel writes them (a sniffer, given
    the doubled quotes of a neutralised formula, may guess otherwise)."""
    first = text.split("\n", 1)[0]
    if "," not in first and ";" in first:
        return type("semicolon", (csv.excel,), {"delimiter": ";"})
    if "," not in first and "\t" in first:
        return csv.excel_tab
    return csv.excel


def parse(raw: bytes) -> list[dict]:
    """The rows of a mapping file, or ImportErrors."""
    try:
        text = decode(raw)
        rows = list(records(text, _dialect(text)))
    except NotCsvError as exc:
        raise ImportErrors([f"The file is not CSV: {exc}."]) from None
    if not rows:
        raise ImportErrors(["The file is empty."])
    header = [h.strip().lower() for h in rows[0]]
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise ImportErrors([f"row 1: the columns {', '.join(missing)} are missing "
                            f"(needed: {', '.join(COLUMNS)})."])
    at = {c: header.index(c) for c in COLUMNS}
    out = []
    for number, rec in enumerate(rows[1:], start=2):
        if not any(x.strip() for x in rec):
            continue
        get = (lambda c: _unneutral(rec[at[c]].strip()) if at[c] < len(rec) else "")
        out.append({"row": number, "modality": get("modality").upper(), "standard_name": get("standard_name"),
                    "field": get("field").lower(), "match": get("match").lower() or "exact", "value": get("value")})
    return out


def import_rows(rows: list[dict]) -> dict:
    """Add the rules not already there; ImportErrors (and nothing applied) when any row is wrong.
    Not committed on success; rolled back on error."""
    problems, added, same = [], 0, 0
    for row in rows:
        if _exists(row):
            same += 1
            continue
        try:
            # add_rule checks before it adds anything, so a refused row leaves nothing behind (no
            # savepoint: pysqlite's SAVEPOINT outside BEGIN would commit on release).
            names.add_rule(row["modality"], row["standard_name"], row["field"], row["match"], row["value"])
            added += 1
        except names.RuleError as exc:
            problems.append(f"row {row['row']}: {exc}")
    if problems:
        db.session.rollback()
        raise ImportErrors(problems)
    return {"added": added, "already": same}


def _exists(row: dict) -> bool:
    return db.session.scalar(
        select(StandardNameRule.id).join(StandardName)
        .where(StandardName.modality == row["modality"], StandardName.name == row["standard_name"].strip(),
               StandardNameRule.field == row["field"], StandardNameRule.match == row["match"],
               StandardNameRule.value == row["value"])) is not None
