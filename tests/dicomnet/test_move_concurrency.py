"""C-MOVE and C-GET under load: several dcmtk movescu / getscu runs at once, each of a few hundred small
objects, while processes hog both cores. With pynetdicom's own sub-operation loop this lost C-STORE
responses to the destination association's reactor thread ("Received unexpected C-STORE service
message", then the move ended 0xB000 after a network timeout: docs/performance.md), and a move
longer than the node's network timeout lost its final response (the caller's association, receiving
nothing meanwhile, was aborted as idle); the node's own Retrieval (retrieve_scp.py) reads every
response itself and keeps the caller's association from looking idle. Every run must end Success and every object
arrive byte for byte as kept."""
from __future__ import annotations

import re
import subprocess
import sys
import threading
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid
from sqlalchemy import select

from doseapp.dicomnet import object_index
from doseapp.models import DicomRemoteNode, DicomStoredInstance, DicomTransaction, db
from tests.conftest import free_port, require_tool
from tests.dicomnet.conftest import SECONDARY_CAPTURE, wait_running, wait_until
from tests.dicomnet.test_qr_scp import data_set_bytes, set_privacy

MOVES, GETS, PER_STUDY, HOGS = 3, 1, 200, 3


def kept_studies(folder: Path, studies: int, per_study: int) -> list[list[Path]]:
    """Small secondary captures (odd sizes, so no two are alike), a study UID each group."""
    groups = []
    for s in range(studies):
        study, series = generate_uid(), generate_uid()
        paths = []
        for n in range(per_study):
            ds = Dataset()
            ds.file_meta = FileMetaDataset()
            ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
            ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = SECONDARY_CAPTURE
            ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
            ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
            ds.PatientID, ds.PatientName, ds.StudyDate = f"LOAD{s}", f"Load^{s}", "20240102"
            ds.Modality, ds.ConversionType, ds.InstanceNumber = "OT", "WSD", n + 1
            ds.ImageComments = "x" * (n % 97)
            path = folder / f"{s}-{n:04d}.dcm"
            ds.save_as(path, enforce_file_format=True)
            paths.append(path)
        groups.append(paths)
    return groups


