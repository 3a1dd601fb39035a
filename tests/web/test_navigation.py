"""What every page shares (issue 15 items 1 and 2): the favicon, the footer's version and help link,
the top bar's modality links with their study counts, the settings menu per role, breadcrumbs, and
messages that link the page they name. Against the OpenREM test files imported into the real database."""
from __future__ import annotations

import importlib.metadata
import re
import tomllib
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import event, func, select

from doseapp.display import study_counts
from doseapp.models import Study, db
from tests.conftest import _empty_all_tables, session_login
from tests.web import studydata
from tests.web.studydata import client_for

REPO = Path(__file__).resolve().parents[2]
# Admin-only entries of the settings menu (a viewer sees Config and Display names only).
ADMIN_ENTRIES = {"/config/users": "Users", "/config/patient-id": "Patient ID", "/config/not-patient": "Not-patient indicators",
                 "/config/dicom-delete": "DICOM object deletion", "/config/audit": "Audit log",
                 "/config/skin-maps": "Skin dose maps",
                 "/dicom/nodes": "DICOM nodes", "/dicom/transactions": "Transaction log",
                 "/qr/admin/remotes": "Remote nodes", "/qr/admin/scheduled": "Scheduled queries",
                 "/imports/size/": "Size imports", "/quarantine/": "Quarantine"}


@pytest.fixture(scope="module")
def loaded(_session_app):
    studydata.load_testdata(_session_app)
    study_counts.clear()  # counts kept from another module's database contents
    yield _session_app
    study_counts.clear()
    _empty_all_tables(_session_app)


def _menu(html: str) -> dict[str, str]:
    """The settings menu's entries: {href: label}."""
    panel = re.search(r'<details class="menu" id="settings-menu">(.*?)</details>', html, re.S).group(1)
    return dict(re.findall(r'<a href="([^"]+)">([^<]+)</a>', panel))


def test_favicon_is_served(loaded):
    anonymous = client_for(loaded, None)
    resp = anonymous.get("/favicon.ico")
    assert resp.status_code == 200 and resp.mimetype == "image/svg+xml"
    assert resp.data.startswith(b"<svg") and b"</svg>" in resp.data
    page = anonymous.get("/login").get_data(as_text=True)
    href = re.search(r'<link rel="icon" href="([^"]+)" type="image/svg\+xml">', page).group(1)
    linked = anonymous.get(href)
    assert linked.status_code == 200 and linked.mimetype == "image/svg+xml" and linked.data == resp.data
    # The icon sprite the pages use is served too, and holds every icon they name.
    html = client_for(loaded, "adminviewer").get("/ct/").get_data(as_text=True)
    names = set(re.findall(r'icons\.svg#([\w-]+)"', html))
    sprite = anonymous.get("/static/img/icons.svg")
    assert sprite.status_code == 200 and sprite.mimetype == "image/svg+xml"
    assert {"logo", "home", "ct", "rf", "mg", "dx", "nm", "settings", "filter", "help"} <= names
    assert names <= set(re.findall(r'<symbol id="([\w-]+)"', sprite.get_data(as_text=True)))


def test_footer_shows_version_and_help(loaded):
    version = importlib.metadata.version("doseapp")
    assert version == tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    for who, path in ((None, "/login"), ("viewer", "/"), ("admin", "/config/")):
        html = client_for(loaded, who).get(path).get_data(as_text=True)
        footer = re.search(r'<footer class="footer" id="footer">(.*?)</footer>', html, re.S).group(1)
        assert f'<span id="product-version">{version}</span>' in footer
        assert re.search(r'<a href="/help" id="help-link">.*Help</a>', footer)
    help_page = client_for(loaded, None).get("/help")
    assert help_page.status_code == 200
    text = help_page.get_data(as_text=True)
    assert "<h1>Help</h1>" in text and "<td>importqr</td>" in text and "Where to get help" in text


def test_viewer_sees_modality_links_with_the_database_counts(loaded):
    with loaded.app_context():
        want = dict(db.session.execute(select(Study.modality, func.count()).group_by(Study.modality)).all())
    assert want == {"CT": 11, "RF": 8, "MG": 5, "DX": 7, "NM": 5}  # the test files (one CT exam is two reports)
    html = client_for(loaded, "viewer").get("/").get_data(as_text=True)
    links = re.findall(r'<a class="navlink modality" id="nav-(\w+)" href="([^"]+)".*?<span>([^<]+)</span>\s*'
                       r'<span class="count" data-modality="(\w+)">(\d+)</span></a>', html, re.S)
    assert [(slug, href, name, code, int(n)) for slug, href, name, code, n in links] == [
        ("ct", "/ct/", "CT", "CT", want["CT"]), ("rf", "/rf/", "Fluoroscopy", "RF", want["RF"]),
        ("mg", "/mg/", "Mammography", "MG", want["MG"]), ("dx", "/dx/", "Radiography", "DX", want["DX"]),
        ("nm", "/nm/", "Nuclear medicine", "NM", want["NM"])]
    # The list being shown is marked in the top bar.
    mg = client_for(loaded, "viewer").get("/mg/").get_data(as_text=True)
    assert re.search(r'id="nav-mg" href="/mg/"\s+title="[^"]+"\s+aria-current="page"', mg)
    # An admin without a browsing role sees no modality links (the lists would refuse them).
    assert 'class="navlink modality"' not in client_for(loaded, "admin").get("/config/").get_data(as_text=True)


