"""Job messages, and query-retrieve stages and messages, in the reader's language: written in English by
the jobs (logs and the command line read them so; the job tests pin that English), rebuilt on pages in
the page's language with its plural forms and number grouping. A message of no known shape, and free
text inside a known one (a remote's error, an extraction reason), stays as it came."""
from __future__ import annotations

import html as htmllib
import re

from flask_babel import force_locale
from sqlalchemy import select

from doseapp.blueprints.job_messages import job_words
from doseapp.dicomnet.recorder import PENDING_MESSAGE
from doseapp.display.timefmt import plural
from doseapp.ingest.ct_estimates import Outcome
from doseapp.ingest.toshiba import HELD_REASON
from doseapp.models import DicomQuery, Job, User, db
from doseapp.runtime.housekeeping import REQUEUED_MESSAGE
from doseapp.skin.batch import BatchOutcome
from doseapp.standards.names import ApplyOutcome
from tests.web.config_helpers import login

# (English as the code writes it, German). Where the code has a function or constant for the words, it
# makes the English here; the rest are the f-strings of the job functions, with the job tests pinning them.
CASES = [
    ("Done.", "Erledigt."),
    ("Cancelled by a user.", "Von einem Benutzer abgebrochen."),
    (REQUEUED_MESSAGE, "Neu eingereiht: Der Auftrag ging vor dem Start aus der Warteschlange verloren."),
    (PENDING_MESSAGE, "Empfangen; Import später eingereiht (die Auftragswarteschlange war nicht erreichbar)."),
    ("Failed: Cancelled before it started.", "Fehlgeschlagen: Vor dem Start abgebrochen."),
    ("Failed: [Errno 28] No space left on device", "Fehlgeschlagen: [Errno 28] No space left on device"),
    # ingest
    ("imported", "importiert"),
    ("duplicate: this object (same SOP Instance UID) was imported before",
     "Duplikat: dieses Objekt (gleiche SOP Instance UID) wurde bereits importiert"),
    ("duplicate: every irradiation event is already in study 41 of this StudyInstanceUID",
     "Duplikat: jedes Bestrahlungsereignis ist bereits in Untersuchung 41 dieser StudyInstanceUID"),
    (f"held: {HELD_REASON}",
     "zurückgehalten: Toshiba-CT-Dosisbild oder -Bild: zurückgehalten, bis die Objekte der Untersuchung eingetroffen sind"),
    ("rejected: not a dose report (Comprehensive SR without a dose title)",
     "abgelehnt: not a dose report (Comprehensive SR without a dose title)"),
    ("2 held, 1 imported", "zurückgehalten: 2, importiert: 1"),
    (f"Retrying {plural(1, 'object')}", "Erneuter Versuch: 1 Objekt"),
    ("0 of 2 left the quarantine; 2 failed again and stay.",
     "0 von 2 haben die Quarantäne verlassen; 2 erneut fehlgeschlagen, bleiben dort."),
    ("12 rows: 10 heights, 9 weights inserted; 1 unmatched, 1 bad rows.",
     "12 Zeilen: 10 Größen, 9 Gewichte eingefügt; 1 ohne Zuordnung, 1 fehlerhafte Zeilen."),
    (Outcome(total=1, done=1, with_ssde=0, with_estimate=1).words() + ".",
     "1 von 1 Untersuchung: 0 mit SSDE, 1 mit geschätzter effektiver Dosis."),
    ("1 study is DX, 4 RF (1 moved).", "1 Untersuchung ist DX, 4 RF (1 verschoben)."),
    # runtime
    (f"{plural(3, 'stale job')} marked failed or queued again; {plural(1, 'old job')} removed from the list.",
     "3 hängende Aufträge als fehlgeschlagen markiert oder neu eingereiht; 1 alter Auftrag aus der Liste entfernt."),
    (f"{plural(12_345, 'row')} in {plural(40, 'table')}.", "12.345 Zeilen in 40 Tabellen."),
    # exports: counts grouped as German writes them
    (f"{plural(1250, 'study')} exported (XLSX export).", "1.250 Untersuchungen exportiert (XLSX-Export)."),
    (f"{plural(1, 'study')} exported (CSV export).", "1 Untersuchung exportiert (CSV-Export)."),
    (f"500 of {plural(1250, 'study')}", "500 von 1.250 Untersuchungen"),
    # standards
    (f"{plural(14, 'standard name')}; {plural(1, 'study')} has a DRL.", "14 Standardnamen; 1 Untersuchung hat einen DRW."),
    (ApplyOutcome({"CT": 2}, {"CT": 0}).words() + ".", "2 Untersuchungen und 0 Ereignisse haben einen Standardnamen."),
    ("Naming CT studies", "CT-Untersuchungen werden benannt"),
    # skin dose maps
    ("Peak skin dose 0.0123 Gy (posterior)", "Maximale Hautdosis 0,0123 Gy (posterior)"),
    ("No map: the study has no irradiation events with a geometry", "Keine Karte: the study has no irradiation events with a geometry"),
    (f"{plural(3, 'study')}: {BatchOutcome(total=3, maps=1, no_map=1, gone=1).words()}.",
     "3 Untersuchungen: 1 mit Karte, 1 ohne, 1 nicht mehr vorhanden."),
    (f"2 of {plural(3, 'study')}: {BatchOutcome(maps=2, no_map=0).words()}", "2 von 3 Untersuchungen: 2 mit Karte, 0 ohne"),
    ("1 of 3 studies failed (study 7: division by zero); 2 with a map, 0 without, 1 failed.",
     "1 von 3 Untersuchungen fehlgeschlagen (Untersuchung 7: division by zero); 2 mit Karte, 0 ohne, 1 fehlgeschlagen."),
    # alerts, e-mail
    (f"{plural(1, 'new alert')} over {plural(2, 'study')} in 0.31 s.", "1 neuer Alarm in 2 Untersuchungen in 0,31 s."),
    ("4 of 9 rules (ct_dlp_total)", "4 von 9 Regeln (ct_dlp_total)"),
    ("2 e-mails sent; 1 not sent (will be retried); 1 digest queued.",
     "2 E-Mails gesendet; 1 nicht gesendet (wird erneut versucht); 1 Zusammenfassung eingereiht."),
    ("Test e-mail sent to ada@hospital.example.", "Test-E-Mail an ada@hospital.example gesendet."),
    ("Test e-mail not sent: Connection refused It stays in the outbox and is retried.",
     "Test-E-Mail nicht gesendet: Connection refused Sie bleibt im Postausgang und wird erneut versucht."),
    # DICOM
    (f"{plural(2, 'kept object')} past retention removed, {plural(1, 'oldest kept object')} removed from full storage.",
     "2 aufbewahrte Objekte nach Ablauf der Aufbewahrungsfrist entfernt, "
     "1 ältestes aufbewahrtes Objekt aus vollem Speicher entfernt."),
    (f"{plural(1, 'scheduled query run')} started.", "1 geplante Abfrage gestartet."),
    ("Query complete", "Abfrage abgeschlossen"),
    ("Querying PACS one for MG studies", "PACS one wird nach MG-Untersuchungen abgefragt"),
    ("Querying for all studies", "Abfrage nach allen Untersuchungen"),
    (f"{plural(31, 'study response')}; filtering", "31 Antworten auf Untersuchungsebene; wird gefiltert"),
    ("Series query 2 of 5", "Serienabfrage 2 von 5"),
    (f"Retrieving {plural(2, 'request')} by C-MOVE", "2 Anfragen per C-MOVE werden abgerufen"),
    ("0 of 2 objects received by C-MOVE; 2 requests failed",
     "Per C-MOVE empfangen: 0, angefordert: 2 Objekte; 2 Anfragen fehlgeschlagen"),
    ("PACS one did not accept the association.", "PACS one hat die Assoziation nicht angenommen."),
    ("Found 1 patient, 2 studies, 3 series, 9 images", "Gefunden: 1 Patient, 2 Untersuchungen, 3 Serien, 9 Bilder"),
    ("2 of 3 studies selected: CT 2", "2 von 3 Untersuchungen ausgewählt: CT 2"),
    ("3 of 3 studies selected: Mammography 2, Fluoroscopy 1",
     "3 von 3 Untersuchungen ausgewählt: Mammographie 2, Durchleuchtung 1"),
    # a Store SCP node's status message (dicomnet.supervisor)
    ("Listening as STOREONE on port 11112.", "Empfängt als STOREONE auf Port 11112."),
    ("Stopped unexpectedly (exit status -9); restarting in 5 s.", "Unerwartet beendet (Exit-Status -9); Neustart in 5 s."),
    ("Stopped by an administrator.", "Von einem Administrator gestoppt."),
    # no known shape: as stored
    ("C-FIND failed: status 0xA700 (Out of resources)", "C-FIND failed: status 0xA700 (Out of resources)"),
]


