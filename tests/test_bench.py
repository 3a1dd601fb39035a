"""The bench scripts keep working: each answers --help, and each runs its documented command on a
tiny size (a few hundred studies, a handful of files) against temporary databases, exits 0 and
prints its figures. Sizes are the smallest that still exercise every step, so the file runs in
about a minute."""
from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, require_tool

BENCH = REPO / "bench"
SCRIPTS = sorted(p.name for p in BENCH.glob("*.py") if p.name != "benchlib.py")


def run(args, env=None, timeout=300) -> str:
    """A bench script run as documented (`.venv/bin/python bench/<script> ...` from the repository);
    its standard output, after checking it exited 0."""
    done = subprocess.run([sys.executable, *args], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=timeout)
    assert done.returncode == 0, (args, done.stdout[-2000:], done.stderr[-3000:])
    return done.stdout


def bench_env(tmp_path: Path, **extra) -> dict:
    """The caller's environment without DOSEAPP_* settings (a script must not touch the test run's
    database), temporary files under tmp_path (so whatever a script leaves behind shows)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOSEAPP_")}
    tmp = tmp_path / "tmp"
    tmp.mkdir(exist_ok=True)
    env.update(TMPDIR=str(tmp), DOSEAPP_LOG_LEVEL="WARNING", **extra)
    return env


def test_every_script_is_in_the_bench_readme():
    readme = (BENCH / "README.md").read_text()
    for script in SCRIPTS:
        assert re.search(rf"\| `{re.escape(script)}[^`]*` \|.*\| `[^`]*bench/{re.escape(script)}[^`]*` \|", readme), \
            script  # a row with what it measures and its command


@pytest.mark.parametrize("script", SCRIPTS)
def test_help(script):
    assert "usage:" in run([f"bench/{script}", "--help"], timeout=120)


def test_make_db_then_web_and_chart_latency(tmp_path):
    """The web latency commands of docs/performance.md, into an SQLite folder that does not exist."""
    db = tmp_path / "not" / "yet" / "big.db"
    env = bench_env(tmp_path, DOSEAPP_DATABASE_URL=f"sqlite:///{db}", DOSEAPP_INSTANCE=str(tmp_path / "instance"))
    out = run(["bench/make_db.py", "300"], env)
    assert re.search(r"added 300 studies in [\d.]+ s", out) and db.is_file()

    out = run(["bench/web_latency.py", "--repeat", "3", "--only", "list"], env)
    # Three timings give no p95: the column is the maximum, and says so.
    assert re.search(r"page\s+p50 ms\s+max ms\s+studies", out) and "p95" not in out
    assert re.search(r"^CT list\s+[\d.]+\s+[\d.]+\s+\d+$", out, re.M)
    assert re.search(r"worst max: [\d.]+ ms", out)

    out = run(["bench/chart_latency.py", "--repeat", "1", "--variants", "default", "--modalities", "MG"], env)
    assert re.search(r"^MG workload\s+default\s+\d+\s+\d+\s+\d+$", out, re.M) and "slowest:" in out
    assert not list((tmp_path / "tmp").iterdir())


def test_p95_only_from_twenty_timings():
    spec = importlib.util.spec_from_file_location("benchlib", BENCH / "benchlib.py")
    benchlib = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(benchlib)
    ten = [float(n) for n in range(1, 11)]
    assert (benchlib.slow_end_label(10), benchlib.slow_end(ten)) == ("max", 10.0)
    twenty = [float(n) for n in range(20, 0, -1)]
    assert (benchlib.slow_end_label(20), benchlib.slow_end(twenty)) == ("p95", 19.0)  # nearest rank ceil(19)
    assert benchlib.slow_end([float(n) for n in range(1, 101)]) == 95.0


def test_config_pages(tmp_path):
    env = bench_env(tmp_path)
    out = run(["bench/config_pages.py", "--studies", "300", "--audit", "50", "--repeat", "2"], env)
    assert "filled 300 studies, 50 audit entries" in out
    assert re.search(r"^audit log, page 1\s+[\d.]+\s+[\d.]+$", out, re.M) and "max ms" in out
    assert not list((tmp_path / "tmp").iterdir())  # its temporary instance is gone


def test_export_rate_honours_the_instance_and_removes_what_it_made(tmp_path):
    instance = tmp_path / "instance"
    env = bench_env(tmp_path, DOSEAPP_INSTANCE=str(instance))
    args = ["bench/export_rate.py", "--studies", "150", "--formats", "csv,nhsbsp", "--modalities", "mg"]
    out = run(args, env)
    assert "filled 150 CT studies x 4 events and 150 MG studies x 4 exposures" in out
    assert re.search(r"^mg csv\s+150\s+[\d.]+", out, re.M) and re.search(r"^mg nhsbsp\s+150\s", out, re.M)
    # The database is the instance's, kept for the next run; the exports and temporary folders are gone.
    assert (instance / "doseapp.db").is_file()
    assert not list((tmp_path / "tmp").iterdir()) and not list((instance / "exports").glob("*"))

    # Without DOSEAPP_INSTANCE: a temporary instance, removed; a --database-url in a folder that does
    # not exist yet gets its folder, and the database stays for the next run.
    bare = tmp_path / "bare"
    bare.mkdir()
    url = f"sqlite:///{bare / 'new' / 'bench.db'}"
    out = run(["bench/export_rate.py", "--studies", "100", "--formats", "csv-wide", "--modalities", "ct,mg",
               "--database-url", url], bench_env(bare))
    assert re.search(r"^mg csv-wide\s+100\s", out, re.M) and "ct csv-wide" not in out  # mammography only
    assert not list((bare / "tmp").iterdir()) and (bare / "new" / "bench.db").is_file()


def test_import_rate(tmp_path, redis_url):
    env = bench_env(tmp_path)
    out = run(["bench/import_rate.py", "--copies", "1", "--workers", "1", "--no-fork", "--db", "sqlite",
               "--kind", "mg", "--redis-url", redis_url], env)
    assert re.search(r"^import, 1 process, sqlite\s+[\d.]+", out, re.M)
    assert re.search(r"^import, 1 in-process RQ workers, sqlite\s+[\d.]+", out, re.M)
    assert not list((tmp_path / "tmp").iterdir())


def test_scp_ingest(tmp_path, redis_url):
    require_tool("storescu")
    env = bench_env(tmp_path)
    out = run(["bench/scp_ingest.py", "--n", "5", "--workers", "1", "--soak", "0", "--no-fork",
               "--redis-url", redis_url, "--db-url", f"sqlite:///{tmp_path / 'new' / 'scp.db'}"], env)
    # 20 warm-up objects, then 5 over one association and 5 over four: every one acknowledged.
    assert re.search(r"receive, 4 association\(s\):\s+[\d.]+ objects/s \(30/30 acknowledged\)", out)
    assert re.search(r"end to end, 4 associations, 1 workers running", out)
    assert not list((tmp_path / "tmp").iterdir())


def test_qr_query(tmp_path):
    require_tool("Orthanc")
    env = bench_env(tmp_path)
    out = run(["bench/qr_query.py", "--n", "2", "--images", "1"], env)
    assert re.search(r"C-GET: [1-9]\d* objects in [\d.]+ s", out)
    assert "query (second, duplicates removed)" in out
    assert not list((tmp_path / "tmp").iterdir())


def test_qr_scp(tmp_path, redis_url):
    """C-FIND over a small index and C-MOVE of 5 then 50 objects to storescp, every answer checked by the script."""
    require_tool("storescp")
    out = run(["bench/qr_scp.py", "--studies", "2000", "--objects", "50", "--repeat", "3", "--redis-url", redis_url],
              bench_env(tmp_path))
    assert "filled the index: 2000 studies" in out
    for kind in ("exact PatientID", "name wildcard", "date range, a week", "date range, a month",
                 "ModalitiesInStudy + week", "exact AccessionNumber"):
        assert re.search(rf"^{re.escape(kind)}\s+3\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+[\d.]+$", out, re.M), (kind, out)
    assert "WRONG" not in out and re.search(r"worst max: [\d.]+ ms", out)
    for n in (5, 50):
        assert re.search(rf"^C-MOVE of {n} objects .* [\d.]+ objects/s.* peak [\d.]+ MiB.* final status 0x0000, "
                         rf"{n} completed, {n} files at storescp$", out, re.M), out
    assert not list((tmp_path / "tmp").iterdir())


def test_skin_map(tmp_path):
    out = run(["bench/skin_map.py", "--repeat", "1", "--phantoms", "openskin"], bench_env(tmp_path))
    line = next(x for x in out.splitlines() if x.startswith("RF-RDSR-Siemens-Zee.dcm "))
    assert "posterior" in line and float(line.split()[4]) == pytest.approx(1.72, abs=0.02)
    assert "no map: no source-to-isocentre distance in 8 of 8 events" in out
    assert re.search(r"slowest file: \d+\.\d{3} s", out)


def test_drl_comparison(tmp_path):
    """The DRL comparison bench on a tiny database make_db.py fills: names assigned, every modality timed."""
    db = tmp_path / "drl.db"
    env = bench_env(tmp_path, DOSEAPP_DATABASE_URL=f"sqlite:///{db}", DOSEAPP_INSTANCE=str(tmp_path / "instance"))
    run(["bench/make_db.py", "300"], env)
    out = run(["bench/drl_comparison.py", "--repeat", "1"], env)
    assert re.search(r"300 studies, 300 with a standard name \(300 assigned now", out)
    assert re.search(r"^CT dlp all names\s+default\s+\d+\s+\d+\s+\d+\s+\d+$", out, re.M)
    assert re.search(r"^MG agd API\s+8 years\s+\d+\s+\d+$", out, re.M)
    assert "slowest:" in out and re.search(r"refresh of every study's DRL ratio: \d+ standard names", out)
    assert not list((tmp_path / "tmp").iterdir())


def test_alert_rules(tmp_path):
    """Every alert rule over a small made database, as the re-evaluation job; the second run raises nothing."""
    env = bench_env(tmp_path, DOSEAPP_DATABASE_URL=f"sqlite:///{tmp_path / 'ab' / 'big.db'}",
                    DOSEAPP_INSTANCE=str(tmp_path / "instance"))
    out = run(["bench/alert_rules.py", "--make", "400"], env)
    first = re.search(r"^first \(raises\)\s+[\d.]+\s+[\d,]+\s+(\d+)$", out, re.M)
    assert first and int(first.group(1)) > 0, out
    assert re.search(r"^again \(nothing new\)\s+[\d.]+\s+[\d,]+\s+0$", out, re.M), out
    assert "drl_factor" in out


def test_import_rate_with_alerts(tmp_path, redis_url):
    env = bench_env(tmp_path)
    out = run(["bench/import_rate.py", "--copies", "1", "--workers", "1", "--no-fork", "--db", "sqlite",
               "--kind", "mg", "--alerts", "both", "--redis-url", redis_url], env)
    assert re.search(r"^import, 1 process, sqlite, alerts off\s+[\d.]+", out, re.M)
    assert re.search(r"^import, 1 process, sqlite, alerts on\s+[\d.]+", out, re.M)


def test_make_db_nm_studies(tmp_path):
    """--kind nm: NM studies with their administrations and the nm_* summary ingest fills; the NM
    list and an NM chart measured on them."""
    import sqlite3

    db = tmp_path / "nm.db"
    env = bench_env(tmp_path, DOSEAPP_DATABASE_URL=f"sqlite:///{db}", DOSEAPP_INSTANCE=str(tmp_path / "instance"))
    out = run(["bench/make_db.py", "200", "--kind", "nm"], env)
    assert re.search(r"added 200 studies in [\d.]+ s.*nm_administration (\d+)", out)
    con = sqlite3.connect(db)
    assert con.execute("SELECT DISTINCT modality FROM study").fetchall() == [("NM",)]
    assert con.execute("SELECT count(*) FROM nm_administration").fetchone()[0] >= 200
    # The study's summary is the sum of its administrations, as ingest.summary.summarise_nm makes it.
    bad = con.execute("SELECT count(*) FROM study s WHERE abs(s.nm_activity_mbq - (SELECT sum(a.administered_activity_mbq)"
                      " FROM nm_administration a WHERE a.study_id = s.id)) > 0.01"
                      " OR s.number_of_events != (SELECT count(*) FROM nm_administration a WHERE a.study_id = s.id)"
                      " OR s.nm_radiopharmaceutical IS NULL OR s.nm_radionuclide IS NULL").fetchone()[0]
    assert bad == 0
    lo, hi = con.execute("SELECT min(administered_activity_mbq), max(administered_activity_mbq) FROM nm_administration"
                         " WHERE radionuclide = '^18^Fluorine'").fetchone()
    assert 100 < lo and hi < 520
    con.close()

    out = run(["bench/web_latency.py", "--repeat", "1", "--modalities", "NM", "--only", "NM"], env)
    assert re.search(r"^NM FDG sort -activity\s+[\d.]+\s+[\d.]+\s+\d+$", out, re.M) and "CT list" not in out
    out = run(["bench/chart_latency.py", "--repeat", "1", "--variants", "default", "--modalities", "NM",
               "--only", "activity_weight"], env)
    assert re.search(r"^NM activity_weight\s+default\s+\d+\s+\d+\s+\d+$", out, re.M)
