"""Display names & modality, the Dual re-sort job, and the per-source review with its deletes."""
from __future__ import annotations

import re

from sqlalchemy import func, select

from doseapp.blueprints import config_equipment
from doseapp.config_modality import projection_modality
from doseapp.models import Equipment, Job, Study, db
from tests.conftest import run_cli
from tests.web.config_helpers import audit_rows, imp, login, post, studies_of

DUAL_DX = "1523348932404.3.0"  # Dual-RDSR-DX.dcm: no fluoroscopy in its accumulated data
DUAL_RF = "1523824701579.3.0"  # Dual-RDSR-RF.dcm: 4 s of fluoroscopy


def _equipment(station: str) -> Equipment:
    db.session.expire_all()
    return db.session.scalar(select(Equipment).where(Equipment.station_name == station))


def test_view_page_shows_six_tables_to_a_viewer(app, client):
    imp("CT-RDSR-GEPixelMed.dcm", "MG-RDSR-Hologic_2D.dcm", "DX-RDSR-Canon_CXDI.dcm", "RF-RDSR-Siemens-Zee.dcm",
        "NM-RRDSR-Siemens.dcm")
    login(client, "vera", ["viewer"])
    html = client.get("/config/display-names").get_data(as_text=True)
    assert "View display names &amp; modality" in html
    assert 'href="#ct">CT</a> | <a href="#mg">Mammography</a> | <a href="#dx">DX and CR</a> | ' \
           '<a href="#rf">Fluoroscopy</a> | <a href="#nm">Nuclear medicine and PET</a> | <a href="#other">Others</a>' in html
    nm_station = db.session.scalar(select(Equipment.station_name).join(Study, Study.equipment_id == Equipment.id)
                                   .where(Study.modality == "NM"))
    assert nm_station
    for anchor, station in (("ct", "rt16"), ("mg", "Dimensions"), ("dx", "CANONDaRt"), ("rf", "ArtisZee"),
                            ("nm", nm_station)):
        table = re.search(rf'data-table="{anchor}">(.*?)</table>', html, re.S).group(1)
        assert table.count("<tr data-equipment=") == 1
        assert f"<td>{station}</td>" in table
    assert html.count("There is 1 entry in this table.") == 5
    assert "There are 0 entries in this table." in html  # Others
    assert 'name="ids"' not in html and "Review" not in html  # viewers do not edit
    assert client.get("/config/display-names/edit").status_code == 403
    eq = _equipment("CANONDaRt")
    assert client.get(f"/config/equipment/{eq.id}/review").status_code == 403


def test_admin_renames_several_rows_at_once(app, client):
    imp("DX-RDSR-Canon_CXDI.dcm", "Dual-RDSR-DX.dcm", "RF-RDSR-Siemens-Zee.dcm")
    login(client, "ada")
    canon, dual, zee = _equipment("CANONDaRt"), _equipment("dRFMax-1234"), _equipment("ArtisZee")
    page = client.get(f"/config/display-names/edit?ids={canon.id}&ids={dual.id}").get_data(as_text=True)
    assert "Enter new display name to be used for all of the above systems" in page
    assert "[Leave unchanged]" in page and "Dual (planar x-ray and fluoroscopy)" in page
    resp = post(client, "/config/display-names/edit",
                {"ids": [canon.id, dual.id], "display_name": "Room 1", "user_defined_modality": ""},
                form_page=f"/config/display-names/edit?ids={canon.id}")
    assert resp.status_code == 302 and resp.location == "/config/display-names"
    assert (_equipment("CANONDaRt").display_name, _equipment("dRFMax-1234").display_name) == ("Room 1", "Room 1")
    assert _equipment("ArtisZee").display_name == zee.display_name != "Room 1"
    [entry] = audit_rows("equipment.rename")
    assert entry.username == "ada" and entry.target == "Room 1"
    assert sorted(entry.details["equipment_ids"]) == sorted([canon.id, dual.id])
    # Nothing chosen to change: refused with a reason, nothing written.
    resp = post(client, "/config/display-names/edit", {"ids": [zee.id], "display_name": "", "user_defined_modality": ""},
                form_page=f"/config/display-names/edit?ids={zee.id}")
    assert resp.status_code == 400 and b"Nothing to change" in resp.data
    assert len(audit_rows("equipment.rename")) == 1


