"""Store SCP memory with one big object: the node's resident memory (RSS) before, at its peak while
receiving, and after one object of --mb MB (default 200) sent by dcmtk's storescu over one
association; and how long the transfer took.

Runs the real processes on a fresh instance as bench/scp_ingest.py does (SQLite and an embedded
redis-server of its own unless --db-url / --redis-url say otherwise): `doseapp scp` with one node.
The object is a secondary capture of random 16-bit pixels; RSS is sampled every 20 ms.

    .venv/bin/python bench/scp_big_object.py [--mb 200] [--db-url postgresql://...] [--redis-url redis://...]
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))


def main() -> None:
    from scp_ingest import AET, Instance

    from tests.dicomnet.conftest import PeakRss, big_object

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mb", type=int, default=200, help="size of the object's pixel data, MB (a multiple of 8)")
    ap.add_argument("--db-url")
    ap.add_argument("--redis-url")
    args = ap.parse_args()
    if not shutil.which("storescu"):
        sys.exit("storescu (dcmtk) is needed")
    tmp = Path(tempfile.mkdtemp(prefix="scp-big-"))
    try:
        big = big_object(tmp / "big.dcm", args.mb)
        size = big.stat().st_size
        print(f"one object of {size / 2**20:.1f} MB; {os.cpu_count()} CPUs; "
              f"{'PostgreSQL' if args.db_url else 'SQLite'}", flush=True)
        inst = Instance(args, tmp)
        try:
            inst.start("scp", "--echo-interval", "60")
            inst.wait("SELECT echo_status FROM dicom_store_scp", "alive", 120)
            with PeakRss(inst.node_pid()) as rss:
                started = time.perf_counter()
                sent = storescu(inst.port, AET, big)
                took = time.perf_counter() - started
                time.sleep(1)
            after = rss.process.memory_info().rss
            stored = inst.sql("SELECT count(*) FROM dicom_transaction WHERE operation = 'C-STORE' "
                              "AND status = 'success'")
            print(f"storescu exit status {sent}, objects acknowledged {stored}; {took:.1f} s "
                  f"({size / 2**20 / took:.1f} MB/s)", flush=True)
            print(f"node RSS: before {rss.before / 2**20:.1f} MB, peak {rss.peak / 2**20:.1f} MB "
                  f"({(rss.peak - rss.before) / 2**20:+.1f} MB), after {after / 2**20:.1f} MB", flush=True)
        finally:
            inst.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def storescu(port: int, called: str, path: Path) -> int:
    env = dict(os.environ, TCP_NODELAY="1")
    return subprocess.run(["storescu", "-aet", "BIGSCU", "-aec", called, "127.0.0.1", str(port), str(path)], env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode


if __name__ == "__main__":
    main()
