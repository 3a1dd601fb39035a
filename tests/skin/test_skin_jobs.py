"""Skin dose maps as jobs: queued when a worker imports a fluoroscopy study (and run by a real RQ
worker), recomputed when a size CSV changes the patient's height, batches with progress, stale maps."""
from __future__ import annotations

import pytest
from sqlalchemy import select, update

from doseapp.ingest import import_file
from doseapp.models import Job, SkinDoseMap, Study, db
from doseapp.runtime import queues
from doseapp.runtime.jobs import execute
from doseapp.skin import batch, jobs as skin_jobs
from tests.conftest import TESTDATA, run_cli
from tests.skin.conftest import ALLURA, DX, GE, GE_REASON, UIDS, ZEE, ZEE_MC_PSD_GY, map_of, set_maps


def _jobs(kind: str) -> list[Job]:
    db.session.expire_all()
    return list(db.session.scalars(select(Job).where(Job.kind == kind).order_by(Job.id)))


def _run(job: Job) -> Job:
    """Run a queued job here, as a worker would (execute is RQ's entry point)."""
    execute(job.id, job.rq_id)
    db.session.expire_all()
    return db.session.get(Job, job.id)


def test_a_worker_import_queues_the_map_and_a_real_worker_makes_it(app, app_env):
    job = queues.enqueue("import_file", queue="import", title="Import Zee",
                         parameters={"path": str(TESTDATA / ZEE), "source": "cli"})
    done = run_cli(["worker", "--burst"], app_env)
    assert done.returncode == 0, done.stderr
    db.session.expire_all()
    assert db.session.get(Job, job.id).status == "finished"
    [skin] = _jobs("skin_map")
    study = db.session.scalar(select(Study).where(Study.study_instance_uid == UIDS[ZEE]))
    assert skin.status == "finished" and skin.parameters == {"study_id": study.id} and skin.queue == "default"
    row = map_of(study.id)
    assert row.status == "ok" and row.peak_surface == "posterior"
    assert row.peak_skin_dose_gy == pytest.approx(ZEE_MC_PSD_GY, rel=0.05)
    assert (row.events_used, row.events_skipped, row.orientation, row.geometry) == (8, 0, "HFS", "Siemens Artis")
    assert skin.result["peak_skin_dose_Gy"] == row.peak_skin_dose_gy
    assert skin.message.startswith("Peak skin dose ")
    assert study.peak_skin_dose_gy == row.peak_skin_dose_gy


def test_import_queues_a_map_only_for_fluoroscopy_and_when_the_settings_say(app):
    def queued_after(name):
        before = len(_jobs("skin_map"))
        result = import_file(TESTDATA / name, source="cli")
        skin_jobs.after_import(result)
        return result, _jobs("skin_map")[before:]

    set_maps(enabled=True, on_import=False)
    _, new = queued_after(ZEE)
    assert new == []
    set_maps(enabled=False, on_import=True)
    _, new = queued_after(GE)
    assert new == []
    set_maps(enabled=True, on_import=True)
    result, [job] = queued_after(ALLURA)
    assert job.parameters == {"study_id": result.study["id"]} and job.status == "queued"
    result, new = queued_after(DX)
    assert result.status == "imported" and new == []
    # The same object again is a duplicate: nothing changed, nothing to compute.
    result, new = queued_after(ALLURA)
    assert result.status == "duplicate" and new == []


def test_the_map_job_of_a_study_that_is_gone_finishes_saying_so(app):
    job = _run(queues.enqueue("skin_map", parameters={"study_id": 987654}))
    assert job.status == "finished" and job.message == "Study 987654 is no longer there; nothing to do."
    assert job.result == {"study_id": 987654, "gone": True}


def test_size_csv_import_recomputes_the_map_with_the_new_height(app, app_env, imported, tmp_path):
    ids = imported(ZEE, GE)
    for study_id in ids.values():
        _run(queues.enqueue("skin_map", parameters={"study_id": study_id}))
    before = map_of(ids[ZEE])
    assert before.height_source == "assumed" and before.patient_height_m == pytest.approx(1.786)
    psd_before = before.peak_skin_dose_gy
    csv = tmp_path / "sizes.csv"
    csv.write_text(f"uid,height\n{UIDS[ZEE]},162\n{UIDS[GE]},171\n")
    size_job = queues.enqueue("size_import", parameters={"csv_path": str(csv), "id_col": "uid", "height_col": "height",
                                                         "si_uid": True})
    done = run_cli(["worker", "--burst"], app_env)
    assert done.returncode == 0, done.stderr
    db.session.expire_all()
    size_job = db.session.get(Job, size_job.id)
    assert size_job.status == "finished" and size_job.result["heights_inserted"] == 2
    [recompute] = _jobs("skin_map_batch")
    assert size_job.result["skin_map_job"] == recompute.id
    assert recompute.status == "finished" and recompute.parameters["study_ids"] == sorted(ids.values())
    assert (recompute.progress_done, recompute.progress_total) == (2, 2)
    after = map_of(ids[ZEE])
    assert after.height_source == "extracted" and after.patient_height_m == pytest.approx(1.62)
    assert after.peak_skin_dose_gy != psd_before
    ge = map_of(ids[GE])  # recomputed too, still without geometry, now for the measured height
    assert (ge.status, ge.reason, ge.height_source, ge.patient_height_m) == ("no_map", GE_REASON, "extracted", pytest.approx(1.71))


def test_batch_job_progress_and_stale_selection(app, imported):
    ids = imported(ZEE, GE, ALLURA, DX)
    rf = [ids[ZEE], ids[GE], ids[ALLURA]]
    assert batch.select_ids("all") == rf  # only fluoroscopy studies
    assert batch.select_ids("stale") == rf  # none has a map yet
    job = _run(skin_jobs.enqueue_batch("all maps", scope="all"))
    assert job.status == "finished" and (job.progress_done, job.progress_total, job.progress) == (3, 3, 1.0)
    assert job.result == {"total": 3, "maps": 2, "no_map": 1, "gone": 0, "failed": 0, "errors": []}
    assert job.message == "3 studies: 2 with a map, 1 without."
    assert batch.select_ids("stale") == []
    # An older method version, or a size that changed, makes a map stale.
    db.session.execute(update(SkinDoseMap).where(SkinDoseMap.study_id == ids[ALLURA]).values(method_version="0.1"))
    db.session.get(Study, ids[ZEE]).patient_weight_kg = 95.0
    db.session.commit()
    assert batch.select_ids("stale") == [ids[ZEE], ids[ALLURA]]
    job = _run(skin_jobs.enqueue_batch("stale maps", scope="stale"))
    assert job.result["total"] == 2 and job.result["maps"] == 2
    assert map_of(ids[ZEE]).patient_mass_kg == pytest.approx(95.0) and map_of(ids[ZEE]).mass_source == "extracted"
    assert batch.select_ids("stale") == []
    # Filters: a system by display name (any case), a date.
    zee_name = db.session.get(Study, ids[ZEE]).equipment.display_name
    assert batch.select_ids("all", system=zee_name.upper()) == [ids[ZEE]]
    with pytest.raises(batch.UnknownSystem):
        batch.select_ids("all", system="No such room")


def test_the_jobs_page_names_the_new_kinds(app, client):
    from tests.web.config_helpers import login

    login(client, "ada", ("admin", "viewer"))
    job = skin_jobs.enqueue_batch("Recalculate all skin dose maps", scope="all")
    html = client.get("/jobs/").get_data(as_text=True)
    assert "Recalculate all skin dose maps" in html and "Skin dose maps" in html
    assert client.get(f"/jobs/{job.id}").status_code == 200
