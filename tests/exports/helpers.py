"""Shared bits for the export tests: import files, run an export, read it back."""
from __future__ import annotations

import csv
from pathlib import Path

from doseapp.ingest import import_file
from tests.conftest import TESTDATA


def load(*names: str) -> None:
    for n in names:
        result = import_file(TESTDATA / n)
        assert result.status == "imported", (n, result.status, result.reason)


def read_csv(path: Path, encoding: str = "utf-8") -> list[list[str]]:
    with open(path, encoding=encoding, newline="") as fh:
        return list(csv.reader(fh))


def as_dicts(rows: list[list[str]]) -> list[dict]:
    header = rows[0]
    return [dict(zip(header, r)) for r in rows[1:]]
