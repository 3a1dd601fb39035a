"""A Store SCP node answers C-FIND, C-MOVE and C-GET, with dcmtk as the peers: objects stored with
storescu (copies rewritten into several patients, studies and series), imported by a worker (which
keeps and indexes them), then findscu at each model and level, movescu to a dcmtk storescp registered as
a remote node, getscu into a folder. Expected sets are computed from what the test stored."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid
from pynetdicom.dsutils import split_dataset
from sqlalchemy import select

from doseapp.models import DicomRemoteNode, DicomStoredInstance, DicomTransaction, SystemSettings, db
from tests.conftest import free_port, require_tool
from tests.dicomnet.conftest import RDSR, SECONDARY_CAPTURE, count, storescu, wait_running, wait_until

# (patient ID, name, study date, accession, [(modality, instances)]); "SR" series are dose reports.
PLAN = [
    ("P1", "Doe^John", "20240105", "ACC1", [("CT", 2), ("SR", 1)]),
    ("P1", "Doe^John", "20240610", "ACC2", [("CT", 1)]),
    ("P2", "DOE^JANE", "20231231", "ACC3", [("MG", 2), ("SR", 1)]),
    ("P3", "Smith^Ann", "20240301", "XACC4", [("DX", 1)]),
]


def _object(modality: str) -> Dataset:
    if modality == "SR":
        return pydicom.dcmread(RDSR)
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = SECONDARY_CAPTURE
    ds.Modality, ds.ConversionType = modality, "WSD"
    return ds


def make_objects(folder: Path) -> list[dict]:
    """Files for PLAN; a dict per object of what the queries must find."""
    folder.mkdir(parents=True, exist_ok=True)
    made = []
    for pid, name, date, accession, series in PLAN:
        study = generate_uid()
        for number, (modality, instances) in enumerate(series, 1):
            series_uid = generate_uid()
            for n in range(1, instances + 1):
                ds = _object(modality)
                ds.PatientID, ds.PatientName, ds.StudyDate, ds.StudyTime = pid, name, date, "101500"
                ds.AccessionNumber, ds.StudyInstanceUID, ds.SeriesInstanceUID = accession, study, series_uid
                ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
                ds.SeriesNumber, ds.InstanceNumber = number, n
                path = folder / f"{len(made):03d}.dcm"
                ds.save_as(path, enforce_file_format=True)
                made.append({"pid": pid, "name": name, "date": date, "acc": accession, "study": study,
                             "series": series_uid, "modality": modality, "sop": str(ds.SOPInstanceUID), "path": path})
    return made


def store_and_index(procs, node, folder: Path) -> list[dict]:
    made = make_objects(folder)
    sent = storescu(node.port, node.aetitle, [m["path"] for m in made])
    assert sent.returncode == 0, sent.stdout + sent.stderr
    procs.worker_burst()
    wait_until(lambda: count(DicomStoredInstance) == len(made), timeout=60, what="every object indexed")
    return made


def set_privacy(**values) -> None:
    settings = SystemSettings.get()
    for key, value in values.items():
        setattr(settings, key, value)
    db.session.commit()


def findscu(node, model: str, keys: list[str], out: Path, calling: str = "QRSCU"):
    """dcmtk findscu; its answers (written with --extract) read back."""
    out.mkdir(parents=True)
    args = [require_tool("findscu"), "-v", model, "-aet", calling, "-aec", node.aetitle, "-X", "-od", str(out)]
    for key in keys:
        args += ["-k", key]
    done = subprocess.run([*args, "127.0.0.1", str(node.port)], capture_output=True, text=True, timeout=60)
    return done, [pydicom.dcmread(p) for p in sorted(out.glob("rsp*.dcm"))]


def data_set_bytes(path: Path) -> bytes:
    _meta, offset = split_dataset(path)
    return path.read_bytes()[offset:]


@pytest.fixture
def qr_node(make_node):
    def _make(**settings):
        set_privacy(id_stored=True, id_hashed=False, name_stored=True, name_hashed=False)
        return make_node("DOSEQR", **settings)
    return _make


def test_findscu_at_each_model_and_level_returns_exactly_the_matches(app, procs, qr_node, tmp_path):
    node = qr_node()
    procs.supervisor()
    wait_running(node)
    made = store_and_index(procs, node, tmp_path / "sent")
    studies = {m["study"]: m for m in made}
    pick = lambda pred: {uid for uid, m in studies.items() if pred(m)}  # noqa: E731
    calls = iter(range(100))

    def find(model, level, keys, unique, *, ok=True):
        done, found = findscu(node, model, [f"QueryRetrieveLevel={level}", *keys], tmp_path / f"q{next(calls)}")
        if ok:
            assert done.returncode == 0 and "Success" in done.stderr + done.stdout, done.stderr
            assert {a.QueryRetrieveLevel for a in found} <= {level}
            assert all(a.RetrieveAETitle == "DOSEQR" and a.SpecificCharacterSet == "ISO_IR 192" for a in found)
        return done, {str(a.get(unique)) for a in found}, found

    # Study Root, STUDY level: PN wildcard (case-insensitive), date range, UID list, ModalitiesInStudy.
    assert find("-S", "STUDY", ["PatientName=doe*", "StudyInstanceUID"], "StudyInstanceUID")[1] == \
        pick(lambda m: m["pid"] in ("P1", "P2"))
    assert find("-S", "STUDY", ["StudyDate=20240101-20240331", "StudyInstanceUID"], "StudyInstanceUID")[1] == \
        pick(lambda m: "20240101" <= m["date"] <= "20240331")
    assert find("-S", "STUDY", ["StudyDate=-20240105"], "StudyInstanceUID")[1] == pick(lambda m: m["date"] <= "20240105")
    two = sorted(studies)[:2]
    assert find("-S", "STUDY", [f"StudyInstanceUID={two[0]}\\{two[1]}"], "StudyInstanceUID")[1] == set(two)
    assert find("-S", "STUDY", ["ModalitiesInStudy=MG", "AccessionNumber=ACC?"], "StudyInstanceUID")[1] == \
        pick(lambda m: m["pid"] == "P2")
    _, _, [p3] = find("-S", "STUDY", ["AccessionNumber=X*", "ModalitiesInStudy", "NumberOfStudyRelatedInstances",
                                      "PatientID", "PatientName"], "StudyInstanceUID")
    assert (p3.ModalitiesInStudy, p3.NumberOfStudyRelatedInstances, p3.PatientID, str(p3.PatientName)) == \
        ("DX", 1, "P3", "Smith^Ann")
    # Patient Root: PATIENT level, then STUDY / SERIES / IMAGE under the unique keys above.
    assert find("-P", "PATIENT", ["PatientID", "PatientName"], "PatientID")[1] == {"P1", "P2", "P3"}
    assert find("-P", "STUDY", ["PatientID=P1", "StudyInstanceUID"], "StudyInstanceUID")[1] == \
        pick(lambda m: m["pid"] == "P1")
    first = next(m for m in made if m["acc"] == "ACC1")
    assert find("-P", "SERIES", ["PatientID=P1", f"StudyInstanceUID={first['study']}", "Modality=CT"],
                "SeriesInstanceUID")[1] == {m["series"] for m in made if m["acc"] == "ACC1" and m["modality"] == "CT"}
    assert find("-P", "IMAGE", ["PatientID=P1", f"StudyInstanceUID={first['study']}",
                                f"SeriesInstanceUID={first['series']}"], "SOPInstanceUID")[1] == \
        {m["sop"] for m in made if m["series"] == first["series"]}
    # Study Root SERIES and IMAGE levels.
    p2 = next(m for m in made if m["pid"] == "P2")
    assert find("-S", "SERIES", [f"StudyInstanceUID={p2['study']}", "Modality"], "SeriesInstanceUID")[1] == \
        {m["series"] for m in made if m["study"] == p2["study"]}
    assert find("-S", "IMAGE", [f"StudyInstanceUID={p2['study']}", f"SeriesInstanceUID={p2['series']}",
                                "InstanceNumber=2"], "SOPInstanceUID")[1] == \
        {m["sop"] for m in made if m["series"] == p2["series"]} - {p2["sop"]}
    # Patient/Study Only (retired, still asked by findscu -O).
    assert find("-O", "PATIENT", ["PatientName=smith*", "PatientID"], "PatientID")[1] == {"P3"}
    assert find("-O", "STUDY", ["PatientID=P2", "StudyInstanceUID"], "StudyInstanceUID")[1] == {p2["study"]}
    # Hierarchy broken: the unique key above is missing; a level outside the model.
    for model, keys in (("-P", ["QueryRetrieveLevel=STUDY"]), ("-O", ["QueryRetrieveLevel=SERIES", "PatientID=P1"]),
                        ("-S", ["QueryRetrieveLevel=SERIES", "Modality=CT"])):
        done, found = findscu(node, model, keys, tmp_path / f"bad{next(calls)}")
        assert found == [] and "datasetdoesnotmatchsopclass" in (done.stderr + done.stdout).lower(), done.stderr
    db.session.rollback()
    rows = db.session.scalars(select(DicomTransaction).where(DicomTransaction.operation == "C-FIND")
                              .order_by(DicomTransaction.id)).all()
    assert rows[0].message == f"{len(pick(lambda m: m['pid'] in ('P1', 'P2')))} matches (STUDY level, Study Root)"
    assert [r.status for r in rows].count("0xA900") == 3 and rows[-1].error == "SERIES level needs a single StudyInstanceUID"
    assert all(r.direction == "in" and r.calling_aetitle == "QRSCU" and r.duration_ms is not None for r in rows)


def test_move_and_get_send_the_kept_files_as_kept(app, procs, qr_node, tmp_path):
    node = qr_node()
    dest_port = free_port()
    received = tmp_path / "storescp"
    received.mkdir()
    storescp = subprocess.Popen([require_tool("storescp"), "-aet", "DEST", "-od", str(received), str(dest_port)],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        db.session.add(DicomRemoteNode(name="Workstation", aetitle="DEST", ip="127.0.0.1", port=dest_port))
        db.session.commit()
        procs.supervisor()
        wait_running(node)
        made = store_and_index(procs, node, tmp_path / "sent")
        kept = dict(db.session.execute(select(DicomStoredInstance.sop_instance_uid, DicomStoredInstance.path)).all())
        p1 = [m for m in made if m["pid"] == "P1"]
        # C-MOVE, patient level: both P1 studies (3 + 1 objects) to the storescp.
        moved = subprocess.run([require_tool("movescu"), "-v", "-P", "-aet", "QRSCU", "-aec", "DOSEQR", "-aem", "DEST",
                                "-k", "QueryRetrieveLevel=PATIENT", "-k", "PatientID=P1", "127.0.0.1", str(node.port)],
                               capture_output=True, text=True, timeout=120)
        assert moved.returncode == 0, moved.stderr
        files = wait_until(lambda: [p for p in received.iterdir() if p.is_file()]
                           if len(list(received.iterdir())) == len(p1) else None, timeout=30, what="moved files")
        by_uid = {str(pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID): p for p in files}
        assert set(by_uid) == {m["sop"] for m in p1}
        for uid, path in by_uid.items():
            assert data_set_bytes(path) == data_set_bytes(Path(kept[uid])), uid
        # C-GET, series level, Study Root, into getscu's folder.
        p2 = next(m for m in made if m["pid"] == "P2" and m["modality"] == "MG")
        got_dir = tmp_path / "got"
        got_dir.mkdir()
        got = subprocess.run([require_tool("getscu"), "-v", "-S", "-aet", "QRSCU", "-aec", "DOSEQR", "-od", str(got_dir),
                              "-k", "QueryRetrieveLevel=SERIES", "-k", f"StudyInstanceUID={p2['study']}",
                              "-k", f"SeriesInstanceUID={p2['series']}", "127.0.0.1", str(node.port)],
                             capture_output=True, text=True, timeout=120)
        assert got.returncode == 0, got.stderr
        got_files = {str(pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID): p for p in got_dir.iterdir()}
        assert set(got_files) == {m["sop"] for m in made if m["series"] == p2["series"]}
        for uid, path in got_files.items():
            assert data_set_bytes(path) == data_set_bytes(Path(kept[uid])), uid
        # An unknown destination: 0xA801 (dcmtk names it), nothing sent.
        unknown = subprocess.run([require_tool("movescu"), "-v", "-S", "-aet", "QRSCU", "-aec", "DOSEQR", "-aem", "NOWHERE",
                                  "-k", "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={p2['study']}",
                                  "127.0.0.1", str(node.port)], capture_output=True, text=True, timeout=60)
        assert "refused: movedestinationunknown" in (unknown.stdout + unknown.stderr).lower(), unknown.stderr  # 0xA801
        db.session.rollback()
        log = {(r.operation, r.status): r for r in db.session.scalars(
            select(DicomTransaction).where(DicomTransaction.operation.in_(("C-MOVE", "C-GET"))))}
        assert log[("C-MOVE", "success")].message == f"{len(p1)} sent, 0 failed, 0 warning, of {len(p1)} to DEST"
        assert log[("C-MOVE", "success")].remote_node_id is not None
        assert log[("C-GET", "success")].message == "2 sent, 0 failed, 0 warning, of 2"
        assert "NOWHERE" in log[("C-MOVE", "0xA801")].error
    finally:
        storescp.terminate()
        storescp.wait(timeout=30)


def test_a_disabled_service_is_refused_at_association(app, procs, qr_node, tmp_path):
    from doseapp.models import DicomStoreScp

    node = qr_node(find_enabled=False, get_enabled=False)
    procs.supervisor()
    first_pid = wait_running(node)
    done, found = findscu(node, "-S", ["QueryRetrieveLevel=STUDY"], tmp_path / "q")
    assert done.returncode != 0 and found == []
    assert "no acceptable presentation contexts" in (done.stderr + done.stdout).lower(), done.stderr
    got = subprocess.run([require_tool("getscu"), "-S", "-aec", "DOSEQR", "-od", str(tmp_path), "-k",
                          "QueryRetrieveLevel=STUDY", "-k", "StudyInstanceUID=1.2.3", "127.0.0.1", str(node.port)],
                         capture_output=True, text=True, timeout=60)
    assert got.returncode != 0
    # C-MOVE is still on: it is answered (here: the destination is no remote node).
    moved = subprocess.run([require_tool("movescu"), "-v", "-S", "-aec", "DOSEQR", "-aem", "ELSEWHERE", "-k",
                            "QueryRetrieveLevel=STUDY", "-k", "StudyInstanceUID=1.2.3", "127.0.0.1", str(node.port)],
                           capture_output=True, text=True, timeout=60)
    assert "refused: movedestinationunknown" in (moved.stdout + moved.stderr).lower(), moved.stderr
    # Switched on: the supervisor restarts the node, which then offers C-FIND.
    db.session.get(DicomStoreScp, node.id).find_enabled = True
    db.session.commit()
    wait_until(lambda: db.session.get(DicomStoreScp, node.id).pid not in (None, first_pid), timeout=30,
               what="the node restarted")
    wait_running(node)
    done, found = findscu(node, "-S", ["QueryRetrieveLevel=STUDY"], tmp_path / "q2")
    assert done.returncode == 0 and found == [] and "Success" in done.stderr, done.stderr


def test_hashed_ids_are_never_answered_in_clear(app, procs, make_node, scp_env, tmp_path):
    set_privacy(id_stored=True, id_hashed=True, name_stored=False)
    node = make_node("DOSEQR")
    procs.supervisor()
    wait_running(node)
    made = store_and_index(procs, node, tmp_path / "sent")
    from doseapp.security.privacy import hash_key, keyed_hash

    hashed = {keyed_hash(pid, hash_key(Path(scp_env["DOSEAPP_INSTANCE"]))) for pid in {m["pid"] for m in made}}
    done, everyone = findscu(node, "-P", ["QueryRetrieveLevel=PATIENT", "PatientID", "PatientName"], tmp_path / "all")
    assert done.returncode == 0 and {a.PatientID for a in everyone} == hashed
    for answer_file in (tmp_path / "all").iterdir():
        assert not any(pid.encode() in answer_file.read_bytes() for pid in ("P1", "P2", "P3"))
    for keys in (["PatientID=P1"], ["PatientID=P*"]):
        done, found = findscu(node, "-P", ["QueryRetrieveLevel=PATIENT", *keys], tmp_path / f"q{keys[0][-2:]}")
        assert done.returncode == 0 and found == [], keys
    done, studies = findscu(node, "-S", ["QueryRetrieveLevel=STUDY", "PatientID", "StudyInstanceUID"], tmp_path / "st")
    assert len(studies) == len(PLAN) and {s.PatientID for s in studies} <= hashed


def test_cli_switches_and_reindex(app, scp_env, tmp_path):
    from doseapp.models import AuditEntry, DicomStoreScp
    from tests.conftest import run_cli

    made = run_cli(["node", "add-store", "QR off", "--aet", "QROFF", "--port", str(free_port()), "--no-find", "--no-get"],
                   scp_env)
    assert made.returncode == 0 and "query/retrieve: C-MOVE." in made.stdout, made.stderr
    made = run_cli(["node", "add-store", "QR on", "--aet", "QRON", "--port", str(free_port())], scp_env)
    assert made.returncode == 0 and "query/retrieve: C-FIND, C-MOVE, C-GET." in made.stdout, made.stderr
    db.session.rollback()
    rows = {n.aetitle: n for n in db.session.scalars(select(DicomStoreScp))}
    assert (rows["QROFF"].find_enabled, rows["QROFF"].move_enabled, rows["QROFF"].get_enabled) == (False, True, False)
    assert (rows["QRON"].find_enabled, rows["QRON"].move_enabled, rows["QRON"].get_enabled) == (True, True, True)
    audit = db.session.scalar(select(AuditEntry).where(AuditEntry.target == "QR off"))
    assert audit.action == "dicom.node_add" and audit.details["find_enabled"] == [None, False], audit.details
    # Reindex: files put in a node's objects folder (as kept before the index existed) come in.
    set_privacy(id_stored=True, id_hashed=False)
    folder = Path(scp_env["DOSEAPP_INSTANCE"]) / "objects" / "QRON"
    made_objects = make_objects(folder / "2024")
    (folder / "notes.txt").write_text("not DICOM")
    done = run_cli(["objects", "reindex", "--node", "QRON"], scp_env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"QRON: {len(made_objects)} indexed, 1 skipped (not DICOM or no UIDs), 0 gone from the index"
    assert set(db.session.scalars(select(DicomStoredInstance.sop_instance_uid))) == {m["sop"] for m in made_objects}
    made_objects[0]["path"].unlink()
    done = run_cli(["objects", "reindex"], scp_env)
    assert "QRON: 7 indexed, 1 skipped (not DICOM or no UIDs), 1 gone from the index" in done.stdout, done.stdout
    assert "QROFF: no objects folder" in done.stdout
    assert run_cli(["objects", "reindex", "--node", "NOPE"], scp_env).returncode != 0
