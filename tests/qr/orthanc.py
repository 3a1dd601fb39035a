"""A real PACS for the query-retrieve tests: Debian's Orthanc, started on loopback ports with a
configuration of its own in a temporary folder, loaded through its REST API, killed at the end."""
from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.request
from pathlib import Path

from doseapp.dicomnet.nodes import echo
from tests.conftest import free_port, require_tool

ORTHANC_AET = "ORTHANCQR"


class Orthanc:
    """One Orthanc process. `modalities` maps an AE title to a port on 127.0.0.1 (where C-MOVE may
    send); every calling AE may query and retrieve."""

    def __init__(self, folder: Path, modalities: dict[str, int]):
        self.exe = require_tool("Orthanc")
        self.folder = folder
        self.aet = ORTHANC_AET
        self.port, self.http_port = free_port(), free_port()
        folder.mkdir(parents=True, exist_ok=True)
        config = {
            "Name": "doseapp-test-pacs",
            "StorageDirectory": str(folder / "storage"),
            "IndexDirectory": str(folder / "index"),
            "DicomAet": self.aet,
            "DicomPort": self.port,
            "HttpPort": self.http_port,
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": False,
            "DicomCheckCalledAet": False,
            "DicomAlwaysAllowEcho": True,
            "DicomAlwaysAllowFind": True,
            "DicomAlwaysAllowGet": True,
            "DicomAlwaysAllowMove": True,
            "DicomAlwaysAllowStore": True,
            # Tags a dose query asks for that Orthanc does not index (SOPClassUID at image level,
            # StationName at study level) are read from the stored files, as a PACS would answer.
            "StorageAccessOnFind": "Always",
            "DicomModalities": {aet.lower(): [aet, "127.0.0.1", port] for aet, port in modalities.items()},
            "Plugins": [],
            "HttpServerEnabled": True,
            "StableAge": 1,
        }
        (folder / "orthanc.json").write_text(json.dumps(config, indent=1))
        self.log = open(folder / "orthanc.log", "wb")
        # DCMTK (inside Orthanc) leaves Nagle's algorithm on unless TCP_NODELAY is set: each of its
        # responses would then wait ~40 ms for our delayed ACK (bench/qr_query.py measures both).
        env = dict(os.environ, TCP_NODELAY=os.environ.get("ORTHANC_TCP_NODELAY", "1"))
        self.proc = subprocess.Popen([self.exe, str(folder / "orthanc.json")], stdout=self.log,
                                     stderr=subprocess.STDOUT, cwd=folder, env=env)
        self._wait_ready()

    def _wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"Orthanc exited: {(self.folder / 'orthanc.log').read_text(errors='replace')[-2000:]}")
            answered, words = echo("127.0.0.1", self.port, self.aet, calling="TESTECHO", timeout=2)
            if answered and "refused" not in words:
                return
            time.sleep(0.2)
        raise RuntimeError("Orthanc did not answer C-ECHO in time")

    def rest(self, method: str, path: str, body: bytes | None = None, content_type: str = "application/json"):
        req = urllib.request.Request(f"http://127.0.0.1:{self.http_port}{path}", data=body, method=method,
                                     headers={"Content-Type": content_type})
        with urllib.request.urlopen(req, timeout=30) as resp:
            data = resp.read()
        return json.loads(data) if data else None

    def upload(self, path_or_bytes) -> dict:
        data = path_or_bytes if isinstance(path_or_bytes, bytes) else Path(path_or_bytes).read_bytes()
        return self.rest("POST", "/instances", data, "application/dicom")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
