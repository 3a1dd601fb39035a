"""Config → Standard names: bulk-assign unmapped values, add/delete rules, rename and delete names,
the mapping CSV; every change audited and followed by the job that names the stored studies."""
from __future__ import annotations

import io

from sqlalchemy import select

from doseapp.models import Job, StandardName, StandardNameRule, Study, db
from doseapp.standards import names
from doseapp.standards.name_jobs import KIND
from tests.web.config_helpers import audit_rows, imp, login, post

PAGE = "/config/standard-names?modality=DX"
DX_FILES = ("DX-Im-Carestream_DRX.dcm", "DX-RDSR-Canon_CXDI.dcm", "DX-Im-Carestream_DR7500-1.dcm")


def _jobs() -> list[Job]:
    db.session.expire_all()
    return list(db.session.scalars(select(Job).where(Job.kind == KIND).order_by(Job.id)))


def _named() -> dict:
    db.session.expire_all()
    return {s.study_description: (s.standard_name.name if s.standard_name_id else None)
            for s in db.session.scalars(select(Study).where(Study.modality == "DX"))}


def test_bulk_assign_two_unmapped_values_to_a_new_name(app, client):
    imp(*DX_FILES)
    login(client, "ada")
    html = client.get(PAGE).get_data(as_text=True)
    assert "<h1>Standard names</h1>" in html and 'id="no-names"' in html
    for value in ("XR CHEST", "CR THORAX", "AEC"):
        assert f'value="study_description:{value}"' in html
    resp = post(client, "/config/standard-names/assign",
                {"modality": "DX", "pick": ["study_description:XR CHEST", "study_description:CR THORAX"],
                 "new_name": "Chest"}, form_page=PAGE)
    assert resp.status_code == 302 and resp.location == "/config/standard-names?modality=DX"
    sn = db.session.scalar(select(StandardName))
    assert (sn.modality, sn.name) == ("DX", "Chest")
    assert sorted((r.field, r.match, r.value) for r in sn.rules) == [
        ("study_description", "exact", "CR THORAX"), ("study_description", "exact", "XR CHEST")]
    assert [(r.action, r.username, r.target) for r in audit_rows()
            if r.action.startswith("standard_name")] == [
        ("standard_name.add", "ada", "DX Chest"),
        ("standard_name.rule_add", "ada", "DX Chest"), ("standard_name.rule_add", "ada", "DX Chest")]
    assert [r.details for r in audit_rows("standard_name.rule_add")] == [
        {"field": [None, "study_description"], "match": [None, "exact"], "value": [None, "XR CHEST"]},
        {"field": [None, "study_description"], "match": [None, "exact"], "value": [None, "CR THORAX"]}]
    assert [j.title for j in _jobs()] == ["Apply standard names (2 value(s) mapped to Chest)"]
    names.apply_all()  # what the queued job does (tests/standards test it against ingest)
    assert _named() == {"XR CHEST": "Chest", "CR THORAX": "Chest", "AEC": None}
    html = client.get(PAGE).get_data(as_text=True)
    assert 'value="study_description:XR CHEST"' not in html and 'value="study_description:AEC"' in html
    assert "Chest" in html and '<td class="num">2</td>' in html

    # A value that already has a name cannot get a second: nothing changes.
    post(client, "/config/standard-names/assign",
         {"modality": "DX", "pick": ["study_description:AEC", "study_description:XR CHEST"], "new_name": "Other"},
         form_page=PAGE)
    assert db.session.scalar(select(db.func.count()).select_from(StandardNameRule)) == 2
    assert "already maps to" in client.get(PAGE).get_data(as_text=True)
    assert len(_jobs()) == 1


def test_pattern_rule_rename_and_delete(app, client):
    imp(*DX_FILES)
    login(client, "ada")
    post(client, "/config/standard-names/rules", {"modality": "DX", "new_name": "Chest", "field": "study_description",
                                                  "match": "pattern", "value": "*ches?"}, form_page=PAGE)
    sn = db.session.scalar(select(StandardName))
    (rule,) = sn.rules
    assert (rule.match, rule.value) == ("pattern", "*ches?")
    post(client, f"/config/standard-names/{sn.id}/rename", {"name": "Chest PA"}, form_page=PAGE)
    db.session.expire_all()
    assert sn.name == "Chest PA"
    names.apply_all()
    assert _named()["XR CHEST"] == "Chest PA"
    post(client, f"/config/standard-names/{sn.id}/delete", {}, form_page=PAGE)
    assert db.session.scalar(select(StandardName)) is None and _named()["XR CHEST"] is None
    assert [r.action for r in audit_rows() if r.action.startswith("standard_name")] == [
        "standard_name.add", "standard_name.rule_add", "standard_name.rename", "standard_name.delete"]
    assert audit_rows("standard_name.rename")[0].details == {"name": ["Chest", "Chest PA"]}


def test_csv_export_and_import_with_a_bad_row(app, client):
    login(client, "ada")
    names.add_rule("CT", "CT Head", "study_description", "pattern", "*head*")
    db.session.commit()
    resp = client.get("/config/standard-names/export.csv")
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    assert resp.get_data(as_text=True) == ("modality,standard_name,field,match,value\r\n"
                                           "CT,CT Head,study_description,pattern,*head*\r\n")
    bad = b"modality,standard_name,field,match,value\r\nDX,Chest,study_description,exact,XR CHEST\r\n" \
          b"MG,Mammo,study_description,sometimes,X\r\n"
    resp = post(client, "/config/standard-names/import", {"modality": "DX", "file": (io.BytesIO(bad), "map.csv")},
                form_page=PAGE, content_type="multipart/form-data")
    assert resp.status_code == 400
    assert "row 3: Unknown match &#39;sometimes&#39;" in resp.get_data(as_text=True), resp.get_data(as_text=True)[-1500:]
    assert [sn.name for sn in db.session.scalars(select(StandardName))] == ["CT Head"]
    good = bad.rsplit(b"MG,", 1)[0]
    resp = post(client, "/config/standard-names/import", {"modality": "DX", "file": (io.BytesIO(good), "map.csv")},
                form_page=PAGE, content_type="multipart/form-data")
    assert resp.status_code == 302
    assert sorted(sn.name for sn in db.session.scalars(select(StandardName))) == ["CT Head", "Chest"]
    assert audit_rows("standard_name.import")[0].details == {"added": 1, "already": 0}


def test_the_page_is_in_the_config_index_and_menu(app, client):
    login(client, "ada")
    html = client.get("/config/").get_data(as_text=True)
    assert html.count('href="/config/standard-names"') == 2  # the index and the menu
