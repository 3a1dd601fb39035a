"""Manual queries at a level (DRAW's query page) against a real PACS (Orthanc): exactly what the PACS
holds at the series and image levels, patient name / ID / accession wildcards, patient identifiers
for the pid role only (a non-pid user who sends patient criteria gets 403), Retrieve selected moving
only what was ticked into our Store SCP, Run again and the history's filters, the retrieve jobs page.

The PACS holds the dose-query content and the `people` studies (tests/qr/conftest.py).
"""
from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import select

from doseapp.dicomnet.qr import run_query
from doseapp.dicomnet.qr_filter import QueryOptions
from doseapp.dicomnet.qr_jobs import new_query
from doseapp.dicomnet.qr_manual import Criteria
from doseapp.security.privacy import keyed_hash
from doseapp.models import DicomQuery, DicomTransaction, Job, SystemSettings, db
from doseapp.users import create_user
from tests.conftest import session_login
from tests.qr.conftest import ISO_DAY, MANUAL_DAY, OLD_DAY, PEOPLE, QUERY_DAY, imported_sop_uids, log_in, work

def _uid(people, name: str) -> str:
    return str(people[name][0].StudyInstanceUID)


@pytest.fixture
def ids_in_clear(app):
    settings = SystemSettings.get()
    settings.name_stored = settings.id_stored = True
    settings.name_hashed = settings.id_hashed = False
    db.session.commit()


def _kept_series(query: DicomQuery) -> set[str]:
    return {se.series_instance_uid for s in query.studies if not s.excluded_reason
            for se in s.series if not se.excluded_reason}


def _kept_studies(query: DicomQuery) -> set[str]:
    return {s.study_instance_uid for s in query.studies if not s.excluded_reason}


def _manual(nodes, level: str, day: str, **criteria) -> DicomQuery:
    remote, store = nodes
    query = new_query(remote.id, store.id, QueryOptions(date_from=day, date_until=day),
                      criteria=Criteria(level=level, **criteria), enqueue_job=False)
    run_query(query)
    return query


@pytest.mark.parametrize("model", ["study", "patient"])
def test_series_and_image_levels_return_exactly_what_the_pacs_holds(nodes, pacs, people, model):
    remote, _ = nodes
    remote.query_model = model
    db.session.commit()
    on_the_day = [ds for name, datasets in pacs.content.items() for ds in datasets if ds.StudyDate == QUERY_DAY]
    assert len(on_the_day) > 30 and any(ds.StudyDate == OLD_DAY for ds in pacs.content["old"])

    query = _manual(nodes, "SERIES", QUERY_DAY)
    assert _kept_series(query) == {str(ds.SeriesInstanceUID) for ds in on_the_day}
    assert _kept_studies(query) == {str(ds.StudyInstanceUID) for ds in on_the_day}
    assert all(not se.images for s in query.studies for se in s.series)  # the series level stops there
    assert query.summary["counts"] == {"patients": 8, "studies": 8, "series": len(_kept_series(query))}

    query = _manual(nodes, "IMAGE", MANUAL_DAY)
    every = [ds for datasets in people.values() for ds in datasets]
    assert {im.sop_instance_uid for s in query.studies for se in s.series for im in se.images} == {
        str(ds.SOPInstanceUID) for ds in every}
    assert query.summary["counts"] == {"patients": 3, "studies": 4, "series": 6, "images": 9}
    assert query.message == "Found 3 patients, 4 studies, 6 series, 9 images"


@pytest.fixture
def pid_client(client, no_csrf):
    session_login(client, create_user("qr-pid", "password-123", ["importqr", "pid"]))
    return client


def _submit(client, nodes, **fields) -> int:
    remote, store = nodes
    resp = client.post("/qr/", data={"remote_id": remote.id, "store_id": store.id, "date_from": ISO_DAY,
                                     "date_until": ISO_DAY, "method": "move", **fields})
    assert resp.status_code == 302, resp.get_data(as_text=True)
    return int(re.search(r"/qr/queries/(\d+)", resp.location).group(1))


