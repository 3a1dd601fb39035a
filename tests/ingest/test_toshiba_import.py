"""Toshiba CT dose screen + images through `doseapp import` (the real command): one CT study whose
events are the screen's values and whose exposure values are the image headers'; a screen PixelMed
cannot read is quarantined with PixelMed's message and nothing is stored; an RDSR of the same study wins.

The dose screens are SYNTHETIC (drawn from PixelMed's glyph set, tests/extract/toshiba_screen.py).
"""
from __future__ import annotations

import json

import numpy as np
import pydicom
import pytest
from sqlalchemy import select

from doseapp.config import pixelmed_jar
from doseapp.ingest.toshiba import build_settled
from doseapp.models import CtEvent, QuarantinedObject, Study, db
from doseapp.exports.run import run_export
from doseapp.users import create_user
from tests.conftest import TESTDATA, FreshContextClient, run_cli, session_login
from tests.exports.helpers import as_dicts, read_csv
from tests.web.studydata import PASSWORD, USERS
from tests.extract.toshiba_screen import example_study, write_study
from tests.ingest.conftest import study_count

JAR = pixelmed_jar({})


@pytest.fixture(autouse=True)
def _no_held_objects(app):
    """The instance folder lives for the session: no held study of another test."""
    import shutil

    shutil.rmtree(app.config["INSTANCE"] / "toshiba_held", ignore_errors=True)


def _study(uid: str) -> Study:
    db.session.rollback()
    return db.session.scalar(select(Study).where(Study.study_instance_uid == uid))


def test_folder_import_makes_one_ct_study_from_screen_and_headers(app, app_env, tmp_path):
    study = example_study()
    files = write_study(study, tmp_path / "in", JAR)
    done = run_cli(["import", "--json", str(tmp_path / "in")], app_env)
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [x["status"] for x in lines] == ["held"] * 3 + ["imported"]
    assert all(p.exists() for p in files)  # a user's files are theirs: only copies were held
    row = _study(study.study_uid)
    assert (row.modality, row.source_kind) == ("CT", "toshiba")
    assert row.total_dlp_mgycm == pytest.approx(767.1)
    events = sorted(row.ct_events, key=lambda e: e.id)
    assert [(e.ctdivol_mgy, e.dlp_mgycm) for e in events] == [(45.6, 456.7), (8.2, 310.4)]
    assert [(e.sources[0].kvp, e.sources[0].tube_current_ma, e.sources[0].exposure_time_per_rotation_s)
            for e in events] == [(120, 250, 0.75), (100, 180, 0.5)]
    assert not list((app.config["INSTANCE"] / "toshiba_held").iterdir())

    # where the dose data came from: on the study page and in the CT export
    user = create_user("toshviewer", PASSWORD, USERS["viewer"])
    app.test_client_class = FreshContextClient
    client = app.test_client()
    session_login(client, user)
    page = client.get(f"/ct/{row.id}").get_data(as_text=True)
    assert '<tr><th>Dose data from</th><td id="dose-source">dose screen (OCR) and image headers</td></tr>' in page
    out = tmp_path / "ct.csv"
    run_export("CT", "csv", {}, out=out)
    (exported,) = as_dicts(read_csv(out))
    assert exported["Dose data from"] == "dose screen (OCR) and image headers"
    assert (exported["DLP total (mGy.cm)"], exported["E1 CTDIvol (mGy)"], exported["E2 DLP (mGy.cm)"],
            exported["E1 S1 kVp (kV)"], exported["E2 S1 mA (mA)"]) == ("767.1", "45.6", "310.4", "120", "180")

    again = run_cli(["import", "--json", str(tmp_path / "in")], app_env)
    assert [json.loads(line)["status"] for line in again.stdout.splitlines()][-1] == "duplicate"
    assert study_count() == 1


