"""doseapp as a query/retrieve SCP: C-FIND answer times at STUDY level over a big index of kept
objects, and C-MOVE of many objects to a dcmtk storescp with the node process's memory.

  fill   STUDIES studies (patients of about three studies each, over eight years; CT, DX, MG and RF
         shapes of series and instances) go straight into the index tables (dicom_stored_study /
         _series / _instance) by executemany (SQLite) or COPY (PostgreSQL); their files are not on
         disk (C-FIND reads rows only). Two more studies of 256x256 CT images (OBJECTS / 10 and
         OBJECTS objects) are written to disk and indexed, for the move. The database's index tables
         are emptied first: use a benchmark database.
  find   a real node (`doseapp scp --node ID`, the process the supervisor runs) answers a pynetdicom
         SCU over one association, Study Root, level STUDY, the keys a workstation asks for; each
         kind of query REPEAT times with different values: exact PatientID, patient name prefix
         wildcard, a week and a month of StudyDate, ModalitiesInStudy within a week, exact
         AccessionNumber. Time is from the request to the final response, every match read. The
         matches are checked against the data filled (exit 1 on a wrong count). "db p50" is the
         median time to build the same answers in this process (SQL and answer data sets, no
         network): the rest of an answer time is DICOM messaging.
  move   then C-MOVE of the small, then the big study to dcmtk storescp (a remote node of doseapp):
         objects/s, and the node's resident memory (VmRSS sampled every 20 ms, and VmHWM) before
         and during each move: streamed from disk, it should not grow with the number of objects.

The database: --database-url, else DOSEAPP_DATABASE_URL, else a temporary SQLite file. The instance
(node log, the move's files) is a temporary folder, removed at the end; Redis is --redis-url, else an
embedded redis-server of that instance.

    .venv/bin/python bench/qr_scp.py [--studies 100000] [--objects 1000] [--repeat 20]
        [--database-url postgresql://postgres@127.0.0.1:5432/qrbench] [--redis-url redis://...]
"""
from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchlib import database_url_from_env, make_sqlite_folder, slow_end, slow_end_label  # noqa: E402
from make_db import Writer  # noqa: E402
from scp_ingest import answers_echo  # noqa: E402

NODE_AET, DEST_AET, SCU_AET = "QRBENCHSCP", "QRBENCHDEST", "QRBENCHSCU"
UID_ROOT = "1.2.826.0.1.3680043.8.498.77"  # pydicom's root, then this bench's arc
FIRST_DAY, DAYS = dt.date(2018, 1, 1), 8 * 365
SYLLABLES = ["KA", "LO", "MI", "NE", "SU", "TA", "RI", "BO", "DE", "GA", "HU", "JO", "PE", "VA", "ZO", "YU",
             "FI", "CE", "WA", "XE"]
GIVEN = ["ANNA", "JOHN", "MARY", "PETER", "SARAH", "DAVID", "EMMA", "JAMES", "LUCY", "OMAR", "PRIYA", "WEI"]
SOP = {"CT": "1.2.840.10008.5.1.4.1.1.2", "SR": "1.2.840.10008.5.1.4.1.1.88.67",
       "DX": "1.2.840.10008.5.1.4.1.1.1.1", "MG": "1.2.840.10008.5.1.4.1.1.1.2", "RF": "1.2.840.10008.5.1.4.1.1.12.2"}
# Study shapes: share of studies, and (modality, instances) per series.
SHAPES = {"CT": (0.40, [("SR", 1), ("CT", 3)]), "DX": (0.40, [("SR", 1), ("DX", 2)]),
          "MG": (0.12, [("MG", 4)]), "RF": (0.08, [("SR", 1), ("RF", 2)])}
DESCRIPTIONS = {"CT": ["CT Head", "CT Chest", "CT Abdomen Pelvis"], "DX": ["XR Chest PA", "XR Knee"],
                "MG": ["Screening Mammography"], "RF": ["Barium Swallow", "Coronary Angiogram"]}
EXPLICIT_LE = "1.2.840.10008.1.2.1"
BATCH = 5000
MOVE_PATIENT = "QRBMOVE"


