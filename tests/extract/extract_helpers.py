"""Shared by the extraction tests: where the vendor files are, and small builders."""
from __future__ import annotations

import functools
import io
from decimal import Decimal
from pathlib import Path

import pydicom

TESTDATA = Path(__file__).resolve().parents[2].parent / "shared" / "testdata" / "openrem"


@functools.lru_cache(maxsize=None)
def read(name: str) -> pydicom.Dataset:
    """A test file read as an importer reads it; shared between tests, so not to be changed
    (use ``fresh`` for a copy to damage)."""
    return pydicom.dcmread(TESTDATA / name)


def fresh(name: str) -> pydicom.Dataset:
    """A test file read anew, free to be modified."""
    return pydicom.dcmread(TESTDATA / name)


def dose_files() -> list[str]:
    """Every RDSR / ESR / RRDSR file in the test data."""
    return sorted(p.name for p in TESTDATA.glob("*.dcm")
                  if "-RDSR" in p.name or "-ESR" in p.name or "RRDSR" in p.name
                  or p.name.startswith("ESR"))


def all_files() -> list[str]:
    return sorted(p.name for p in TESTDATA.glob("*.dcm"))


def roundtrip(ds: pydicom.Dataset) -> pydicom.Dataset:
    """Write a dataset and read it back, so that its sequences come back as raw bytes."""
    buf = io.BytesIO()
    pydicom.dcmwrite(buf, ds, enforce_file_format=True)
    return pydicom.dcmread(io.BytesIO(buf.getvalue()))


def half_unit(text: str) -> float:
    """Half a unit in the last decimal place a decimal string was given to (its rounding error)."""
    exponent = Decimal(text.strip()).as_tuple().exponent
    return 0.5 * 10.0 ** exponent
