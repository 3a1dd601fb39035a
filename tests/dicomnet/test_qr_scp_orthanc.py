"""Orthanc as a real second client of our query/retrieve SCP: doseapp's node is one of Orthanc's
DICOM modalities, Orthanc queries it (C-FIND) and retrieves from it (C-MOVE to Orthanc itself, a
remote node of doseapp; C-GET where the installed Orthanc has a C-GET SCU) through Orthanc's REST
API, and holds afterwards exactly the objects the node kept, byte for byte."""
from __future__ import annotations

import json
import re
import subprocess
import struct
import urllib.request

import pydicom
import pytest
from sqlalchemy import select

from doseapp.models import DicomRemoteNode, DicomStoredInstance, DicomStoredSeries, DicomStoredStudy, SystemSettings, db
from tests.conftest import require_tool
from tests.dicomnet.conftest import storescu, wait_running, wait_until
from tests.qr.conftest import as_bytes, dose_object, image_series
from tests.qr.orthanc import Orthanc

NODE_AET = "DOSEQRSCP"
DAY, LATER = "20260115", "20260120"
C_GET_SCU_SINCE = (1, 12, 6)  # Orthanc's REST API has /modalities/{id}/get from this version


def orthanc_version() -> tuple[int, ...]:
    out = subprocess.run([require_tool("Orthanc"), "--version"], capture_output=True, text=True, timeout=30).stdout
    return tuple(int(n) for n in re.search(r"Orthanc (\d+)\.(\d+)\.(\d+)", out).groups())


def dataset_bytes(data: bytes) -> bytes:
    """A DICOM file's data set: what follows the preamble and the file meta group (whose length is
    the group length element, the first of the group, always explicit VR little endian)."""
    assert data[128:132] == b"DICM" and data[132:138] == b"\x02\x00\x00\x00UL"
    (group_length,) = struct.unpack("<I", data[140:144])
    return data[144 + group_length:]


def kept_studies() -> dict[str, dict[str, str]]:
    """The node's index: study UID -> {SOP instance UID: kept file path}."""
    db.session.rollback()
    rows = db.session.execute(select(DicomStoredStudy.study_instance_uid, DicomStoredInstance.sop_instance_uid,
                                     DicomStoredInstance.path)
                              .join(DicomStoredSeries, DicomStoredSeries.study_pk == DicomStoredStudy.id)
                              .join(DicomStoredInstance, DicomStoredInstance.series_pk == DicomStoredSeries.id)).all()
    out: dict[str, dict[str, str]] = {}
    for study, sop, path in rows:
        out.setdefault(study, {})[sop] = path
    return out


@pytest.fixture
def served(app, make_node, procs, tmp_path):
    """A running node holding three studies of two patients (sent by storescu, imported, kept),
    Orthanc with the node as modality `node` and itself as a remote node of doseapp."""
    settings = SystemSettings.get()
    settings.id_stored, settings.id_hashed, settings.name_stored, settings.name_hashed = True, False, True, False
    db.session.commit()
    node = make_node(NODE_AET, find_enabled=True, move_enabled=True, get_enabled=True)
    orthanc = Orthanc(tmp_path / "orthanc", {NODE_AET: node.port})
    try:
        db.session.add(DicomRemoteNode(name="Orthanc", aetitle=orthanc.aet, ip="127.0.0.1", port=orthanc.port))
        db.session.commit()
        alpha = dose_object("CT-RDSR-GEPixelMed.dcm", pydicom.uid.generate_uid(), DAY,
                            PatientID="ORTQR01", PatientName="ORTHANC^ALPHA", AccessionNumber="ACC-ORT-1")
        alpha_later = dose_object("DX-RDSR-Canon_CXDI.dcm", pydicom.uid.generate_uid(), LATER, patient=alpha)
        beta = dose_object("CT-RDSR-Siemens_Flash-TAP-SS.dcm", pydicom.uid.generate_uid(), DAY,
                           PatientID="ORTQR02", PatientName="ORTHANC^BETA")
        objects = [alpha, *image_series(alpha, "CT", 3, "Head 5mm"), alpha_later, beta]
        files = []
        for n, ds in enumerate(objects):
            files.append(tmp_path / f"send-{n}.dcm")
            files[-1].write_bytes(as_bytes(ds))
        procs.supervisor()
        wait_running(node)
        sent = storescu(node.port, NODE_AET, files)
        assert sent.returncode == 0, sent.stderr
        procs.worker_burst()
        wait_until(lambda: sum(map(len, kept_studies().values())) == len(objects), what="every object kept and indexed")
        studies = {"alpha": str(alpha.StudyInstanceUID), "alpha_later": str(alpha_later.StudyInstanceUID),
                   "beta": str(beta.StudyInstanceUID)}
        yield orthanc, studies
    finally:
        orthanc.stop()