def test_dx_rf_change_relabels_existing_studies(app, client):
    imp("Dual-RDSR-DX.dcm", "Dual-RDSR-RF.dcm", "CT-RDSR-GEPixelMed.dcm")
    assert [s.modality for s in studies_of(DUAL_DX) + studies_of(DUAL_RF)] == ["DX", "RF"]
    login(client, "ada")
    dual = _equipment("dRFMax-1234")
    form = f"/config/display-names/edit?ids={dual.id}"
    post(client, "/config/display-names/edit", {"ids": [dual.id], "user_defined_modality": "RF"}, form_page=form)
    assert [s.modality for s in studies_of(DUAL_DX) + studies_of(DUAL_RF)] == ["RF", "RF"]
    assert _equipment("dRFMax-1234").user_defined_modality == "RF"
    post(client, "/config/display-names/edit", {"ids": [dual.id], "user_defined_modality": "DX"}, form_page=form)
    assert [s.modality for s in studies_of(DUAL_DX) + studies_of(DUAL_RF)] == ["DX", "DX"]
    assert studies_of("")[-1].modality == "CT"  # other systems untouched
    rows = audit_rows("equipment.modality")
    assert [(r.details["after"], r.details["studies_relabelled"]) for r in rows] == [("RF", 1), ("DX", 2)]
    # New reports from the system follow the user-defined modality.
    db.session.execute(Study.__table__.delete())
    db.session.commit()
    imp("Dual-RDSR-RF.dcm")
    assert studies_of(DUAL_RF)[0].modality == "DX"


def test_dual_reprocess_job_sorts_studies_into_dx_and_rf(app, client, app_env):
    imp("Dual-RDSR-DX.dcm", "Dual-RDSR-RF.dcm")
    login(client, "ada")
    dual = _equipment("dRFMax-1234")
    form = f"/config/display-names/edit?ids={dual.id}"
    post(client, "/config/display-names/edit", {"ids": [dual.id], "user_defined_modality": "RF"}, form_page=form)
    assert [s.modality for s in studies_of("")] == ["RF", "RF"]
    resp = post(client, "/config/display-names/edit", {"ids": [dual.id], "user_defined_modality": "Dual"},
                form_page=form)
    job_id = int(re.fullmatch(r"/jobs/(\d+)", resp.location).group(1))
    assert db.session.get(Job, job_id).kind == "reprocess_dual"
    done = run_cli(["worker", "--burst"], app_env)
    assert done.returncode == 0, done.stderr
    db.session.expire_all()
    job = db.session.get(Job, job_id)
    assert job.status == "finished", job.result
    assert job.result == {"DX": 1, "RF": 1, "changed": 1}
    assert (job.progress_done, job.progress_total, job.progress) == (2, 2, 1.0)
    assert studies_of(DUAL_DX)[0].modality == "DX" and studies_of(DUAL_RF)[0].modality == "RF"
    [entry] = audit_rows("equipment.reprocess")
    assert entry.username == "ada" and entry.details["changed"] == 1
    # The Dual row offers "reprocess"; its confirmation counts the studies and starts a new job.
    view = client.get("/config/display-names").get_data(as_text=True)
    assert f'Dual: <a href="/config/display-names/{dual.id}/reprocess">reprocess</a>' in view
    confirm = client.get(f"/config/display-names/{dual.id}/reprocess").get_data(as_text=True)
    assert "Re-sort 2 studies" in confirm
    resp = post(client, f"/config/display-names/{dual.id}/reprocess")
    assert resp.status_code == 302 and resp.location.startswith("/jobs/")
    assert db.session.scalar(select(func.count()).select_from(Job).where(Job.kind == "reprocess_dual")) == 2


def test_projection_modality_rule():
    assert projection_modality("Fluorospot", [{"fluoro_dap_total_gym2": 4e-7}], []) == "RF"
    assert projection_modality("Fluorospot", [{"fluoro_dap_total_gym2": 0.0, "total_fluoro_time_s": 0}],
                               ["Stationary Acquisition"]) == "DX"
    # a Fluoroscopy event makes it fluoroscopy, whatever the plane's totals say
    assert projection_modality("Fluorospot", [{"fluoro_dap_total_gym2": 0.0, "total_fluoro_time_s": 0}], ["Fluoroscopy"]) == "RF"
    assert projection_modality("Fluorospot", [{"dap_total_gym2": 1e-5}], ["Fluoroscopy", "Fluoroscopy"]) == "RF"
    assert projection_modality("Fluorospot", [], ["Stationary Acquisition", "Fluoroscopy"]) == "RF"
    assert projection_modality("Fluorospot", [], ["Stationary Acquisition"]) == "DX"
    assert projection_modality("Azurion 7", [{"fluoro_dap_total_gym2": 0}], []) == "RF"


