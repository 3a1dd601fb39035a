"""Config → Skin dose maps (the two settings, audited; recalculate as a job) and each system's trust
decision on the display names page (audited; recomputes the system's maps; not trusted: no map)."""
from __future__ import annotations

import re

from sqlalchemy import select

from doseapp.models import Equipment, Job, SkinDoseMap, Study, SystemSettings, db
from doseapp.runtime.jobs import execute
from tests.skin.conftest import GE, ZEE, map_of, set_maps
from tests.web.config_helpers import audit_rows, login, post


def _settings() -> tuple[bool, bool]:
    db.session.expire_all()
    s = SystemSettings.get()
    return s.enable_skin_dose_maps, s.calc_skin_dose_on_import


def _batch_jobs() -> list[Job]:
    db.session.expire_all()
    return list(db.session.scalars(select(Job).where(Job.kind == "skin_map_batch").order_by(Job.id)))


def test_settings_page_saves_and_audits(app, client):
    login(client, "ada")
    html = client.get("/config/skin-maps").get_data(as_text=True)
    assert "<h1>Skin dose map settings</h1>" in html
    assert re.search(r'name="enable_skin_dose_maps" checked', html) and re.search(r'name="calc_skin_dose_on_import" checked', html)
    assert _settings() == (True, True)  # the defaults: on, and on import (cheap now)
    resp = post(client, "/config/skin-maps", {"enable_skin_dose_maps": "on"})
    assert resp.status_code == 302 and resp.location == "/config/skin-maps"
    assert _settings() == (True, False)
    post(client, "/config/skin-maps", {"enable_skin_dose_maps": "on"})  # unchanged: no entry
    post(client, "/config/skin-maps", {})
    assert _settings() == (False, False)
    assert [(r.action, r.username, r.details) for r in audit_rows("settings.skin_dose_maps")] == [
        ("settings.skin_dose_maps", "ada", {"calc_skin_dose_on_import": [True, False]}),
        ("settings.skin_dose_maps", "ada", {"enable_skin_dose_maps": [True, False]}),
    ]
    # Switched off, the page offers no recalculation and the route starts none.
    html = client.get("/config/skin-maps").get_data(as_text=True)
    assert 'id="recalculate-off"' in html and "Recalculate all maps" not in html
    post(client, "/config/skin-maps/recalculate", {"scope": "all"}, form_page="/config/skin-maps")
    assert _batch_jobs() == []


def test_the_page_is_in_the_config_index_and_menu(app, client):
    login(client, "ada")
    index = client.get("/config/").get_data(as_text=True)
    assert '<a href="/config/skin-maps">Skin dose maps</a>' in index


def test_viewer_cannot_change_settings_or_recalculate(app, client):
    login(client, "vic", ("viewer",))
    assert client.get("/config/skin-maps").status_code == 403
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/config/display-names").get_data(as_text=True)).group(1)
    assert client.post("/config/skin-maps", data={"csrf_token": token}).status_code == 403
    assert client.post("/config/skin-maps/recalculate", data={"csrf_token": token, "scope": "all"}).status_code == 403
    assert _settings() == (True, True) and _batch_jobs() == [] and audit_rows("settings.skin_dose_maps") == []
    assert '<a href="/config/skin-maps">' not in client.get("/config/").get_data(as_text=True)


def test_recalculate_all_starts_the_batch_and_shows_its_progress_link(app, client, imported):
    ids = imported(ZEE, GE)
    login(client, "ada")
    html = client.get("/config/skin-maps").get_data(as_text=True)
    assert re.search(r'data-count="fluoro">2<', html) and re.search(r'data-count="none">2<', html)
    resp = post(client, "/config/skin-maps/recalculate", {"scope": "all"}, form_page="/config/skin-maps")
    [job] = _batch_jobs()
    assert resp.status_code == 302 and resp.location == f"/jobs/{job.id}"
    assert job.parameters == {"scope": "all"} and job.title == "Recalculate all skin dose maps"
    execute(job.id, job.rq_id)
    html = client.get("/config/skin-maps").get_data(as_text=True)
    assert f'<a href="/jobs/{job.id}">Recalculate all skin dose maps</a>: finished (2 of 2)' in html
    assert re.search(r'data-count="ok">1<', html) and re.search(r'data-count="no_map">1<', html)
    assert map_of(ids[ZEE]).status == "ok"
    post(client, "/config/skin-maps/recalculate", {"scope": "stale"}, form_page="/config/skin-maps")
    assert _batch_jobs()[-1].parameters == {"scope": "stale"}


