"""The real processes: `doseapp run` as one tree, the web server, the embedded Redis, the SCP."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

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
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
    time.sleep(0.5)
    left = [p for p in tree if _alive(p)]
    assert left == [], f"left running: {_cmdlines(left)}"

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


def test_user_created_on_command_line_logs_in_to_real_server(app, app_env):
    made = run_cli(["user", "create", "nina", "--role", "viewer", "--role", "exporter", "--password-stdin"],
                   app_env, input_text="correct-horse-1\n")
    assert made.returncode == 0, made.stderr
    assert "Created nina with role(s): exporter, viewer." in made.stdout
    again = run_cli(["user", "create", "nina", "--role", "viewer", "--password-stdin"], app_env, input_text="x" * 9 + "\n")
    assert again.returncode != 0 and "already a user called nina" in again.stderr
    short = run_cli(["user", "create", "olga", "--password-stdin"], app_env, input_text="short\n")
    assert short.returncode != 0 and "at least 8 characters" in short.stderr

    port = free_port()
    web = subprocess.Popen([sys.executable, "-m", "doseapp.cli", "web", "--port", str(port)], env=app_env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(f"http://127.0.0.1:{port}/login", proc=web)
        browser = Browser(f"http://127.0.0.1:{port}")
        status, _, headers = browser.login("nina", "correct-horse-1")
        assert status == 302 and headers["Location"] == "/"
        status, html, _ = browser.request("/")
        assert status == 200 and "in the database" in html and "nina" in html
        assert browser.request("/config/users")[0] == 403

        assert run_cli(["user", "set-roles", "nina", "--role", "admin"], app_env).returncode == 0
        assert browser.request("/config/users")[0] == 200
        changed = run_cli(["user", "set-password", "nina", "--password-stdin"], app_env, input_text="another-pass-2\n")
        assert changed.returncode == 0
        assert Browser(f"http://127.0.0.1:{port}").login("nina", "correct-horse-1")[0] == 401
        assert Browser(f"http://127.0.0.1:{port}").login("nina", "another-pass-2")[0] == 302
    finally:
        web.terminate()
        web.wait(timeout=20)
    listed = run_cli(["user", "list", "--json"], app_env)
    assert '"username": "nina", "roles": ["admin"]' in listed.stdout
