"""Jobs and configuration pages in the reader's language: job titles (stored in English) rebuilt in the
page's language, job kinds and states, and the labels the code keeps in tables (roles, skin dose map
and deletion settings, e-mail security and outbox states, chart options, query history states,
standard name fields). Jobs are made by the real code that queues them (on the real Redis; no worker
runs, so they stay waiting)."""
from __future__ import annotations

import html as htmllib
import re

from flask_babel import force_locale
from sqlalchemy import select

from doseapp.alerts.jobs import enqueue_reevaluation
from doseapp.dicomnet.qr_filter import QueryOptions
from doseapp.dicomnet.qr_jobs import new_query
from doseapp.blueprints.job_titles import job_title
from doseapp.ingest.ct_estimates import enqueue_recompute
from doseapp.models import DicomRemoteNode, Job, SystemSettings, User, db
from doseapp.runtime import queues, scheduler
from doseapp.runtime.queues import redis_connection
from doseapp.skin.jobs import enqueue_skin_map
from doseapp.standards.flags import enqueue_refresh
from doseapp.standards.name_jobs import enqueue_apply
from tests.web.config_helpers import login, post


def _german(client, name: str = "greta", roles=("admin",)) -> None:
    login(client, name, roles)
    db.session.scalar(select(User).where(User.username == name)).locale = "de"
    db.session.commit()


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", htmllib.unescape(re.sub(r"<[^>]+>", " ", html))).strip()


