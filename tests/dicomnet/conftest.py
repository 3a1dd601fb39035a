"""Real peers for the Store SCP tests: the `doseapp scp` supervisor and `doseapp worker` as
subprocesses on the test database, dcmtk's echoscu/storescu as senders, and helpers to wait on
what they record."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import psutil
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid
from sqlalchemy import func, select

from doseapp.models import DicomStoreScp, DicomTransaction, ProcessedObject, Study, db
from tests.conftest import TESTDATA, free_port, require_tool

RDSR = TESTDATA / "CT-RDSR-GEPixelMed.dcm"
SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"


def wait_until(check, timeout: float = 60, interval: float = 0.2, what: str = "condition"):
    """Poll `check` (in a fresh database transaction each time) until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        db.session.rollback()
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what} (last: {value!r})")
        time.sleep(interval)


def count(model, *where) -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def stores(status: str = "success", node_id: int | None = None) -> int:
    where = [DicomTransaction.operation == "C-STORE", DicomTransaction.status == status]
    if node_id is not None:
        where.append(DicomTransaction.scp_id == node_id)
    return count(DicomTransaction, *where)


def imported_sop_uids() -> list[str]:
    db.session.rollback()
    return list(db.session.scalars(select(ProcessedObject.sop_instance_uid)))


def study_uids() -> list[str]:
    db.session.rollback()
    return list(db.session.scalars(select(Study.study_instance_uid)))


def rdsr_copies(folder: Path, n: int, source: Path = RDSR) -> list[Path]:
    """`n` copies of a dose report, each a different study (fresh study, series and SOP UIDs)."""
    folder.mkdir(parents=True, exist_ok=True)
    base = pydicom.dcmread(source)
    out = []
    for i in range(n):
        ds = base.copy()
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID = generate_uid(), generate_uid(), generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        path = folder / f"{i:04d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        out.append(path)
    return out


def big_object(path: Path, megabytes: int) -> Path:
    """A secondary capture of `megabytes` MB of pixel data (16-bit, 2048 x 2048 frames of 8 MB)."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID = SECONDARY_CAPTURE
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.PatientID, ds.Modality = "BIG1", "OT"
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.Rows = ds.Columns = 2048
    ds.NumberOfFrames = megabytes // 8
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.PixelData = np.random.default_rng(1).integers(0, 4096, ds.Rows * ds.Columns * ds.NumberOfFrames,
                                                     dtype=np.uint16).tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


class PeakRss:
    """The highest resident memory of a process while the block runs (sampled every 20 ms)."""

    def __init__(self, pid: int):
        self.process, self.peak, self._stop = psutil.Process(pid), 0, threading.Event()

    def _sample(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(0.02)

    def __enter__(self):
        self.before = self.process.memory_info().rss
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def sop_uid(path: Path) -> str:
    return str(pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["SOPInstanceUID"]).SOPInstanceUID)


@pytest.fixture
def scp_env(app_env, tmp_path):
    """Environment for doseapp processes of one test: the test database and Redis, an instance
    folder of the test's own (spool, objects, logs)."""
    env = dict(app_env)
    env["DOSEAPP_INSTANCE"] = str(tmp_path / "instance")
    return env


@pytest.fixture
def make_node(app):
    def _make(aetitle: str = "DOSESTORE", **settings) -> DicomStoreScp:
        node = DicomStoreScp(name=settings.pop("name", f"{aetitle} node"), aetitle=aetitle,
                             port=settings.pop("port", None) or free_port(), bind_address="127.0.0.1", **settings)
        db.session.add(node)
        db.session.commit()
        return node
    return _make


class Processes:
    """doseapp subprocesses a test starts; all stopped at the end."""

    def __init__(self, env: dict, tmp: Path):
        self.env, self.tmp, self.procs = env, tmp, []

    def start(self, *args: str, name: str) -> subprocess.Popen:
        log = open(self.tmp / f"{name}.log", "ab")
        proc = subprocess.Popen([sys.executable, "-m", "doseapp.cli", *args], env=self.env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        self.procs.append(proc)
        return proc

    def supervisor(self, echo_interval: float = 2) -> subprocess.Popen:
        return self.start("scp", "--echo-interval", str(echo_interval), name="scp")

    def worker_burst(self, timeout: float = 300) -> None:
        done = subprocess.run([sys.executable, "-m", "doseapp.cli", "worker", "--burst"], env=self.env,
                              capture_output=True, text=True, timeout=timeout)
        assert done.returncode == 0, done.stdout + done.stderr

    def log(self, name: str) -> str:
        path = self.tmp / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


@pytest.fixture
def procs(scp_env, tmp_path):
    p = Processes(scp_env, tmp_path)
    yield p
    p.stop_all()


def wait_running(node: DicomStoreScp, timeout: float = 60) -> int:
    """Wait until the supervisor reports the node running and its keep-alive echo succeeded; its pid."""
    def ready():
        row = db.session.get(DicomStoreScp, node.id)
        return row.pid if row.status == "running" and row.echo_status == "alive" else None
    return wait_until(ready, timeout, what=f"node {node.aetitle} running and alive")


def storescu(port: int, called: str, files, calling: str = "TESTSCU", timeout: float = 300,
             extra: tuple = ()) -> subprocess.CompletedProcess:
    """dcmtk storescu over one association; TCP_NODELAY=1, or dcmtk measures Nagle's algorithm."""
    exe = require_tool("storescu")
    env = dict(os.environ, TCP_NODELAY="1")
    return subprocess.run([exe, "-nh", "-R", *extra, "-aet", calling, "-aec", called, "127.0.0.1", str(port),
                           *map(str, files)], env=env, capture_output=True, text=True, timeout=timeout)


def echoscu(port: int, called: str, calling: str = "TESTSCU") -> subprocess.CompletedProcess:
    exe = require_tool("echoscu")
    return subprocess.run([exe, "-aet", calling, "-aec", called, "127.0.0.1", str(port)],
                          capture_output=True, text=True, timeout=60)
