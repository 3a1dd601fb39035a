"""Request body limits (doseapp/security/request_limits.py): 64 KB for anyone not logged in, DOSEAPP_MAX_UPLOAD_MB
(plus the form around the file) for logged-in users; refused with 413 before the body is read — by
the application (test client) and by the real `doseapp web` server, spoken to over a plain socket
so that nothing but the headers is ever sent."""
from __future__ import annotations

import re
import socket
import time
import urllib.parse

import pytest
from sqlalchemy import func, select

from doseapp.models import LoginAttempt, db
from doseapp.users import create_user
from tests.browser.test_ui import web_server
from tests.conftest import _empty_all_tables, session_login
from tests.http_client import Browser

PASSWORD = "long-enough-1"
MB = 1024 * 1024


# --- in the application ----------------------------------------------------------------------------

def test_the_limits_follow_the_setting(app):
    from doseapp.config import load

    cfg = load(env={"DOSEAPP_INSTANCE": str(app.config["INSTANCE"]), "DOSEAPP_MAX_UPLOAD_MB": "7"})
    assert (cfg["MAX_UPLOAD_BYTES"], cfg["MAX_CONTENT_LENGTH"], cfg["ANONYMOUS_MAX_CONTENT_LENGTH"]) == (
        7 * MB, 8 * MB, 64 * 1024)
    assert app.config["MAX_UPLOAD_BYTES"] == 50 * MB  # the default


def test_anonymous_large_body_is_refused_before_the_form_is_read(app, client):
    create_user("amy", PASSWORD, ["viewer"])
    big = {"username": "amy", "password": "wrong-password", "padding": "x" * (80 * 1024)}
    resp = client.post("/login", data=big)
    assert resp.status_code == 413
    assert "This is larger than doseapp accepts (64 KB before you log in)." in resp.get_data(as_text=True)
    # Neither the CSRF check nor the login ran: no failed attempt was counted.
    assert db.session.scalar(select(func.count()).select_from(LoginAttempt)) == 0
    small = client.post("/login", data={"username": "amy", "password": "wrong-password"})
    assert small.status_code == 400  # a normal refusal (no CSRF token), not 413


def test_logged_in_users_may_send_more(app, client):
    app.config["WTF_CSRF_ENABLED"] = False
    try:
        session_login(client, create_user("bea", PASSWORD, ["viewer"]))
        resp = client.post("/charts/options", data={"enabled": "on", "padding": "x" * (300 * 1024)})
        assert resp.status_code == 302
    finally:
        app.config["WTF_CSRF_ENABLED"] = True


# --- in the real web server ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def web(_session_app, app_env, tmp_path_factory):
    """`doseapp web` with DOSEAPP_MAX_UPLOAD_MB=1, and a user who may upload size CSVs."""
    _empty_all_tables(_session_app)
    with _session_app.app_context():
        create_user("cal", PASSWORD, ["viewer", "importsize"])
        db.session.remove()
    env = dict(app_env, DOSEAPP_MAX_UPLOAD_MB="1")
    with web_server(env, tmp_path_factory.mktemp("limits")) as base:
        yield base
    _empty_all_tables(_session_app)


def _port(base: str) -> int:
    return int(base.rsplit(":", 1)[1])


def _headers(path: str, length: int | None, cookie: str = "", extra: str = "") -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/x-www-form-urlencoded"]
    lines += [f"Content-Length: {length}"] if length is not None else ["Transfer-Encoding: chunked"]
    if cookie:
        lines.append(f"Cookie: {cookie}")
    return ("\r\n".join(lines) + extra + "\r\n\r\n").encode()


def _answer(sock: socket.socket, within: float) -> bytes | None:
    """What the server says within `within` seconds (None: nothing yet)."""
    sock.settimeout(within)
    try:
        return sock.recv(65536)
    except socket.timeout:
        return None