def _rows(html: str) -> dict[int, tuple[str, str, str]]:
    """Job id -> (title, kind, state) as the Jobs page shows them."""
    rows = {}
    for job_id, body in re.findall(r'<tr id="job-(\d+)"(.*?)</tr>', html, re.S):
        cells = [_text(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", body, re.S)]
        rows[int(job_id)] = (cells[1], cells[2], next(c for c in cells if c in STATES_DE))
    return rows


STATES_DE = {"wartend", "läuft", "fertig", "fehlgeschlagen", "abgebrochen"}


def _tick(app) -> list[str]:
    """One scheduler pass with no lease or last runs of another test of the session, leaving none."""
    keys = [scheduler._key(app, "leader")] + [scheduler._key(app, f"last:{kind}") for kind, _, _ in scheduler.PERIODIC]
    conn = redis_connection(app)
    conn.delete(*keys)
    try:
        return scheduler.tick(app, "test-token")
    finally:
        conn.delete(*keys)


def test_jobs_made_by_the_code_read_in_german(app, client):
    """Jobs queued by the code, listed in German, and as stored for an English reader. Every job is
    cancelled at the end, so none is left on the session's queues for a later test's worker to run."""
    try:
        _german(client)
        admin_id = db.session.scalar(select(User.id).where(User.username == "greta"))
        made = {
            enqueue_reevaluation(user_id=admin_id).id: "Alarmregeln neu bewerten",
            enqueue_refresh(user_id=admin_id).id: "DRW-Verhältnis aller Untersuchungen aktualisieren",
            enqueue_apply(user_id=admin_id).id: "Standardnamen anwenden",
            enqueue_apply(user_id=admin_id, why="rule added").id: "Standardnamen anwenden (rule added)",
            enqueue_recompute(user_id=admin_id).id: "CT-SSDE und Schätzwerte der effektiven Dosis",
            enqueue_skin_map(41, user_id=admin_id).id: "Hautdosiskarte der Untersuchung 41",
        }
        # Through the pages: a system check, and a skin map recalculation (maps switched on first).
        assert post(client, "/jobs/system-check", form_page="/jobs/").status_code == 302
        SystemSettings.get().enable_skin_dose_maps = True
        db.session.commit()
        assert post(client, "/config/skin-maps/recalculate", {"scope": "stale"}, form_page="/config/skin-maps").status_code == 302
        # A query of a PACS, and the scheduler's periodic housekeeping.
        remote = DicomRemoteNode(name="PACS", aetitle="PACS", ip="127.0.0.1", port=11112)
        db.session.add(remote)
        db.session.commit()
        query = new_query(remote.id, None, QueryOptions(), user_id=admin_id)
        periodic = _tick(app)
        assert "housekeeping" in periodic and "email_outbox" in periodic
        for job in db.session.scalars(select(Job).where(Job.id.not_in(made))):
            made[job.id] = {"system_check": "Systemprüfung: alle Tabellen zählen",
                            "skin_map_batch": "Fehlende und veraltete Hautdosiskarten berechnen",
                            "qr_query": f"Abfrage und Abruf #{query.id}",
                            "housekeeping": "Periodisch: Aufräumen",
                            "scp_storage_cleanup": "Periodisch: Aufräumen empfangener Objekte",
                            "qr_schedule": "Periodisch: Prüfung geplanter Abfragen",
                            "email_outbox": "Periodisch: E-Mail senden",
                            "toshiba_settle": "Periodisch: Toshiba-CT-Dosisbildschirme"}.get(job.kind, job.kind)
        english = {job.id: job.title for job in db.session.scalars(select(Job))}
        assert english[query.job_id] == f"Query-retrieve #{query.id}"  # stored in English

        rows = _rows(client.get("/jobs/?periodic=1").get_data(as_text=True))
        assert {i: title for i, (title, _, _) in rows.items()} == made
        kinds = {kind for _, kind, _ in rows.values()}
        assert {"Systemprüfung", "Hautdosiskarten", "Abfrage", "Aufräumen", "Neubewertung der Alarmregeln"} <= kinds
        assert {state for _, _, state in rows.values()} == {"wartend"}
        page = _text(client.get("/jobs/").get_data(as_text=True))
        assert "wartend: " in page and "waiting" not in page and "Toshiba-CT-Dosisbildschirme" in page
        # A job's own page, and the same job for an English reader: as stored.
        assert f"Auftrag {query.job_id}: Abfrage und Abruf #{query.id}" in _text(
            client.get(f"/jobs/{query.job_id}").get_data(as_text=True))
        db.session.scalar(select(User).where(User.username == "greta")).locale = "en"
        db.session.commit()
        rows = _rows_en(client.get("/jobs/?periodic=1").get_data(as_text=True))
        assert rows == english
    finally:
        for job in db.session.scalars(select(Job)):
            queues.cancel(job)


def _rows_en(html: str) -> dict[int, str]:
    return {int(i): _text(t) for i, t in re.findall(r'<tr id="job-(\d+)".*?<td class="job-title">(.*?)</td>', html, re.S)}


def test_every_title_shape_in_german(app):
    """Each title shape the code makes, by hand, in German; a title of no known shape stays as stored."""
    cases = [
        ("import_file", "Import received 1.2.3.4.dcm", "Import des empfangenen Objekts 1.2.3.4.dcm"),
        ("import_file", "Import /data/rdsr/a b.dcm", "Import von /data/rdsr/a b.dcm"),
        ("export", "CT XLSX export", "CT XLSX-Export"),
        ("export", "MG NHSBSP CSV export with names and ID", "MG NHSBSP-CSV-Export mit Namen und ID"),
        ("export", "RF CSV export (one row per study) with ID", "RF CSV-Export (eine Zeile pro Studie) mit ID"),
        ("size_import", "Patient size import: sizes.csv", "Import von Patientengrößen: sizes.csv"),
        ("reprocess_dual", "Re-sort DX/RF studies of 1 system(s)", "DX/RF-Untersuchungen von 1 System neu zuordnen"),
        ("reprocess_dual", "Re-sort DX/RF studies of 3 system(s)", "DX/RF-Untersuchungen von 3 Systemen neu zuordnen"),
        ("qr_query", "Query #12 (series level)", "Abfrage #12 (Ebene: Serie)"),
        ("qr_retrieve", "Retrieve for query #12 (C-MOVE)", "Abruf für Abfrage #12 (C-MOVE)"),
        ("qr_retrieve", "Retrieve for query #12 (C-GET, selected: 2 studies, 1 series)",
         "Abruf für Abfrage #12 (C-GET, ausgewählt: 2 Untersuchungen, 1 Serie)"),
        ("quarantine_retry", "Retry 1 quarantined objects", "1 Objekt aus der Quarantäne erneut versuchen"),
        ("quarantine_retry", "Retry 4 quarantined objects", "4 Objekte aus der Quarantäne erneut versuchen"),
        ("skin_map_batch", "Recalculate all skin dose maps", "Alle Hautdosiskarten neu berechnen"),
        ("skin_map_batch", "Skin dose maps of 5 studies with a new patient size",
         "Hautdosiskarten von 5 Untersuchungen mit neuer Patientengröße"),
        ("skin_map_batch", "Skin dose maps of 1 system(s) after a trust change",
         "Hautdosiskarten von 1 System nach geänderter Vertrauenseinstufung"),
        ("email_test", "Test e-mail to physicist@hospital.example", "Test-E-Mail an physicist@hospital.example"),
        ("email_outbox", "Send e-mail", "E-Mail senden"),
        ("email_outbox", "Periodic email_outbox", "Periodisch: E-Mail senden"),
        ("toshiba_settle", "Build settled Toshiba CT studies", "Vollständige Toshiba-CT-Untersuchungen zusammenstellen"),
        ("toshiba_settle", "Periodic housekeeping", "Periodic housekeeping"),  # another kind's: as stored
        ("import_file", "Imported long ago", "Imported long ago"),
        ("system_check", "count", "count"),
    ]
    with app.test_request_context(), force_locale("de"):
        assert [job_title(Job(kind=kind, title=title)) for kind, title, _ in cases] == [german for _, _, german in cases]
    with app.test_request_context(), force_locale("fr"):
        assert job_title(Job(kind="quarantine_retry", title="Retry 4 quarantined objects")) == \
            "Nouvel essai de 4 objets en quarantaine"
    with app.test_request_context():  # English: as stored
        assert job_title(Job(kind="export", title="CT XLSX export with names")) == "CT XLSX export with names"


def test_labels_kept_in_code_read_in_german(app, client):
    _german(client, "gunda", ("admin", "viewer", "importqr"))
    pages = {
        "/help": ["Untersuchungen, Übersichten und Diagramme ansehen."],
        "/config/users/new": ["Von konfigurierten entfernten DICOM-Knoten abfragen und abrufen."],
        "/config/skin-maps": ["Hautdosiskarten einschalten", "Hautdosiskarten beim Import berechnen"],
        "/config/dicom-delete": ["Objekte löschen, zu denen keine Importfunktion passt?",
                                 "Strukturierte Dosisberichte (RDSR) nach der Verarbeitung löschen?", "Nein"],
        "/config/drl": ["Erwachsene", "Alter 3–12 Monate", "Alter < 18 J., Gewicht 15–30 kg"],
        "/config/not-patient/legacy": ["Patienten-ID:"],
        "/config/email": ["Keine (einfaches SMTP, Port 25)", "STARTTLS (Port 587)"],
        "/config/email/outbox": ["Noch nicht gesendet", "Fehlgeschlagen (wird erneut versucht)", "Gesendet"],
        "/charts/options": ["Mittelwert und Median", "Boxplot", "Absteigend", "Wochen"],
        "/account/alert-emails": ["Sofort", "Tägliche Zusammenfassung"],
        "/qr/history": ["Läuft", "Abgeschlossen", "Fehlgeschlagen"],
        "/config/standard-names": ["Untersuchungsbeschreibung", "Durchleuchtung", "Nuklearmedizin"],
        "/config/standard-names?modality=RF": ["Noch keine Standardnamen für Durchleuchtung:"],
        "/qr/": ["Mammographie (MG)", "Nuklearmedizin (NM, PT)"],
    }
    english = [">False<", ">adult<", "age 1–6 y", "Patient id", "Weeks", "Browse studies", "Query and retrieve from", "Enable skin dose maps", "Delete objects that",
               "plain SMTP", "Not sent yet", "Mean and median", "Box plot", "Descending", "Immediately",
               "Daily digest", ">Running<", ">Complete<", "Study description", ">Fluoroscopy<",
               ">Nuclear medicine<", "Mammography (MG)"]
    for url, words in pages.items():
        html = client.get(url).get_data(as_text=True)
        text = _text(html)
        assert all(w in text for w in words), (url, [w for w in words if w not in text])
        assert not [e for e in english if e in html], (url, [e for e in english if e in html])
    # In an attribute, a role's meaning is escaped like any other text.
    assert 'title="Untersuchungen, Übersichten und Diagramme ansehen."' in client.get("/config/users").get_data(as_text=True)


def test_patient_groups_in_german(app):
    """The DRL patient groups (group_label's English, kept so in the API and the CLI) on pages."""
    from doseapp.standards.drl import group_label, shown_group

    labels = [group_label(), group_label(1, 6), group_label(0, 0.25), group_label(10), group_label(None, 1),
              group_label(None, 18, 5, 15), group_label(weight_min=80), group_label(weight_max=5),
              "child, no DRL for the group", "age 1–6 y, height 120 cm"]
    assert labels[:8] == ["adult", "age 1–6 y", "age 0–3 months", "age ≥ 10 y", "age < 12 months",
                          "age < 18 y, weight 5–15 kg", "weight ≥ 80 kg", "weight < 5 kg"]
    with app.test_request_context(), force_locale("de"):
        assert [shown_group(label) for label in labels] == [
            "Erwachsene", "Alter 1–6 J.", "Alter 0–3 Monate", "Alter ≥ 10 J.", "Alter < 12 Monate",
            "Alter < 18 J., Gewicht 5–15 kg", "Gewicht ≥ 80 kg", "Gewicht < 5 kg", "Kind, kein DRW für die Gruppe",
            "age 1–6 y, height 120 cm"]  # a shape it does not know: as it is
    with app.test_request_context():
        assert [shown_group(label) for label in labels] == labels


def test_no_standard_names_yet_in_english_keeps_abbreviations(app, client):
    login(client, "edna", ("admin",))
    assert "No fluoroscopy standard names yet:" in client.get("/config/standard-names?modality=RF").get_data(as_text=True)
    assert "No CT standard names yet:" in client.get("/config/standard-names?modality=CT").get_data(as_text=True)
