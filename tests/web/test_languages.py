"""Languages (issue 22): each user's own language, else the site default (DOSEAPP_LANGUAGE), else the
browser's, else English; real pages rendered from the real catalogues, against the OpenREM test files
imported into the real database."""
from __future__ import annotations

import gettext
import re

import pytest
from sqlalchemy import select

from doseapp.display import study_counts
from doseapp.display.i18n import LANGUAGES, SOURCE_LANGUAGE
from doseapp.models import AuditEntry, Study, User, db
from tests.conftest import _empty_all_tables
from tests.web.config_helpers import post
from tests.web import studydata
from tests.web.studydata import client_for



@pytest.fixture(scope="module")
def loaded(_session_app):
    studydata.load_testdata(_session_app)
    study_counts.clear()
    yield _session_app
    study_counts.clear()
    _empty_all_tables(_session_app)


def _set_language(app, who: str, code: str | None) -> None:
    with app.app_context():
        db.session.get(User, app.config["TEST_USER_IDS"][who]).locale = code
        db.session.commit()


def _lang(html: str) -> str:
    return re.search(r'<html lang="([^"]+)">', html).group(1)


def test_english_is_the_default_and_reads_as_before(loaded):
    page = client_for(loaded, "viewer").get("/").get_data(as_text=True)
    assert _lang(page) == "en" and ">Log out<" in page and "<span>Home</span>" in page


def test_the_language_page_saves_the_users_choice(loaded):
    client = client_for(loaded, "viewer")
    page = client.get("/account/language").get_data(as_text=True)
    for code, name in LANGUAGES.items():
        assert f'value="{code}"' in page and name in page
    response = post(client, "/account/language", {"locale": "de"}, follow_redirects=True)
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and _lang(html) == "de"
    assert "Ihre Sprache ist gespeichert." in html and "Ihre Sprache" in html
    with loaded.app_context():
        assert db.session.get(User, loaded.config["TEST_USER_IDS"]["viewer"]).locale == "de"
        entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "account.language")
                                   .order_by(AuditEntry.id.desc())).first()
        assert entry is not None and "de" in str(entry.details)
    assert post(client, "/account/language", {"locale": "xx"}).status_code == 400
    # Back to the site's choice.
    post(client, "/account/language", {"locale": ""})
    with loaded.app_context():
        assert db.session.get(User, loaded.config["TEST_USER_IDS"]["viewer"]).locale is None
    assert _lang(client.get("/").get_data(as_text=True)) == SOURCE_LANGUAGE


def test_user_choice_then_site_default_then_browser(loaded):
    client = client_for(loaded, "viewer")
    assert _lang(client.get("/", headers={"Accept-Language": "fr-CH, fr;q=0.9, en;q=0.5"}).get_data(as_text=True)) == "fr"
    assert _lang(client.get("/", headers={"Accept-Language": "pt-BR, ja"}).get_data(as_text=True)) == "en"
    loaded.config["LANGUAGE"] = "it"
    try:
        assert _lang(client.get("/", headers={"Accept-Language": "fr"}).get_data(as_text=True)) == "it"
        _set_language(loaded, "viewer", "nl")
        assert _lang(client.get("/", headers={"Accept-Language": "fr"}).get_data(as_text=True)) == "nl"
    finally:
        loaded.config["LANGUAGE"] = ""
        _set_language(loaded, "viewer", None)