def test_every_message_shape_in_german(app):
    with app.test_request_context(), force_locale("de"):
        got = [job_words(english) for english, _ in CASES]
    assert [(english, g) for (english, _), g in zip(CASES, got)] == [(english, german) for english, german in CASES]


def test_english_pages_show_messages_as_stored_and_other_languages_translate(app):
    with app.test_request_context():
        assert [job_words(english) for english, _ in CASES] == [english for english, _ in CASES]
        assert job_words(None) == "" and job_words("") == ""
    with app.test_request_context(), force_locale("fr"):
        assert job_words("1,250 studies exported (XLSX export).") == "1\u202f250 examens exportés (export XLSX)."
        assert job_words("1 study is DX, 4 RF (1 moved).") == "1 examen est DX, 4 RF (1 déplacés)."
        # French agrees the verb with its count: one of two out, one stays.
        assert job_words("1 of 2 left the quarantine; 1 failed again and stays.") == \
            "1 sur 2 a quitté la quarantaine; 1 a de nouveau échoué et y reste."
        assert job_words("1 study exported (CSV export).") == "1 examen exporté (export CSV)."
    with app.test_request_context(), force_locale("nb"):
        assert job_words("Retrieve finished with failures") == "Henting fullført med feil"


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", htmllib.unescape(re.sub(r"<[^>]+>", " ", html))).strip()


