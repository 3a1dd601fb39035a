"""Fault tests, each ending with every sent object imported exactly once: the receiver SIGKILLed
during a transfer, a worker killed during an import, Redis down while objects arrive, and the
storage limit reached (Out of Resources, nothing half-written)."""
from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
import signal
import subprocess
import time
from pathlib import Path

import psutil
import sqlalchemy as sa
from sqlalchemy import select

from doseapp.runtime import embedded_redis
from doseapp.runtime.housekeeping import reconcile_jobs
from doseapp.dicomnet.storage import TMP_PREFIX
from doseapp.models import DicomPendingObject, DicomStoreScp, DicomTransaction, Job, db
from tests.conftest import TESTDATA, require_tool
from tests.dicomnet.conftest import (count, imported_sop_uids, rdsr_copies, sop_uid, storescu, stores,
                                     study_uids, wait_running, wait_until)


def _success_uids(node_id: int) -> set[str]:
    db.session.rollback()
    return set(db.session.scalars(select(DicomTransaction.sop_instance_uid).where(
        DicomTransaction.scp_id == node_id, DicomTransaction.operation == "C-STORE",
        DicomTransaction.status == "success")))


def _assert_each_imported_once(files) -> None:
    sent = sorted(sop_uid(f) for f in files)
    assert sorted(imported_sop_uids()) == sent
    studies = study_uids()
    assert len(studies) == len(set(studies)) == len(files)


def _spool_leftovers(instance: Path, aetitle: str) -> list[str]:
    """Files in the node's spool (not its folder of objects still arriving)."""
    folder = instance / "spool" / aetitle
    return sorted(p.name for p in folder.iterdir() if p.is_file()) if folder.exists() else []


def test_receiver_killed_during_transfer_is_restarted_and_sender_retries(app, scp_env, procs, make_node, tmp_path):
    files = rdsr_copies(tmp_path / "sent", 60)
    node = make_node("KILLED")
    procs.supervisor()
    first_pid = wait_running(node)
    exe = require_tool("storescu")
    sender_log = tmp_path / "storescu.log"
    with open(sender_log, "w") as out:
        sender = subprocess.Popen([exe, "-v", "-R", "-aet", "MODALITY", "-aec", "KILLED", "127.0.0.1",
                                   str(node.port), *map(str, files)], env=dict(os.environ, TCP_NODELAY="1"),
                                  stdout=out, stderr=subprocess.STDOUT)
        try:
            wait_until(lambda: stores(node_id=node.id) >= 5, 60, interval=0.02, what="five objects received")
            os.kill(first_pid, signal.SIGKILL)
            sender.wait(timeout=120)
        finally:
            if sender.poll() is None:
                sender.kill()
    # What the sender was told: a Success response after "Sending file".
    acknowledged, current = set(), None
    for line in sender_log.read_text(errors="replace").splitlines():
        if "Sending file: " in line:
            current = line.split("Sending file: ", 1)[1].strip()
        elif "Received Store Response" in line and "Success" in line and current:
            acknowledged.add(sop_uid(Path(current)))
            current = None
    assert 1 <= len(acknowledged) < len(files)
    assert acknowledged <= _success_uids(node.id)

    def restarted():
        row = db.session.get(DicomStoreScp, node.id)
        return row.pid if row.status == "running" and row.pid != first_pid and row.echo_status == "alive" else None
    wait_until(restarted, 60, what="the supervisor restarting the node")
    # The sender sends again what was not acknowledged.
    retry = [f for f in files if sop_uid(f) not in acknowledged]
    again = storescu(node.port, "KILLED", retry, calling="MODALITY")
    assert again.returncode == 0, again.stderr[-2000:]
    procs.worker_burst()
    # An object the killed receiver acknowledged after committing its job but before putting it on
    # RQ (a window of a Redis round trip) waits for housekeeping, which puts it on the queue again.
    reconcile_jobs(grace=dt.timedelta(0))
    procs.worker_burst()
    _assert_each_imported_once(files)
    # Left in the spool: a file the killed receiver wrote but did not queue before it died, which the
    # sender sent again (already imported; the supervisor's orphan sweep queues it later as a
    # duplicate). The object it was receiving was never acknowledged: the restarted node removed it
    # from its incoming folder.
    instance = Path(scp_env["DOSEAPP_INSTANCE"])
    done = set(imported_sop_uids())
    for name in _spool_leftovers(instance, "KILLED"):
        assert sop_uid(instance / "spool" / "KILLED" / name) in done, name
    assert list((instance / "spool" / "KILLED" / ".incoming").iterdir()) == []


