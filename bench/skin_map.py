"""Skin dose map calculation time and peak skin dose for every fluoroscopy file in the test data.

Extraction is not timed: the figure is the map calculation (doseapp.skin.compute) alone, per file
and per phantom, best of --repeat runs, on one core. Files that cannot have a map print the reason.

    .venv/bin/python bench/skin_map.py                  # every RF file in ../shared/testdata/openrem
    .venv/bin/python bench/skin_map.py --repeat 3 --phantoms doseapp,openskin
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pydicom  # noqa: E402

from doseapp.extract.classify import extract  # noqa: E402
from doseapp.extract.records import Rejected  # noqa: E402
from doseapp.skin import compute  # noqa: E402

TESTDATA = Path(__file__).resolve().parents[2] / "shared" / "testdata" / "openrem"


def fluoroscopy_reports(folder: Path):
    """(file name, report) of every file whose report has x-ray events or is a fluoroscopy report."""
    for path in sorted(folder.glob("*.dcm")):
        if not (path.name.startswith("RF") or "RF" in path.name):
            continue
        try:
            report = extract(pydicom.dcmread(path))
        except Rejected as exc:
            print(f"{path.name}: not a dose report ({exc})")
            continue
        yield path.name, report


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", type=Path, default=TESTDATA, help="folder of DICOM files (default: the test data)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per file; the best is printed")
    parser.add_argument("--phantoms", default="doseapp,openskin", help="comma-separated: doseapp, openskin")
    parser.add_argument("--trust-unknown", action="store_true",
                        help="compute for systems not in the vendor table too (as an admin marking them trusted)")
    args = parser.parse_args(argv)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cpus, Python {platform.python_version()}")
    print(f"{'file':45} {'phantom':9} {'events':>6} {'seconds':>8} {'PSD mGy':>9} {'surface':10} note")
    worst = 0.0
    for name, report in fluoroscopy_reports(args.folder):
        for phantom in args.phantoms.split(","):
            best = None
            for _ in range(max(1, args.repeat)):
                started = time.perf_counter()
                result = compute(report.study, report.xray_events, report.equipment, phantom=phantom,
                                 trusted=True if args.trust_unknown else None)
                elapsed = time.perf_counter() - started
                best = elapsed if best is None else min(best, elapsed)
            worst = max(worst, best)
            psd = f"{result.peak_skin_dose_gy * 1000:9.4f}" if result.ok else f"{'-':>9}"
            note = "" if result.ok else f"no map: {result.reason}"
            print(f"{name:45} {phantom:9} {len(report.xray_events):6d} {best:8.3f} {psd} "
                  f"{(result.peak_surface or '-'):10} {note}")
    print(f"slowest file: {worst:.3f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