def test_wildcard_patient_name_id_and_accession_as_pid_user(nodes, pacs, people, pid_client, app, ids_in_clear):
    page = pid_client.get("/qr/").get_data(as_text=True)
    assert 'name="patient_id"' in page and 'name="patient_name"' in page and 'value="PATIENT"' in page
    expected = {"doe^j*": {"jane_ct", "jane_dx", "john_rf"}, "DOE^JAN?": {"jane_ct", "jane_dx"}, "smith*": {"anna_ct"}}
    queries = {term: _submit(pid_client, nodes, level="STUDY", patient_name=term) for term in expected}
    by_id = _submit(pid_client, nodes, level="STUDY", patient_id="DJ00?")
    by_accession = _submit(pid_client, nodes, level="STUDY", accession_number="ACC-J*")
    work(app)
    for term, names in expected.items():
        query = db.session.get(DicomQuery, queries[term])
        assert _kept_studies(query) == {_uid(people, n) for n in names}, term
    assert _kept_studies(db.session.get(DicomQuery, by_id)) == {_uid(people, n) for n in ("jane_ct", "jane_dx", "john_rf")}
    assert _kept_studies(db.session.get(DicomQuery, by_accession)) == {_uid(people, n) for n in ("jane_ct", "jane_dx")}

    html = pid_client.get(f"/qr/queries/{queries['doe^j*']}").get_data(as_text=True)
    assert html.count("DOE^JANE") == 2 and html.count("DOE^JOHN") == 1 and "DJ001" in html
    assert "patient name doe^j*" in html and "SMITH^ANNA" not in html

    # The patient level, with the Patient Root model: the patients, each with their studies.
    remote, _ = nodes
    remote.query_model = "patient"
    db.session.commit()
    patients = _submit(pid_client, nodes, level="PATIENT", patient_name="DOE*")
    work(app)
    query = db.session.get(DicomQuery, patients)
    assert query.summary["counts"] == {"patients": 2, "studies": 3}
    html = pid_client.get(f"/qr/queries/{patients}").get_data(as_text=True)
    groups = re.findall(r'<tr class="patient">.*?<td class="pid">([^<]*)</td><td class="pid">([^<]*)</td>.*?(\d) stud', html, re.S)
    assert sorted(groups) == [("DJ001", "DOE^JANE", "2"), ("DJ002", "DOE^JOHN", "1")]


def test_identifiers_are_kept_as_the_privacy_settings_say(nodes, pacs, people, app):
    settings = SystemSettings.get()
    settings.id_stored, settings.id_hashed, settings.name_stored = True, True, False
    db.session.commit()
    query = _manual(nodes, "STUDY", MANUAL_DAY, patient_name="SMITH*")
    assert query.summary["patients"] == {_uid(people, "anna_ct"): [keyed_hash("SA004"), None]}
    assert query.summary["ids_protected"] is True


