"""Export speed and memory on a large database.

Fills a database (--database-url, else DOSEAPP_DATABASE_URL, else the instance's SQLite file; it must
be empty or already filled by this script with the same --studies) with N CT studies of 4 events each
(one X-ray source per event) and N mammography studies of 4 exposures each, by bulk insert; then runs
`doseapp export` in a child process for each modality and format and reports the export time, wall and
CPU time (user + system of that child: what counts when other work shares the cores), studies per
second and the child's peak RSS (os.wait4 rusage of that child alone).

    .venv/bin/python bench/export_rate.py --studies 100000
    .venv/bin/python bench/export_rate.py --studies 100000 --database-url sqlite:////tmp/eb/bench.db
    psql -h 127.0.0.1 -U postgres -c 'create database exportbench'
    .venv/bin/python bench/export_rate.py --studies 100000 \
        --database-url postgresql://postgres@127.0.0.1:5432/exportbench
A database that already holds the 2 x N studies is reused as it is (no second fill); a missing SQLite
folder is created. The instance is DOSEAPP_INSTANCE when set, and is kept (with its database, for the
next run); otherwise a temporary folder, removed at the end with everything in it. The exported files
go to a temporary folder of their own, removed as each is measured and at the end.
Formats: csv (mammography: one row per exposure), csv-wide and nhsbsp (mammography only), xlsx.
Targets (issue 7): XLSX under 60 s, CSV at least 5,000 studies/s, peak RSS under 300 MB.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchlib import make_sqlite_folder

MG_ONLY = ("csv-wide", "nhsbsp")

VIEWS = (("Right", "cranio-caudal"), ("Left", "cranio-caudal"), ("Right", "medio-lateral oblique"),
         ("Left", "medio-lateral oblique"))
CT_PROTOCOLS = ("Head", "Chest", "Abdomen pelvis", "TAP", "CTPA", "Scout")
CT_TYPES = ("Constant Angle Acquisition", "Spiral Acquisition", "Sequenced Acquisition", "Spiral Acquisition")


def fill(n: int) -> None:
    from doseapp.models import Equipment, Study, db
    from doseapp.models.ct import CtEvent, CtSource
    from doseapp.models.projection import XrayEvent

    rnd = random.Random(7)
    db.session.execute(Equipment.__table__.insert(), [
        dict(id=i + 1, identity_hash=f"{i:064x}", display_name=f"Room {i}", manufacturer="ACME",
             institution_name=f"Hospital {i % 3}", station_name=f"ST{i}", model_name=f"Model {i % 4}")
        for i in range(20)])
    start = dt.datetime(2019, 1, 1)
    step = 2000
    event_id = source_id = 0
    for base in range(0, 2 * n, step):
        studies, ct_events, sources, x_events = [], [], [], []
        for sid in range(base + 1, min(base + step, 2 * n) + 1):
            ct = sid <= n
            when = start + dt.timedelta(minutes=7 * sid)
            s = dict(id=sid, study_instance_uid=f"1.2.826.0.1.3680043.9.{sid}", modality="CT" if ct else "MG",
                     equipment_id=1 + sid % (10 if ct else 20), study_datetime=when, study_date=when.date(),
                     study_time=when.time(), accession_number=f"{sid:010d}", study_description="Bench study",
                     patient_age_years=round(rnd.uniform(20, 90), 1), patient_sex="F" if sid % 2 else "M",
                     number_of_events=4, created_at=when, updated_at=when)
            if ct:
                dlps = [rnd.uniform(1, 600) for _ in range(4)]
                s["total_dlp_mgycm"] = sum(dlps)
                for k in range(4):
                    event_id += 1
                    source_id += 1
                    ct_events.append(dict(id=event_id, study_id=sid, acquisition_protocol=CT_PROTOCOLS[(sid + k) % 6],
                                          acquisition_type=CT_TYPES[k], ctdivol_mgy=dlps[k] / 40, dlp_mgycm=dlps[k],
                                          scanning_length_mm=rnd.uniform(100, 800), pitch_factor=0.9,
                                          nominal_single_collimation_mm=0.6, nominal_total_collimation_mm=38.4,
                                          number_of_xray_sources=1, exposure_time_s=rnd.uniform(1, 20)))
                    sources.append(dict(id=source_id, event_id=event_id, identification="A", kvp=120.0,
                                        max_tube_current_ma=400.0, tube_current_ma=rnd.uniform(50, 400),
                                        exposure_time_per_rotation_s=0.5))
            else:
                agd = [rnd.uniform(0.5, 2.5) for _ in range(4)]
                s.update(agd_left_mgy=agd[1] + agd[3], agd_right_mgy=agd[0] + agd[2], agd_both_mgy=sum(agd))
                for k, (side, view) in enumerate(VIEWS):
                    x_events.append(dict(study_id=sid, acquisition_protocol="ROUTINE", laterality=side,
                                         image_view=view, event_type="Stationary Acquisition", kvp=29.0,
                                         tube_current_ma=60.0, exposure_uas=rnd.uniform(30000, 90000),
                                         exposure_time_ms=800.0, compression_thickness_mm=rnd.uniform(30, 80),
                                         compression_force_n=80.0, anode_target_material="Tungsten or Tungsten compound",
                                         filters=[{"type": "Strip filter", "material": "Rhodium or Rhodium compound",
                                                   "thickness_min_mm": 0.05, "thickness_max_mm": 0.05}],
                                         agd_mgy=agd[k], entrance_exposure_at_rp_mgy=agd[k] * 4,
                                         exposure_control_mode="AUTOMATIC", focal_spot_size_mm=0.3))
            studies.append(s)
        for mod in ("CT", "MG"):  # one executemany per set of keys
            rows = [s for s in studies if s["modality"] == mod]
            if rows:
                db.session.execute(Study.__table__.insert(), rows)
        if ct_events:
            db.session.execute(CtEvent.__table__.insert(), ct_events)
            db.session.execute(CtSource.__table__.insert(), sources)
        if x_events:
            db.session.execute(XrayEvent.__table__.insert(), x_events)
    db.session.commit()


def run_child(env: dict, modality: str, fmt: str, out: Path) -> tuple[float, float, float, float, int]:
    """(export seconds as the command reports, wall seconds, CPU seconds, peak RSS MB, records) of one
    export. CPU seconds (user + system of the child) show the cost when other work shares the cores."""
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "doseapp.cli", "export", "--modality", modality,
                             "--format", fmt, "--out", str(out)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    output = proc.stdout.read()
    errors = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"export {modality} {fmt} failed ({proc.returncode}): {output} {errors[-2000:]}")
    m = re.search(r"(\d+) studies written to .* in ([\d.]+) s", output)
    return float(m.group(2)), wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, int(m.group(1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--studies", type=int, default=100000, help="CT studies, and as many MG studies")
    ap.add_argument("--formats", default="csv,csv-wide,xlsx,nhsbsp")
    ap.add_argument("--modalities", default="ct,mg")
    ap.add_argument("--database-url", help="SQLAlchemy URL (default: DOSEAPP_DATABASE_URL, else the instance's "
                                           "SQLite file)")
    args = ap.parse_args()
    made = []  # folders this run made, removed at the end
    instance = os.environ.get("DOSEAPP_INSTANCE")
    if not instance:
        instance = tempfile.mkdtemp(prefix="doseapp-export-bench-")
        made.append(instance)
    outputs = Path(tempfile.mkdtemp(prefix="doseapp-export-bench-out-"))
    made.append(outputs)
    try:
        measure(args, instance, outputs)
    finally:
        for folder in made:
            shutil.rmtree(folder, ignore_errors=True)


def measure(args, instance: str, outputs: Path) -> None:
    """Fill the database if it is empty, then run and time each export."""
    env = dict(os.environ, DOSEAPP_INSTANCE=instance, DOSEAPP_LOG_LEVEL="WARNING")
    if args.database_url:
        env["DOSEAPP_DATABASE_URL"] = args.database_url
    make_sqlite_folder(env.get("DOSEAPP_DATABASE_URL"))
    os.environ.update(env)
    from sqlalchemy import func, select

    from doseapp import create_app
    from doseapp.database import upgrade
    from doseapp.models import Study, db

    app = create_app()
    upgrade(app)
    with app.app_context():
        kind = app.config["SQLALCHEMY_DATABASE_URI"].split(":")[0]
        have = db.session.scalar(select(func.count(Study.id)))
        if have == 2 * args.studies:
            print(f"reusing the {have} studies already in the database ({kind})")
        elif have:
            raise SystemExit(f"the database holds {have} studies, not 0 or {2 * args.studies}: use another")
        else:
            t = time.monotonic()
            fill(args.studies)
            if kind.startswith("postgresql"):  # fresh statistics, as a production database has
                with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                    conn.exec_driver_sql("VACUUM ANALYZE")
            print(f"filled {args.studies} CT studies x 4 events and {args.studies} MG studies x 4 exposures "
                  f"in {time.monotonic() - t:.0f} s ({kind})")
    print(f"load average before: {os.getloadavg()[0]:.1f} (2-core VM; others' work slows wall times)")
    print(f"{'export':<13}{'studies':>9}{'export s':>10}{'wall s':>8}{'CPU s':>8}{'studies/s':>11}"
          f"{'peak RSS MB':>13}{'file MB':>9}")
    for modality in args.modalities.split(","):
        for fmt in filter(None, args.formats.split(",")):
            if fmt in MG_ONLY and modality != "mg":
                continue
            out = outputs / f"{modality}-{fmt}.{'xlsx' if fmt == 'xlsx' else 'csv'}"
            secs, wall, cpu, rss, records = run_child(env, modality, fmt, out)
            rate = records / secs if secs else float("inf")
            print(f"{modality + ' ' + fmt:<13}{records:>9}{secs:>10.1f}{wall:>8.1f}{cpu:>8.1f}{rate:>11.0f}"
                  f"{rss:>13.0f}{out.stat().st_size / 1e6:>9.1f}  (load {os.getloadavg()[0]:.1f})", flush=True)
            out.unlink()


if __name__ == "__main__":
    main()
