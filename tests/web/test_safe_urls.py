"""`next` and `back` parameters: one helper (doseapp/security/safe_urls.py) lets through same-site paths only,
and every route that takes one uses it, whether the value goes to a Location header or into a link."""
from __future__ import annotations

import html
import re
from urllib.parse import quote

import pytest

from doseapp.models import DicomStoreScp, db
from doseapp.security.safe_urls import same_site_or, same_site_path
from tests.web.config_helpers import imp, login, post, studies_of

# What a browser would read as another origin, or as script, however it is spelt.
ATTACKS = [
    "//evil.example", "///evil.example", "//evil.example/%2F..", "/\\evil.example", "\\\\evil.example",
    "\\/evil.example", "/\t/evil.example", "/\n/evil.example", "/\r/evil.example", "\t//evil.example",
    " //evil.example", "\n/ct/", " /ct/", "/%09/evil.example", "/%0a/evil.example", "/%2F%2Fevil.example",
    "/%2f%2fevil.example", "%2F%2Fevil.example", "/%5Cevil.example", "/%252F%252Fevil.example",
    "/%25%32%46%25%32%46evil.example", "javascript:alert(1)", "JavaScript:alert(1)", " javascript:alert(1)",
    "java\tscript:alert(1)", "javascript://%0aalert(1)", "data:text/html,<script>alert(1)</script>",
    "https://evil.example/", "http:evil.example", "http:/evil.example", "ftp://evil.example", "\x00/evil",
    "/\x00/evil", "/ct/\r\nSet-Cookie: x=1", "ct/", "evil.example", "", None, "/" + "a" * 5000,
]
SAFE = [
    "/", "/ct/", "/ct/?display_name=CTAWP&page=2", "/studies/dx?display_name=CANON&page=2",
    "/ct/?study_description=HEAD%2FNECK", "/charts/options", "/ct/?display_name=a%20b",
    "/javascript:alert(1)",  # a path on this site (urlsplit and browsers agree: no scheme before a "/")
]


@pytest.mark.parametrize("value", ATTACKS)
def test_attacks_are_refused(value):
    assert same_site_path(value) is None
    assert same_site_or(value, "/fallback") == "/fallback"


@pytest.mark.parametrize("value", SAFE)
def test_same_site_paths_pass_unchanged(value):
    assert same_site_path(value) == value


# --- every route that takes next/back ---------------------------------------------------------

ROUTE_ATTACKS = ["javascript:alert(1)", "//evil.example/x", "/\\evil.example", "/\t/evil.example",
                 "/%09/evil.example", "https://evil.example/", "data:text/html,x", " //evil.example"]


def _q(value: str) -> str:
    return quote(value, safe="")


def _links(page: str) -> list[str]:
    """Every href and every hidden next/back value given (empty: none) on a page, as the browser reads them."""
    found = re.findall(r'href="([^"]*)"', page) + re.findall(r'name="(?:next|back)" value="([^"]+)"', page)
    return [html.unescape(v) for v in found]


def _assert_links_stay_on_site(page: str) -> None:
    links = _links(page)
    assert links
    bad = [v for v in links if same_site_path(v) is None]
    assert not bad, bad
    assert "evil.example" not in page and "javascript:" not in page.lower()


@pytest.mark.parametrize("attack", ROUTE_ATTACKS)
def test_login_sends_only_to_our_pages(app, client, attack):
    login(client, "ada", ["viewer"])
    # Already logged in: the login page passes straight on to next.
    assert client.get(f"/login?next={_q(attack)}").location == "/"
    client.post("/logout", data={"csrf_token": _token(client)})
    resp = client.post(f"/login?next={_q(attack)}", data={"username": "ada", "password": "long-enough-1",
                                                           "csrf_token": _token(client, "/login")})
    assert (resp.status_code, resp.location) == (302, "/")


def _token(client, path="/"):
    from tests.web.config_helpers import token

    return token(client, path)


