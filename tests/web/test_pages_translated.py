"""Every page a reader of each language opens, with every test file imported: no text on it (between tags,
or in a title, placeholder or aria-label) is an English message of the catalogue that the language
translates, so no text kept in the code reaches a translated page in English. Values from the files (a department called
"Department", a national DRL's body region "Head") are data, not messages, and are named here."""
from __future__ import annotations

import html as htmllib
import re

import pytest
from babel.messages.pofile import read_po
from sqlalchemy import select

from doseapp.display.i18n import TRANSLATIONS_DIR
from doseapp.models import Study, db
from tests.conftest import TESTDATA, _empty_all_tables
from tests.web import studydata
from tests.web.studydata import client_for

# Data that happens to equal a message: what the test files or the national DRL table hold.
DATA = {"Department",  # InstitutionalDepartmentName of a Siemens file
        "Mammography",  # a Hologic file's department
        "Head",  # the national CT DRL table's body region column
        "Operator"}  # OperatorsName of the Canon Alphenix rotational file

PAGES = ["/", "/ct/", "/rf/", "/dx/", "/mg/", "/nm/", "/jobs/", "/exports/", "/config/", "/config/users",
         "/config/audit", "/config/display-names", "/qr/history", "/config/standard-names", "/config/alerts",
         "/config/email", "/config/not-patient", "/charts/options", "/help", "/account/alert-emails",
         "/config/skin-maps", "/config/drl", "/config/dicom-delete", "/alerts", "/drl", "/account/language",
         "/account/password", "/config/email/outbox", "/config/not-patient/legacy", "/config/not-patient/new",
         "/config/patient-id", "/config/users/new", "/config/display-names/edit", "/dicom/nodes", "/dicom/nodes/new",
         "/dicom/transactions", "/quarantine/", "/imports/size/", "/qr/", "/qr/admin/remotes", "/qr/admin/remotes/new",
         "/qr/admin/scheduled", "/qr/retrieves", "/patients/history"]


@pytest.fixture(scope="module")
def loaded(_session_app, tmp_path_factory):
    studydata.load_testdata(_session_app)
    with _session_app.app_context():  # one user with every role, to open every page
        from doseapp.roles import ROLES
        from doseapp.users import create_user

        user = create_user("everyone", studydata.PASSWORD, list(ROLES))
        db.session.commit()
        _session_app.config["TEST_USER_IDS"]["everyone"] = user.id
        # Alerts, raised by the real rule code (a CT DLP threshold every CT study passes), one reviewed: the
        # alerts page and the study pages show their states.
        from doseapp.alerts.evaluate import evaluate
        from doseapp.alerts.settings import set_rule
        from doseapp.models.alerts import Alert

        set_rule("ct_dlp_study", threshold=1.0, enabled=True)
        raised = evaluate(["ct_dlp_study"])["ct_dlp_study"]
        assert len(raised) >= 2
        db.session.get(Alert, raised[0]).state = "reviewed"
        db.session.commit()
        # A Store node never started, a remote, a finished query, and two objects in quarantine (a file that
        # is not DICOM, and a dose report cut short), so those pages show rows too.
        from doseapp.ingest import import_file
        from doseapp.models import DicomQuery, DicomRemoteNode, DicomStoreScp

        db.session.add_all([DicomStoreScp(name="Store one", aetitle="STOREONE", port=11197),
                            DicomRemoteNode(name="PACS one", aetitle="PACS", port=104, ip="10.0.0.1"),
                            DicomQuery(stage="Query complete", message="Found 1 patient, 2 studies", complete=True,
                                       parameters={})])
        db.session.commit()
        folder = tmp_path_factory.mktemp("bad")
        (folder / "not-dicom.dcm").write_bytes(b"not a DICOM file" * 20)
        (folder / "cut.dcm").write_bytes((TESTDATA / "CT-RDSR-Siemens_Flash-TAP-SS.dcm").read_bytes()[:3000])
        assert [import_file(folder / name).status for name in ("not-dicom.dcm", "cut.dcm")] == ["failed", "failed"]
    yield _session_app
    _empty_all_tables(_session_app)


def _messages(code: str) -> tuple[set[str], set[str]]:
    """(English messages the language translates otherwise, every translation in it)."""
    with (TRANSLATIONS_DIR / code / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        catalogue = read_po(handle, locale=code)
    english, german = set(), set()
    for m in catalogue:
        if isinstance(m.id, str) and m.id and m.string:
            german.add(m.string)
            if m.string != m.id and "%(" not in m.id:
                english.add(m.id)
    return english, german


@pytest.mark.parametrize("code", ["de", "fr", "es", "it", "nl", "nb"])
def test_no_english_message_on_a_translated_page(loaded, code):
    english, german = _messages(code)
    with loaded.app_context():
        studies = [f"/{m.lower()}/{i}" for m in ("CT", "RF", "DX", "MG", "NM") for i in db.session.scalars(
            select(Study.id).where(Study.modality == m).order_by(Study.id))]
    client = client_for(loaded, "everyone")
    found = {}
    for url in PAGES + studies:
        response = client.get(url, headers={"Accept-Language": code})
        assert response.status_code == 200, url
        page = re.sub(r"<script.*?</script>|<style.*?</style>", "", response.get_data(as_text=True), flags=re.S)
        assert f'<html lang="{code}">' in page, url
        texts = {htmllib.unescape(t).strip() for t in re.findall(r">([^<>]+)<", page)}
        texts |= {htmllib.unescape(t).strip() for t in re.findall(r'(?:title|placeholder|aria-label)="([^"]+)"', page)}
        left = sorted(t for t in texts if t in english and t not in german and t not in DATA)
        if left:
            found[url] = left
    assert found == {}
