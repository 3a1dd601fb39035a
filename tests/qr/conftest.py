"""A real PACS loaded with dose objects and generated images, our Store SCP as the C-MOVE
destination, and helpers to run queries and retrieves the way the jobs do.

The PACS (Orthanc) holds, all dated QUERY_DAY unless said:
  ct_rdsr      CT RDSR (Siemens) + two CT image series (8 and 3 images)
  ct_philips   Philips CT "Dose Info" secondary capture + a CT image series (6 images)
  mg           two GE mammography images (each its own series) + a Basic Text SR that is not a dose report
  dx           Canon DX RDSR + a GE DX image
  rf           Siemens fluoroscopy RDSR + a series of 4 radiofluoroscopic images
  ct_toshiba   no dose report: a secondary capture "dose summary" series (1 image) + 5 CT axial images
  sr_only      GE CT RDSR alone (ModalitiesInStudy SR)
  old          Toshiba CT RDSR + CT images, dated OLD_DAY (outside the query's range)
  imported     a Carestream CR image whose study description says it was imported
"""
from __future__ import annotations

import datetime as dt
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid
from sqlalchemy import select

from doseapp.dicomnet.nodes import echo
from doseapp.models import DicomRemoteNode, DicomStoreScp, ProcessedObject, Study, db
from tests.conftest import TESTDATA, free_port, session_login
from tests.qr.orthanc import Orthanc

QUERY_DAY = "20260115"
OLD_DAY = "20250601"
STORE_AET = "DOSEQRSTORE"
CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"
BASIC_TEXT_SR = "1.2.840.10008.5.1.4.1.1.88.11"
RF_IMAGE = "1.2.840.10008.5.1.4.1.1.12.2"
SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"


def _restudy(ds: Dataset, study_uid: str, date: str, series_uid: str | None = None, **changes) -> Dataset:
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid or generate_uid()
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.StudyDate = date
    for key, value in changes.items():
        setattr(ds, key, value)
    return ds


def dose_object(name: str, study_uid: str, date: str, patient: Dataset | None = None, **changes) -> Dataset:
    ds = pydicom.dcmread(TESTDATA / name)
    if patient is not None:
        ds.PatientID, ds.PatientName = patient.PatientID, patient.PatientName
    return _restudy(ds, study_uid, date, **changes)


def image_series(like: Dataset, modality: str, count: int, description: str, sop_class: str = CT_IMAGE) -> list[Dataset]:
    """`count` small (8x8) images of one new series in `like`'s study and patient."""
    series_uid = generate_uid()
    out = []
    for n in range(1, count + 1):
        ds = Dataset()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.file_meta.MediaStorageSOPClassUID = sop_class
        ds.SOPClassUID = sop_class
        ds.PatientID, ds.PatientName = like.PatientID, like.PatientName
        ds.StudyInstanceUID, ds.StudyDate = like.StudyInstanceUID, like.StudyDate
        ds.StudyTime = like.get("StudyTime", "120000")
        ds.StudyDescription = like.get("StudyDescription", "")
        ds.StationName = like.get("StationName", "")
        ds.Manufacturer = like.get("Manufacturer", "")
        ds.Modality, ds.SeriesDescription, ds.SeriesNumber, ds.InstanceNumber = modality, description, 100, n
        _restudy(ds, like.StudyInstanceUID, like.StudyDate, series_uid)
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.Rows = ds.Columns = 8
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
        ds.PixelData = (np.arange(64, dtype=np.uint16) * n).tobytes()
        out.append(ds)
    return out


def text_sr(like: Dataset) -> Dataset:
    """A Basic Text SR (not a dose report) in `like`'s study."""
    ds = image_series(like, "SR", 1, "Report", BASIC_TEXT_SR)[0]
    for keyword in ("SamplesPerPixel", "PhotometricInterpretation", "Rows", "Columns", "BitsAllocated",
                    "BitsStored", "HighBit", "PixelRepresentation", "PixelData"):
        delattr(ds, keyword)
    ds.ValueType = "CONTAINER"
    return ds