def test_source_review_counts_and_both_delete_options(app, client, monkeypatch):
    imp("Dual-RDSR-DX.dcm", "Dual-RDSR-RF.dcm", "DX-RDSR-Canon_CXDI.dcm")
    login(client, "ada")
    dual, canon = _equipment("dRFMax-1234"), _equipment("CANONDaRt")
    html = client.get(f"/config/equipment/{dual.id}/review?modality=DX").get_data(as_text=True)
    assert 'data-count="total">2<' in html and 'data-count="shown">1<' in html
    assert "filtered by the modality DX (including CR)" in html
    assert "Delete studies</a>" in html and "Delete studies and table entry</a>" in html
    assert html.count("<tr data-study=") == 1
    monkeypatch.setattr(config_equipment, "REVIEW_PAGE_SIZE", 1)
    html = client.get(f"/config/equipment/{dual.id}/review").get_data(as_text=True)
    assert "Page 1 of 2." in html and f"/config/equipment/{dual.id}/review?page=2" in html
    # Delete studies and table entry, for DX only: the RF study remains, so the entry stays.
    url = f"/config/equipment/{dual.id}/delete-studies?modality=DX&table_entry=1"
    page = client.get(url).get_data(as_text=True)
    assert 'data-count="delete">1<' in page and "is removed too" in page
    resp = post(client, url, {"confirm": "yes"}, form_page=url)
    assert resp.status_code == 302
    assert studies_of(DUAL_DX) == [] and [s.modality for s in studies_of(DUAL_RF)] == ["RF"]
    assert _equipment("dRFMax-1234") is not None
    assert b"The table entry was kept: 1 study of other modalities remains." in client.get(resp.location).data
    # Without confirm=yes nothing happens (the confirmation page again).
    url = f"/config/equipment/{dual.id}/delete-studies?modality=RF&table_entry=1"
    assert post(client, url, {}, form_page=url).status_code == 200
    assert len(studies_of(DUAL_RF)) == 1
    resp = post(client, url, {"confirm": "yes"}, form_page=url)
    assert resp.location == "/config/display-names"
    assert studies_of(DUAL_RF) == [] and _equipment("dRFMax-1234") is None
    # Delete studies (keep the entry): the Canon row stays with no studies.
    url = f"/config/equipment/{canon.id}/delete-studies?modality=DX"
    assert "keep the display name" in client.get(url).get_data(as_text=True)
    post(client, url, {"confirm": "yes"}, form_page=url)
    assert studies_of("") == [] and _equipment("CANONDaRt") is not None
    rows = audit_rows("equipment.delete_studies")
    assert [(r.details["modality"], r.details["studies_deleted"], r.details["table_entry_removed"]) for r in rows] == \
        [("DX", 1, False), ("RF", 1, True), ("DX", 1, False)]


def test_nm_source_review_and_delete_take_the_administrations_with_the_studies(app, client):
    from doseapp.models.nm import NmAdministration

    imp("NM-RRDSR-Siemens.dcm", "CT-RDSR-GEPixelMed.dcm")
    login(client, "ada")
    nm = db.session.scalar(select(Study).where(Study.modality == "NM"))
    eq_id, study_id = nm.equipment_id, nm.id
    assert db.session.scalar(select(func.count()).select_from(NmAdministration)
                             .where(NmAdministration.study_id == study_id)) == 1
    html = client.get(f"/config/equipment/{eq_id}/review?modality=NM").get_data(as_text=True)
    assert 'data-count="shown">1<' in html and "filtered by the modality nuclear medicine and PET" in html
    url = f"/config/equipment/{eq_id}/delete-studies?modality=NM"
    assert 'data-count="delete">1<' in client.get(url).get_data(as_text=True)
    assert post(client, url, {"confirm": "yes"}, form_page=url).status_code == 302
    db.session.expire_all()
    assert db.session.get(Study, study_id) is None
    assert db.session.scalar(select(func.count()).select_from(NmAdministration)) == 0
    assert [s.modality for s in db.session.scalars(select(Study)).all()] == ["CT"]
    [entry] = audit_rows("equipment.delete_studies")
    assert (entry.details["modality"], entry.details["studies_deleted"]) == ("NM", 1)