def test_jobs_and_query_history_pages_in_german(app, client):
    """A German admin's Jobs page and query history: each message in German, the English nowhere."""
    login(client, "gerda", ("admin", "importqr"))
    db.session.scalar(select(User).where(User.username == "gerda")).locale = "de"
    jobs = [Job(kind="export", queue="export", title="CT XLSX export", status="finished",
                message="1,250 studies exported (XLSX export)."),
            Job(kind="import_file", queue="import", title="Import received 1.2.3.dcm", status="finished",
                message="duplicate: this object (same SOP Instance UID) was imported before"),
            Job(kind="alerts_reevaluate", queue="default", title="Re-evaluate alert rules", status="started",
                message="4 of 9 rules (ct_dlp_total)")]
    query = DicomQuery(stage="Retrieve finished with failures", message="0 of 2 objects received by C-MOVE; 2 requests failed",
                       complete=True, parameters={})
    db.session.add_all(jobs + [query])
    db.session.commit()
    try:
        text = _text(client.get("/jobs/?kind=").get_data(as_text=True))
        for german in ("1.250 Untersuchungen exportiert (XLSX-Export).",
                       "Duplikat: dieses Objekt (gleiche SOP Instance UID) wurde bereits importiert",
                       "4 von 9 Regeln (ct_dlp_total)"):
            assert german in text, german
        assert "studies exported" not in text and "was imported before" not in text
        history = _text(client.get("/qr/history").get_data(as_text=True))
        assert "Abruf mit Fehlern beendet" in history
        assert "Per C-MOVE empfangen: 0, angefordert: 2 Objekte; 2 Anfragen fehlgeschlagen" in history
        assert "received by C-MOVE" not in history
    finally:
        for row in jobs + [query]:
            db.session.delete(row)
        db.session.commit()
