"""A small HTTP client with cookies and CSRF, for tests that drive a real running server."""
from __future__ import annotations

import http.cookiejar
import re
import time
import urllib.error
import urllib.parse
import urllib.request


class Browser:
    def __init__(self, base: str):
        self.base = base.rstrip("/")
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), _NoRedirect)

    def request(self, path: str, data: dict | None = None) -> tuple[int, str, dict]:
        body = urllib.parse.urlencode(data, doseq=True).encode() if data is not None else None
        try:
            with self.opener.open(self.base + path, data=body, timeout=10) as resp:
                return resp.status, resp.read().decode(), dict(resp.headers)
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode(), dict(err.headers)

    def csrf(self, path: str = "/login") -> str:
        _, html, _ = self.request(path)
        return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)

    def login(self, username: str, password: str) -> tuple[int, str, dict]:
        return self.request("/login", {"username": username, "password": password, "csrf_token": self.csrf()})


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def wait_for(url: str, timeout: float = 60.0, proc=None) -> int:
    """Poll until `url` answers; returns its status. Fails early if `proc` exits."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"server exited with status {proc.returncode} before answering")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                return resp.status
        except urllib.error.HTTPError as err:
            return err.code
        except OSError as err:
            last = err
        time.sleep(0.2)
    raise AssertionError(f"{url} did not answer within {timeout} s: {last}")