def build_pacs_content() -> dict[str, list[Dataset]]:
    """The studies above, as datasets (new UIDs every time: each test module has its own PACS)."""
    def study(name, date=QUERY_DAY, **changes):
        return dose_object(name, generate_uid(), date, **changes)

    ct = study("CT-RDSR-Siemens_Flash-TAP-SS.dcm")
    philips = study("CT-SC-Philips_Brilliance16P.dcm")
    mg1 = study("MG-Im-GE_Seno_1_ForPresentation.dcm")
    mg2 = dose_object("MG-Im-GE_Seno_2_ForPresentation.dcm", mg1.StudyInstanceUID, QUERY_DAY, patient=mg1)
    dx = study("DX-RDSR-Canon_CXDI.dcm")
    dx_image = dose_object("DX-Im-GE_XR220-1.dcm", dx.StudyInstanceUID, QUERY_DAY, patient=dx)
    rf = study("RF-RDSR-Siemens-Zee.dcm")
    toshiba = Dataset()
    toshiba.PatientID, toshiba.PatientName, toshiba.StudyInstanceUID = "TOSH01", "Test^Toshiba", generate_uid()
    toshiba.StudyDate, toshiba.StudyDescription, toshiba.StationName = QUERY_DAY, "CT Head", "TOSHIBA1"
    old = study("CT-RDSR-ToshibaPixelMed.dcm", OLD_DAY)
    return {
        "ct_rdsr": [ct, *image_series(ct, "CT", 8, "Thorax 5mm"), *image_series(ct, "CT", 3, "Topogram")],
        "ct_philips": [philips, *image_series(philips, "CT", 6, "Axial 3mm")],
        "mg": [mg1, mg2, text_sr(mg1)],
        "dx": [dx, dx_image],
        "rf": [rf, *image_series(rf, "RF", 4, "Fluoro", RF_IMAGE)],
        "ct_toshiba": [*image_series(toshiba, "CT", 1, "Dose Summary", SECONDARY_CAPTURE),
                       *image_series(toshiba, "CT", 5, "Head 5mm")],
        "sr_only": [study("CT-RDSR-GEPixelMed.dcm")],
        "old": [old, *image_series(old, "CT", 4, "Abdomen")],
        "imported": [study("DX-Im-Carestream_DR7500-1.dcm", StudyDescription="Chest (IMPORTED from Site B)")],
    }


def as_bytes(ds: Dataset) -> bytes:
    from io import BytesIO

    out = BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


class Pacs:
    """Orthanc plus what was loaded into it."""

    def __init__(self, orthanc: Orthanc, content: dict[str, list[Dataset]], store_port: int):
        self.orthanc, self.content, self.store_port = orthanc, content, store_port

    def uid(self, name: str) -> str:
        return str(self.content[name][0].StudyInstanceUID)

    def sop(self, name: str, index: int = 0) -> str:
        return str(self.content[name][index].SOPInstanceUID)


@pytest.fixture(scope="module")
def pacs(tmp_path_factory):
    store_port = free_port()
    orthanc = Orthanc(tmp_path_factory.mktemp("orthanc"), {STORE_AET: store_port})
    try:
        content = build_pacs_content()
        for datasets in content.values():
            for ds in datasets:
                assert orthanc.upload(as_bytes(ds))["Status"] == "Success"
        yield Pacs(orthanc, content, store_port)
    finally:
        orthanc.stop()


MANUAL_DAY = "20260302"
ISO_DAY = "2026-03-02"
PEOPLE = {"jane": ("DJ001", "DOE^JANE"), "john": ("DJ002", "DOE^JOHN"), "anna": ("SA004", "SMITH^ANNA")}


def _patient(who: str) -> Dataset:
    ds = Dataset()
    ds.PatientID, ds.PatientName = PEOPLE[who]
    return ds


