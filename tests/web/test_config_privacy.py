"""Not-patient patterns, patient-ID settings and DICOM object delete settings: the pages, what is
stored, the audit entries, and that an import then follows the new settings."""
from __future__ import annotations

import datetime as dt
import re
import shutil

from sqlalchemy import select

from doseapp.ingest import import_file
from doseapp.models import NotPatientPattern, SystemSettings, db
from tests.conftest import TESTDATA
from tests.web.config_helpers import audit_rows, imp, login, post, studies_of


def _patterns() -> list[tuple[str, str]]:
    db.session.expire_all()
    return [(p.field, p.pattern) for p in db.session.scalars(select(NotPatientPattern).order_by(NotPatientPattern.id))]


def test_pattern_add_modify_delete(app, client):
    login(client, "ada")
    assert "No patient ID patterns." in client.get("/config/not-patient").get_data(as_text=True)
    resp = post(client, "/config/not-patient/new", {"field": "id", "pattern": "phy*"},
                form_page="/config/not-patient/new?field=id")
    assert resp.status_code == 302
    resp = post(client, "/config/not-patient/new", {"field": "id", "pattern": "phy*"},
                form_page="/config/not-patient/new?field=id")
    assert resp.status_code == 400 and b"is there already" in resp.data
    post(client, "/config/not-patient/new", {"field": "name", "pattern": "*^test*"},
         form_page="/config/not-patient/new?field=name")
    assert _patterns() == [("id", "phy*"), ("name", "*^test*")]
    html = client.get("/config/not-patient").get_data(as_text=True)
    assert "Add ID patterns" in html and "Add name patterns" in html
    assert '<tr data-pattern="phy*"><td><code>phy*</code></td>' in html
    pid = db.session.scalar(select(NotPatientPattern.id).where(NotPatientPattern.pattern == "phy*"))
    post(client, f"/config/not-patient/{pid}", {"pattern": "phy[0-9]*"})
    assert _patterns() == [("id", "phy[0-9]*"), ("name", "*^test*")]
    confirm = client.get(f"/config/not-patient/{pid}/delete").get_data(as_text=True)
    assert "Delete the patient ID pattern <code>phy[0-9]*</code>?" in confirm
    assert _patterns()[0] == ("id", "phy[0-9]*")  # the confirmation page deletes nothing
    post(client, f"/config/not-patient/{pid}/delete")
    assert _patterns() == [("name", "*^test*")]
    assert [(r.action, r.details) for r in audit_rows() if r.action.startswith("pattern.")] == [
        ("pattern.add", {"field": "id", "pattern": "phy*"}),
        ("pattern.add", {"field": "name", "pattern": "*^test*"}),
        ("pattern.modify", {"field": "id", "before": "phy*", "after": "phy[0-9]*"}),
        ("pattern.delete", {"field": "id", "pattern": "phy[0-9]*"}),
    ]


def test_legacy_patterns_load_once_and_mark_imports(app, client):
    login(client, "ada")
    assert "<code>*qa*</code>" in client.get("/config/not-patient/legacy").get_data(as_text=True)
    post(client, "/config/not-patient/legacy")
    assert sorted(_patterns()) == sorted([(f, p) for f in ("id", "name") for p in ("*phy*", "*test*", "*qa*")])
    post(client, "/config/not-patient/legacy")
    assert len(_patterns()) == 6
    assert [r.details["added"] for r in audit_rows("pattern.load_legacy")] == [6, 0]
    # A pattern of our own, then an import: the study carries the indicator.
    post(client, "/config/not-patient/new", {"field": "name", "pattern": "openrem^dual*"},
         form_page="/config/not-patient/new?field=name")
    imp("Dual-RDSR-DX.dcm", "DX-RDSR-Canon_CXDI.dcm")
    dual, canon = studies_of("")
    assert dual.not_patient_indicator == "name: openrem^dual*"
    assert canon.not_patient_indicator is None


def test_patient_id_settings_saved_audited_and_applied(app, client):
    login(client, "ada")
    page = client.get("/config/patient-id").get_data(as_text=True)
    assert "Store the data?" in page and "If stored, encrypt?" in page
    assert re.search(r'name="name_hashed"[^>]*checked', page) and not re.search(r'name="id_stored"[^>]*checked', page)
    imp("Dual-RDSR-RF.dcm")  # before: nothing identifying stored
    resp = post(client, "/config/patient-id", {"id_stored": "on", "dob_stored": "on", "name_hashed": "on"})
    assert resp.status_code == 302
    db.session.expire_all()
    s = SystemSettings.get()
    assert (s.name_stored, s.name_hashed, s.id_stored, s.id_hashed, s.dob_stored, s.accession_hashed) == \
        (False, True, True, False, True, False)
    [entry] = audit_rows("settings.patient_id")
    assert entry.details == {"id_stored": [False, True], "id_hashed": [True, False], "dob_stored": [False, True]}
    imp("DX-RDSR-Canon_CXDI.dcm")
    before, after = studies_of("")
    assert (before.patient_id, before.patient_birth_date, before.patient_name) == (None, None, None)
    assert after.patient_id == "4018119567876617" and after.patient_id_hashed is False
    assert after.patient_birth_date == dt.date(1958, 4, 21) and after.patient_name is None
    # Saving unchanged settings writes no audit entry.
    post(client, "/config/patient-id", {"id_stored": "on", "dob_stored": "on", "name_hashed": "on"})
    assert len(audit_rows("settings.patient_id")) == 1


def test_dicom_delete_settings_saved_audited_and_applied(app, client, tmp_path):
    login(client, "ada")
    page = client.get("/config/dicom-delete").get_data(as_text=True)
    for words in ("Delete objects that don&#39;t match any import functions?",
                  "Delete radiation dose structured reports after processing?",
                  "Delete mammography images after processing?", "Delete radiography images after processing?",
                  "Delete Philips CT dose info images after processing?",
                  "Delete nuclear medicine and PET images after processing?"):
        assert words in page
    assert '<td data-setting="del_rdsr" data-value="no">No</td>' in page
    kept = tmp_path / "kept.dcm"
    shutil.copy(TESTDATA / "DX-RDSR-Canon_CXDI.dcm", kept)
    assert import_file(kept, source="cli").status == "imported" and kept.exists()
    post(client, "/config/dicom-delete", {"del_no_match": "on", "del_rdsr": "on"})
    page = client.get("/config/dicom-delete").get_data(as_text=True)
    assert '<td data-setting="del_rdsr" data-value="yes">Yes</td>' in page and '<td data-setting="del_mg_im" data-value="no">No</td>' in page
    [entry] = audit_rows("settings.dicom_delete")
    assert entry.details == {"del_no_match": [False, True], "del_rdsr": [False, True]}
    gone = tmp_path / "gone.dcm"
    shutil.copy(TESTDATA / "Dual-RDSR-DX.dcm", gone)
    assert import_file(gone, source="cli").status == "imported" and not gone.exists()


def test_viewer_is_refused_the_admin_pages(app, client):
    login(client, "vic", ["viewer", "exporter", "pid", "importqr", "importsize"])
    for path in ("/config/not-patient", "/config/not-patient/new", "/config/not-patient/legacy",
                 "/config/patient-id", "/config/dicom-delete", "/config/audit", "/config/users",
                 "/config/display-names/edit"):
        resp = client.get(path)
        assert resp.status_code == 403, path
        assert b"admin role" in resp.data
    assert client.get("/config/display-names").status_code == 200
    index = client.get("/config/").get_data(as_text=True)
    assert "View display names &amp; modality" in index and "Patient ID" not in index