def test_patient_criteria_the_settings_do_not_keep_in_clear_are_dropped_once_the_query_ran(nodes, pacs, people,
                                                                                          pid_client, app):
    settings = SystemSettings.get()  # IDs as the keyed hash, names not stored
    settings.id_stored, settings.id_hashed, settings.name_stored = True, True, False
    db.session.commit()
    query_id = _submit(pid_client, nodes, level="STUDY", patient_name="DOE^J*", patient_id="DJ00?",
                       accession_number="ACC-J*")
    work(app)
    query = db.session.get(DicomQuery, query_id)
    assert _kept_studies(query) == {_uid(people, n) for n in ("jane_ct", "jane_dx")}  # the criteria were used
    manual = query.parameters["manual"]
    assert (manual["patient_id"], manual["patient_name"], manual["accession_number"]) == ("", "", "ACC-J*")
    assert manual["removed"] == ["patient_id", "patient_name"]
    assert "DJ00?" not in json.dumps(query.parameters) and "DOE^J*" not in json.dumps(query.parameters)

    html = pid_client.get(f"/qr/queries/{query_id}").get_data(as_text=True)
    assert "patient ID and patient name (not kept after the query ran" in html
    german = pid_client.get(f"/qr/queries/{query_id}", headers={"Accept-Language": "de"}).get_data(as_text=True)
    assert ("Patienten-ID und Patientenname (nach der Abfrage nicht behalten: die Datenschutzeinstellungen "
            "speichern sie nicht im Klartext), Zugangsnummer ACC-J*") in german
    # A criterion DICOM cannot carry is refused with the reason, in the reader's language too.
    remote, store = nodes
    refused = pid_client.post("/qr/", headers={"Accept-Language": "fr"},
                              data={"remote_id": remote.id, "store_id": store.id, "date_from": ISO_DAY,
                                    "date_until": ISO_DAY, "level": "STUDY", "accession_number": "A\\B"})
    assert "Le champ « numéro d&#39;accès » ne peut contenir ni barre oblique inverse ni caractère de contrôle." \
        in refused.get_data(as_text=True)
    resp = pid_client.post(f"/qr/queries/{query_id}/again")
    assert resp.status_code == 302 and resp.location.endswith(f"/qr/queries/{query_id}")
    assert db.session.scalar(select(DicomQuery.id).order_by(DicomQuery.id.desc()).limit(1)) == query_id
    assert "cannot run again" in pid_client.get(f"/qr/queries/{query_id}").get_data(as_text=True)
    history = pid_client.get("/qr/history").get_data(as_text=True)
    assert f'data-query-id="{query_id}"' in history and ">Run again</button>" not in history

    # IDs in clear: the ID criterion stays (Run again works), the name, not stored, still goes.
    settings.id_hashed = False
    db.session.commit()
    kept = _manual(nodes, "STUDY", MANUAL_DAY, patient_id="DJ00?", patient_name="DOE*")
    assert kept.parameters["manual"]["patient_id"] == "DJ00?" and kept.parameters["manual"]["removed"] == ["patient_name"]


def test_non_pid_user_sees_no_identifier_and_cannot_search_by_patient(nodes, pacs, people, client, no_csrf, app,
                                                                       ids_in_clear):
    remote, store = nodes
    pid_query = _manual(nodes, "STUDY", MANUAL_DAY, patient_name="DOE*")
    assert pid_query.summary["patients"][_uid(people, "jane_ct")] == ["DJ001", "DOE^JANE"]
    log_in(client, "qr-nopid", "importqr")

    page = client.get("/qr/").get_data(as_text=True)
    assert 'name="patient_id"' not in page and 'name="patient_name"' not in page and 'value="PATIENT"' not in page
    assert 'name="accession_number"' in page and 'value="SERIES"' in page
    before = db.session.scalar(select(db.func.count(DicomQuery.id)))
    # Refused, not ignored: 403, and no query is made.
    for fields in ({"level": "STUDY", "patient_name": "DOE*"}, {"level": "STUDY", "patient_id": "DJ001"},
                   {"level": "PATIENT"}, {"patient_id": "DJ001", "mod_CT": "on"}):
        resp = client.post("/qr/", data={"remote_id": remote.id, "store_id": store.id, "date_from": ISO_DAY, **fields})
        assert resp.status_code == 403, fields
    assert db.session.scalar(select(db.func.count(DicomQuery.id))) == before
    allowed = _submit(client, nodes, level="STUDY", accession_number="ACC-O?")
    work(app)
    assert _kept_studies(db.session.get(DicomQuery, allowed)) == {_uid(people, "john_rf")}

    for url in (f"/qr/queries/{pid_query.id}", f"/qr/queries/{allowed}", "/qr/history", "/qr/retrieves"):
        html = client.get(url).get_data(as_text=True)
        for who in PEOPLE.values():
            for identifier in (*who, who[1].replace("^", " "), "DOE*"):
                assert identifier not in html, (url, identifier)
    html = client.get(f"/qr/queries/{pid_query.id}").get_data(as_text=True)
    assert "patient criteria (hidden: pid role only)" in html and "ACC-J1" in html  # the study, not the patient
    french = client.get(f"/qr/queries/{pid_query.id}", headers={"Accept-Language": "fr"}).get_data(as_text=True)
    assert "critères patient (masqués : rôle pid uniquement)" in french
    assert f'value="{pid_query.studies[0].id}"' in html  # and it may still be ticked and retrieved
    assert client.post(f"/qr/queries/{pid_query.id}/again").status_code == 403
    # Nothing identifying went to the transaction log or the job titles either.
    logged = " ".join(f"{t.message} {t.error}" for t in db.session.scalars(select(DicomTransaction)))
    jobs = " ".join(f"{j.title} {j.message} {json.dumps(j.result)} {json.dumps(j.parameters)}"
                    for j in db.session.scalars(select(Job)))
    assert not any(x in logged + jobs for x in ("DOE", "DJ00", "SMITH", "SA004"))


