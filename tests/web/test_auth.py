"""Login, logout, CSRF, cookies and passwords, through the real app and database."""
from __future__ import annotations

import re

from sqlalchemy import select

from doseapp.models import User, db
from doseapp.users import create_user


def _csrf(client, path="/login") -> str:
    html = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def _login(client, username, password, next_url=None):
    token = _csrf(client)
    url = "/login" + (f"?next={next_url}" if next_url else "")
    return client.post(url, data={"username": username, "password": password, "csrf_token": token})


def test_login_logout_and_cookie_flags(app, client):
    create_user("carol", "long-enough-1", ["viewer"])
    resp = _login(client, "carol", "long-enough-1")
    assert resp.status_code == 302 and resp.location == "/"
    cookie = resp.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert client.get("/").status_code == 200
    token = _csrf(client, "/")
    resp = client.post("/logout", data={"csrf_token": token})
    assert resp.status_code == 302 and resp.location == "/login"
    assert client.get("/").status_code == 302
    assert db.session.scalar(select(User.last_login).where(User.username == "carol")) is not None


def test_wrong_password_and_unknown_user_are_refused_alike(app, client):
    create_user("dave", "long-enough-1", ["viewer"])
    for name, pw in (("dave", "wrong-password"), ("nobody", "long-enough-1")):
        resp = _login(client, name, pw)
        assert resp.status_code == 401
        assert b"Wrong user name or password." in resp.data
    assert client.get("/").status_code == 302


def test_inactive_user_cannot_log_in(app, client):
    user = create_user("erin", "long-enough-1", ["viewer"])
    user.active = False
    db.session.commit()
    assert _login(client, "erin", "long-enough-1").status_code == 401


def test_post_without_csrf_token_is_refused(app, client):
    create_user("frank", "long-enough-1", ["viewer"])
    resp = client.post("/login", data={"username": "frank", "password": "long-enough-1"})
    assert resp.status_code == 400
    assert b"CSRF" in resp.data
    assert client.get("/").status_code == 302  # not logged in


def test_next_must_stay_on_site(app, client):
    create_user("gina", "long-enough-1", ["viewer"])
    assert _login(client, "gina", "long-enough-1", next_url="//evil.example/x").location == "/"
    client.post("/logout", data={"csrf_token": _csrf(client, "/")})
    assert _login(client, "gina", "long-enough-1", next_url="/jobs/").location == "/jobs/"


def test_password_is_hashed_with_scrypt_and_can_be_changed(app, client):
    user = create_user("hank", "long-enough-1", ["viewer"])
    assert user.password_hash.startswith("scrypt:")
    assert "long-enough-1" not in user.password_hash
    _login(client, "hank", "long-enough-1")
    token = _csrf(client, "/account/password")
    resp = client.post("/account/password", data={
        "csrf_token": token, "current_password": "long-enough-1",
        "new_password": "short", "confirm_password": "short"})
    assert resp.status_code == 400 and b"at least 8 characters" in resp.data
    resp = client.post("/account/password", data={
        "csrf_token": token, "current_password": "long-enough-1",
        "new_password": "brand-new-pass", "confirm_password": "brand-new-pass"})
    assert resp.status_code == 302
    db.session.refresh(user)
    assert user.check_password("brand-new-pass") and not user.check_password("long-enough-1")


def test_admin_creates_user_and_sets_roles_on_the_web(app, client):
    create_user("root", "long-enough-1", ["admin"])
    _login(client, "root", "long-enough-1")
    token = _csrf(client, "/config/users/new")
    resp = client.post("/config/users/new", data={
        "csrf_token": token, "username": "ivy", "password": "long-enough-2", "roles": ["viewer", "pid"]})
    assert resp.status_code == 302
    ivy = db.session.scalar(select(User).where(User.username == "ivy"))
    assert ivy.roles == {"viewer", "pid"}
    resp = client.post(f"/config/users/{ivy.id}", data={"csrf_token": token, "roles": ["exporter"], "active": "on"})
    assert resp.status_code == 302
    db.session.refresh(ivy)
    assert ivy.roles == {"exporter"} and ivy.active
    resp = client.post("/config/users/new", data={
        "csrf_token": token, "username": "ivy", "password": "long-enough-2", "roles": ["viewer"]})
    assert resp.status_code == 400 and b"already a user called ivy" in resp.data
