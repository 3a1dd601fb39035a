"""Web latency: server time for the home page and each modality's study list, unfiltered and with
each single filter, on the database DOSEAPP_DATABASE_URL points at (fill it with bench/make_db.py).

    DOSEAPP_DATABASE_URL=sqlite:////tmp/bench/big.db .venv/bin/python bench/web_latency.py [--repeat 20]

Server time = the time the app takes to answer a request (routing, access check, queries, template),
measured in-process through Flask's test client, so network and browser time are left out. Each URL
is asked once to warm caches, then --repeat times; the median (p50) and the nearest-rank p95 are
printed per URL, and the worst at the end. A p95 needs at least 20 timings: with fewer (as with
--repeat 10) the column is the maximum and says "max". Logged in as a user with the viewer and pid roles
(made if missing), so the patient name and ID filters are measured too.
"""
from __future__ import annotations

import argparse
import datetime as dt
import re
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchlib import database_url_from_env, log_in, slow_end, slow_end_label  # noqa: E402 (bench/ is the script's folder)

SLUG = {"CT": "ct", "RF": "rf", "MG": "mg", "DX": "dx", "NM": "nm"}
TEXT = {  # a term per modality that finds some of make_db's studies
    "study_description": {"CT": "chest", "DX": "knee", "MG": "bilateral", "RF": "angio", "NM": "bone"},
    "procedure": {"CT": "head", "DX": "pelvis", "MG": "screening", "RF": "swallow", "NM": "renogram"},
    "requested_procedure": {"CT": "spine", "DX": "hand", "MG": "tomo", "RF": "pci", "NM": "psma"},
    "acquisition_protocol": {"CT": "thorax", "DX": "lat knee", "MG": "combo", "RF": "cardiac"},
    "hospital": "county", "manufacturer": {"CT": "siemens", "DX": "canon", "MG": "hologic", "RF": "philips", "NM": "ge"},
    "model": {"CT": "revolution", "DX": "drx", "MG": "pristina", "RF": "alphenix", "NM": "biograph"},
    "station_name": {"CT": "CT03", "DX": "DX07", "MG": "MG02", "RF": "RF05", "NM": "NM03"},
    "display_name": "royal", "accession_number": "123456",
    "standard_name": {"CT": "head", "DX": "chest", "MG": "screening", "RF": "angio", "NM": "bone"},
    "radiopharmaceutical": "fluorodeoxyglucose", "radionuclide": "technetium",
    "view": "medio", "exposure_control_mode": "manual", "patient_name": "smith", "patient_id": "12345",
}
RANGE = {"age": ("age_min", "60"), "weight": ("weight_max", "60"), "dlp": ("dlp_min", "500"),
         "dap": ("dap_min", "100"), "dose_rp": ("dose_rp_min", "0.5"), "agd": ("agd_min", "3"),
         "thickness": ("thickness_min", "60"), "psd": ("psd_min", "1"), "ssde": ("ssde_min", "10"),
         "activity": ("activity_min", "300")}


def cases():
    """(label, url) for the home page and every list with no filter and each single filter."""
    from doseapp import filters

    yield "home", "/"
    last_year = (dt.date.today() - dt.timedelta(days=365)).isoformat()
    for mod in filters.MODALITIES:
        base = f"/{SLUG[mod]}/"
        yield f"{mod} list", base
        for f in filters.filters_for(mod):
            if f.kind == "date":
                yield f"{mod} date", f"{base}?date_from={last_year}"
            elif f.kind == "range":
                p, v = RANGE[f.name]
                yield f"{mod} {f.name}", f"{base}?{p}={v}"
            elif f.kind == "choice":
                value = next((v for v, _ in f.choices if v), "no")  # the first non-default choice
                yield f"{mod} {f.name}", f"{base}?{f.name}={value}"
            else:
                term = TEXT[f.name]
                term = term[mod] if isinstance(term, dict) else term
                yield f"{mod} {f.name}", f"{base}?{f.name}={term.replace(' ', '+')}"
        yield f"{mod} last page", f"{base}?page=999999"
        sort = {"CT": "-dlp", "RF": "-dap", "DX": "-dap", "MG": "-agd", "NM": "-activity"}[mod]
        yield f"{mod} sort {sort}", f"{base}?o={sort}"
        if mod == "NM":  # the combinations the NM bench asks for: a filter with the activity sort
            yield "NM FDG sort -activity", f"{base}?radiopharmaceutical=fluorodeoxyglucose&o=-activity"
            yield "NM activity 300-500", f"{base}?activity_min=300&activity_max=500&o=-activity"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=20, help="timed requests per URL (20 or more for a p95)")
    ap.add_argument("--only", help="only URLs whose label contains this")
    ap.add_argument("--modalities", help="only these modalities' lists (comma-separated, e.g. NM); the home page "
                    "is always measured")
    args = ap.parse_args()
    database_url_from_env()

    from sqlalchemy import func, select

    from doseapp import create_app
    from doseapp.models import Study, User, db
    from doseapp.users import create_user

    app = create_app({"LOG_LEVEL": "WARNING"})
    with app.app_context():
        user = db.session.scalar(select(User).where(User.username == "bench"))
        if user is None:
            user = create_user("bench", "bench-password", ["viewer", "pid"])
        uid = user.get_id()  # the id with its session token
        n = db.session.scalar(select(func.count(Study.id)))
        dialect = db.engine.dialect.name
    client = app.test_client()
    log_in(client, uid)
    slow = slow_end_label(args.repeat)
    print(f"{dialect}, {n:,} studies, {args.repeat} timed requests per URL after one warm-up")
    print(f"{'page':<34}{'p50 ms':>9}{slow + ' ms':>9}{'studies':>10}")
    worst = (0.0, "")
    for label, url in cases():
        if args.only and args.only not in label:
            continue
        if args.modalities and label != "home" and label.split()[0] not in args.modalities.split(","):
            continue
        resp = client.get(url)
        assert resp.status_code == 200, (url, resp.status_code)
        m = re.search(rb"There (?:is|are) <strong[^>]*>(\d+)</strong>", resp.data)
        times = []
        for _ in range(args.repeat):
            t = time.perf_counter()
            client.get(url)
            times.append((time.perf_counter() - t) * 1000)
        p50, high = statistics.median(times), slow_end(times)
        worst = max(worst, (high, label))
        print(f"{label:<34}{p50:>9.1f}{high:>9.1f}{(m.group(1).decode() if m else ''):>10}", flush=True)
    print(f"worst {slow}: {worst[0]:.1f} ms ({worst[1]})")


if __name__ == "__main__":
    main()