def test_modality_counts_are_the_kept_counts(loaded):
    """The top bar counts no studies on every page: the first page counts them (GROUP BY), later
    pages read the kept counts, checked against the database with a few max() lookups."""
    seen: list[str] = []

    def record(conn, cursor, statement, *args):
        seen.append(statement)

    viewer = client_for(loaded, "viewer")
    study_counts.clear()
    with loaded.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        viewer.get("/jobs/")
        first = [s for s in seen if re.search(r"FROM study\b.*GROUP BY study\.modality", s, re.S)]
        seen.clear()
        viewer.get("/jobs/")
        viewer.get("/config/")
        again = [s for s in seen if re.search(r"FROM study\b.*GROUP BY", s, re.S)]
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert len(first) >= 1 and again == []


def test_admin_sees_the_admin_menu_a_viewer_does_not(loaded):
    admin = _menu(client_for(loaded, "admin").get("/config/").get_data(as_text=True))
    viewer = _menu(client_for(loaded, "viewer").get("/").get_data(as_text=True))
    # Everyone chooses their own alert e-mails.
    assert viewer == {"/config/": "Config", "/config/display-names": "Display names",
                      "/account/alert-emails": "My alert e-mails", "/account/language": "Language"}
    assert ADMIN_ENTRIES.items() <= admin.items()
    assert admin["/config/"] == "Config" and admin["/config/display-names"] == "Display names"
    # Each entry opens for the admin; each admin-only one is refused to the viewer.
    admin_client, viewer_client = client_for(loaded, "admin"), client_for(loaded, "viewer")
    for href in ADMIN_ENTRIES:
        assert admin_client.get(href).status_code == 200, href
        assert viewer_client.get(href).status_code == 403, href


def test_study_page_breadcrumbs_link_to_its_list(loaded):
    with loaded.app_context():
        rf_id = db.session.scalar(select(Study.id).where(Study.modality == "RF").order_by(Study.id).limit(1))
    viewer = client_for(loaded, "viewer")
    plain = viewer.get(f"/rf/{rf_id}").get_data(as_text=True)
    crumbs = re.search(r'<nav class="breadcrumbs" aria-label="Breadcrumb">(.*?)</nav>', plain, re.S).group(1)
    assert re.findall(r'<a href="([^"]+)">([^<]+)</a>', crumbs) == [("/", "Home"), ("/rf/", "Fluoroscopy studies")]
    assert '<li aria-current="page">' in crumbs
    # Opened from a filtered list, the crumb goes back to that list as it was.
    back = "/rf/?display_name=a&o=-dap&page=2"
    filtered = viewer.get(f"/rf/{rf_id}?back={quote(back)}").get_data(as_text=True)
    crumbs = re.search(r'<nav class="breadcrumbs" aria-label="Breadcrumb">(.*?)</nav>', filtered, re.S).group(1)
    assert '<a href="/rf/?display_name=a&amp;o=-dap&amp;page=2">Fluoroscopy studies</a>' in crumbs
    # And a config page's trail goes through Config.
    users = client_for(loaded, "admin").get("/config/users/new").get_data(as_text=True)
    crumbs = re.search(r'<nav class="breadcrumbs" aria-label="Breadcrumb">(.*?)</nav>', users, re.S).group(1)
    assert re.findall(r'<a href="([^"]+)">([^<]+)</a>', crumbs) == [("/", "Home"), ("/config/", "Config"),
                                                                   ("/config/users", "Users")]


def test_query_page_links_the_remote_nodes_page(loaded):
    from doseapp.users import create_user

    with loaded.app_context():
        user = create_user("qruser", studydata.PASSWORD, ["importqr"])
        client = loaded.test_client()
        session_login(client, user)
    html = client.get("/qr/").get_data(as_text=True)
    hint = re.search(r'<p id="no-remotes">(.*?)</p>', html, re.S).group(1)
    assert "under DICOM" not in html
    assert '<a href="/qr/admin/remotes">Remote nodes</a>' in hint
