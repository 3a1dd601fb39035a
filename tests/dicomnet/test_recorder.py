"""The receiver's group commit (doseapp/dicomnet/recorder.py), with real threads, the real database
and real Redis: objects handed over together are recorded together, each exactly once; with Redis
unreachable they become pending rows and no job row is left behind."""
from __future__ import annotations

import threading
import time

from sqlalchemy import func, select

from doseapp.runtime import queues
from doseapp.dicomnet import recorder as recorder_mod
from doseapp.dicomnet.recorder import Received, Recorder
from doseapp.models import DicomPendingObject, DicomStoreScp, DicomTransaction, Job, db


def _node(app) -> int:
    node = DicomStoreScp(name="Rec", aetitle="RECSCP", port=11112)
    db.session.add(node)
    db.session.commit()
    return node.id


def _items(tmp_path, node_id: int, n: int) -> list[Received]:
    items = []
    for i in range(n):
        path = tmp_path / f"obj{i}.dcm"
        path.write_bytes(b"x")
        row = DicomTransaction(direction="in", operation="C-STORE", scp_id=node_id, status="success",
                               sop_instance_uid=f"1.2.3.{i}")
        items.append(Received(path=path, parameters={"path": str(path), "source": "scp:RECSCP", "owned": True},
                              title=f"Import received obj{i}", log_row=row))
    return items


def _record_all(rec: Recorder, items: list[Received]) -> list[bool]:
    """Hand every item over from a thread of its own, all at once (as associations do); for each,
    whether its job went on RQ (False: a pending row), once the recorder has pushed it."""
    results: list = [None] * len(items)
    start = threading.Barrier(len(items))

    def send(i):
        start.wait()
        rec.record(items[i])  # returns once the job row is committed: the moment a handler answers
        assert items[i].pushed.wait(30)
        results[i] = items[i].queued

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(items))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return results


def test_objects_arriving_together_are_recorded_together_and_once(app, tmp_path, monkeypatch):
    node_id = _node(app)
    groups = []
    real_commit = Recorder._commit

    def counting_commit(self, group):
        groups.append(len(group))
        if len(groups) == 1:  # hold the first group until everything else is waiting
            deadline = time.monotonic() + 10
            while self._inbox.qsize() < 24 - len(group) and time.monotonic() < deadline:
                time.sleep(0.01)
        return real_commit(self, group)

    monkeypatch.setattr(Recorder, "_commit", counting_commit)
    queue = queues.get_queue("import")
    queue.empty()
    rec = Recorder(app, node_id, tmp_path)
    items = _items(tmp_path, node_id, 24)
    assert _record_all(rec, items) == [True] * 24

    assert sum(groups) == 24
    assert len(groups) == 2  # the first arrival, then everything that arrived meanwhile in one group
    jobs = db.session.scalars(select(Job).where(Job.kind == "import_file")).all()
    assert sorted(j.parameters["path"] for j in jobs) == sorted(str(i.path) for i in items)
    assert {j.status for j in jobs} == {"queued"}
    assert sorted(queue.get_job_ids()) == sorted(j.rq_id for j in jobs)
    logged = db.session.scalars(select(DicomTransaction.sop_instance_uid).where(DicomTransaction.scp_id == node_id)).all()
    assert sorted(logged) == sorted(f"1.2.3.{i}" for i in range(24))
    queue.empty()


def test_redis_down_leaves_pending_rows_and_no_job_rows(app, tmp_path, monkeypatch):
    node_id = _node(app)
    # A Redis that refuses connections: a closed port on loopback.
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    monkeypatch.setitem(app.config, "REDIS_URL", f"redis://127.0.0.1:{closed}/0")
    rec = Recorder(app, node_id, tmp_path)
    items = _items(tmp_path, node_id, 6)
    assert _record_all(rec, items) == [False] * 6

    assert db.session.scalar(select(func.count()).select_from(Job)) == 0
    pending = db.session.scalars(select(DicomPendingObject)).all()
    assert sorted(p.path for p in pending) == sorted(str(i.path) for i in items)
    assert all("ConnectionError" in p.last_error for p in pending)
    messages = db.session.scalars(select(DicomTransaction.message).where(DicomTransaction.scp_id == node_id)).all()
    assert messages == [recorder_mod.PENDING_MESSAGE] * 6