def surname(patient: int) -> str:
    n = len(SYLLABLES)
    return SYLLABLES[patient % n] + SYLLABLES[(patient // n) % n] + SYLLABLES[(patient // n // n) % n]


def da(day: int) -> str:
    return (FIRST_DAY + dt.timedelta(days=day)).strftime("%Y%m%d")


class Index:
    """The rows this bench writes, with what the queries need to know the right answers."""

    def __init__(self, studies: int, seed: int):
        self.n, self.rng = studies, random.Random(seed)
        self.patients = max(1, studies // 3)
        self.facts: list[tuple[str, str, str, frozenset, str]] = []  # patient ID, name, date, modalities, accession
        self.ids = {"study": 0, "series": 0, "instance": 0}
        self.now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)

    def _id(self, table: str) -> int:
        self.ids[table] += 1
        return self.ids[table]

    def _study(self, kind: str, patient: str, name: str, day: int, accession: str, description: str,
               series: list[tuple[str, int]], path_of) -> tuple[dict, list[dict], list[dict]]:
        sid = self._id("study")
        modalities = sorted({m for m, _ in series})
        study = dict(id=sid, study_instance_uid=f"{UID_ROOT}.1.{sid}", patient_id=patient, patient_name=name,
                     patient_birth_date=da(-self.rng.randrange(365 * 90)), patient_sex=self.rng.choice("FM"),
                     study_date=da(day), study_time=f"{self.rng.randrange(7, 20):02d}{self.rng.randrange(60):02d}00",
                     accession_number=accession, study_id=str(sid % 100000), study_description=description,
                     referring_physician="REFERRER^DR", modalities="\\".join(modalities),
                     series_count=len(series), instance_count=sum(k for _, k in series), updated_at=self.now)
        series_rows, instance_rows = [], []
        for number, (modality, count) in enumerate(series, 1):
            se = self._id("series")
            series_rows.append(dict(id=se, study_pk=sid, series_instance_uid=f"{UID_ROOT}.2.{se}", modality=modality,
                                    series_number=number, series_description=f"{kind} {modality} {number}",
                                    series_date=da(day), series_time=study["study_time"], instance_count=count))
            for i in range(1, count + 1):
                pk = self._id("instance")
                sop = f"{UID_ROOT}.3.{pk}"
                path, size = path_of(sop)
                instance_rows.append(dict(id=pk, series_pk=se, sop_instance_uid=sop, sop_class_uid=SOP[modality],
                                          transfer_syntax_uid=EXPLICIT_LE, instance_number=i, content_date=da(day),
                                          content_time=study["study_time"], path=path, size_bytes=size,
                                          node_aetitle=NODE_AET, received_at=self.now))
        self.facts.append((patient, name, da(day), frozenset(modalities), accession))
        return study, series_rows, instance_rows

    def batches(self):
        """Rows for the find part, BATCH studies at a time: (studies, series, instances)."""
        kinds, weights = list(SHAPES), [s for s, _ in SHAPES.values()]
        for start in range(0, self.n, BATCH):
            out = ([], [], [])
            for _ in range(start, min(self.n, start + BATCH)):
                kind = self.rng.choices(kinds, weights)[0]
                p = self.rng.randrange(self.patients)
                name = f"{surname(p)}^{GIVEN[p % len(GIVEN)]}"
                rows = self._study(kind, f"QRB{p:07d}", name, self.rng.randrange(DAYS), f"ACC{len(self.facts) + 1:08d}",
                                   self.rng.choice(DESCRIPTIONS[kind]), SHAPES[kind][1],
                                   lambda sop: (f"/nonexistent/qr-bench/{sop}.dcm", 4096))
                for part, got in zip(out, rows):
                    part.extend(got) if isinstance(got, list) else part.append(got)
            yield out

    def move_study(self, folder: Path, objects: int) -> tuple[str, list[tuple], int]:
        """A study of `objects` 256x256 CT images written under `folder` (series of up to 100), and its rows."""
        template = ct_image()
        folder.mkdir(parents=True, exist_ok=True)
        series = [("CT", min(100, objects - start)) for start in range(0, objects, 100)]
        rows = self._study("CT", MOVE_PATIENT, "MOVE^BENCH", DAYS - 1, f"MOVE{objects:07d}", "CT bench move", series,
                           lambda sop: (str(folder / f"{sop}.dcm"), None))
        study, series_rows, instance_rows = rows
        by_series = {s["id"]: s for s in series_rows}
        for inst in instance_rows:
            se = by_series[inst["series_pk"]]
            template.StudyInstanceUID, template.SeriesInstanceUID = study["study_instance_uid"], se["series_instance_uid"]
            template.SOPInstanceUID = template.file_meta.MediaStorageSOPInstanceUID = inst["sop_instance_uid"]
            template.InstanceNumber, template.SeriesNumber = inst["instance_number"], se["series_number"]
            template.StudyDate = template.SeriesDate = study["study_date"]
            template.PatientID, template.PatientName = MOVE_PATIENT, "MOVE^BENCH"
            template.save_as(inst["path"], enforce_file_format=True)
            inst["size_bytes"] = os.stat(inst["path"]).st_size
        return study["study_instance_uid"], rows, sum(i["size_bytes"] for i in instance_rows)


def ct_image():
    import numpy as np
    from pydicom.dataset import Dataset, FileMetaDataset

    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = EXPLICIT_LE
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID = SOP["CT"]
    ds.Modality, ds.StudyTime, ds.AccessionNumber = "CT", "120000", "MOVE"
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.Rows = ds.Columns = 256
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.PixelData = np.random.default_rng(7).integers(0, 4096, 256 * 256, dtype=np.uint16).tobytes()
    return ds


def fill(app, index: Index, move_folder: Path, objects: int) -> dict:
    """Empty the index tables, then write the find studies and the two move studies. Returns the move
    studies' UIDs and sizes."""
    from sqlalchemy import text

    from doseapp.models import db

    with app.app_context():
        engine = db.engine
        writer = Writer(engine, db.metadata)
        tables = ("dicom_stored_study", "dicom_stored_series", "dicom_stored_instance")
        with engine.begin() as conn:
            for table in reversed(tables):
                conn.execute(text(f"DELETE FROM {table}"))
        t = time.perf_counter()
        done = 0
        for batch in index.batches():
            with engine.begin() as conn:
                for table, rows in zip(tables, batch):
                    writer.write(conn, table, rows)
            done += len(batch[0])
            print(f"\rfilled {done}/{index.n} studies", end="", file=sys.stderr, flush=True)
        print(file=sys.stderr)
        took = time.perf_counter() - t
        moves = {}
        for label, count in (("small", max(1, objects // 10)), ("big", objects)):
            uid, rows, size = index.move_study(move_folder / label, count)
            with engine.begin() as conn:
                for table, part in zip(tables, rows):
                    writer.write(conn, table, part if isinstance(part, list) else [part])
            moves[label] = (uid, count, size)
        if engine.dialect.name == "postgresql":
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                for table in tables:  # rows went in with their ids: the sequences follow
                    conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                      f"(SELECT max(id) FROM {table}))"))
                    conn.execute(text(f"VACUUM ANALYZE {table}"))
        else:
            with engine.begin() as conn:
                conn.execute(text("ANALYZE"))
    print(f"filled the index: {index.n} studies, {index.ids['series']} series, {index.ids['instance']} instances "
          f"in {took:.1f} s; move studies of {moves['small'][1]} and {moves['big'][1]} objects on disk "
          f"({moves['big'][2] / moves['big'][1] / 1024:.0f} KiB each)", flush=True)
    return moves


def set_up_nodes(app, port: int, dest_port: int) -> int:
    """The bench's Store SCP node (every service on) and the storescp as a remote node; IDs and names
    stored in clear, as the index holds them. Returns the node's id."""
    from sqlalchemy import delete

    from doseapp.models import DicomRemoteNode, DicomStoreScp, SystemSettings, db

    with app.app_context():
        db.session.execute(delete(DicomStoreScp).where(DicomStoreScp.aetitle == NODE_AET))
        db.session.execute(delete(DicomRemoteNode).where(DicomRemoteNode.aetitle == DEST_AET))
        node = DicomStoreScp(name="QR bench", aetitle=NODE_AET, port=port, bind_address="127.0.0.1",
                             find_enabled=True, move_enabled=True, get_enabled=True, dimse_timeout=600)
        db.session.add_all([node, DicomRemoteNode(name="QR bench storescp", aetitle=DEST_AET, ip="127.0.0.1",
                                                  port=dest_port)])
        settings = SystemSettings.get()
        settings.id_stored, settings.id_hashed = True, False
        settings.name_stored, settings.name_hashed, settings.accession_hashed = True, False, False
        db.session.commit()
        return node.id


def queries(index: Index, repeat: int, seed: int) -> dict[str, list[tuple[dict, int]]]:
    """REPEAT queries of each kind: (keys, expected number of matches) from the data filled."""
    rng = random.Random(seed + 1)
    facts = index.facts[:index.n]  # not the move studies
    out: dict[str, list[tuple[dict, int]]] = {}

    def add(kind, keys, match):
        out.setdefault(kind, []).append((keys, sum(1 for f in facts if match(f))))

    for _ in range(repeat):
        pid, name, date, _, accession = rng.choice(facts)
        add("exact PatientID", {"PatientID": pid}, lambda f, p=pid: f[0] == p)
        prefix = name[:4]
        add("name wildcard", {"PatientName": f"{prefix}*"}, lambda f, p=prefix: f[1].startswith(p))
        for kind, days in (("date range, a week", 7), ("date range, a month", 30)):
            first = rng.randrange(DAYS - days)
            lo, hi = da(first), da(first + days - 1)
            add(kind, {"StudyDate": f"{lo}-{hi}"}, lambda f, a=lo, b=hi: a <= f[2] <= b)
        first, modality = rng.randrange(DAYS - 7), rng.choice(list(SHAPES))
        lo, hi = da(first), da(first + 6)
        add("ModalitiesInStudy + week", {"ModalitiesInStudy": modality, "StudyDate": f"{lo}-{hi}"},
            lambda f, a=lo, b=hi, m=modality: a <= f[2] <= b and m in f[3])
        add("exact AccessionNumber", {"AccessionNumber": accession}, lambda f, a=accession: f[4] == a)
    return out


def study_keys(**given):
    from pydicom.dataset import Dataset

    ds = Dataset()
    ds.QueryRetrieveLevel = "STUDY"
    for keyword in ("StudyInstanceUID", "PatientID", "PatientName", "PatientBirthDate", "PatientSex", "StudyDate",
                    "StudyTime", "AccessionNumber", "StudyID", "StudyDescription", "ModalitiesInStudy",
                    "NumberOfStudyRelatedSeries", "NumberOfStudyRelatedInstances"):
        setattr(ds, keyword, given.get(keyword, ""))
    return ds


def in_process(app, keys: dict) -> float:
    """ms to build every answer to `keys` in this process from the database (find_scp's statement and
    the node's answer encoder, find_encoder.AnswerEncoder, no DICOM network): the database's share of an
    answer time, with the encoding of the identifiers."""
    from pydicom.uid import ExplicitVRLittleEndian
    from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind as FIND

    from doseapp.dicomnet import find_scp
    from doseapp.dicomnet.find_encoder import AnswerEncoder
    from doseapp.models import db

    with app.app_context():
        with db.engine.connect() as connection:
            t = time.perf_counter()
            query = find_scp.parse(study_keys(**keys), "study")
            encoder = AnswerEncoder(query, NODE_AET, ExplicitVRLittleEndian, 1, FIND, 1, 16384)
            stmt = find_scp.statement(query, connection.dialect.name).execution_options(yield_per=find_scp.YIELD_PER)
            for row in connection.execute(stmt):
                encoder.pdata(encoder.identifier(row))
            return (time.perf_counter() - t) * 1000


def findscu_args(keys: dict) -> list[str]:
    """dcmtk findscu's -k options for study_keys(**keys)."""
    out = []
    for elem in study_keys(**keys):
        out += ["-k", f"{elem.keyword}={elem.value if elem.value is not None else ''}"]
    return out


def run_finds(app, port: int, plan: dict, client: str = "pynetdicom") -> bool:
    """Each query of the plan over one association (pynetdicom), or each by a dcmtk findscu run of its own
    (its start and association included); prints a row per kind; False on a wrong answer."""
    from pynetdicom import AE
    from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind as FIND

    ae = AE(ae_title=SCU_AET)
    ae.add_requested_context(FIND)
    ae.dimse_timeout = ae.network_timeout = 600
    assoc = ae.associate("127.0.0.1", port, ae_title=NODE_AET)
    if not assoc.is_established:
        raise SystemExit("the node refused the C-FIND association")
    right, worst = True, 0.0
    label = slow_end_label(min(len(v) for v in plan.values()))
    print(f"client: {client}")
    print(f"{'C-FIND, level STUDY':28} {'queries':>7} {'matches':>9} {'p50 ms':>8} {label + ' ms':>8} {'max ms':>8} "
          f"{'db p50 ms':>9}")
    try:
        for kind, items in plan.items():
            times, matches, db_times = [], 0, []
            for keys, expected in items:
                db_times.append(in_process(app, keys))
                t = time.perf_counter()
                found, final = 0, None
                if client == "findscu":
                    done = subprocess.run(["findscu", "-v", "-S", "-sr", "-aet", SCU_AET, "-aec", NODE_AET,
                                           *findscu_args(keys), "127.0.0.1", str(port)], capture_output=True, text=True)
                    out = done.stdout + done.stderr
                    found = out.count("Received Find Response ")
                    final = 0 if done.returncode == 0 and "Received Final Find Response (Success)" in out else -1
                else:
                    for status, _identifier in assoc.send_c_find(study_keys(**keys), FIND):
                        if status and status.Status in (0xFF00, 0xFF01):
                            found += 1
                        else:
                            final = status.Status if status else None
                times.append((time.perf_counter() - t) * 1000)
                matches += found
                if final != 0 or found != expected:
                    right = False
                    print(f"  WRONG: {keys} gave {found} matches (final status {final}), expected {expected}")
            times.sort()
            db_times.sort()
            worst = max(worst, slow_end(times))
            print(f"{kind:28} {len(times):7} {matches / len(times):9.1f} {times[len(times) // 2]:8.1f} "
                  f"{slow_end(times):8.1f} {times[-1]:8.1f} {db_times[len(db_times) // 2]:9.1f}", flush=True)
    finally:
        assoc.release()
    print(f"worst {label}: {worst:.1f} ms (acceptance: p95 < 500 ms)")
    return right


def vm(pid: int, field: str) -> float:
    """VmRSS / VmHWM of a process, MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} for {pid}")


def run_move(port: int, pid: int, study_uid: str, count: int, size: int, received: Path) -> bool:
    from pynetdicom import AE

    from tests.dicomnet.conftest import PeakRss  # the node's resident memory (VmRSS), sampled every 20 ms
    from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelMove as MOVE

    ae = AE(ae_title=SCU_AET)
    ae.add_requested_context(MOVE)
    ae.dimse_timeout = ae.network_timeout = 600
    before_files = len(list(received.iterdir()))
    assoc = ae.associate("127.0.0.1", port, ae_title=NODE_AET)
    if not assoc.is_established:
        raise SystemExit("the node refused the C-MOVE association")
    keys = study_keys(StudyInstanceUID=study_uid)
    final = None
    with PeakRss(pid) as rss:
        t = time.perf_counter()
        for status, _identifier in assoc.send_c_move(keys, DEST_AET, MOVE):
            if status and status.Status not in (0xFF00,):
                final = status
        took = time.perf_counter() - t
    assoc.release()
    completed = int(final.get("NumberOfCompletedSuboperations", 0)) if final else 0
    failed = int(final.get("NumberOfFailedSuboperations", 0)) if final else 0
    got = len(list(received.iterdir())) - before_files
    ok = final is not None and final.Status == 0 and completed == count and got == count
    print(f"C-MOVE of {count} objects ({size / 2**20:.1f} MiB): {took:.2f} s, {count / took:.1f} objects/s, "
          f"{size / 2**20 / took:.1f} MiB/s; node RSS {rss.before / 2**20:.1f} MiB before, peak {rss.peak / 2**20:.1f} MiB "
          f"({(rss.peak - rss.before) / 2**20:+.1f}), VmHWM {vm(pid, 'VmHWM'):.1f} MiB; final status "
          f"{final.Status if final else None:#06x}, {completed} completed, {got} files at storescp", flush=True)
    if not ok:
        print(f"  WRONG: expected {count} objects moved; {failed} failed, "
              f"{final.get('ErrorComment', '') if final else 'no final response'}")
    return ok


def store_ceiling(folder: Path, port: int) -> None:
    """pynetdicom's own C-STORE rate from this process to the same storescp, over the small move's
    files: what the node's move is made of, without the move."""
    import pydicom
    from pynetdicom import AE

    files = sorted(folder.iterdir())
    ae = AE(ae_title=SCU_AET)
    ae.add_requested_context(SOP["CT"], EXPLICIT_LE)
    assoc = ae.associate("127.0.0.1", port, ae_title=DEST_AET)
    if not assoc.is_established:
        raise SystemExit("storescp refused the association")
    t = time.perf_counter()
    failed = 0
    for path in files:
        status = assoc.send_c_store(pydicom.dcmread(path))
        failed += not status or status.Status != 0  # an empty status: no answer (timeout or abort)
    took = time.perf_counter() - t
    if assoc.is_established:
        assoc.release()
    print(f"for comparison, pynetdicom send_c_store from this process to storescp: {len(files) / took:.1f} objects/s "
          f"({len(files)} objects, {failed} failed)")


def show_logs(instance: Path, folder: Path) -> None:
    """The node's log lines that say what went wrong (the instance folder goes at the end)."""
    for path in [*sorted((instance / "logs").glob("scp-*.log")), folder / "storescp.log"]:
        if path.is_file():
            lines = [x for x in path.read_text(errors="replace").splitlines()
                     if any(w in x for w in ("ERROR", "WARNING", "Error", "E: ", "F: ", "Traceback"))]
            shown = lines if len(lines) <= 20 else [*lines[:15], "...", *lines[-5:]]
            print(f"--- {path.name}: {len(lines)} error/warning lines:", *shown, sep="\n")


def start_storescp(port: int, folder: Path) -> subprocess.Popen:
    folder.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, TCP_NODELAY="1")
    log = open(folder.parent / "storescp.log", "wb")
    return subprocess.Popen(["storescp", "-aet", DEST_AET, "-od", str(folder), str(port)], env=env,
                            stdout=log, stderr=subprocess.STDOUT)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--studies", type=int, default=100000, help="studies in the index for the finds")
    ap.add_argument("--objects", type=int, default=1000, help="objects in the big move (the small one: a tenth)")
    ap.add_argument("--repeat", type=int, default=20, help="queries of each kind")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--database-url", help="default DOSEAPP_DATABASE_URL, else a temporary SQLite file")
    ap.add_argument("--redis-url")
    ap.add_argument("--client", choices=("pynetdicom", "findscu"), default="pynetdicom",
                    help="the C-FIND client: a pynetdicom SCU over one association, or dcmtk findscu per query")
    args = ap.parse_args()
    for tool in ("storescp",):
        if not shutil.which(tool):
            sys.exit(f"{tool} (dcmtk) is needed")
    from doseapp import create_app
    from doseapp.config import load
    from doseapp.database import upgrade
    from doseapp.runtime import embedded_redis
    from tests.conftest import free_port

    logging.getLogger("pynetdicom").setLevel(logging.CRITICAL)  # the echo loop while the node starts

    make_sqlite_folder(args.database_url)
    url = args.database_url or database_url_from_env()
    folder = Path(tempfile.mkdtemp(prefix="qr-scp-bench-"))
    instance = folder / "instance"
    (instance / "logs").mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOSEAPP_")}
    env.update(DOSEAPP_INSTANCE=str(instance), DOSEAPP_LOG_LEVEL="WARNING",
               DOSEAPP_DATABASE_URL=url or f"sqlite:///{folder / 'doseapp.db'}")
    env["DOSEAPP_REDIS_URL"] = args.redis_url or embedded_redis.ensure_running(instance)
    if args.redis_url:
        env["DOSEAPP_QUEUE_PREFIX"] = f"qrscpbench{os.getpid()}-"
    procs: list[subprocess.Popen] = []
    try:
        app = create_app(load(env=env))
        upgrade(app)
        backend = "PostgreSQL" if env["DOSEAPP_DATABASE_URL"].startswith("postgres") else "SQLite"
        print(f"{backend}; {os.cpu_count()} CPUs", flush=True)
        index = Index(args.studies, args.seed)
        moves = fill(app, index, instance / "objects" / NODE_AET / "bench", args.objects)
        port, dest_port = free_port(), free_port()
        node_id = set_up_nodes(app, port, dest_port)
        received = folder / "received"
        procs.append(start_storescp(dest_port, received))
        node = subprocess.Popen([sys.executable, "-m", "doseapp.cli", "scp", "--node", str(node_id)], env=env,
                                stdout=subprocess.DEVNULL, stderr=open(folder / "node.err", "wb"))
        procs.append(node)
        answers_echo(port, 120)
        print(f"node process {node.pid}: RSS {vm(node.pid, 'VmRSS'):.1f} MiB after start", flush=True)
        ok = run_finds(app, port, queries(index, args.repeat, args.seed), args.client)
        print(f"node process after the finds: RSS {vm(node.pid, 'VmRSS'):.1f} MiB, VmHWM {vm(node.pid, 'VmHWM'):.1f} MiB")
        for label in ("small", "big"):
            uid, count, size = moves[label]
            ok &= run_move(port, node.pid, uid, count, size, received)
        if not ok:
            show_logs(instance, folder)
            sys.exit(1)
        store_ceiling(instance / "objects" / NODE_AET / "bench" / "small", dest_port)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            proc.wait(timeout=60)
        if not args.redis_url:
            embedded_redis.stop(instance)
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
