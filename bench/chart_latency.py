"""Chart latency: server time of every chart (the HTMX request that draws one chart: SQL, Bokeh
figure, template) for the unfiltered list of each modality, on DOSEAPP_DATABASE_URL.

    # 625,000 studies from make_db.py: about 250,000 CT (1,000,000 events) and 250,000 radiography
    DOSEAPP_DATABASE_URL=sqlite:////tmp/chartbench/charts.db .venv/bin/python bench/make_db.py 625000
    DOSEAPP_DATABASE_URL=sqlite:////tmp/chartbench/charts.db .venv/bin/python bench/chart_latency.py

Each chart is drawn once to warm caches, then --repeat times; the median wall time and the process
CPU time (user + system, this process only: the database server's CPU on PostgreSQL is not in it)
are printed, for the options given by --variants (comma-separated):
  default  a new user's options: mean, histograms off, one series
  median   median (percentile_cont on PostgreSQL, a registered aggregate on SQLite), histograms off
  boxplot  quartiles, histograms off
  series   a series per system, mean, histograms off
Targets (issue 9): every chart under 1 s on PostgreSQL, under 2 s on SQLite.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchlib import database_url_from_env, log_in  # noqa: E402 (bench/ is the script's folder)

VARIANTS = {
    "default": {},
    "median": {"average": "median"},
    "boxplot": {"average": "boxplot", "histograms": False},
    "series": {"series_per_system": True},
}
SLUG = {"CT": "ct", "RF": "rf", "MG": "mg", "DX": "dx", "NM": "nm"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--variants", default="default,median,series")
    ap.add_argument("--modalities", default="CT,DX,RF,MG", help="comma-separated; NM for the nuclear medicine charts")
    ap.add_argument("--only", help="only charts whose key contains this")
    args = ap.parse_args()
    database_url_from_env()

    from sqlalchemy import func, select

    from doseapp import create_app
    from doseapp.charts import catalog
    from doseapp.charts.options import ChartOptions, save
    from doseapp.models import Study, User, UserPreferences, db
    from doseapp.users import create_user

    app = create_app({"LOG_LEVEL": "WARNING"})
    with app.app_context():
        user = db.session.scalar(select(User).where(User.username == "chartbench"))
        if user is None:
            user = create_user("chartbench", "bench-password", ["viewer"])
        uid, session_id = user.id, user.get_id()  # the id with its session token
        counts = dict(db.session.execute(select(Study.modality, func.count()).group_by(Study.modality)).all())
        dialect = db.engine.dialect.name
    client = app.test_client()
    log_in(client, session_id)
    print(f"{dialect}: " + ", ".join(f"{m} {n:,}" for m, n in sorted(counts.items())) + " studies; "
          f"median of {args.repeat} after one warm-up")
    print(f"{'chart':<40}{'variant':<9}{'wall ms':>9}{'cpu ms':>9}{'n':>10}")
    worst = (0.0, "")
    for variant in args.variants.split(","):
        with app.app_context():
            prefs = db.session.get(UserPreferences, uid) or UserPreferences(user_id=uid)
            db.session.add(prefs)
            opts = ChartOptions(**VARIANTS[variant])
            opts.charts = {m: [c.key for c in cs] for m, cs in catalog.CHARTS.items()}
            save(prefs, opts)
            db.session.commit()
        for mod in args.modalities.split(","):
            for chart in catalog.CHARTS[mod]:
                if args.only and args.only not in chart.key:
                    continue
                if variant != "default" and chart.kind not in ("bar", "line", "scatter"):
                    continue  # the variant changes nothing for frequency and workload charts
                url = f"/{SLUG[mod]}/charts/{chart.key}"
                resp = client.get(url)
                assert resp.status_code == 200, (url, resp.status_code, resp.data[-300:])
                total = resp.data.split(b'data-total="', 1)[1].split(b'"', 1)[0].decode()
                walls, cpus = [], []
                for _ in range(args.repeat):
                    t, c = time.perf_counter(), time.process_time()
                    client.get(url)
                    walls.append((time.perf_counter() - t) * 1000)
                    cpus.append((time.process_time() - c) * 1000)
                wall, cpu = statistics.median(walls), statistics.median(cpus)
                label = f"{mod} {chart.key}"
                worst = max(worst, (wall, f"{label} {variant}"))
                print(f"{label:<40}{variant:<9}{wall:>9.0f}{cpu:>9.0f}{total:>10}", flush=True)
    print(f"slowest: {worst[0]:.0f} ms ({worst[1]})")


if __name__ == "__main__":
    main()