def query(orthanc: Orthanc, keys: dict) -> tuple[str, list[dict]]:
    """Orthanc's C-FIND at study level to the node: the query's id and its answers (tag keyword -> value)."""
    made = orthanc.rest("POST", f"/modalities/{NODE_AET.lower()}/query",
                        json.dumps({"Level": "Study", "Query": keys}).encode())
    answers = [orthanc.rest("GET", f"/queries/{made['ID']}/answers/{i}/content?simplify")
               for i in orthanc.rest("GET", f"/queries/{made['ID']}/answers")]
    return made["ID"], answers


def held_by_orthanc(orthanc: Orthanc) -> dict[str, str]:
    """SOP instance UID -> Orthanc's id, of every instance Orthanc holds."""
    out = {}
    for orthanc_id in orthanc.rest("GET", "/instances"):
        tags = orthanc.rest("GET", f"/instances/{orthanc_id}/simplified-tags")
        out[tags["SOPInstanceUID"]] = orthanc_id
    return out


def orthanc_file(orthanc: Orthanc, orthanc_id: str) -> bytes:
    with urllib.request.urlopen(f"http://127.0.0.1:{orthanc.http_port}/instances/{orthanc_id}/file", timeout=30) as resp:
        return resp.read()


def assert_holds_exactly(orthanc: Orthanc, kept: dict[str, str]) -> None:
    """Orthanc holds exactly the kept objects `kept` (SOP UID -> path), each data set byte for byte."""
    held = held_by_orthanc(orthanc)
    assert sorted(held) == sorted(kept)
    for sop, path in kept.items():
        with open(path, "rb") as kept_file:
            assert dataset_bytes(orthanc_file(orthanc, held[sop])) == dataset_bytes(kept_file.read()), sop


def test_orthanc_queries_and_moves_from_the_node(served):
    orthanc, studies = served
    kept = kept_studies()

    _, by_patient = query(orthanc, {"PatientID": "ORTQR01", "StudyDate": "", "PatientName": "", "AccessionNumber": ""})
    assert sorted(a["StudyInstanceUID"] for a in by_patient) == sorted([studies["alpha"], studies["alpha_later"]])
    answer = next(a for a in by_patient if a["StudyInstanceUID"] == studies["alpha"])
    assert (answer["PatientID"], answer["PatientName"], answer["StudyDate"], answer["AccessionNumber"]) == \
        ("ORTQR01", "ORTHANC^ALPHA", DAY, "ACC-ORT-1")

    _, on_day = query(orthanc, {"StudyDate": DAY})
    assert sorted(a["StudyInstanceUID"] for a in on_day) == sorted([studies["alpha"], studies["beta"]])
    _, a_range = query(orthanc, {"StudyDate": f"{DAY}-{LATER}", "PatientID": "ORTQR0*"})
    assert len(a_range) == 3
    query_id, one = query(orthanc, {"PatientID": "ORTQR01", "StudyDate": f"{DAY}-{DAY}"})
    assert [a["StudyInstanceUID"] for a in one] == [studies["alpha"]]
    _, none = query(orthanc, {"PatientID": "ORTQR01", "StudyDate": "20250101-20251231"})
    assert none == []

    assert orthanc.rest("GET", "/instances") == []
    moved = orthanc.rest("POST", f"/queries/{query_id}/retrieve",
                         json.dumps({"TargetAet": orthanc.aet, "Synchronous": True}).encode())
    assert (moved["RemoteAet"], [q["0020,000d"] for q in moved["Query"]]) == (NODE_AET, [studies["alpha"]])
    assert len(kept[studies["alpha"]]) == 4  # the RDSR and three images
    assert_holds_exactly(orthanc, kept[studies["alpha"]])

    # A move by study UID through /modalities/{id}/move brings the other study of the patient too.
    orthanc.rest("POST", f"/modalities/{NODE_AET.lower()}/move", json.dumps(
        {"Level": "Study", "Resources": [{"StudyInstanceUID": studies["alpha_later"]}], "TargetAet": orthanc.aet,
         "Synchronous": True}).encode())
    assert_holds_exactly(orthanc, {**kept[studies["alpha"]], **kept[studies["alpha_later"]]})


def test_orthanc_gets_from_the_node(app, request):
    version = orthanc_version()
    if version < C_GET_SCU_SINCE:  # checked before the node and Orthanc are set up
        pytest.skip(f"the installed Orthanc {'.'.join(map(str, version))} has no C-GET SCU "
                    f"(/modalities/{{id}}/get is new in Orthanc {'.'.join(map(str, C_GET_SCU_SINCE))})")
    orthanc, studies = request.getfixturevalue("served")
    kept = kept_studies()
    orthanc.rest("POST", f"/modalities/{NODE_AET.lower()}/get", json.dumps(
        {"Level": "Study", "Resources": [{"StudyInstanceUID": studies["beta"]}], "Synchronous": True}).encode())
    assert_holds_exactly(orthanc, kept[studies["beta"]])
