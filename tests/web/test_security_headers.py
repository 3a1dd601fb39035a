"""Security headers on every response (doseapp/security/headers.py): the Content-Security-Policy with a
fresh nonce per request that the page's own inline scripts and htmx carry, relaxed for Bokeh only on
pages that draw charts; no framing, no sniffing, same-origin referrers; no caching but static files.
And no template may bring back what the policy forbids: inline handlers, nonce-less inline scripts."""
from __future__ import annotations

import re

import pytest

from doseapp.models import db
from doseapp.users import create_user
from tests.conftest import REPO, session_login

PASSWORD = "long-enough-1"


def _policy(resp) -> dict[str, str]:
    csp = resp.headers["Content-Security-Policy"]
    return {part.split()[0]: " ".join(part.split()[1:]) for part in csp.split("; ")}


def _nonce(resp) -> str:
    return re.search(r"'nonce-([^']+)'", _policy(resp)["script-src"]).group(1)


@pytest.fixture
def viewer(client):
    session_login(client, create_user("val", PASSWORD, ["viewer", "admin"]))
    return client


def test_every_kind_of_response_has_the_headers(app, client, viewer):
    responses = {"login page": client.get("/login"), "home": viewer.get("/"), "list": viewer.get("/ct/"),
                 "fragment": viewer.get("/ct/", headers={"HX-Request": "true"}),
                 "api": viewer.get("/api/v1/studies"), "not found": viewer.get("/no/such/page"),
                 "static": viewer.get("/static/css/doseapp.css"), "bokehjs": viewer.get("/bokehjs/bokeh.min.js")}
    for what, resp in responses.items():
        policy = _policy(resp)
        assert policy["default-src"] == "'self'", what
        assert policy["frame-ancestors"] == "'none'" and policy["object-src"] == "'none'", what
        assert policy["base-uri"] == "'none'" and policy["form-action"] == "'self'", what
        assert "'unsafe-inline'" not in policy["script-src"], what
        assert resp.headers["X-Frame-Options"] == "DENY", what
        assert resp.headers["X-Content-Type-Options"] == "nosniff", what
        assert resp.headers["Referrer-Policy"] == "same-origin", what
    for what in ("login page", "home", "list", "fragment", "api", "not found"):
        assert responses[what].headers["Cache-Control"] == "no-store", what
    for what in ("static", "bokehjs"):
        assert "no-store" not in responses[what].headers.get("Cache-Control", ""), what


def test_nonce_is_fresh_per_request_and_carried_by_the_page(viewer):
    first, second = viewer.get("/config/display-names"), viewer.get("/config/display-names")
    assert _nonce(first) != _nonce(second) and len(_nonce(first)) >= 22
    html = first.get_data(as_text=True)
    nonce = _nonce(first)
    scripts = re.findall(r"<script(?![^>]*\bsrc=)([^>]*)>", html)
    assert scripts and all(f'nonce="{nonce}"' in attrs for attrs in scripts)
    config = re.search(r'<meta name="htmx-config" content=\'([^\']+)\'>', html).group(1)
    assert f'"inlineScriptNonce": "{nonce}"' in config and '"allowEval": false' in config


def test_only_pages_that_draw_charts_get_the_bokeh_allowances(app, viewer):
    from doseapp.models import User
    from doseapp.models.users import UserPreferences as Prefs

    user = db.session.scalar(db.select(User).where(User.username == "val"))
    db.session.add(Prefs(user_id=user.id, charts_enabled=True))
    db.session.commit()
    with_charts = _policy(viewer.get("/ct/"))
    assert "'unsafe-eval'" in with_charts["script-src"] and with_charts["style-src"] == "'self' 'unsafe-inline'"
    for path in ("/", "/charts/options", "/config/audit", "/ct/charts"):
        policy = _policy(viewer.get(path))
        assert "'unsafe-eval'" not in policy["script-src"], path
        assert "'unsafe-inline'" not in policy["style-src"] and "'nonce-" in policy["style-src"], path
    user.preferences.charts_enabled = False
    db.session.commit()
    assert "'unsafe-eval'" not in _policy(viewer.get("/ct/"))["script-src"]  # charts off: no BokehJS, no allowance


def test_templates_have_no_inline_handlers_or_scripts_without_the_nonce():
    found = []
    for path in sorted((REPO / "templates").rglob("*.html")):
        text = path.read_text()
        for m in re.finditer(r"<[a-zA-Z][^>]*\s(on[a-z]+)\s*=", text):
            found.append(f"{path.name}: {m.group(1)}=")
        for m in re.finditer(r"<script\b([^>]*)>", text):
            if "src=" not in m.group(1) and 'nonce="{{ csp_nonce() }}"' not in m.group(1):
                found.append(f"{path.name}: <script{m.group(1)}>")
        if re.search(r"\sstyle\s*=", text) or "<style" in text:
            found.append(f"{path.name}: inline style")
        if "javascript:" in text.lower():
            found.append(f"{path.name}: javascript: URL")
    assert found == []