def _logged_in(base: str) -> tuple[Browser, str]:
    browser = Browser(base)
    status, _, _ = browser.login("cal", PASSWORD)
    assert status == 302
    cookie = "; ".join(f"{c.name}={c.value}" for c in browser.jar)
    return browser, cookie


def test_server_refuses_an_anonymous_300_mb_post_from_its_headers(web):
    with socket.create_connection(("127.0.0.1", _port(web))) as sock:
        started = time.monotonic()
        sock.sendall(_headers("/login", 300 * MB))  # and never a byte of the body
        answer = _answer(sock, 10)
    assert answer is not None, "the server waited for the body"
    assert answer.startswith(b"HTTP/1.1 413") and time.monotonic() - started < 10


def test_server_stops_reading_an_anonymous_chunked_body_at_64_kb(web):
    chunk = b"%x\r\n%s\r\n" % (16 * 1024, b"x" * 16 * 1024)
    with socket.create_connection(("127.0.0.1", _port(web))) as sock:
        sock.sendall(_headers("/login", None))
        # 64 KB and a little more, and no more: the server reads all of it, so its close is clean.
        sock.sendall(chunk * 4 + b"10\r\n" + b"y" * 16 + b"\r\n")
        answer = _answer(sock, 10)
    assert answer is not None and answer.startswith(b"HTTP/1.1 413")


def test_server_lets_a_logged_in_user_send_more_but_not_beyond_the_setting(web):
    browser, cookie = _logged_in(web)
    token = browser.csrf("/charts/options")
    body = urllib.parse.urlencode({"csrf_token": token, "enabled": "on", "padding": "x" * (200 * 1024)}).encode()
    with socket.create_connection(("127.0.0.1", _port(web))) as sock:
        sock.sendall(_headers("/charts/options", len(body), cookie))
        assert _answer(sock, 2) is None  # 200 KB is allowed: the server waits for it
        sock.sendall(body)
        answer = _answer(sock, 15)
    assert answer is not None and answer.startswith(b"HTTP/1.1 302"), answer
    # Beyond DOSEAPP_MAX_UPLOAD_MB (1 MB, plus 1 MB for the form) even a logged-in user is refused at once.
    with socket.create_connection(("127.0.0.1", _port(web))) as sock:
        sock.sendall(_headers("/imports/size/upload", 3 * MB, cookie))
        answer = _answer(sock, 10)
    assert answer is not None and answer.startswith(b"HTTP/1.1 413")
    # A session whose signature is not ours counts as anonymous, and so does a logged-out one.
    forged = re.sub(r"session=([^;]+)", lambda m: "session=" + m.group(1)[:-6] + "xxxxxx", cookie)
    browser.request("/logout", {"csrf_token": browser.csrf("/")})
    logged_out = "; ".join(f"{c.name}={c.value}" for c in browser.jar)
    assert logged_out != cookie
    for other in (forged, logged_out):
        with socket.create_connection(("127.0.0.1", _port(web))) as sock:
            sock.sendall(_headers("/charts/options", 200 * 1024, other))
            answer = _answer(sock, 10)
        assert answer is not None and answer.startswith(b"HTTP/1.1 413")


def test_size_import_upload_limit_is_the_setting(web):
    browser, _ = _logged_in(web)
    token = browser.csrf("/imports/size/")
    boundary = "----doseapptest"
    content = b"Accession,Height\r\n" + b"ACC1,170\r\n" * (150 * 1024)  # 1.5 MB: over 1 MB
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\n{token}\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"csv_file\"; filename=\"sizes.csv\"\r\n"
            "Content-Type: text/csv\r\n\r\n").encode() + content + f"\r\n--{boundary}--\r\n".encode()
    import urllib.error
    import urllib.request

    req = urllib.request.Request(web + "/imports/size/upload", data=body,
                                 headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    with pytest.raises(urllib.error.HTTPError) as redirect:  # the client here follows no redirects
        browser.opener.open(req, timeout=30)
    assert redirect.value.code == 302
    _, page, _ = browser.request("/imports/size/")
    assert "The file is larger than 1 MB; split it into smaller files." in page
