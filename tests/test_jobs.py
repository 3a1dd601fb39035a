"""Jobs on real Redis, run by a real worker process started by the test."""
from __future__ import annotations

import datetime as dt
import re

import pytest
from rq.job import Job as RQJob
from sqlalchemy import select

from doseapp.runtime import queues
from doseapp.models import Job, db
from doseapp.models.base import utcnow
from doseapp.runtime.queues import JobCancelled, JobContext
from tests.conftest import run_cli, session_login


def _fresh(job: Job) -> Job:
    db.session.expire_all()
    return db.session.get(Job, job.id)


def test_worker_runs_job_and_progress_is_recorded(app, client, app_env):
    from doseapp.users import create_user

    admin = create_user("ops", "long-enough-1", ["admin"])
    job = queues.enqueue("system_check", title="count", user_id=admin.id)
    assert job.status == "queued" and re.fullmatch(r"doseapp-[0-9a-f]{32}", job.rq_id)
    rq_job = RQJob.fetch(job.rq_id, connection=queues.redis_connection())
    assert rq_job.origin == app.config["QUEUE_PREFIX"] + "default"

    done = run_cli(["worker", "--burst"], app_env)
    assert done.returncode == 0, done.stderr

    job = _fresh(job)
    assert job.status == "finished", job.message
    tables = len(db.metadata.tables)
    assert (job.progress_done, job.progress_total, job.progress) == (tables, tables, 1.0)
    counts = job.result["row_counts"]
    assert counts["user"] == 1 and counts["job"] == 1 and len(counts) == tables
    assert job.started_at is not None and job.ended_at >= job.started_at
    assert job.message == f"{sum(counts.values())} rows in {tables} tables."

    session_login(client, admin)
    page = client.get(f"/jobs/{job.id}", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert 'data-status="finished"' in page and f"{tables} of {tables}" in page


def test_cancel_queued_job_never_runs(app, app_env):
    job = queues.enqueue("system_check")
    queues.cancel(job)
    assert _fresh(job).status == "cancelled"
    assert run_cli(["worker", "--burst"], app_env).returncode == 0
    job = _fresh(job)
    assert job.status == "cancelled" and job.started_at is None and job.progress_done == 0


def test_running_job_stops_at_next_progress_report(app):
    job = Job(kind="system_check", queue="default", status="started", rq_id="manual-1")
    db.session.add(job)
    db.session.commit()
    ctx = JobContext(job)
    ctx.progress(1, 10, "one")
    # Another session (the web) asks for cancellation.
    db.session.execute(Job.__table__.update().where(Job.id == job.id).values(cancel_requested=True))
    db.session.commit()
    with pytest.raises(JobCancelled):
        ctx.progress(2, 10, "two")
    assert _fresh(job).progress_done == 2


def test_failed_job_records_error(app, app_env):
    job = queues.enqueue("system_check")
    # A row whose kind the worker does not know: the failure must land on the row, with its cause.
    db.session.execute(Job.__table__.update().where(Job.id == job.id).values(kind="no_such_kind"))
    db.session.commit()
    run_cli(["worker", "--burst"], app_env)
    job = _fresh(job)
    assert job.status == "failed"
    assert "no_such_kind" in job.message and "KeyError" in job.result["traceback"]


def test_housekeeping_marks_jobs_lost_from_the_queue(app):
    old = utcnow() - dt.timedelta(minutes=10)
    lost = Job(kind="system_check", queue="default", status="started", rq_id="gone-1", created_at=old)
    recent = Job(kind="system_check", queue="default", status="queued", rq_id="gone-2", created_at=utcnow())
    db.session.add_all([lost, recent])
    db.session.commit()
    from doseapp.runtime.housekeeping import reconcile_jobs

    assert reconcile_jobs() == 1
    assert _fresh(lost).status == "failed" and "lost" in _fresh(lost).message
    assert _fresh(recent).status == "queued"



def test_housekeeping_reads_a_backlog_in_batches(app, monkeypatch):
    """Rows are checked against RQ a batch at a time (here 2): a job really on its queue stays
    queued, lost ones fail, a lost one whose cancel was asked is cancelled, a young one is left."""
    from doseapp.runtime import housekeeping

    monkeypatch.setattr(housekeeping, "RECONCILE_BATCH", 2)
    old = utcnow() - dt.timedelta(minutes=10)
    alive = queues.enqueue("system_check", title="still on its queue")
    alive.created_at = old
    lost = [Job(kind="system_check", queue="default", status="queued", rq_id=f"gone-{i}", created_at=old)
            for i in range(3)]
    lost[1].cancel_requested = True
    young = Job(kind="system_check", queue="default", status="queued", rq_id="gone-young", created_at=utcnow())
    db.session.add_all([*lost, young])
    db.session.commit()

    assert housekeeping.reconcile_jobs() == 3
    assert [_fresh(j).status for j in lost] == ["failed", "cancelled", "failed"]
    assert "lost from the queue" in _fresh(lost[0]).message
    assert (_fresh(alive).status, _fresh(young).status) == ("queued", "queued")
    queues.get_queue("default").empty()

def test_housekeeping_forgets_old_finished_jobs_but_keeps_failed_ones(app):
    from doseapp.runtime.housekeeping import prune_jobs

    now = utcnow()

    def job(kind, status, days_ago):
        return Job(kind=kind, queue="default", status=status, rq_id=f"{kind}-{status}-{days_ago}",
                   created_at=now - dt.timedelta(days=days_ago), ended_at=now - dt.timedelta(days=days_ago))

    rows = {
        "old import": job("import_file", "finished", 31), "recent import": job("import_file", "finished", 29),
        "old cancelled": job("export", "cancelled", 40), "old failure": job("import_file", "failed", 400),
        "periodic, 2 days": job("housekeeping", "finished", 2), "periodic, today": job("housekeeping", "finished", 0),
        "running": Job(kind="export", queue="export", status="started", rq_id="r", created_at=now - dt.timedelta(days=90)),
    }
    db.session.add_all(rows.values())
    db.session.commit()
    ids = {name: row.id for name, row in rows.items()}
    assert prune_jobs(30) == 3
    left = set(db.session.scalars(select(Job.id)).all())
    assert {name for name, i in ids.items() if i in left} == {"recent import", "old failure", "periodic, today", "running"}


def test_scheduler_enqueues_due_jobs_once(app):
    from doseapp.runtime import scheduler

    kinds = [kind for kind, _, _ in scheduler.PERIODIC]
    assert "housekeeping" in kinds
    assert scheduler.tick(app, "me") == kinds
    assert scheduler.tick(app, "me") == []          # not due again yet
    assert scheduler.tick(app, "someone-else") == []  # not the leader
    rows = db.session.scalars(select(Job).where(Job.kind == "housekeeping")).all()
    assert len(rows) == 1 and rows[0].status == "queued"
    prefix = app.config["QUEUE_PREFIX"]
    queues.redis_connection().delete(f"{prefix}doseapp:scheduler:leader",
                                     *(f"{prefix}doseapp:scheduler:last:{k}" for k in kinds))
