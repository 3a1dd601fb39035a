"""Ending sessions: logging out, a new password (own, an admin's reset, the command line) and
deactivation end the user's other sessions, including a copy of the very cookie that logged out.
Each "browser" is a test client of its own, logged in through the real login form."""
from __future__ import annotations

import re

from sqlalchemy import select

from doseapp.models import User, db
from doseapp.users import create_user
from tests.conftest import FreshContextClient, run_cli

PASSWORD = "long-enough-1"


def _browser(app):
    app.test_client_class = FreshContextClient
    return app.test_client()


def _token(client, path="/login") -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).get_data(as_text=True)).group(1)


def _log_in(app, username, password=PASSWORD):
    client = _browser(app)
    resp = client.post("/login", data={"username": username, "password": password, "csrf_token": _token(client)})
    assert resp.status_code == 302, resp.get_data(as_text=True)
    return client


def _copy_of(app, client):
    """Another browser holding a copy of `client`'s session cookie (as a thief would)."""
    thief = _browser(app)
    thief.set_cookie("session", client.get_cookie("session").value)
    return thief


def _logged_in(client) -> bool:
    resp = client.get("/jobs/")
    assert resp.status_code in (200, 302)
    return resp.status_code == 200


def test_logout_ends_the_users_other_sessions_and_copies_of_its_cookie(app):
    create_user("lou", PASSWORD, ["viewer"])
    laptop, desktop = _log_in(app, "lou"), _log_in(app, "lou")
    stolen = _copy_of(app, laptop)
    assert _logged_in(laptop) and _logged_in(desktop) and _logged_in(stolen)
    resp = laptop.post("/logout", data={"csrf_token": _token(laptop, "/")})
    assert (resp.status_code, resp.location) == (302, "/login")
    assert not _logged_in(laptop)
    assert not _logged_in(stolen)  # the cookie as it was before logging out no longer works
    assert not _logged_in(desktop)
    assert _logged_in(_log_in(app, "lou"))  # logging in again works


def test_own_password_change_keeps_this_session_and_ends_the_others(app):
    create_user("pat", PASSWORD, ["viewer"])
    here, there = _log_in(app, "pat"), _log_in(app, "pat")
    resp = here.post("/account/password", data={
        "csrf_token": _token(here, "/account/password"), "current_password": PASSWORD,
        "new_password": "brand-new-pass", "confirm_password": "brand-new-pass"})
    assert resp.status_code == 302
    assert _logged_in(here)
    assert not _logged_in(there)
    assert _logged_in(_log_in(app, "pat", "brand-new-pass"))


def test_admin_password_reset_ends_the_users_sessions(app):
    create_user("root", PASSWORD, ["admin"])
    sam = create_user("sam", PASSWORD, ["viewer"])
    admin, user = _log_in(app, "root"), _log_in(app, "sam")
    resp = admin.post(f"/config/users/{sam.id}/password", data={
        "csrf_token": _token(admin, f"/config/users/{sam.id}/password"), "password": "reset-by-admin",
        "password2": "reset-by-admin"})
    assert resp.status_code == 302
    assert not _logged_in(user)
    assert _logged_in(admin)  # the admin's own session is not touched


def test_admin_resetting_their_own_password_keeps_that_session(app):
    root = create_user("root", PASSWORD, ["admin"])
    here, there = _log_in(app, "root"), _log_in(app, "root")
    path = f"/config/users/{root.id}/password"
    resp = here.post(path, data={"csrf_token": _token(here, path), "password": "new-admin-pass",
                                 "password2": "new-admin-pass"})
    assert resp.status_code == 302
    assert _logged_in(here) and not _logged_in(there)


def test_deactivation_ends_sessions_and_reactivation_does_not_bring_them_back(app):
    create_user("root", PASSWORD, ["admin"])
    tess = create_user("tess", PASSWORD, ["viewer"])
    admin, user = _log_in(app, "root"), _log_in(app, "tess")
    edit = f"/config/users/{tess.id}"
    admin.post(edit, data={"csrf_token": _token(admin, edit), "roles": ["viewer"]})  # "active" unticked
    assert not _logged_in(user)
    admin.post(edit, data={"csrf_token": _token(admin, edit), "roles": ["viewer"], "active": "on"})
    assert not _logged_in(user)
    assert _logged_in(_log_in(app, "tess"))


def test_role_changes_apply_to_open_sessions_at_once(app):
    create_user("root", PASSWORD, ["admin"])
    uma = create_user("uma", PASSWORD, ["viewer"])
    admin, user = _log_in(app, "root"), _log_in(app, "uma")
    assert user.get("/ct/").status_code == 200
    edit = f"/config/users/{uma.id}"
    admin.post(edit, data={"csrf_token": _token(admin, edit), "roles": ["importsize"], "active": "on"})
    assert user.get("/ct/").status_code == 403  # roles are read on every request, not kept in the session


def test_command_line_password_reset_ends_sessions(app, app_env):
    create_user("val", PASSWORD, ["viewer"])
    user = _log_in(app, "val")
    done = run_cli(["user", "set-password", "val", "--password-stdin"], app_env, input_text="set-by-shell\n")
    assert done.returncode == 0, done.stderr
    assert not _logged_in(user)


def test_a_session_without_the_users_token_is_not_logged_in(app):
    """Sessions from before session tokens held the bare user id; they (and forged-looking ids) are refused."""
    wes = create_user("wes", PASSWORD, ["viewer"])
    token = db.session.scalar(select(User.session_token).where(User.id == wes.id))
    for value in (str(wes.id), f"{wes.id}:", f"{wes.id}:wrong-token", f"x:{token}", f"{wes.id + 1}:{token}"):
        client = _browser(app)
        with client.session_transaction() as sess:
            sess["_user_id"], sess["_fresh"] = value, True
        assert not _logged_in(client), value
    client = _browser(app)
    with client.session_transaction() as sess:
        sess["_user_id"], sess["_fresh"] = f"{wes.id}:{token}", True
    assert _logged_in(client)


def test_every_user_has_a_token_of_their_own(app):
    a, b = create_user("xia", PASSWORD, ["viewer"]), create_user("yan", PASSWORD, ["viewer"])
    assert a.session_token and b.session_token and a.session_token != b.session_token
    assert len(a.session_token) >= 32