def _c_stores(store) -> list[DicomTransaction]:
    db.session.rollback()
    return db.session.scalars(select(DicomTransaction).where(DicomTransaction.operation == "C-STORE",
                                                             DicomTransaction.direction == "in",
                                                             DicomTransaction.scp_id == store.id)).all()


def test_retrieve_selected_moves_only_what_was_ticked(nodes, pacs, people, store_scp, pid_client, app):
    _, store = nodes
    query_id = _submit(pid_client, nodes, level="SERIES")
    work(app)
    query = db.session.get(DicomQuery, query_id)
    john = next(s for s in query.studies if s.study_instance_uid == _uid(people, "john_rf"))
    html = pid_client.get(f"/qr/queries/{query_id}").get_data(as_text=True)
    assert 'id="retrieve-selected"' in html and 'data-select-all="pick"' in html

    assert pid_client.post(f"/qr/queries/{query_id}/retrieve", data={"selected": "1"}).status_code == 302
    assert db.session.get(DicomQuery, query_id).retrieve_job_id is None  # nothing ticked: nothing started
    assert pid_client.post(f"/qr/queries/{query_id}/retrieve",
                           data={"selected": "1", "study": [str(john.id), "999999"]}).status_code == 302
    queued = pid_client.get("/qr/retrieves/table").get_data(as_text=True)
    assert 'hx-trigger="every 2s"' in queued and 'class="retrieve-queued"' in queued  # refreshed while it runs
    work(app)
    stored = _c_stores(store)
    assert {t.sop_instance_uid for t in stored} == {str(ds.SOPInstanceUID) for ds in people["john_rf"]}
    assert len(stored) == 3  # each object once, and only the ticked study's
    job = db.session.get(Job, db.session.get(DicomQuery, query_id).retrieve_job_id)
    assert (job.status, job.result["received"], job.result["by_modality"]) == ("finished", 3, {"RF/SR": 3})
    assert str(people["john_rf"][0].SOPInstanceUID) in imported_sop_uids()
    assert not imported_sop_uids() & {str(people[n][0].SOPInstanceUID) for n in ("jane_ct", "jane_dx", "anna_ct")}

    # One series of Jane's CT study: its three images, nothing else.
    jane = next(s for s in db.session.get(DicomQuery, query_id).studies if s.study_instance_uid == _uid(people, "jane_ct"))
    images = next(se for se in jane.series if se.series_instance_uid == str(people["jane_ct"][1].SeriesInstanceUID))
    assert pid_client.post(f"/qr/queries/{query_id}/retrieve", data={"selected": "1", "series": str(images.id)}).status_code == 302
    work(app)
    assert {t.sop_instance_uid for t in _c_stores(store)} - {t.sop_instance_uid for t in stored} == {
        str(ds.SOPInstanceUID) for ds in people["jane_ct"][1:]}

    page = pid_client.get("/qr/retrieves").get_data(as_text=True)
    rows = re.findall(r'<tr data-job-id="(\d+)".*?<span class="received">(\d+) of (\d+) objects?</span>', page, re.S)
    assert [(received, expected) for _, received, expected in rows] == [("3", "3"), ("3", "3")]
    assert f'href="/qr/queries/{query_id}"' in page and "every 2s" not in page  # nothing running: no polling
    assert "selected: 1 series" in page and "selected: 1 study" in page


