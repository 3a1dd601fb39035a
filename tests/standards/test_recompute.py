"""Recomputing stored studies' CT estimates: the batched function, the RQ job with progress, and
`doseapp ct-estimates recompute`; rows blanked here stand for studies stored before the estimates
existed. Recomputation gives exactly what import gave, and running it again changes nothing."""
from __future__ import annotations

import pytest
from sqlalchemy import select, update

from doseapp.models import CtEvent, Job, ReferenceLevel, Study, db
from doseapp.runtime.jobs import execute
from doseapp.ingest import ct_estimates
from doseapp.standards import flags
from tests.conftest import run_cli
from tests.standards.drl_helpers import standard_name
from tests.standards.rdsr_files import with_wed

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


def test_recompute_refreshes_the_drl_ratio_of_the_studies_it_touched(imp, tmp_path, app_env):
    """Flash TAP with a 28.4 cm water-equivalent diameter added (tests/standards/rdsr_files.py): mean
    CTDIvol 9.91 mGy, mean SSDE 12.938756 mGy (test_ssde.py). Local levels CTDIvol 20 mGy and SSDE
    10 mGy: ratio = max(9.91 / 20, 12.938756 / 10) = 1.2938756. Rows blanked as if stored before the
    estimates (and their ratio computed then, from no value) get it back only by the recompute."""
    flash = imp(str(with_wed("CT-RDSR-Siemens_Flash-TAP-SS.dcm", {3: 28.4}, tmp_path / "wed.dcm")))
    other = imp("CT-RDSR-Siemens-Multi-3.dcm")
    name = standard_name("CT", "CT recompute test")
    db.session.add_all([ReferenceLevel(standard_name_id=name.id, quantity="ctdivol", value=20.0, source="test"),
                        ReferenceLevel(standard_name_id=name.id, quantity="ssde", value=10.0, source="test")])
    db.session.execute(update(Study).values(standard_name_id=name.id))
    db.session.commit()
    flags.refresh_studies([flash.study["id"], other.study["id"]])
    assert db.session.get(Study, flash.study["id"]).drl_ratio == pytest.approx(1.2938756, rel=1e-6)

    _blank()
    flags.refresh_studies([flash.study["id"], other.study["id"]])  # no CTDIvol, no SSDE: no ratio
    assert db.session.get(Study, flash.study["id"]).drl_ratio is None
    flash_date = db.session.get(Study, flash.study["id"]).study_date
    multi_date = db.session.get(Study, other.study["id"]).study_date
    assert (flash_date.isoformat(), multi_date.isoformat()) == ("1997-01-01", "2018-01-05")

    done = run_cli(["ct-estimates", "recompute", "--since", multi_date.isoformat()], app_env)
    assert done.returncode == 0, done.stderr
    assert "1 of 1 study: 0 with an SSDE" in done.stdout
    db.session.expire_all()
    multi = db.session.get(Study, other.study["id"])
    assert multi.mean_ctdivol_mgy is not None and multi.mean_ssde_mgy is None  # no diameter: CTDIvol only
    assert multi.mean_ctdivol_mgy == pytest.approx(7.575)  # the mean over its scans, as at import
    assert multi.drl_ratio == pytest.approx(7.575 / 20.0)
    assert db.session.get(Study, flash.study["id"]).drl_ratio is None  # not touched: still as it was

    done = run_cli(["ct-estimates", "recompute"], app_env)
    assert done.returncode == 0, done.stderr
    db.session.expire_all()
    assert db.session.get(Study, flash.study["id"]).drl_ratio == pytest.approx(1.2938756, rel=1e-6)