@pytest.fixture(scope="module")
def people(pacs):
    """Studies of named patients on MANUAL_DAY, for manual queries (loaded into the module's PACS):
      jane_ct   DOE^JANE (DJ001), CT RDSR + 3 CT images, accession ACC-J1
      jane_dx   DOE^JANE (DJ001), DX RDSR, accession ACC-J2
      john_rf   DOE^JOHN (DJ002), RF RDSR + 2 RF images, accession ACC-O3
      anna_ct   SMITH^ANNA (SA004), CT RDSR, accession ACC-A4
    """
    def study(name, who, accession):
        return dose_object(name, generate_uid(), MANUAL_DAY, patient=_patient(who), AccessionNumber=accession,
                           StudyTime="101500")

    jane_ct = study("CT-RDSR-Siemens_Flash-TAP-SS.dcm", "jane", "ACC-J1")
    john_rf = study("RF-RDSR-Siemens-Zee.dcm", "john", "ACC-O3")
    content = {"jane_ct": [jane_ct, *image_series(jane_ct, "CT", 3, "Chest 5mm")],
               "jane_dx": [study("DX-RDSR-Canon_CXDI.dcm", "jane", "ACC-J2")],
               "john_rf": [john_rf, *image_series(john_rf, "RF", 2, "Fluoro", RF_IMAGE)],
               "anna_ct": [study("CT-RDSR-GEPixelMed.dcm", "anna", "ACC-A4")]}
    for datasets in content.values():
        for ds in datasets:
            assert pacs.orthanc.upload(as_bytes(ds))["Status"] == "Success"
    return content


@pytest.fixture
def nodes(app, pacs):
    """The remote node (Orthanc) and our Store node (the C-MOVE destination Orthanc knows)."""
    remote = DicomRemoteNode(name="Test PACS", aetitle=pacs.orthanc.aet, ip="127.0.0.1", port=pacs.orthanc.port,
                             calling_aetitle="DOSEQR", use_modality_tag=False, enabled=True)
    store = DicomStoreScp(name="QR store", aetitle=STORE_AET, port=pacs.store_port, bind_address="127.0.0.1")
    db.session.add_all([remote, store])
    db.session.commit()
    return remote, store


@pytest.fixture
def store_scp(nodes, app_env, tmp_path):
    """Our Store SCP for the store node, as its own process (`doseapp scp --node ID`), on the test
    database and Redis; stopped at the end."""
    _, store = nodes
    log = open(tmp_path / "scp.log", "ab")
    proc = subprocess.Popen([sys.executable, "-m", "doseapp.cli", "scp", "--node", str(store.id)], env=app_env,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not _listening(store.port):
            assert proc.poll() is None, (tmp_path / "scp.log").read_text()
            assert time.monotonic() < deadline, "the Store SCP did not start"
            time.sleep(0.2)
        assert echo("127.0.0.1", store.port, store.aetitle, calling="TESTECHO")[0]
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def work(app) -> None:
    """Run every queued qr and import job in this process (an RQ burst worker, no fork)."""
    from doseapp.runtime.processes import run_worker

    run_worker(app, burst=True, queue_names=["qr", "import"], fork=False)
    db.session.rollback()


def imported_sop_uids() -> set[str]:
    db.session.rollback()
    return set(db.session.scalars(select(ProcessedObject.sop_instance_uid)))


def study_by_uid(uid: str) -> Study | None:
    db.session.rollback()
    return db.session.scalar(select(Study).where(Study.study_instance_uid == uid))


def day(text: str) -> dt.date:
    return dt.datetime.strptime(text, "%Y%m%d").date()


def log_in(client, username: str, role: str) -> None:
    """A new user holding `role`, logged in on `client` (CSRF is switched off by the `no_csrf` fixture)."""
    from doseapp.users import create_user

    user = create_user(username, "password-123", [role])
    session_login(client, user)


@pytest.fixture
def no_csrf(app):
    app.config["WTF_CSRF_ENABLED"] = False
    yield
    app.config["WTF_CSRF_ENABLED"] = True
