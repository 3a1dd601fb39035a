"""Alert rule re-evaluation: every rule switched on, evaluated over every study of a big database as
the background job a rule change queues (run in this process through the job runner, as a worker
runs it: Job row, progress per rule), in studies/s; then run again (nothing new: the idempotent pass).

    DOSEAPP_DATABASE_URL=sqlite:////tmp/bench/big.db .venv/bin/python bench/make_db.py 500000
    DOSEAPP_DATABASE_URL=sqlite:////tmp/bench/big.db .venv/bin/python bench/alert_rules.py

`--make N` first adds N studies with bench/make_db.py. The synthetic studies get what the rules read
and make_db leaves empty: fluoroscopy and CT patient IDs (each patient about twenty fluoroscopy or ten CT studies over the eight
years), a DRL ratio and
a peak skin dose; IDs are set to be stored. The database's existing alerts are deleted first (a
benchmark database only). Thresholds are set so a few per cent of studies alert.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchlib import database_url_from_env  # noqa: E402 (bench/ is the script's folder)

THRESHOLDS = {"rf_dap_study": 1500.0, "rf_rp_study": 0.5, "rf_psd_study": 0.35, "rf_dap_cumulative": 2500.0,
              "rf_rp_cumulative": 0.8, "rf_psd_cumulative": 0.6, "ct_dose_check": None, "drl_factor": 3.0,
              "mg_repeat": 1.0, "ct_dlp_study": 9500.0, "ct_dlp_cumulative": 15000.0,
              "ct_effective_dose_cumulative": 400.0, "nm_activity_study": 600.0}


def prepare(db) -> None:
    """Fill what the rules read and make_db leaves empty; switch every rule on."""
    from sqlalchemy import delete, func, select, text

    from doseapp.alerts.settings import set_rule
    from doseapp.models import Study, SystemSettings
    from doseapp.models.alerts import Alert

    n_rf = db.session.scalar(select(func.count()).where(Study.modality == "RF")) or 1
    patients = max(1, n_rf // 20)
    db.session.execute(text("UPDATE study SET patient_id = 'P' || CAST(id % :k AS VARCHAR(16)), "
                            "peak_skin_dose_gy = total_dose_rp_gy * 0.7 WHERE modality = 'RF'"), {"k": patients})
    # CT patients: about ten studies each over the eight years (the CT cumulative rules).
    n_ct = db.session.scalar(select(func.count()).where(Study.modality == "CT")) or 1
    db.session.execute(text("UPDATE study SET patient_id = 'C' || CAST(id % :k AS VARCHAR(16)) WHERE modality = 'CT'"),
                       {"k": max(1, n_ct // 10)})
    db.session.execute(text("UPDATE study SET drl_ratio = (id % 41) / 10.0"))
    db.session.execute(delete(Alert))
    s = SystemSettings.get()
    s.id_stored = True
    db.session.commit()
    for key, threshold in THRESHOLDS.items():
        set_rule(key, threshold=threshold, enabled=True)


def run_job() -> tuple[float, dict]:
    from doseapp.alerts.jobs import KIND
    from doseapp.models import Job, db
    from doseapp.runtime.jobs import execute

    import secrets

    rq_id = f"bench-alerts-{secrets.token_hex(4)}"
    job = Job(kind=KIND, queue="default", title="Re-evaluate alert rules (bench)", parameters={}, rq_id=rq_id)
    db.session.add(job)
    db.session.commit()
    t = time.perf_counter()
    result = execute(job.id, rq_id)
    seconds = time.perf_counter() - t
    row = db.session.get(Job, job.id)
    assert row.status == "finished", (row.status, row.message)
    return seconds, result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--make", type=int, default=0, help="first add N studies with bench/make_db.py")
    args = ap.parse_args()
    if not database_url_from_env():
        ap.error("set DOSEAPP_DATABASE_URL to the benchmark database")
    if args.make:
        subprocess.run([sys.executable, str(REPO / "bench" / "make_db.py"), str(args.make)], check=True,
                       env=dict(os.environ))
    from sqlalchemy import func, select

    from doseapp import create_app
    from doseapp.database import upgrade
    from doseapp.models import Study, db
    from doseapp.models.alerts import Alert

    app = create_app({"LOG_LEVEL": "WARNING"})
    upgrade(app)
    with app.app_context():
        prepare(db)
        studies = db.session.scalar(select(func.count()).select_from(Study))
        print(f"{studies} studies ({db.engine.dialect.name}); every rule on")
        print(f"{'run':<28}{'seconds':>9}{'studies/s':>12}{'new alerts':>12}")
        for label in ("first (raises)", "again (nothing new)"):
            seconds, result = run_job()
            print(f"{label:<28}{seconds:>9.2f}{studies / seconds:>12,.0f}{result['total_raised']:>12}")
        per_rule = dict(db.session.execute(select(Alert.rule_key, func.count()).group_by(Alert.rule_key)).all())
        print("alerts per rule: " + ", ".join(f"{k} {per_rule.get(k, 0)}" for k in THRESHOLDS))


if __name__ == "__main__":
    main()