def _trust(client, equipment_id: int, choice: str):
    return post(client, "/config/display-names/edit", {"ids": str(equipment_id), "display_name": "",
                                                       "user_defined_modality": "", "skin_map_trusted": choice},
                form_page=f"/config/display-names/edit?ids={equipment_id}")


def test_trust_per_system_is_audited_and_recomputes_its_maps(app, client, imported):
    ids = imported(ZEE, GE)
    login(client, "ada", ("admin", "viewer"))
    study = db.session.get(Study, ids[ZEE])
    eq_id, name = study.equipment_id, study.equipment.display_name
    execute(*(lambda j: (j.id, j.rq_id))(_start_all()))
    assert map_of(ids[ZEE]).status == "ok"
    page = client.get("/config/display-names").get_data(as_text=True)
    assert f'<td data-skin-trust="{eq_id}">vendor table</td>' in page

    resp = _trust(client, eq_id, "untrusted")
    [job] = _batch_jobs()[1:]
    assert resp.status_code == 302 and resp.location == f"/jobs/{job.id}"
    assert job.parameters == {"scope": "all", "equipment_ids": [eq_id]}
    db.session.expire_all()
    assert db.session.get(Equipment, eq_id).skin_map_trusted is False
    execute(job.id, job.rq_id)
    row = map_of(ids[ZEE])
    assert row.status == "no_map" and "administrator" in row.reason and "not trusted" in row.reason
    assert db.session.get(Study, ids[ZEE]).peak_skin_dose_gy is None
    assert map_of(ids[GE]).status == "no_map"  # another system: untouched
    page = client.get("/config/display-names").get_data(as_text=True)
    assert f'<td data-skin-trust="{eq_id}">not trusted</td>' in page

    _trust(client, eq_id, "vendor")
    job = _batch_jobs()[-1]
    execute(job.id, job.rq_id)
    assert map_of(ids[ZEE]).status == "ok"
    _trust(client, eq_id, "vendor")  # no change: no entry, no job
    assert _batch_jobs()[-1].id == job.id
    assert [(r.target, r.details) for r in audit_rows("equipment.skin_map_trust")] == [
        (name, {"equipment_ids": [eq_id], "before": {str(eq_id): "vendor table"}, "after": "not trusted"}),
        (name, {"equipment_ids": [eq_id], "before": {str(eq_id): "not trusted"}, "after": "vendor table"}),
    ]

    # Maps switched off: the decision is kept, the system's maps (no longer right) are dropped, nothing runs.
    set_maps(enabled=False)
    _trust(client, eq_id, "trusted")
    assert _batch_jobs()[-1].id == job.id
    assert map_of(ids[ZEE]) is None and db.session.get(Equipment, eq_id).skin_map_trusted is True
    assert db.session.scalar(select(SkinDoseMap.status).where(SkinDoseMap.study_id == ids[GE])) == "no_map"


def test_a_bad_trust_choice_is_refused(app, client, imported):
    ids = imported(ZEE)
    login(client, "ada")
    eq_id = db.session.get(Study, ids[ZEE]).equipment_id
    resp = _trust(client, eq_id, "maybe")
    assert resp.status_code == 400 and b"Choose one of the listed skin dose map choices." in resp.data
    assert audit_rows("equipment.skin_map_trust") == []


def _start_all() -> Job:
    from doseapp.skin.jobs import enqueue_batch

    return enqueue_batch("all", scope="all")
