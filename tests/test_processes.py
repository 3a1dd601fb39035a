"""The real processes: `doseapp run` as one tree, the web server, the embedded Redis, the SCP."""
from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from doseapp.runtime import embedded_redis
from tests.conftest import free_port, require_tool, run_cli
from tests.http_client import Browser, wait_for


def _descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _cmdlines(pids) -> list[str]:
    out = []
    for pid in pids:
        try:
            out.append(Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode())
        except OSError:
            pass
    return out


def _ctrl_c_stops_everything(proc: subprocess.Popen) -> None:
    """Ctrl-C: `doseapp run` exits 0 and nothing of its process tree is left running."""
    tree = _descendants(proc.pid)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=40) == 0
    time.sleep(0.5)
    left = [p for p in tree if _alive(p)]
    assert left == [], f"left running: {_cmdlines(left)}"


def test_run_serves_login_receives_echo_and_ctrl_c_stops_everything(tmp_path):
    echoscu = require_tool("echoscu")
    instance = tmp_path / "instance"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOSEAPP_")}
    env.update(DOSEAPP_INSTANCE=str(instance), DOSEAPP_LOG_LEVEL="INFO")  # SQLite + embedded Redis
    scp_port, web_port = free_port(), free_port()

    # A Store SCP node configured before start: the supervisor must bring it up.
    setup = subprocess.run([sys.executable, "-c", f"""
from doseapp.cli.common import app_for_command as _app
from doseapp.models import DicomStoreScp, db
app = _app()
with app.app_context():
    db.session.add(DicomStoreScp(name="Test store", aetitle="DOSEAPPTEST", port={scp_port}, bind_address="127.0.0.1"))
    db.session.commit()
"""], env=env, capture_output=True, text=True, timeout=120)
    assert setup.returncode == 0, setup.stderr

    log = open(tmp_path / "run.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "doseapp.cli", "run", "--port", str(web_port)],
                            env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        assert wait_for(f"http://127.0.0.1:{web_port}/login", timeout=60, proc=proc) == 200
        status, html, _ = Browser(f"http://127.0.0.1:{web_port}").request("/")
        assert status == 200 and "There are no users yet" in html

        deadline = time.monotonic() + 30
        while True:
            echo = subprocess.run([echoscu, "-aet", "TESTSCU", "-aec", "DOSEAPPTEST", "127.0.0.1", str(scp_port)],
                                  capture_output=True, text=True, timeout=30)
            if echo.returncode == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert echo.returncode == 0, echo.stderr

        tree = _descendants(proc.pid)
        lines = _cmdlines(tree)
        for role in ("web", "worker", "scheduler", "scp --node", "redis-server"):
            assert any(role in line for line in lines), f"no {role} process in {lines}"
        assert sum(" worker" in line for line in lines) >= 2
        _ctrl_c_stops_everything(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()

    check = subprocess.run([sys.executable, "-c", """
from doseapp.cli.common import app_for_command as _app
from doseapp.models import DicomTransaction, DicomStoreScp, db
app = _app()
with app.app_context():
    rows = db.session.query(DicomTransaction).order_by(DicomTransaction.id).all()
    print([(r.operation, r.status, r.calling_aetitle) for r in rows])
    print(db.session.query(DicomStoreScp).one().status)
"""], env=env, capture_output=True, text=True, timeout=120)
    lines = check.stdout.splitlines()
    assert "('C-ECHO', 'success', 'TESTSCU')" in lines[0], check.stdout + check.stderr
    assert lines[1] == "stopped"


def test_embedded_redis_is_shared_and_stops(tmp_path):
    from doseapp.runtime import embedded_redis
    import redis

    (tmp_path / "logs").mkdir()
    url = embedded_redis.ensure_running(tmp_path)
    try:
        conn = redis.Redis.from_url(url)
        conn.set("k", "v")
        assert embedded_redis.ensure_running(tmp_path) == url  # second process: same server
        assert redis.Redis.from_url(url).get("k") == b"v"
        assert oct(embedded_redis.socket_path(tmp_path).stat().st_mode & 0o777) == "0o700"
    finally:
        assert embedded_redis.stop(tmp_path) is True
    assert embedded_redis.stop(tmp_path) is False


@contextlib.contextmanager
def _web_server(env: dict):
    """A real `doseapp web` on a free port, and a Browser for it; stopped after."""
    port = free_port()
    web = subprocess.Popen([sys.executable, "-m", "doseapp.cli", "web", "--port", str(port)], env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(f"http://127.0.0.1:{port}/login", proc=web)
        yield Browser(f"http://127.0.0.1:{port}")
    finally:
        web.terminate()
        web.wait(timeout=20)


def test_user_created_on_command_line_logs_in_to_real_server(app, app_env):
    made = run_cli(["user", "create", "nina", "--role", "viewer", "--role", "exporter", "--password-stdin"],
                   app_env, input_text="correct-horse-1\n")
    assert made.returncode == 0, made.stderr
    assert "Created nina with role(s): exporter, viewer." in made.stdout
    again = run_cli(["user", "create", "nina", "--role", "viewer", "--password-stdin"], app_env, input_text="x" * 9 + "\n")
    assert again.returncode != 0 and "already a user called nina" in again.stderr
    short = run_cli(["user", "create", "olga", "--password-stdin"], app_env, input_text="short\n")
    assert short.returncode != 0 and "at least 8 characters" in short.stderr

    with _web_server(app_env) as browser:
        status, _, headers = browser.login("nina", "correct-horse-1")
        assert status == 302 and headers["Location"] == "/"
        status, html, _ = browser.request("/")
        assert status == 200 and "in the database" in html and "nina" in html
        assert browser.request("/config/users")[0] == 403

        assert run_cli(["user", "set-roles", "nina", "--role", "admin"], app_env).returncode == 0
        assert browser.request("/config/users")[0] == 200
        changed = run_cli(["user", "set-password", "nina", "--password-stdin"], app_env, input_text="another-pass-2\n")
        assert changed.returncode == 0
        assert Browser(browser.base).login("nina", "correct-horse-1")[0] == 401
        assert Browser(browser.base).login("nina", "another-pass-2")[0] == 302
    listed = run_cli(["user", "list", "--json"], app_env)
    assert '"username": "nina", "roles": ["admin"]' in listed.stdout


def _tree_pids(root: int, needle: str) -> list[int]:
    return [p for p in _descendants(root) if any(needle in line for line in _cmdlines([p])) and _alive(p)]


def _system_check(browser: Browser, timeout: float = 60) -> str:
    """Start a system check from the home page as the logged-in admin; its job's final status."""
    status, _, headers = browser.request("/jobs/system-check", {"csrf_token": browser.csrf("/")})
    assert status == 302, status
    deadline = time.monotonic() + timeout
    while True:
        _, html, _ = browser.request(headers["Location"])
        found = re.search(r'data-status="(\w+)"', html)
        if found and found.group(1) not in ("queued", "started") or time.monotonic() > deadline:
            return found.group(1) if found else html


def test_run_restarts_its_embedded_redis_and_a_killed_worker(tmp_path):
    instance = tmp_path / "instance"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOSEAPP_")}
    env.update(DOSEAPP_INSTANCE=str(instance), DOSEAPP_LOG_LEVEL="INFO")  # SQLite + embedded Redis
    made = run_cli(["user", "create", "boss", "--role", "admin", "--password-stdin"], env, input_text="long-enough-1\n")
    assert made.returncode == 0, made.stderr
    port = free_port()
    log = open(tmp_path / "run.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "doseapp.cli", "run", "--port", str(port)], env=env, stdout=log,
                            stderr=subprocess.STDOUT)
    try:
        assert wait_for(f"http://127.0.0.1:{port}/login", timeout=60, proc=proc) == 200
        browser = Browser(f"http://127.0.0.1:{port}")
        assert browser.login("boss", "long-enough-1")[0] == 302
        assert _system_check(browser) == "finished"

        [server] = _tree_pids(proc.pid, "redis-server")
        os.kill(server, signal.SIGKILL)
        deadline = time.monotonic() + 15
        while not ([p for p in _tree_pids(proc.pid, "redis-server") if p != server]
                   and embedded_redis._alive(embedded_redis.socket_path(instance))):  # started, then answering
            assert time.monotonic() < deadline, "the embedded Redis was not started again"
            time.sleep(0.2)
        # The web, the workers and the scheduler reconnect: a job runs again.
        assert _system_check(browser, timeout=90) == "finished"

        # A worker killed outright is started again, and what it left (RQ's scheduler process) goes.
        [importer] = _tree_pids(proc.pid, "--no-fork")
        left = _descendants(importer)
        assert left, "the import worker has no scheduler process"
        os.kill(importer, signal.SIGKILL)
        deadline = time.monotonic() + 20
        while not ([p for p in _tree_pids(proc.pid, "--no-fork") if p != importer]
                   and not [p for p in left if _alive(p)]):
            assert time.monotonic() < deadline, f"left running: {_cmdlines(p for p in left if _alive(p))}"
            time.sleep(0.2)
        _ctrl_c_stops_everything(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
    assert "redis exited with status -9; restarting" in (tmp_path / "run.log").read_text()


def test_web_answers_503_while_the_job_queue_is_down(app, app_env, tmp_path):
    from doseapp.models import Job, db
    from doseapp.users import create_user

    create_user("boss", "long-enough-1", ["admin"])
    env = dict(app_env, DOSEAPP_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    with _web_server(env) as browser:
        assert browser.login("boss", "long-enough-1")[0] == 302
        assert browser.request("/jobs/")[0] == 200  # pages that only read the database work
        status, html, headers = browser.request("/jobs/system-check", {"csrf_token": browser.csrf("/")})
        assert status == 503 and headers["Retry-After"] == "30"
        assert "The job queue is not answering" in html and "Nothing was started" in html
    db.session.rollback()
    [job] = db.session.scalars(db.select(Job)).all()
    assert (job.kind, job.status, job.message) == (
        "system_check", "failed", "Not started: the job queue (Redis) was not answering.")
