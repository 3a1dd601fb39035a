"""Store SCP ingest: how fast doseapp's receiver takes Radiation Dose SRs from dcmtk's storescu, how
fast they are imported end to end, and whether the receiver's memory grows over many associations.

Runs the real processes on a fresh instance (SQLite and an embedded redis-server of its own, unless
--db-url / --redis-url say otherwise): `doseapp scp` (the supervisor and one node), and `doseapp worker`
processes. storescu runs with TCP_NODELAY=1 (otherwise dcmtk waits on Nagle's algorithm and the figure
measures that, not us).

  bare      a bare pynetdicom receiver (C-STORE handler that only takes the encoded bytes): the ceiling
  receive   N objects over 1 and over 4 associations with no worker running (after a warm-up of 20
            objects): objects/s acknowledged (each written, fsynced, renamed, the folder fsynced and
            its import job row committed before Success; the RQ push follows the answer)
  drain     then WORKERS workers import what was received: objects/s imported
  e2e       N objects over 4 associations with the workers running: first send to last import
  soak      SOAK associations, each storing one object (pynetdicom SCU), with the node's RSS
            before and after

    .venv/bin/python bench/scp_ingest.py [--n 500] [--workers 2] [--soak 10000]
        [--db-url postgresql://...] [--redis-url redis://...]
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

import pydicom
from pydicom.uid import generate_uid

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchlib import make_sqlite_folder  # noqa: E402 (bench/ is the script's folder)
SOURCE = REPO.parent / "shared" / "testdata" / "openrem" / "CT-RDSR-GEPixelMed.dcm"
AET = "BENCHSCP"
WARM_UP = 20  # objects sent once before the timed runs


def copies(folder: Path, n: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    base = pydicom.dcmread(SOURCE)
    out = []
    for i in range(n):
        ds = base.copy()
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID = generate_uid(), generate_uid(), generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        path = folder / f"{i:05d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        out.append(path)
    return out


def storescu(port: int, files: list[Path], associations: int) -> float:
    """Send `files` split over `associations` concurrent storescu runs; seconds taken."""
    env = dict(os.environ, TCP_NODELAY="1")
    groups = [files[i::associations] for i in range(associations)]
    t = time.perf_counter()
    procs = [subprocess.Popen(["storescu", "-R", "-aet", f"BENCH{i}", "-aec", AET, "127.0.0.1", str(port),
                               *map(str, g)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for i, g in enumerate(groups)]
    for p in procs:
        p.wait()
    return time.perf_counter() - t


def bare_receiver(port: int, files: list[Path]) -> float:
    from pynetdicom import AE, evt
    from pynetdicom.presentation import AllStoragePresentationContexts

    ae = AE(ae_title=AET)
    for cx in AllStoragePresentationContexts:
        ae.add_supported_context(cx.abstract_syntax, ["1.2.840.10008.1.2", "1.2.840.10008.1.2.1"])
    server = ae.start_server(("127.0.0.1", port), block=False,
                             evt_handlers=[(evt.EVT_C_STORE, lambda e: (e.encoded_dataset(), 0)[1])])
    try:
        return storescu(port, files, 1)
    finally:
        server.shutdown()


class Instance:
    def __init__(self, args, folder: Path):
        from tests.conftest import free_port

        self.folder = folder / "instance"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("DOSEAPP_")}
        self.env.update(DOSEAPP_INSTANCE=str(self.folder), DOSEAPP_LOG_LEVEL="WARNING")
        if args.db_url:
            self.env["DOSEAPP_DATABASE_URL"] = args.db_url
        self.own_redis = not args.redis_url
        if self.own_redis:
            from doseapp.runtime import embedded_redis

            (self.folder / "logs").mkdir(parents=True, exist_ok=True)
            self.env["DOSEAPP_REDIS_URL"] = embedded_redis.ensure_running(self.folder)
        else:
            self.env["DOSEAPP_REDIS_URL"] = args.redis_url
            self.env["DOSEAPP_QUEUE_PREFIX"] = f"bench{os.getpid()}-"
        self.port = free_port()
        self.cli("node", "add-store", "Bench", "--aet", AET, "--port", str(self.port), "--host", "127.0.0.1")
        self.procs: list[subprocess.Popen] = []
        self.workers: list[subprocess.Popen] = []

    def cli(self, *args) -> str:
        done = subprocess.run([sys.executable, "-m", "doseapp.cli", *args], env=self.env, capture_output=True,
                              text=True, timeout=600)
        if done.returncode:
            raise RuntimeError(done.stderr)
        return done.stdout

    def start(self, *args) -> subprocess.Popen:
        proc = subprocess.Popen([sys.executable, "-m", "doseapp.cli", *args], env=self.env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs.append(proc)
        return proc

    def sql(self, query: str):
        import sqlalchemy as sa

        from doseapp.config import normalise_database_url

        url = self.env.get("DOSEAPP_DATABASE_URL") or f"sqlite:///{self.folder / 'doseapp.db'}"
        engine = sa.create_engine(normalise_database_url(url))
        try:
            with engine.connect() as conn:
                return conn.execute(sa.text(query)).scalar()
        finally:
            engine.dispose()

    def wait(self, query: str, target, timeout: float = 1800) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.sql(query) == target:
                return time.perf_counter()
            time.sleep(0.1)
        raise RuntimeError(f"timed out waiting for {query} == {target}")

    def node_pid(self) -> int:
        return self.sql("SELECT pid FROM dicom_store_scp")

    def start_workers(self, n: int, fork: bool = True) -> None:
        args = ("worker",) if fork else ("worker", "--queues", "import", "--no-fork")
        self.workers = [self.start(*args) for _ in range(n)]

    def stop_workers(self) -> None:
        for w in self.workers:
            w.terminate()
        for w in self.workers:
            w.wait(timeout=60)
        self.workers = []

    def close(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            p.wait(timeout=60)
        if self.own_redis:
            from doseapp.runtime import embedded_redis

            embedded_redis.stop(self.folder)


def answers_echo(port: int, timeout: float) -> None:
    """Wait until the node answers a C-ECHO of ours. (The supervisor's own first echo may come only
    after its interval, a minute, so its "alive" status is no measure of when the node is ready.)"""
    from pynetdicom import AE
    from pynetdicom.sop_class import Verification

    ae = AE(ae_title="BENCHECHO")
    ae.add_requested_context(Verification)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assoc = ae.associate("127.0.0.1", port, ae_title=AET)
        if assoc.is_established:
            status = assoc.send_c_echo()
            assoc.release()
            if status and status.Status == 0:
                return
        time.sleep(0.2)
    raise RuntimeError(f"the node did not answer C-ECHO on port {port} in {timeout:.0f} s")


def imported(inst: Instance) -> str:
    return "SELECT count(*) FROM processed_object"


def soak(inst: Instance, associations: int) -> tuple[float, float, float]:
    """RSS (MB) of the node before and after `associations` associations of one C-STORE each."""
    import psutil
    from pynetdicom import AE

    ds = pydicom.dcmread(SOURCE)
    ae = AE(ae_title="SOAKSCU")
    ae.add_requested_context(ds.SOPClassUID, ds.file_meta.TransferSyntaxUID)

    def one():
        ds.SOPInstanceUID = generate_uid()
        assoc = ae.associate("127.0.0.1", inst.port, ae_title=AET)
        if not assoc.is_established:
            raise RuntimeError("soak association failed")
        status = assoc.send_c_store(ds)
        assoc.release()
        if status.Status != 0:
            raise RuntimeError(f"soak store status {status.Status:#06x}")

    node = psutil.Process(inst.node_pid())
    for _ in range(200):  # warm up: caches, thread pools, SQLAlchemy statement cache
        one()
    before = node.memory_info().rss / 2**20
    t = time.perf_counter()
    for n in range(associations):
        one()
        if n and n % 2000 == 0:
            print(f"  soak: {n} associations, RSS {node.memory_info().rss / 2**20:.1f} MB", flush=True)
    took = time.perf_counter() - t
    after = node.memory_info().rss / 2**20
    return before, after, associations / took


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=500, help="objects per run")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--soak", type=int, default=10000, help="associations in the soak (0: no soak)")
    ap.add_argument("--no-fork", action="store_true", help="in-process import workers, as `doseapp run` starts")
    ap.add_argument("--db-url")
    ap.add_argument("--redis-url")
    args = ap.parse_args()
    if not shutil.which("storescu"):
        sys.exit("storescu (dcmtk) is needed")
    make_sqlite_folder(args.db_url)
    tmp = Path(tempfile.mkdtemp(prefix="scp-bench-"))
    print(f"{args.n} CT RDSRs of {SOURCE.stat().st_size} bytes; {os.cpu_count()} CPUs; "
          f"{'PostgreSQL' if (args.db_url or '').startswith('postgres') else 'SQLite'}; workers {args.workers}"
          f"{' (in-process)' if args.no_fork else ' (forking)'}", flush=True)
    from tests.conftest import free_port

    files = [copies(tmp / f"set{i}", args.n) for i in range(3)]
    took = bare_receiver(free_port(), files[0])
    print(f"bare pynetdicom receiver, 1 association: {args.n / took:7.1f} objects/s", flush=True)
    inst = Instance(args, tmp)
    try:
        inst.start("scp", "--echo-interval", "60")
        answers_echo(inst.port, 120)
        # Warm-up: the node's first association pays for lazy imports and statement caches; a sender
        # meets that once per receiver start, not once per batch.
        warm = copies(tmp / "warm", WARM_UP)
        storescu(inst.port, warm, 1)
        total = len(warm)
        for n_assoc, batch in ((1, files[0]), (4, files[1])):
            took = storescu(inst.port, batch, n_assoc)
            total += len(batch)
            got = inst.sql("SELECT count(*) FROM dicom_transaction WHERE operation = 'C-STORE' AND status = 'success'")
            print(f"receive, {n_assoc} association(s): {len(batch) / took:7.1f} objects/s ({got}/{total} acknowledged)",
                  flush=True)
            t = time.perf_counter()
            inst.start_workers(args.workers, fork=not args.no_fork)
            done = inst.wait(imported(inst), total)
            print(f"drain with {args.workers} workers: {len(batch) / (done - t):7.1f} objects/s imported", flush=True)
            inst.stop_workers()
        inst.start_workers(args.workers, fork=not args.no_fork)
        time.sleep(3)  # workers up before the clock starts
        t = time.perf_counter()
        received = storescu(inst.port, files[2], 4)
        done = inst.wait(imported(inst), total + args.n)
        print(f"end to end, 4 associations, {args.workers} workers running: received {args.n / received:7.1f} "
              f"objects/s, imported {args.n / (done - t):7.1f} objects/s", flush=True)
        inst.stop_workers()
        if args.soak:
            before, after, rate = soak(inst, args.soak)
            print(f"soak: {args.soak} associations (one C-STORE each) at {rate:.1f}/s; node RSS {before:.1f} MB "
                  f"before, {after:.1f} MB after ({after - before:+.1f} MB)", flush=True)
    finally:
        inst.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
