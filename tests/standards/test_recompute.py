"""Recomputing stored studies' CT estimates: the batched function, the RQ job with progress, and
`doseapp ct-estimates recompute`; rows blanked here stand for studies stored before the estimates
existed. Recomputation gives exactly what import gave, and running it again changes nothing."""
from __future__ import annotations

from sqlalchemy import select, update

from doseapp.models import CtEvent, Job, Study, db
from doseapp.runtime.jobs import execute
from doseapp.ingest import ct_estimates
from tests.conftest import run_cli

FILES = ("CT-RDSR-Siemens_Flash-TAP-SS.dcm", "CT-RDSR-Siemens-Multi-3.dcm", "CT-RDSR-ToshibaPixelMed.dcm",
         "DX-RDSR-Canon_CXDI.dcm")


def _state():
    db.session.expire_all()
    studies = db.session.execute(select(Study.id, Study.mean_ctdivol_mgy, Study.mean_ssde_mgy, Study.ssde_method,
                                        Study.effective_dose_msv).order_by(Study.id)).all()
    events = db.session.execute(select(CtEvent.id, CtEvent.ssde_mgy, CtEvent.ssde_method,
                                       CtEvent.effective_dose_estimate_msv, CtEvent.effective_dose_coefficient,
                                       CtEvent.effective_dose_region).order_by(CtEvent.id)).all()
    return [tuple(r) for r in studies], [tuple(r) for r in events]


def _blank():
    db.session.execute(update(Study).values(mean_ctdivol_mgy=None, mean_ssde_mgy=None, ssde_method=None,
                                            effective_dose_msv=None))
    db.session.execute(update(CtEvent).values(ssde_method=None, effective_dose_estimate_msv=None,
                                              effective_dose_coefficient=None, effective_dose_region=None))
    db.session.commit()


def test_batched_recompute_restores_what_import_computed(imp):
    imp(*FILES)
    at_import = _state()
    _blank()
    seen = []
    outcome = ct_estimates.recompute(progress=lambda o: seen.append((o.done, o.total)), batch=2)
    assert (outcome.total, outcome.done) == (3, 3)  # the CT studies only
    assert seen == [(0, 3), (2, 3), (3, 3)]
    assert _state() == at_import
    ct_estimates.recompute()
    assert _state() == at_import


def test_job_with_progress(imp):
    imp(*FILES)
    at_import = _state()
    _blank()
    job = ct_estimates.enqueue_recompute()
    execute(job.id, job.rq_id)
    db.session.expire_all()
    job = db.session.get(Job, job.id)
    assert job.status == "finished" and (job.progress_done, job.progress_total) == (3, 3)
    assert job.message == "3 of 3 studies: 0 with an SSDE, 3 with an effective dose estimate."
    assert _state() == at_import


def test_cli(imp, app_env):
    imp(*FILES)
    at_import = _state()
    _blank()
    done = run_cli(["ct-estimates", "recompute"], app_env)
    assert done.returncode == 0, done.stderr
    assert "3 of 3 studies: 0 with an SSDE, 3 with an effective dose estimate" in done.stdout
    assert _state() == at_import
    done = run_cli(["ct-estimates", "recompute", "--since", "2999-01-01"], app_env)
    assert done.returncode == 0 and "0 of 0 studies" in done.stdout