@contextlib.contextmanager
def _import_lock(instance: Path, study_uids_: list[str]):
    """Hold what an import of these studies waits for: the instance's import lock file (SQLite) or
    the studies' advisory locks (PostgreSQL)."""
    from doseapp.ingest.locks import _advisory_key

    if db.engine.dialect.name == "postgresql":
        conn = db.engine.connect()
        try:
            for uid in study_uids_:
                conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": _advisory_key(uid)})
            yield
        finally:
            conn.rollback()
            conn.execute(sa.text("SELECT pg_advisory_unlock_all()"))
            conn.close()
        return
    fd = os.open(instance / "import.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def test_worker_killed_during_import_job_is_retried(app, scp_env, procs, make_node, tmp_path):
    import pydicom

    files = rdsr_copies(tmp_path / "sent", 3)
    node = make_node("RETRIED")
    procs.supervisor()
    wait_running(node)
    assert storescu(node.port, "RETRIED", files).returncode == 0
    assert stores(node_id=node.id) == 3
    instance = Path(scp_env["DOSEAPP_INSTANCE"])
    uids = [str(pydicom.dcmread(f).StudyInstanceUID) for f in files]
    with _import_lock(instance, uids):
        worker = procs.start("worker", name="worker")
        started = wait_until(lambda: db.session.scalar(select(Job).where(Job.kind == "import_file",
                                                                         Job.status == "started")),
                             60, what="an import job started")
        # The work horse leads a process group of its own; the worker's scheduler process does not.
        horses = wait_until(lambda: [c for c in psutil.Process(worker.pid).children() if os.getpgid(c.pid) == c.pid],
                            30, what="the work horse")
        time.sleep(0.3)  # the horse is now waiting inside the import for the lock we hold
        assert len(horses) == 1
        horses[0].send_signal(signal.SIGKILL)
    killed_job = started.id
    # RQ retries the job (10 s later, by the scheduler inside `doseapp worker`).
    wait_until(lambda: len(imported_sop_uids()) == 3, 120, interval=0.5, what="all three imported")
    wait_until(lambda: db.session.get(Job, killed_job).status == "finished", 30, what="the killed job finished")
    _assert_each_imported_once(files)
    assert _spool_leftovers(instance, "RETRIED") == []


def test_redis_down_while_objects_arrive_then_started(app, scp_env, procs, make_node, tmp_path):
    # An embedded redis-server of this test's own: the machine's shared Redis is never stopped.
    folder = tmp_path / "own-redis"
    (folder / "logs").mkdir(parents=True)
    url = embedded_redis.ensure_running(folder)
    procs.env = dict(scp_env, DOSEAPP_REDIS_URL=url)
    try:
        node = make_node("NOREDIS")
        procs.supervisor()
        wait_running(node)
        assert embedded_redis.stop(folder) is True
        files = rdsr_copies(tmp_path / "sent", 10)
        sent = storescu(node.port, "NOREDIS", files)
        assert sent.returncode == 0, sent.stderr[-2000:]
        assert stores(node_id=node.id) == 10  # all acknowledged: on disk and recorded
        assert count(DicomPendingObject) == 10
        assert count(Job, Job.kind == "import_file") == 0
        embedded_redis.ensure_running(folder)
        wait_until(lambda: count(DicomPendingObject) == 0, 60, what="the sweeper queuing pending objects")
        procs.worker_burst()
        _assert_each_imported_once(files)
    finally:
        procs.stop_all()
        embedded_redis.stop(folder)


def test_storage_limit_reached_answers_out_of_resources(app, scp_env, procs, make_node, tmp_path):
    small = rdsr_copies(tmp_path / "sent", 5)                 # about 16 kB each
    big = [TESTDATA / "NM-NmIm-Siemens-s1-1.dcm", TESTDATA / "NM-NmIm-Siemens-s1-2.dcm"]  # about 0.95 MB each
    node = make_node("SMALLDISK", storage_limit_mb=1)
    procs.supervisor()
    wait_running(node)
    storescu(node.port, "SMALLDISK", [*small, *big])
    db.session.rollback()
    rows = db.session.scalars(select(DicomTransaction).where(DicomTransaction.operation == "C-STORE")
                              .order_by(DicomTransaction.id)).all()
    assert [r.status for r in rows] == ["success"] * 6 + ["0xA700"]
    assert rows[-1].sop_instance_uid == sop_uid(big[1])
    assert rows[-1].error.startswith("storage limit reached")
    instance = Path(scp_env["DOSEAPP_INSTANCE"])
    # Nothing of the refused object was written.
    assert len(_spool_leftovers(instance, "SMALLDISK")) == 6
    assert not any(name.startswith(TMP_PREFIX) for name in _spool_leftovers(instance, "SMALLDISK"))
    procs.worker_burst()
    _assert_each_imported_once([*small, big[0]])  # the accepted NM image makes an NM study (issue 20)
    kept = [p for p in (instance / "objects" / "SMALLDISK").rglob("*.dcm")]
    assert len(kept) == 6 and sop_uid(big[1]) not in {sop_uid(p) for p in kept}


def test_import_worker_killed_mid_import_is_queued_again_within_minutes(app, scp_env, procs, make_node, tmp_path):
    """The import worker runs jobs in place (--no-fork): killed, it leaves no work horse whose death
    RQ would see. Its job is found by its missing heartbeats and queued again, not after the job's
    one-hour timeout. The heartbeat is shortened to 1 s here (DOSEAPP_JOB_HEARTBEAT_SECONDS)."""
    import pydicom
    from rq.registry import StartedJobRegistry

    from doseapp.runtime.queues import get_queue

    procs.env = dict(scp_env, DOSEAPP_JOB_HEARTBEAT_SECONDS="1")
    files = rdsr_copies(tmp_path / "sent", 3)
    node = make_node("INPLACE")
    procs.supervisor()
    wait_running(node)
    assert storescu(node.port, "INPLACE", files).returncode == 0
    instance = Path(scp_env["DOSEAPP_INSTANCE"])
    uids = [str(pydicom.dcmread(f).StudyInstanceUID) for f in files]
    registry = StartedJobRegistry(queue=get_queue("import"))
    with _import_lock(instance, uids):
        worker = procs.start("worker", "--queues", "import", "--no-fork", name="worker")
        started = wait_until(lambda: db.session.scalar(select(Job).where(Job.kind == "import_file",
                                                                         Job.status == "started")),
                             60, what="an import job started")
        # Alive and waiting inside the import for longer than three heartbeats: not abandoned.
        time.sleep(5)
        registry.cleanup()
        assert started.rq_id in registry.get_job_ids(cleanup=False)
        worker.send_signal(signal.SIGKILL)
        worker.wait()
        # What `doseapp run` does when a child dies: end what it left in its process group (RQ's
        # scheduler process), so nothing of the dead worker lingers.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(worker.pid, signal.SIGTERM)
        killed = time.monotonic()
        time.sleep(4)
        assert started.rq_id in registry.get_expired_job_ids()  # three heartbeats missed: abandoned
    # The worker started again (as `doseapp run` restarts it) finds the abandoned job and retries it.
    procs.start("worker", "--queues", "import", "--no-fork", name="worker-again")
    wait_until(lambda: len(imported_sop_uids()) == 3, 180, interval=0.5, what="all three imported")
    wait_until(lambda: db.session.get(Job, started.id).status == "finished", 60, what="the killed job finished")
    assert time.monotonic() - killed < 150
    _assert_each_imported_once(files)
    assert _spool_leftovers(instance, "INPLACE") == []
