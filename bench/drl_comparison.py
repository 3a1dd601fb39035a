"""DRL comparison time: the comparison of every standard name of a modality (n, median, 75th
percentile per standard name, system and patient group, next to its DRL), in-process and through
GET /api/v1/drl-comparison, on DOSEAPP_DATABASE_URL (a database bench/make_db.py filled).

    DOSEAPP_DATABASE_URL=sqlite:////tmp/bench/big.db .venv/bin/python bench/make_db.py 500000
    DOSEAPP_DATABASE_URL=sqlite:////tmp/bench/big.db .venv/bin/python bench/drl_comparison.py --repeat 5

Before timing, the studies get standard names the way a site would map them: one standard name per
study description make_db.py writes (e.g. "CT Head", which the UK national DRLs match), assigned
with one UPDATE to the studies that have none yet (a second run finds them assigned). Each
comparison runs once to warm caches, then --repeat times; the median wall time is printed, for the
default period (the last settings.drl_period_days days) and for --years years (make_db.py spreads
studies over eight years, so 8 compares every study). Then the refresh of every study's DRL ratio
is timed once (--refresh). Targets (issue 17): under 1 s on PostgreSQL, under 2 s on SQLite.
"""
from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchlib import database_url_from_env, log_in  # noqa: E402 (bench/ is the script's folder)

QUANTITY = {"CT": "dlp", "DX": "dap", "RF": "dap", "MG": "agd"}


def _assign_names() -> int:
    """One standard name per (modality, study description); studies without one get it. Returns how
    many studies were given a name."""
    from sqlalchemy import select, update

    from doseapp.models import StandardName, Study, db

    pairs = db.session.execute(select(Study.modality, Study.study_description).where(
        Study.study_description.isnot(None)).distinct()).all()
    have = {(m, n) for m, n in db.session.execute(select(StandardName.modality, StandardName.name)).all()}
    for modality, desc in pairs:
        if (modality, desc) not in have:
            db.session.add(StandardName(modality=modality, name=desc))
    db.session.flush()
    name_id = (select(StandardName.id).where(StandardName.modality == Study.modality,
                                             StandardName.name == Study.study_description).scalar_subquery())
    done = db.session.execute(update(Study).where(Study.standard_name_id.is_(None),
                                                  Study.study_description.isnot(None))
                              .values(standard_name_id=name_id).execution_options(synchronize_session=False))
    db.session.commit()
    return done.rowcount


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--modalities", default="CT,DX,RF,MG")
    ap.add_argument("--years", type=int, default=8, help="the long period compared, in years back from today")
    ap.add_argument("--no-refresh", dest="refresh", action="store_false",
                    help="do not time the refresh of every study's DRL ratio")
    args = ap.parse_args()
    database_url_from_env()

    from sqlalchemy import func, select

    from doseapp import create_app
    from doseapp.models import StandardName, Study, User, db
    from doseapp.standards.comparison import Period, compare, default_period
    from doseapp.standards.flags import refresh_all
    from doseapp.users import create_user

    app = create_app({"LOG_LEVEL": "WARNING"})
    with app.app_context():
        t = time.perf_counter()
        assigned = _assign_names()
        took = time.perf_counter() - t
        user = db.session.scalar(select(User).where(User.username == "drlbench"))
        if user is None:
            user = create_user("drlbench", "bench-password", ["viewer"])
        session_id = user.get_id()
        total = db.session.scalar(select(func.count()).select_from(Study))
        named = db.session.scalar(select(func.count()).where(Study.standard_name_id.isnot(None)))
        names = dict(db.session.execute(select(StandardName.modality, func.count()).group_by(StandardName.modality)).all())
        dialect = db.engine.dialect.name
        print(f"{dialect}: {total:,} studies, {named:,} with a standard name ({assigned:,} assigned now in {took:.1f} s); "
              f"median of {args.repeat} after one warm-up")
        today = dt.date.today()
        periods = {"default": default_period(), f"{args.years} years": Period(today - dt.timedelta(days=365 * args.years), today)}
        db.session.commit()
    client = app.test_client()
    log_in(client, session_id)
    print(f"{'comparison':<34}{'period':<10}{'names':>6}{'rows':>6}{'studies':>10}{'wall ms':>9}")
    worst = (0.0, "")
    for mod in args.modalities.split(","):
        quantity = QUANTITY[mod]
        for label, period in periods.items():
            with app.app_context():
                rows = compare(mod, quantity, period=period)
                walls = []
                for _ in range(args.repeat):
                    t = time.perf_counter()
                    compare(mod, quantity, period=period)
                    walls.append((time.perf_counter() - t) * 1000)
                    db.session.commit()
            wall = statistics.median(walls)
            what = f"{mod} {quantity} all names"
            worst = max(worst, (wall, f"{what}, {label}"))
            print(f"{what:<34}{label:<10}{names.get(mod, 0):>6}{len(rows):>6}{sum(r.n for r in rows):>10}{wall:>9.0f}",
                  flush=True)
            url = (f"/api/v1/drl-comparison?modality={mod}&quantity={quantity}"
                   f"&date_from={period.date_from.isoformat()}&date_until={period.date_until.isoformat()}")
            resp = client.get(url)
            assert resp.status_code == 200, (url, resp.status_code, resp.data[-300:])
            walls = []
            for _ in range(args.repeat):
                t = time.perf_counter()
                client.get(url)
                walls.append((time.perf_counter() - t) * 1000)
            wall = statistics.median(walls)
            what = f"{mod} {quantity} API"
            worst = max(worst, (wall, f"{what}, {label}"))
            print(f"{what:<34}{label:<10}{'':>6}{len(resp.get_json()):>6}{'':>10}{wall:>9.0f}", flush=True)
    print(f"slowest: {worst[0]:.0f} ms ({worst[1]})")
    if args.refresh:
        with app.app_context():
            t = time.perf_counter()
            n = refresh_all()
            took = time.perf_counter() - t
            ratios = db.session.scalar(select(func.count()).where(Study.drl_ratio.isnot(None)))
        print(f"refresh of every study's DRL ratio: {n} standard names, {ratios:,} studies with a DRL, {took:.1f} s")


if __name__ == "__main__":
    main()