def test_database_failure_reaches_every_waiting_handler(app, tmp_path, monkeypatch):
    node_id = _node(app)
    rec = Recorder(app, node_id, tmp_path)
    items = _items(tmp_path, node_id, 3)
    items[1].log_row.scp_id = 10 ** 9  # no such node: the foreign key fails the group's commit
    errors = []

    def send(item):
        try:
            rec.record(item)
        except Exception as exc:
            errors.append(type(exc).__name__)

    threads = [threading.Thread(target=send, args=(i,)) for i in items]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    # Whatever grouping happened, the bad object's group failed and nothing of it was kept.
    assert "IntegrityError" in errors
    kept = db.session.scalars(select(DicomTransaction.sop_instance_uid)).all()
    assert "1.2.3.1" not in kept
    assert db.session.scalar(select(func.count()).select_from(Job)) == len(kept)
    queues.get_queue("import").empty()


def test_the_answer_waits_for_the_job_row_not_for_redis(app, tmp_path, monkeypatch):
    """record() returns (the handler answers Success) once the job row is committed; the RQ push
    follows while the answer travels."""
    node_id = _node(app)
    release = threading.Event()
    real_push = queues.push

    def slow_push(jobs):
        assert release.wait(30)
        real_push(jobs)

    monkeypatch.setattr(queues, "push", slow_push)
    queue = queues.get_queue("import")
    queue.empty()
    rec = Recorder(app, node_id, tmp_path)
    [item] = _items(tmp_path, node_id, 1)
    rec.record(item)  # returns although the push is held
    assert not item.pushed.is_set()
    db.session.rollback()
    [job] = db.session.scalars(select(Job).where(Job.kind == "import_file")).all()
    assert (job.status, job.parameters["path"]) == ("queued", str(item.path))
    assert queue.get_job_ids() == []
    release.set()
    assert item.pushed.wait(30) and item.queued
    assert queue.get_job_ids() == [job.rq_id]
    queue.empty()


def test_an_object_recorded_but_never_pushed_is_imported_later(app, tmp_path):
    """The receiver died between the commit and the RQ push (after answering Success): housekeeping
    puts the job on the queue again, once, and it imports the object; were it lost a second time, the
    job fails and the spool sweep queues the file again, so the acknowledged object is still imported."""
    import datetime as dt
    import shutil

    from doseapp.dicomnet import storage, upkeep
    from doseapp.runtime.housekeeping import REQUEUED_MESSAGE, reconcile_jobs
    from doseapp.runtime.jobs import execute
    from doseapp.models import ProcessedObject
    from doseapp.models.base import utcnow
    from tests.conftest import TESTDATA

    node_id = _node(app)
    spool = storage.spool_dir(app.config["INSTANCE"], "RECSCP")
    spool.mkdir(parents=True, exist_ok=True)
    path = spool / "1.2.3.dcm"
    shutil.copy(TESTDATA / "CT-RDSR-GEPixelMed.dcm", path)
    title = f"Import received {path.name}"
    job = queues.add_job("import_file", queue="import", title=title, retries=3,
                         parameters={"path": str(path), "source": "scp:RECSCP", "owned": True})
    job.created_at = utcnow() - dt.timedelta(minutes=5)
    db.session.commit()  # ... and the process dies here, before queues.push
    queue = queues.get_queue("import")
    queue.empty()

    assert reconcile_jobs() == 1
    requeued = db.session.get(Job, job.id)
    assert (requeued.status, requeued.message) == ("queued", REQUEUED_MESSAGE)
    assert queue.get_job_ids() == [job.rq_id]
    assert upkeep.recover_orphans(now=time.time() + upkeep.ORPHAN_AGE_SECONDS + 1) == 0  # it has a job
    assert reconcile_jobs() == 0  # on its queue now

    # Lost again (Redis emptied): once is enough; it fails, and the sweep finds the file.
    queue.empty()
    assert reconcile_jobs() == 1
    assert db.session.get(Job, job.id).status == "failed"
    assert upkeep.recover_orphans(now=time.time() + upkeep.ORPHAN_AGE_SECONDS + 1) == 1
    [again] = db.session.scalars(select(Job).where(Job.title == title, Job.status == "queued")).all()
    assert queue.get_job_ids() == [again.rq_id]
    assert db.session.scalar(select(func.count()).select_from(DicomPendingObject)) == 0
    queue.empty()
    execute(again.id, again.rq_id)  # what the worker runs for that RQ job
    db.session.rollback()
    assert db.session.get(Job, again.id).status == "finished"
    assert db.session.scalar(select(func.count()).select_from(ProcessedObject)) == 1