def test_concurrent_moves_and_gets_under_cpu_load_all_succeed_byte_for_byte(app, procs, make_node, scp_env, tmp_path):
    set_privacy(id_stored=True, id_hashed=False, name_stored=True, name_hashed=False)
    # A network timeout shorter than a move under this load: the caller of a C-MOVE sends nothing while
    # its objects go out, and its association must not be taken for idle.
    node = make_node("DOSEQR", network_timeout=8, dimse_timeout=30)
    kept = tmp_path / "kept"
    kept.mkdir()
    groups = kept_studies(kept, MOVES + GETS, PER_STUDY)
    assert object_index.reindex(kept, node.aetitle)["indexed"] == (MOVES + GETS) * PER_STUDY
    study_of = [str(pydicom.dcmread(g[0], stop_before_pixels=True).StudyInstanceUID) for g in groups]

    dest_port = free_port()
    received = tmp_path / "storescp"
    received.mkdir()
    storescp = subprocess.Popen([require_tool("storescp"), "-aet", "DEST", "-od", str(received), str(dest_port)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(HOGS)]
    try:
        db.session.add(DicomRemoteNode(name="Workstation", aetitle="DEST", ip="127.0.0.1", port=dest_port))
        db.session.commit()
        procs.supervisor()
        wait_running(node)
        runs: dict[str, subprocess.CompletedProcess] = {}
        commands = {}
        for i in range(MOVES):
            commands[f"move{i}"] = [require_tool("movescu"), "-v", "-S", "-aet", f"MOVER{i}", "-aec", "DOSEQR",
                                    "-aem", "DEST", "-k", "QueryRetrieveLevel=STUDY",
                                    "-k", f"StudyInstanceUID={study_of[i]}", "127.0.0.1", str(node.port)]
        got_dirs = []
        for i in range(GETS):
            got = tmp_path / f"got{i}"
            got.mkdir()
            got_dirs.append(got)
            commands[f"get{i}"] = [require_tool("getscu"), "-v", "-S", "-aet", f"GETTER{i}", "-aec", "DOSEQR",
                                   "-od", str(got), "-k", "QueryRetrieveLevel=STUDY",
                                   "-k", f"StudyInstanceUID={study_of[MOVES + i]}", "127.0.0.1", str(node.port)]

        def run(name):
            runs[name] = subprocess.run(commands[name], capture_output=True, text=True, timeout=600)

        threads = [threading.Thread(target=run, args=(name,)) for name in commands]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

        for name, done in runs.items():
            out = done.stdout + done.stderr
            assert done.returncode == 0, f"{name}: {out[-3000:]}"
            answers = re.findall(r"Received (?:Final Move|Move|C-GET) Response \((\w+)\)", out)
            assert answers[-1:] == ["Success"] and set(answers[:-1]) <= {"Pending"}, f"{name}: {out[-3000:]}"
        db.session.rollback()
        kept_bytes = {uid: data_set_bytes(Path(path)) for uid, path in
                      db.session.execute(select(DicomStoredInstance.sop_instance_uid, DicomStoredInstance.path))}
        moved = wait_until(lambda: [p for p in received.iterdir() if p.is_file()]
                           if len(list(received.iterdir())) == MOVES * PER_STUDY else None,
                           timeout=60, what="every moved file at storescp")
        for folder, files, studies in ((received, moved, study_of[:MOVES]),
                                       *((d, list(d.iterdir()), [study_of[MOVES + i]]) for i, d in enumerate(got_dirs))):
            uids = {}
            for path in files:
                ds = pydicom.dcmread(path, stop_before_pixels=True)
                assert str(ds.StudyInstanceUID) in studies
                uids[str(ds.SOPInstanceUID)] = path
            assert len(uids) == len(files) == len(studies) * PER_STUDY, folder
            for uid, path in uids.items():
                assert data_set_bytes(path) == kept_bytes[uid], uid
        rows = db.session.scalars(select(DicomTransaction).where(DicomTransaction.operation.in_(("C-MOVE", "C-GET")))).all()
        assert sorted((r.operation, r.status, r.message) for r in rows) == sorted(
            [("C-MOVE", "success", f"{PER_STUDY} sent, 0 failed, 0 warning, of {PER_STUDY} to DEST")] * MOVES
            + [("C-GET", "success", f"{PER_STUDY} sent, 0 failed, 0 warning, of {PER_STUDY}")] * GETS)
        node_log = (Path(scp_env["DOSEAPP_INSTANCE"]) / "logs" / "scp-DOSEQR.log")
        assert "unexpected" not in (node_log.read_text() if node_log.exists() else "").lower()
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
        storescp.terminate()
        storescp.wait(timeout=30)


def test_pending_responses_carry_the_counts(app, procs, make_node, tmp_path):
    """movescu sees pending responses with the remaining / completed counts as the move goes, and a final
    Success with all completed."""
    set_privacy(id_stored=True, id_hashed=False, name_stored=True, name_hashed=False)
    node = make_node("DOSEQR")
    kept = tmp_path / "kept"
    kept.mkdir()
    [paths] = kept_studies(kept, 1, 25)
    object_index.reindex(kept, node.aetitle)
    study = str(pydicom.dcmread(paths[0], stop_before_pixels=True).StudyInstanceUID)
    dest_port = free_port()
    received = tmp_path / "storescp"
    received.mkdir()
    storescp = subprocess.Popen([require_tool("storescp"), "-aet", "DEST", "-od", str(received), str(dest_port)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        db.session.add(DicomRemoteNode(name="Workstation", aetitle="DEST", ip="127.0.0.1", port=dest_port))
        db.session.commit()
        procs.supervisor()
        wait_running(node)
        done = subprocess.run([require_tool("movescu"), "-d", "-S", "-aec", "DOSEQR", "-aem", "DEST",
                               "-k", "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={study}",
                               "127.0.0.1", str(node.port)], capture_output=True, text=True, timeout=120)
        out = done.stdout + done.stderr
        assert done.returncode == 0, out[-3000:]
        remaining = [int(n) for n in re.findall(r"Remaining Suboperations\s*:\s*(\d+)", out)]
        completed = [int(n) for n in re.findall(r"Completed Suboperations\s*:\s*(\d+)", out)]
        assert remaining == [15, 5], out[-3000:]  # a pending response every 10 objects
        assert completed == [10, 20, 25], out[-3000:]  # ... and the final one
        assert re.findall(r"DIMSE Status\s*:\s*(0x\w+)", out) == ["0xff00", "0xff00", "0x0000"], out[-3000:]
    finally:
        storescp.terminate()
        storescp.wait(timeout=30)
