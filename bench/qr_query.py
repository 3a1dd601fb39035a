"""Query-retrieve against a real PACS (Orthanc): how long a query of N CT studies takes (study,
series and image level C-FINDs plus the filtering), how fast C-GET brings the selected RDSRs into
the spool with their import jobs queued, and how long the second, duplicates-removing query takes.

Each study holds an RDSR and one CT image series of IMAGES small images, like a real CT study's shape
at series level. Runs on a fresh instance (SQLite and an embedded redis-server of its own, unless
--db-url / --redis-url say otherwise); the import between the two queries runs in this process.

    .venv/bin/python bench/qr_query.py [--n 100] [--images 10] [--db-url ...] [--redis-url ...]

ORTHANC_TCP_NODELAY=0 runs Orthanc with Nagle's algorithm on (DCMTK's default), as many PACS are.
"""
from __future__ import annotations

import argparse
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

from pydicom.uid import generate_uid

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchlib import make_sqlite_folder  # noqa: E402 (bench/ is the script's folder)

DAY = "20260115"


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--images", type=int, default=10)
    parser.add_argument("--db-url")
    parser.add_argument("--redis-url")
    args = parser.parse_args()

    from doseapp import create_app
    from doseapp.runtime import embedded_redis
    from doseapp.config import load
    from doseapp.database import upgrade
    from doseapp.dicomnet.qr import run_query
    from doseapp.dicomnet.qr_filter import QueryOptions
    from doseapp.dicomnet.qr_jobs import new_query
    from doseapp.dicomnet.qr_retrieve import retrieve
    from doseapp.models import DicomRemoteNode, DicomStoreScp, DicomTransaction, db
    from doseapp.runtime.processes import run_worker
    from tests.qr.conftest import as_bytes, dose_object, image_series
    from tests.qr.orthanc import Orthanc

    make_sqlite_folder(args.db_url)
    folder = Path(tempfile.mkdtemp(prefix="qr-bench-"))
    instance = folder / "instance"
    (instance / "logs").mkdir(parents=True)
    redis_url = args.redis_url or embedded_redis.ensure_running(instance)
    env = {"DOSEAPP_INSTANCE": str(instance), "DOSEAPP_REDIS_URL": redis_url, "DOSEAPP_QUEUE_PREFIX": "qrbench-",
           "DOSEAPP_DATABASE_URL": args.db_url or f"sqlite:///{folder / 'doseapp.db'}", "DOSEAPP_LOG_LEVEL": "WARNING"}
    app = create_app(load(env=env))
    upgrade(app)
    orthanc = Orthanc(folder / "orthanc", {"QRBENCH": 1})
    try:
        t = time.perf_counter()
        for _ in range(args.n):
            rdsr = dose_object("CT-RDSR-GEPixelMed.dcm", generate_uid(), DAY)
            for ds in (rdsr, *image_series(rdsr, "CT", args.images, "Axial")):
                orthanc.upload(as_bytes(ds))
        print(f"loaded Orthanc: {args.n} studies x {args.images + 1} objects in {time.perf_counter() - t:.1f} s")
        with app.app_context():
            remote = DicomRemoteNode(name="Bench PACS", aetitle=orthanc.aet, ip="127.0.0.1", port=orthanc.port)
            store = DicomStoreScp(name="Bench store", aetitle="QRBENCH", port=1, bind_address="127.0.0.1")
            db.session.add_all([remote, store])
            db.session.commit()
            options = QueryOptions(modalities=["CT"], date_from=DAY, date_until=DAY)

            def timed_query(label):
                finds = db.session.query(DicomTransaction).filter_by(operation="C-FIND").count()
                query = new_query(remote.id, store.id, options, method="get", enqueue_job=False)
                c, t = cpu(), time.perf_counter()
                run_query(query)
                wall, used = time.perf_counter() - t, cpu() - c
                finds = db.session.query(DicomTransaction).filter_by(operation="C-FIND").count() - finds
                print(f"{label}: {wall:.2f} s wall, {used:.2f} s CPU, {finds} C-FINDs, {query.message}")
                return query

            query = timed_query("query (first)")
            c, t = cpu(), time.perf_counter()
            result = retrieve(query, "get")
            wall = time.perf_counter() - t
            print(f"C-GET: {result['received']} objects in {wall:.2f} s ({result['received'] / wall:.1f} objects/s, "
                  f"{cpu() - c:.2f} s CPU; each spooled, fsynced and its import job queued)")
            t = time.perf_counter()
            run_worker(app, burst=True, queue_names=["import"], fork=False)
            print(f"import (one in-process worker): {time.perf_counter() - t:.1f} s")
            timed_query("query (second, duplicates removed)")
    finally:
        orthanc.stop()
        if not args.redis_url:
            embedded_redis.stop(instance)
        shutil.rmtree(folder, ignore_errors=True)  # Orthanc's storage, the spool and the database


if __name__ == "__main__":
    main()