def test_run_again_gives_the_same_answers_and_history_filters(nodes, pacs, people, pid_client, app, ids_in_clear):
    remote, _ = nodes
    first = _submit(pid_client, nodes, level="SERIES", patient_name="DOE^J*")
    work(app)
    resp = pid_client.post(f"/qr/queries/{first}/again")
    again = int(re.search(r"/qr/queries/(\d+)", resp.location).group(1))
    assert again != first
    work(app)
    one, two = db.session.get(DicomQuery, first), db.session.get(DicomQuery, again)
    assert two.parameters == one.parameters and two.complete and not two.failed
    answers = lambda q: {(s.study_instance_uid, se.series_instance_uid) for s in q.studies for se in s.series}  # noqa: E731
    assert answers(two) == answers(one) and len(answers(one)) == 5  # Jane's CT (2), DX (1), John's RF (2)
    assert db.session.get(Job, two.job_id).user_id == db.session.get(Job, one.job_id).user_id

    failed = DicomQuery(remote_node_id=None, parameters={}, stage="Query failed", failed=True, complete=True)
    db.session.add(failed)
    db.session.commit()
    shown = lambda **args: [int(i) for i in re.findall(r'<tr data-query-id="(\d+)"',  # noqa: E731
                                                         pid_client.get("/qr/history", query_string=args).get_data(as_text=True))]
    assert shown() == [failed.id, again, first]
    assert shown(remote=remote.id) == [again, first]
    assert shown(status="failed") == [failed.id] and shown(status="complete") == [again, first]
    assert shown(user=db.session.get(Job, one.job_id).user_id) == [again, first]
    assert shown(date_from="2000-01-01", date_until="2000-01-02") == []
    html = pid_client.get("/qr/history").get_data(as_text=True)
    assert "Series level: patient name DOE^J*" in html and html.count(">Run again</button>") == 3


def test_remote_without_c_find_is_not_offered_on_the_query_page(nodes, pacs, client, no_csrf):
    remote, store = nodes
    remote.supports_find = False
    db.session.commit()
    log_in(client, "qr-find", "importqr")
    page = client.get("/qr/").get_data(as_text=True)
    assert f">Test PACS ({remote.aetitle})</option>" not in page
    assert "Not offered here: Test PACS" in page and "set up without C-FIND, so it cannot be queried" in page
    resp = client.post("/qr/", data={"remote_id": remote.id, "store_id": store.id, "level": "STUDY", "date_from": ISO_DAY})
    assert resp.status_code == 400 and "Test PACS is set up without C-FIND" in resp.get_data(as_text=True)
    assert db.session.scalar(select(db.func.count(DicomQuery.id))) == 0


def test_every_c_find_finds_the_reactor_parked(nodes, pacs):
    """pynetdicom's own pause can let its reactor thread take a C-FIND answer off the queue (an image
    now and then missing from an image-level query). Before each request the reactor must be blocked on
    its event: 200 C-FINDs in a row on one association to Orthanc, each with every answer."""
    from pydicom.dataset import Dataset

    from doseapp.dicomnet import qr as qr_module
    from doseapp.dicomnet.qr import QrClient

    remote, _ = nodes
    parked = []
    real = qr_module.park_reactor

    def park_and_look(assoc, timeout=1.0):
        real(assoc, timeout)
        parked.append(len(assoc._reactor_checkpoint._cond._waiters) == 1 and not assoc._reactor_checkpoint.is_set())

    study = next(ds for datasets in pacs.content.values() for ds in datasets if ds.StudyDate == QUERY_DAY)
    expected = {str(ds.SeriesInstanceUID) for datasets in pacs.content.values() for ds in datasets
                if ds.StudyInstanceUID == study.StudyInstanceUID}
    qr_module.park_reactor = park_and_look
    try:
        with QrClient(remote) as client:
            for _ in range(200):
                ds = Dataset()
                ds.QueryRetrieveLevel, ds.StudyInstanceUID, ds.SeriesInstanceUID = "SERIES", study.StudyInstanceUID, ""
                assert {str(r.SeriesInstanceUID) for r in client.find(ds, "SERIES")} == expected
    finally:
        qr_module.park_reactor = real
    assert len(parked) == 200 and all(parked)