@pytest.mark.parametrize("attack", ROUTE_ATTACKS)
def test_chart_options_link_and_redirect(app, client, attack):
    login(client, "ada", ["admin", "viewer"])
    for path in ("/charts/options", f"/charts/options/{_ada_id()}"):
        page = client.get(f"{path}?next={_q(attack)}").get_data(as_text=True)
        _assert_links_stay_on_site(page)
        assert "Back to the list" not in page
        resp = post(client, path, {"enabled": "on", "next": attack}, form_page=path)
        assert (resp.status_code, resp.location) == (302, path)
    # A real list address still comes back.
    page = client.get("/charts/options?next=" + _q("/ct/?display_name=CTAWP")).get_data(as_text=True)
    assert 'href="/ct/?display_name=CTAWP">Back to the list' in page


def _ada_id() -> int:
    from sqlalchemy import select

    from doseapp.models import User

    return db.session.scalar(select(User.id).where(User.username == "ada"))


@pytest.fixture
def ct_study(app):
    imp("CT-RDSR-GEPixelMed.dcm")
    [ct] = studies_of()
    return ct


@pytest.mark.parametrize("attack", ROUTE_ATTACKS)
def test_study_detail_back_link(client, ct_study, attack):
    ct = ct_study
    login(client, "ada", ["viewer"])
    page = client.get(f"/ct/{ct.id}?back={_q(attack)}").get_data(as_text=True)
    _assert_links_stay_on_site(page)
    # The breadcrumb trail's list link is the way back (it replaced the "« Back to the CT list" link).
    assert '<li><a href="/ct/">CT studies</a></li>' in page


@pytest.mark.parametrize("attack", ROUTE_ATTACKS)
def test_study_delete_cancel_link_and_redirect(client, ct_study, attack):
    ct = ct_study
    login(client, "ada", ["admin"])
    page = client.get(f"/studies/{ct.id}/delete?next={_q(attack)}").get_data(as_text=True)
    _assert_links_stay_on_site(page)
    resp = post(client, f"/studies/{ct.id}/delete", {"next": attack}, form_page=f"/studies/{ct.id}/delete")
    assert (resp.status_code, resp.location) == (302, "/ct/")


@pytest.mark.parametrize("attack", ROUTE_ATTACKS)
def test_store_node_start_stop_redirect(app, client, attack):
    node = DicomStoreScp(name="Safe next store", aetitle="SAFENEXT", port=11199, status="stopped")
    db.session.add(node)
    db.session.commit()
    login(client, "ada", ["admin"])
    resp = post(client, f"/dicom/nodes/{node.id}/state", {"state": "stopped", "next": attack}, form_page="/dicom/nodes")
    assert (resp.status_code, resp.location) == (302, f"/dicom/nodes/{node.id}/dashboard")
    resp = post(client, f"/dicom/nodes/{node.id}/state", {"state": "stopped", "next": "/dicom/nodes"},
                form_page="/dicom/nodes")
    assert resp.location == "/dicom/nodes"


@pytest.mark.parametrize("attack", ROUTE_ATTACKS)
def test_alert_review_redirect(app, client, attack):
    """Acknowledging an alert goes back to the list it was sent from: only when that is a path of ours (its
    check was once a startswith("/") that "/\\evil.example" passed)."""
    from doseapp.alerts.settings import set_rule
    from doseapp.models.alerts import Alert

    set_rule("rf_dap_study", threshold=100, enabled=True)
    imp("RF-RDSR-GE.dcm")  # 241 cGy·cm²: one alert
    [alert] = db.session.scalars(db.select(Alert)).all()
    login(client, "ada", ["admin"])
    resp = post(client, f"/alerts/{alert.id}/review", {"state": "reviewed", "next": attack}, form_page="/alerts")
    assert (resp.status_code, resp.location) == (302, "/alerts")
    resp = post(client, f"/alerts/{alert.id}/review", {"state": "reported", "next": "/alerts?state=all&page=2"},
                form_page="/alerts")
    assert resp.location == "/alerts?state=all&page=2"
