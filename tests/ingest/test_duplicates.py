"""Duplicate, cumulative and continued RDSRs: OpenREM's outcomes in every import order (but a continued
study is one exam), and the same outcome when four workers import at once."""
from __future__ import annotations

import itertools
import subprocess
import sys

import pytest
from sqlalchemy import select

from doseapp.runtime import queues
from doseapp.models import Job, ProcessedObject, Study, db
from tests.conftest import TESTDATA
from tests.ingest.conftest import only_study, study_count

MULTI = ["CT-RDSR-Siemens-Multi-1.dcm", "CT-RDSR-Siemens-Multi-2.dcm", "CT-RDSR-Siemens-Multi-3.dcm"]
CONTINUED = ["CT-RDSR-Siemens-Continued-1.dcm", "CT-RDSR-Siemens-Continued-2.dcm"]
MULTI_UID_END = "1516915727449.3.0"
CONTINUED_UID_END = "1524778350970.5.0"


def assert_cumulative_outcome():
    study = only_study(MULTI_UID_END)
    assert study.number_of_events == 3
    assert study.total_dlp_mgycm == pytest.approx(236.09, rel=1e-6)
    assert [e.dlp_mgycm for e in study.ct_events] == [pytest.approx(v, rel=1e-6) for v in (7.46, 69.81, 158.82)]
    sops = {o.sop_instance_uid for o in study.objects}
    assert len(sops) == 3  # every cumulative report is known, so a late repeat is a duplicate


def assert_continued_outcome():
    """One exam: both reports' events, both reports known with their own totals."""
    study = only_study(CONTINUED_UID_END)
    assert (study.number_of_events, study.total_dlp_mgycm) == (4, pytest.approx(56.44 + 60.17, rel=1e-6))
    assert sorted(o.total_dlp_mgycm for o in study.objects) == [pytest.approx(56.44), pytest.approx(60.17)]


@pytest.mark.parametrize("order", list(itertools.permutations(MULTI)))
def test_cumulative_rdsrs_in_every_order(imp, order):
    results = imp(*order)
    assert all(r.status in ("imported", "duplicate") for r in results)
    # A report is a duplicate exactly when a fuller one came before it.
    fullest = 0
    for name, r in zip(order, results):
        n = MULTI.index(name) + 1
        assert r.status == ("duplicate" if n <= fullest else "imported"), (order, name, r)
        if r.status == "imported" and fullest:
            assert any("cumulative" in w for w in r.warnings)
        fullest = max(fullest, n)
    assert_cumulative_outcome()
    again = imp(*MULTI)
    assert [r.status for r in again] == ["duplicate"] * 3
    assert "same SOP Instance UID" in again[0].reason
    assert_cumulative_outcome()


@pytest.mark.parametrize("order", [CONTINUED, CONTINUED[::-1]])
def test_continued_study_joins_the_stored_one(imp, order):
    assert [r.status for r in imp(*order)] == ["imported", "imported"]
    assert_continued_outcome()
    assert [r.status for r in imp(*order)] == ["duplicate", "duplicate"]
    assert study_count() == 1


def test_four_workers_at_once_give_the_same_outcome(app, app_env):
    names = MULTI + CONTINUED + [MULTI[2], CONTINUED[0], MULTI[0], MULTI[1], CONTINUED[1]]
    jobs = [queues.enqueue("import_file", queue="import", parameters={"path": str(TESTDATA / n)}) for n in names]
    workers = [subprocess.Popen([sys.executable, "-m", "doseapp.cli", "worker", "--burst"], env=app_env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for _ in range(4)]
    errors = []
    for w in workers:
        _, err = w.communicate(timeout=240)
        assert w.returncode == 0, err[-2000:]
        errors.append(err[-3000:])
    db.session.expire_all()
    rows = [db.session.get(Job, j.id) for j in jobs]
    assert [r.status for r in rows] == ["finished"] * len(names), ([(r.status, r.message) for r in rows], errors)
    outcomes = [r.result["status"] for r in rows]
    assert outcomes.count("imported") >= 3 and set(outcomes) <= {"imported", "duplicate"}, [r.result for r in rows]
    assert_cumulative_outcome()
    assert_continued_outcome()
    assert study_count() == 2
    assert db.session.scalar(select(ProcessedObject).where(ProcessedObject.study_id.is_(None))) is None