def test_unreadable_screen_is_quarantined_with_pixelmeds_message_and_nothing_stored(app, app_env, tmp_path):
    study = example_study()
    noise = (np.random.default_rng(2).random((400, 600)) > 0.5).astype(np.uint8) * 255
    write_study(study, tmp_path / "in", JAR, pixels=noise)
    done = run_cli(["import", str(tmp_path / "in")], app_env)
    assert done.returncode == 1, done.stdout
    assert study_count() == 0
    db.session.rollback()
    (row,) = db.session.scalars(select(QuarantinedObject)).all()
    assert row.reason.startswith("PixelMed dose OCR made no dose report")
    assert "Exceeded maximum number of connections" in row.reason
    assert study.patient_id not in row.reason and "Synthetic" not in row.reason
    kept = pydicom.dcmread(row.path)
    assert (kept.StudyInstanceUID, kept.SOPClassUID) == (study.study_uid, "1.2.840.10008.5.1.4.1.1.7")
    assert db.session.scalar(select(CtEvent)) is None


def test_an_rdsr_of_the_study_wins_over_the_screen(app, imp, tmp_path):
    study = example_study()
    write_study(study, tmp_path / "in", JAR)
    rdsr = pydicom.dcmread(TESTDATA / "CT-RDSR-ToshibaPixelMed.dcm")
    rdsr.StudyInstanceUID = study.study_uid
    rdsr.save_as(tmp_path / "rdsr.dcm")
    for p in sorted((tmp_path / "in").iterdir()):
        assert imp(str(p)).status == "held"
    imp(str(tmp_path / "rdsr.dcm"))
    (result,) = build_settled(0)
    assert result.status == "duplicate" and "holds a dose report (rdsr)" in result.reason
    assert _study(study.study_uid).source_kind == "rdsr"

    # and the other way round: a screen's study is replaced by an RDSR that comes later
    later = example_study()
    write_study(later, tmp_path / "later", JAR)
    for p in sorted((tmp_path / "later").iterdir()):
        imp(str(p))
    (built,) = build_settled(0)
    assert built.status == "imported"
    rdsr.StudyInstanceUID = later.study_uid
    rdsr.SOPInstanceUID = pydicom.uid.generate_uid()
    rdsr.save_as(tmp_path / "rdsr2.dcm")
    assert imp(str(tmp_path / "rdsr2.dcm")).status == "imported"
    assert _study(later.study_uid).source_kind == "rdsr"


def test_retrying_a_quarantined_screen_reads_it_again(app, app_env, tmp_path):
    from doseapp.ingest import retry_quarantine

    noise = (np.random.default_rng(3).random((400, 600)) > 0.5).astype(np.uint8) * 255
    write_study(example_study(), tmp_path / "in", JAR, pixels=noise)
    run_cli(["import", str(tmp_path / "in")], app_env)
    db.session.rollback()
    (row,) = db.session.scalars(select(QuarantinedObject)).all()
    (result,) = retry_quarantine()
    assert result.status == "failed" and "Exceeded maximum number of connections" in result.reason
    db.session.rollback()
    (again,) = db.session.scalars(select(QuarantinedObject)).all()
    assert (again.id, again.retry_count) == (row.id, 1)
    assert study_count() == 0


def test_a_study_claimed_by_a_worker_that_died_is_built_later(app, imp, tmp_path):
    import os
    import time

    from doseapp.ingest.toshiba import held_root

    study = example_study()
    write_study(study, tmp_path / "in", JAR)
    for p in sorted((tmp_path / "in").iterdir()):
        imp(str(p))
    (folder,) = list(held_root().iterdir())
    claimed = folder.with_name(folder.name + ".dead0001.building")
    os.rename(folder, claimed)  # as build_settled claims it, then the worker is killed
    assert build_settled(0) == []  # a fresh claim is left alone
    old = time.time() - 7200
    os.utime(claimed, (old, old))
    (result,) = build_settled(0)
    assert result.status == "imported" and _study(study.study_uid).source_kind == "toshiba"