@pytest.mark.parametrize("code", sorted(set(LANGUAGES) - {SOURCE_LANGUAGE}))
def test_real_pages_in_each_language(loaded, code):
    """Home, a list and a study page in each shipped language: their text comes from the catalogue."""
    from babel.messages.pofile import read_po
    from doseapp.display.i18n import TRANSLATIONS_DIR

    with (TRANSLATIONS_DIR / code / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        catalogue = read_po(handle, locale=code)

    def said(msgid: str, **values) -> str:
        return catalogue.get(msgid).string % values if values else catalogue.get(msgid).string

    _set_language(loaded, "viewer", code)
    try:
        client = client_for(loaded, "viewer")
        home = client.get("/").get_data(as_text=True)
        assert _lang(home) == code
        assert said("Radiation dose records") in home and f"<span>{said('Home')}</span>" in home
        assert said("Log out") in home and ">Log out<" not in home
        fluoroscopy = said("Fluoroscopy")
        listing = client.get("/rf/").get_data(as_text=True)
        assert f"<h1>{said('%(name)s studies', name=fluoroscopy)}</h1>" in listing
        assert said("Study filter") in listing
        with loaded.app_context():
            ct_id = db.session.scalar(select(Study.id).where(Study.modality == "CT").order_by(Study.id).limit(1))
        study = client.get(f"/ct/{ct_id}").get_data(as_text=True)
        assert said("Irradiation events") in study and said("Accession number") in study
        assert f'">{said("%(name)s studies", name="CT")}</a>' in study  # the breadcrumb back to the list
        # The count of the list, in the language's plural form for that number.
        rows = listing.count("data-study-id=")
        counted = catalogue.get("There is <strong>%(num)s</strong> study in this list.")
        assert 1 < rows < 1000 and counted.string[1] % {"num": rows} in listing  # "other" in every shipped language
    finally:
        _set_language(loaded, "viewer", None)
    # A count that decides the form is a plural message (ngettext): the admin's home page lists failed jobs
    # in the language's form for their number.
    _set_language(loaded, "admin", code)
    try:
        admin_home = client_for(loaded, "admin").get("/").get_data(as_text=True)
        failed = int(re.search(r'id="home-failed-jobs">(\d+)<', admin_home).group(1))
        forms = catalogue.get('<a id="failed-jobs-link" href="%(url)s"><strong id="home-failed-jobs">%(count)s'
                              "</strong> job of any kind failed</a> since yesterday.").string
        words = re.search(r"</strong> (.*?)</a>", forms[gettext.c2py(catalogue.plural_expr)(failed)]).group(1)
        assert f'id="home-failed-jobs">{failed}</strong> {words}</a>' in admin_home
    finally:
        _set_language(loaded, "admin", None)


def test_numbers_and_dates_follow_the_page_language(loaded):
    """A study page in German writes decimals with a comma and dates in German; in English as before."""
    from babel.dates import format_date
    from babel.numbers import format_decimal

    with loaded.app_context():
        study = db.session.scalars(select(Study).where(Study.modality == "CT", Study.total_dlp_mgycm.isnot(None))
                                   .order_by(Study.id).limit(1)).one()
        dlp, day = study.total_dlp_mgycm, study.study_date
    english = client_for(loaded, "viewer").get(f"/ct/{study.id}").get_data(as_text=True)
    assert f"{dlp:.2f}" in english and f"{day.day} {day:%b} {day.year}" in english
    for code in ("de", "fr"):
        _set_language(loaded, "viewer", code)
        try:
            page = client_for(loaded, "viewer").get(f"/ct/{study.id}").get_data(as_text=True)
        finally:
            _set_language(loaded, "viewer", None)
        written = format_decimal(dlp, format="#,##0.00", locale=code)
        assert "," in written and written in page, (code, written)
        assert format_date(day, format="medium", locale=code) in page


def test_export_headings_are_english_unless_the_user_asks(loaded, tmp_path):
    """Exports keep English headings (scripts read them); a user who asks gets them in the page's
    language: the choice is on the Language page and travels with the export job."""
    import csv

    from doseapp.exports.jobs import parameters
    from doseapp.exports.run import run_export
    from doseapp.models import Job

    def first_row(headings):
        with loaded.app_context():
            result = run_export("CT", "csv", {}, out=tmp_path / f"ct-{headings}.csv", headings=headings)
        with open(result["path"], encoding="utf-8-sig", newline="") as handle:
            return next(csv.reader(handle))

    english, german, french = first_row("en"), first_row("de"), first_row("fr")
    assert english[:3] == ["Institution", "Manufacturer", "Model name"] and "DLP total (mGy.cm)" in english
    assert german[:3] == ["Einrichtung", "Hersteller", "Modellname"] and "DLP gesamt (mGy.cm)" in german
    assert "E1 Protokoll" in german and "E1 Protocol" in english
    assert "Nom du modèle" in french and len(english) == len(german) == len(french)

    client = client_for(loaded, "viewer")
    post(client, "/account/language", {"locale": "de", "export_headings": "translated"})
    with loaded.app_context():
        user = db.session.get(User, loaded.config["TEST_USER_IDS"]["viewer"])
        assert user.export_headings_translated is True
    post(client, "/account/language", {"locale": "de", "export_headings": "english"})
    with loaded.app_context():
        user = db.session.get(User, loaded.config["TEST_USER_IDS"]["viewer"])
        assert user.export_headings_translated is False
        user.locale = None
        db.session.commit()
    assert parameters("ct", "csv", {})["headings"] == "en"
    # Started from a German page by a user who asked for translated headings: the job says "de".
    admin = client_for(loaded, "admin")
    post(admin, "/account/language", {"locale": "de", "export_headings": "translated"})
    try:
        post(admin, "/exports/start/ct/csv", {}, form_page="/ct/")
        with loaded.app_context():
            job = db.session.scalars(select(Job).where(Job.kind == "export").order_by(Job.id.desc())).first()
            assert job is not None and job.parameters["headings"] == "de"
    finally:
        post(admin, "/account/language", {"locale": "", "export_headings": "english"})


def test_flash_messages_and_form_errors_follow_the_users_language(loaded):
    """Messages made in the code (flash, form errors) are in the reader's language; English reads as before."""
    client = client_for(loaded, "admin")
    english = post(client, "/config/email/outbox/retry", {}, form_page="/config/email/outbox", follow_redirects=True)
    assert "Nothing to retry: every e-mail has been sent." in english.get_data(as_text=True)
    _set_language(loaded, "admin", "de")
    try:
        german = post(client, "/config/email/outbox/retry", {}, form_page="/config/email/outbox", follow_redirects=True)
        html = german.get_data(as_text=True)
        assert _lang(html) == "de" and "Nichts zu wiederholen: jede E-Mail wurde gesendet." in html
        assert "Nothing to retry" not in html
        # A form error on the same user's page, with its placeholder filled in.
        resp = post(client, "/config/email", {"smtp_host": "", "smtp_port": "99999", "smtp_security": "starttls",
                                              "smtp_sender": "", "alert_digest_hour": "7"})
        assert resp.status_code == 400
        assert "Der Port ist eine Zahl von 1 bis 65535 (oder leer für den üblichen)." in resp.get_data(as_text=True)
    finally:
        _set_language(loaded, "admin", None)
    # Without a user, the browser's language: the login page's error.
    anonymous = client_for(loaded, None)
    resp = post(anonymous, "/login", {"username": "nobody-here", "password": "wrong-password"},
                headers={"Accept-Language": "de"})
    assert resp.status_code == 401 and "Falscher Benutzername oder falsches Passwort." in resp.get_data(as_text=True)


@pytest.mark.parametrize("code", sorted(set(LANGUAGES) - {SOURCE_LANGUAGE}))
def test_sentences_with_a_link_are_one_message(loaded, code):
    """A sentence holding a link is translated whole, link and all (word order is the language's): the
    home page's system headings, the e-mail settings note and the scheduled-queries note."""
    from babel.messages.pofile import read_po
    from doseapp.display.i18n import TRANSLATIONS_DIR

    with (TRANSLATIONS_DIR / code / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        catalogue = read_po(handle, locale=code)

    def said(msgid: str, **values) -> str:
        text = catalogue.get(msgid).string
        assert text and text.count("<a href=") == msgid.count("<a href=")
        return text % values

    _set_language(loaded, "viewer", code)
    _set_language(loaded, "admin", code)
    try:
        home = client_for(loaded, "viewer").get("/").get_data(as_text=True)
        assert said('<a href="%(url)s">%(name)s</a> systems', url="/ct/", name="CT") in home
        client = client_for(loaded, "admin")
        email = client.get("/config/email").get_data(as_text=True)
        note = said("Alert e-mails go through this SMTP server. Each user chooses which alerts they hear of, and "
                    'whether at once or in a daily digest, on <a href="%(alerts_url)s">their alert e-mail page</a>. '
                    "Messages never carry patient identifiers. A message the server does not take is kept and tried "
                    "again (after 1, 5, 15 and 60 minutes, then every few hours): see the "
                    '<a href="%(outbox_url)s">outbox</a>',
                    alerts_url="/account/alert-emails", outbox_url="/config/email/outbox")
        assert note in email
        schedules = client.get("/qr/admin/scheduled").get_data(as_text=True)
        assert said("The scheduler (<code>doseapp scheduler</code>, started by <code>doseapp run</code>) starts each "
                    "enabled query when it is due, never while its previous run is still going. Each run appears in "
                    'the <a href="%(url)s">query history</a>.', url="/qr/history") in schedules
    finally:
        _set_language(loaded, "admin", None)
        _set_language(loaded, "viewer", None)
