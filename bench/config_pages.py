"""Server time of the configuration pages on a large database.

Fills a fresh database (SQLite in a temporary folder, or DOSEAPP_DATABASE_URL) with N synthetic
studies spread over 60 systems and M audit entries, then times each page through the Flask test
client (server time, no network), and prints the median and the nearest-rank p95 in ms (with fewer
than 20 requests per page that is the maximum, and the column says "max").

    .venv/bin/python bench/config_pages.py --studies 200000 --audit 100000 --repeat 20
"""
from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from benchlib import database_url_from_env, log_in, slow_end, slow_end_label

MODALITIES = ("CT", "DX", "RF", "MG")


def fill(n_studies: int, n_audit: int) -> None:
    import datetime as dt

    from doseapp.models import AuditEntry, Equipment, Study, db

    rnd = random.Random(1)
    eq_rows = [dict(identity_hash=f"{i:064x}", display_name=f"Hospital {i % 7} room {i}", manufacturer="ACME",
                    institution_name=f"Hospital {i % 7}", station_name=f"ST{i}", model_name=f"Model {i % 5}")
               for i in range(60)]
    db.session.execute(Equipment.__table__.insert(), eq_rows)
    ids = list(range(1, 61))
    start = dt.datetime(2018, 1, 1)
    batch = []
    for n in range(n_studies):
        when = start + dt.timedelta(minutes=13 * n)
        batch.append(dict(study_instance_uid=f"1.2.826.0.9.{n}", modality=MODALITIES[n % 4],
                          equipment_id=ids[n % 60], study_datetime=when, study_date=when.date(),
                          number_of_events=rnd.randint(1, 30), total_dap_gym2=rnd.random() / 1000,
                          created_at=when, updated_at=when))
        if len(batch) == 20000:
            db.session.execute(Study.__table__.insert(), batch)
            batch = []
    if batch:
        db.session.execute(Study.__table__.insert(), batch)
    actions = ("equipment.rename", "pattern.add", "user.roles", "settings.patient_id", "study.delete")
    rows = [dict(at=start + dt.timedelta(minutes=n), username=f"user{n % 9}", action=actions[n % 5],
                 target=f"target {n}", details={"n": n}) for n in range(n_audit)]
    for i in range(0, len(rows), 20000):
        db.session.execute(AuditEntry.__table__.insert(), rows[i:i + 20000])
    db.session.commit()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--studies", type=int, default=200000)
    ap.add_argument("--audit", type=int, default=100000)
    ap.add_argument("--repeat", type=int, default=20)
    args = ap.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="doseapp-bench-"))
    os.environ.setdefault("DOSEAPP_INSTANCE", str(folder))
    database_url_from_env()
    try:
        measure(args)
    finally:
        shutil.rmtree(folder, ignore_errors=True)  # leave no 250 MB database behind


def measure(args) -> None:
    """Fill the database and print the server time of each page."""
    from doseapp import create_app
    from doseapp.database import upgrade
    from doseapp.models import Equipment, Study, db
    from doseapp.users import create_user

    app = create_app({"TESTING": True, "WTF_CSRF_ENABLED": False})
    upgrade(app)
    with app.app_context():
        t = time.perf_counter()
        fill(args.studies, args.audit)
        admin = create_user("bench-admin", "bench-password", ["admin", "viewer"])
        big = db.session.scalar(db.select(Equipment.id).order_by(Equipment.id))
        one_study = db.session.scalar(db.select(Study.id).order_by(Study.id.desc()))
        print(f"filled {args.studies} studies, {args.audit} audit entries in {time.perf_counter() - t:.1f} s "
              f"({db.engine.dialect.name})")
        admin_id = admin.get_id()  # the id with its session token
        if db.engine.dialect.name == "postgresql":
            # Steady state: autovacuum would have run on a live server (index-only scans need it).
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("VACUUM ANALYZE")
        else:
            db.session.execute(db.text("ANALYZE"))
            db.session.commit()
    client = app.test_client()
    log_in(client, admin_id)
    pages = {
        "display names (view/select)": "/config/display-names",
        "display names edit (3 rows)": "/config/display-names/edit?ids=1&ids=2&ids=3",
        "source review, DX, page 1": f"/config/equipment/{big}/review?modality=DX",
        "source review, DX, last page": f"/config/equipment/{big}/review?modality=DX&page=100000",
        "delete-studies confirmation": f"/config/equipment/{big}/delete-studies?modality=DX",
        "study delete confirmation": f"/studies/{one_study}/delete",
        "audit log, page 1": "/config/audit",
        "audit log, action filter": "/config/audit?action=pattern",
        "audit log, user filter, page 50": "/config/audit?user=user3&page=50",
        "not-patient patterns": "/config/not-patient",
        "patient ID settings": "/config/patient-id",
    }
    slow = slow_end_label(args.repeat)
    print(f"{'page':<34} {'median ms':>10} {slow + ' ms':>8}")
    for name, url in pages.items():
        times = []
        for _ in range(args.repeat):
            t = time.perf_counter()
            resp = client.get(url)
            times.append((time.perf_counter() - t) * 1000)
            assert resp.status_code == 200, (url, resp.status_code)
        print(f"{name:<34} {statistics.median(times):>10.1f} {slow_end(times):>8.1f}")


if __name__ == "__main__":
    main()
