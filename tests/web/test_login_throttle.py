"""Login throttling (doseapp/security/login_throttle.py): failed logins counted per user name and per address
in the database, refused with HTTP 429 and a plain message past the limit, audited without the
password; and the same password-hashing work for unknown, inactive and real users."""
from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import func, select, update

from doseapp import create_app
from doseapp.models import AuditEntry, LoginAttempt, db
from doseapp.models import users as user_models
from doseapp.users import create_user
from tests.conftest import FreshContextClient

PASSWORD = "long-enough-1"


def _client(app):
    app.test_client_class = FreshContextClient
    return app.test_client()


def _try(client, username, password, address="127.0.0.1"):
    html = client.get("/login", environ_base={"REMOTE_ADDR": address}).get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    return client.post("/login", data={"username": username, "password": password, "csrf_token": token},
                       environ_base={"REMOTE_ADDR": address})


def _audit(action):
    db.session.expire_all()
    return list(db.session.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)))


def _attempts(**where) -> int:
    q = select(func.count()).select_from(LoginAttempt)
    for key, value in where.items():
        q = q.where(getattr(LoginAttempt, key) == value)
    return db.session.scalar(q)


def _age_attempts(minutes: int) -> None:
    db.session.execute(update(LoginAttempt).values(at=LoginAttempt.at - dt.timedelta(minutes=minutes)))
    db.session.commit()


def test_five_failures_lock_the_user_name_with_429_then_it_frees(app):
    create_user("ann", PASSWORD, ["viewer"])
    client = _client(app)
    for _ in range(5):
        resp = _try(client, "ann", "wrong-password")
        assert resp.status_code == 401 and b"Wrong user name or password." in resp.data
    assert _attempts(username="ann") == 5
    # Now even the right password is refused, with a plain message, until the window has passed.
    resp = _try(client, "ann", PASSWORD)
    assert resp.status_code == 429
    assert b"Too many failed logins for this user name. Try again in 15 minutes." in resp.data
    assert 14 * 60 < int(resp.headers["Retry-After"]) <= 15 * 60
    assert _attempts(username="ann") == 5  # refusals are not counted: hammering does not extend the lock
    assert client.get("/jobs/").status_code == 302  # not logged in
    # Other names from the same address are not locked by ann's failures.
    create_user("ben", PASSWORD, ["viewer"])
    assert _try(client, "ben", PASSWORD).status_code == 302
    # After 15 minutes the name may try again; success clears its count.
    _age_attempts(16)
    assert _try(_client(app), "ann", PASSWORD).status_code == 302
    assert _attempts(username="ann") == 0


def test_failed_logins_are_audited_with_name_and_address_never_the_password(app):
    create_user("cat", PASSWORD, ["viewer"])
    inactive = create_user("dan", PASSWORD, ["viewer"])
    inactive.active = False
    db.session.commit()
    client = _client(app)
    _try(client, "cat", "secret-guess-1", address="10.1.2.3")
    _try(client, "nobody", "secret-guess-2", address="10.1.2.3")
    _try(client, "dan", PASSWORD, address="10.1.2.4")
    rows = _audit("login.failed")
    assert [(r.target, r.details["address"], r.details["reason"], r.username) for r in rows] == [
        ("cat", "10.1.2.3", "wrong password", "anonymous"),
        ("nobody", "10.1.2.3", "unknown user name", "anonymous"),
        ("dan", "10.1.2.4", "account deactivated", "anonymous")]
    for r in rows:
        assert "secret-guess" not in str(r.details) and PASSWORD not in str(r.details)
    assert _audit("login.throttled") == []
    for _ in range(4):
        _try(client, "cat", "wrong-again", address="10.1.2.3")
    [locked] = _audit("login.throttled")
    assert (locked.target, locked.details) == ("cat", {"address": "10.1.2.3", "by": "user name", "failures": 5,
                                                       "minutes": 15})
    _try(client, "cat", "wrong-again", address="10.1.2.3")  # refused: neither counted nor audited again
    assert len(_audit("login.failed")) == 7 and len(_audit("login.throttled")) == 1


def test_an_address_with_many_failures_is_refused_for_every_name(app):
    assert app.config["LOGIN_FAILURES_PER_ADDRESS"] == 30
    create_user("eve", PASSWORD, ["viewer"])
    client = _client(app)
    for i in range(30):  # 30 different names: no name reaches its own limit
        assert _try(client, f"guess{i}", "wrong-password", address="192.0.2.7").status_code == 401
    resp = _try(client, "eve", PASSWORD, address="192.0.2.7")
    assert resp.status_code == 429 and b"Too many failed logins from this network address. Try again in 15 minutes." in resp.data
    # From another address eve logs in, and her success does not free the busy address.
    assert _try(_client(app), "eve", PASSWORD, address="192.0.2.8").status_code == 302
    assert _try(_client(app), "eve", PASSWORD, address="192.0.2.7").status_code == 429


def test_the_count_holds_across_web_processes(app):
    """Two application instances on one database (as two `doseapp web` processes) share the count."""
    create_user("fay", PASSWORD, ["viewer"])
    other = create_app(dict(app.config))
    for i in range(5):
        _try(_client(app if i % 2 else other), "fay", "wrong-password")
    assert _try(_client(other), "fay", PASSWORD).status_code == 429
    assert _try(_client(app), "fay", PASSWORD).status_code == 429


def test_old_attempts_are_pruned(app):
    client = _client(app)
    for i in range(3):
        _try(client, f"old{i}", "wrong-password")
    _age_attempts(16)
    _try(client, "new", "wrong-password")
    assert _attempts() == 1 and _attempts(username="new") == 1


@pytest.fixture
def hash_checks(monkeypatch):
    """Each password hash check made, as (method and parameters of the hash): the real check runs."""
    seen = []
    real = user_models.check_password_hash

    def counting(pwhash, password):
        seen.append(pwhash.split("$", 1)[0])
        return real(pwhash, password)
    monkeypatch.setattr(user_models, "check_password_hash", counting)
    return seen


def test_unknown_and_inactive_users_cost_the_same_hashing_as_real_ones(app, hash_checks):
    create_user("gus", PASSWORD, ["viewer"])
    quiet = create_user("hal", PASSWORD, ["viewer"])
    quiet.active = False
    db.session.commit()
    cases = [("gus", "wrong-password", 401), ("nobody-here", "wrong-password", 401), ("hal", PASSWORD, 401),
             ("hal", "wrong-password", 401), ("gus", PASSWORD, 302)]
    methods = []
    for name, password, status in cases:
        hash_checks.clear()
        assert _try(_client(app), name, password).status_code == status
        assert len(hash_checks) == 1, (name, hash_checks)  # exactly one scrypt check, whoever it is
        methods.append(hash_checks[0])
    # The same scrypt work factor for the dummy hash as for real ones.
    assert len(set(methods)) == 1 and methods[0].startswith("scrypt:")


def test_a_refused_login_checks_no_password_at_all(app, hash_checks):
    create_user("ida", PASSWORD, ["viewer"])
    for _ in range(5):
        _try(_client(app), "ida", "wrong-password")
    hash_checks.clear()
    for name in ("ida", "ida"):
        assert _try(_client(app), name, PASSWORD).status_code == 429
    assert hash_checks == []
