"""Shared fixtures: a real database (SQLite, or PostgreSQL in the second pass), real Redis.

`make test` runs the suite twice: DOSEAPP_TEST_DB=sqlite (everything), then DOSEAPP_TEST_DB=postgresql
(only tests that use the database). With CI=true a missing dependency fails instead of skipping.
"""
from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
TESTDATA = SHARED / "testdata" / "openrem"
CI = os.environ.get("CI", "").lower() == "true"
TEST_DB = os.environ.get("DOSEAPP_TEST_DB", "sqlite")
DB_FIXTURES = {"db_url", "app", "client", "instance"}


def require(condition: bool, why: str) -> None:
    """Skip for a missing dependency on a developer's machine; fail under CI, where nothing may skip."""
    if not condition:
        if CI:
            pytest.fail(f"missing test dependency under CI: {why}")
        pytest.skip(why)


def require_tool(name: str) -> str:
    path = shutil.which(name)
    require(path is not None, f"{name} is not installed (make test installs it when run as root)")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pytest_collection_modifyitems(config, items):
    if TEST_DB != "postgresql":
        return
    keep = [i for i in items if DB_FIXTURES & set(getattr(i, "fixturenames", ()))]
    dropped = [i for i in items if i not in keep]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


# --- database ------------------------------------------------------------------------------------

def _postgres_base_url() -> str:
    url = os.environ.get("DOSEAPP_TEST_DATABASE_URL")
    if not url:
        if CI:
            pytest.fail("DOSEAPP_TEST_DB=postgresql needs DOSEAPP_TEST_DATABASE_URL")
        pytest.skip("DOSEAPP_TEST_DATABASE_URL is not set")
    from doseapp.config import normalise_database_url

    return normalise_database_url(url)


class FreshDatabase:
    """An empty database for one test session or test: a SQLite file, or a PostgreSQL schema."""

    def __init__(self, tmp: Path):
        self.kind = TEST_DB
        if self.kind == "postgresql":
            base = _postgres_base_url()
            self.schema = f"doseapp_t_{secrets.token_hex(4)}"
            self.admin = sa.create_engine(base)
            with self.admin.begin() as conn:
                conn.execute(sa.text(f'CREATE SCHEMA "{self.schema}"'))
            sep = "&" if "?" in base else "?"
            self.url = f"{base}{sep}options=-csearch_path%3D{self.schema}"
        else:
            self.url = f"sqlite:///{tmp / 'doseapp.db'}"

    def drop(self) -> None:
        if self.kind == "postgresql":
            with self.admin.begin() as conn:
                conn.execute(sa.text(f'DROP SCHEMA "{self.schema}" CASCADE'))
            self.admin.dispose()


@pytest.fixture
def fresh_database(tmp_path):
    fresh = FreshDatabase(tmp_path)
    yield fresh
    fresh.drop()


@pytest.fixture(scope="session")
def db_url(tmp_path_factory):
    fresh = FreshDatabase(tmp_path_factory.mktemp("db"))
    yield fresh.url
    fresh.drop()


# --- redis ---------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    """The machine's Redis when DOSEAPP_REDIS_URL is set (CI), else a real embedded redis-server."""
    url = os.environ.get("DOSEAPP_REDIS_URL")
    if url:
        yield url
        return
    from doseapp.runtime import embedded_redis

    folder = tmp_path_factory.mktemp("redis")
    (folder / "logs").mkdir()
    yield embedded_redis.ensure_running(folder)
    embedded_redis.stop(folder)


# --- app -----------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def instance(tmp_path_factory):
    return tmp_path_factory.mktemp("instance")


@pytest.fixture(scope="session")
def queue_prefix():
    # Queues of their own, so a test run never takes or leaves jobs of anything else on a shared Redis.
    return f"t{secrets.token_hex(3)}-"


@pytest.fixture(scope="session")
def app_env(db_url, redis_url, instance, queue_prefix):
    """Environment that points a doseapp process (CLI, web, worker) at the test database and Redis."""
    env = dict(os.environ)
    env.update(DOSEAPP_INSTANCE=str(instance), DOSEAPP_DATABASE_URL=db_url, DOSEAPP_REDIS_URL=redis_url,
               DOSEAPP_QUEUE_PREFIX=queue_prefix, DOSEAPP_LOG_LEVEL="WARNING")
    return env


@pytest.fixture(scope="session")
def _session_app(app_env):
    from doseapp import create_app
    from doseapp.config import load
    from doseapp.database import upgrade

    app = create_app(load(env=app_env) | {"TESTING": True})
    upgrade(app)
    return app


def _empty_all_tables(app) -> None:
    from doseapp.models import db

    with app.app_context():
        db.session.remove()
        with db.engine.begin() as conn:
            for table in reversed(db.metadata.sorted_tables):
                conn.execute(table.delete())


@pytest.fixture
def app(_session_app):
    """The real app on the session's database, emptied before each test."""
    _empty_all_tables(_session_app)
    with _session_app.app_context():
        yield _session_app
        from doseapp.models import db

        db.session.remove()


class FreshContextClient(FlaskClient):
    """Each request in an app context of its own, as in production. Without this, a request made
    while the test holds an app context reuses it, and `g` (the logged-in user) leaks between requests."""

    def open(self, *args, **kwargs):
        with self.application.app_context():
            return super().open(*args, **kwargs)


def session_login(client, user) -> None:
    """Log `user` in on a test client without the login form: the session as Flask-Login writes it,
    with the user's current session token (logging out or a new password replaces it)."""
    from doseapp.models import db

    db.session.refresh(user)
    with client.session_transaction() as sess:
        sess.clear()
        sess["_user_id"], sess["_fresh"] = user.get_id(), True


@pytest.fixture
def client(app):
    app.test_client_class = FreshContextClient
    return app.test_client()


def run_cli(args, env, input_text=None, timeout=120) -> subprocess.CompletedProcess:
    """Run the real `doseapp` command in a subprocess."""
    return subprocess.run([sys.executable, "-m", "doseapp.cli", *args], env=env, input=input_text,
                          capture_output=True, text=True, timeout=timeout)
