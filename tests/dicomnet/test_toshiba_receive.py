"""A Toshiba CT dose screen and its images pushed with dcmtk's storescu to the real Store SCP: held per
study, then built into one CT study by the worker (the job queued after each held object).

The dose screen is SYNTHETIC (drawn from PixelMed's glyph set, tests/extract/toshiba_screen.py).
"""
from __future__ import annotations

from pathlib import Path

import pydicom
import pytest
from sqlalchemy import select

from doseapp.config import pixelmed_jar
from doseapp.models import Study, db
from tests.dicomnet.conftest import stores, storescu, wait_running
from tests.extract.toshiba_screen import example_study, image_datasets, write_study

JAR = pixelmed_jar({})


def test_pushed_screen_and_images_make_one_ct_study(app, scp_env, procs, make_node, tmp_path):
    scp_env["DOSEAPP_TOSHIBA_SETTLE_SECONDS"] = "0"  # every object is in before the worker runs
    node = make_node("TOSHSTORE")
    procs.supervisor()
    wait_running(node)
    study = example_study()
    files = write_study(study, tmp_path / "send", JAR)
    # a second image of the first series: one image per series is all that is held
    extra = image_datasets(study)[0]
    extra.SeriesInstanceUID = pydicom.dcmread(files[1]).SeriesInstanceUID
    extra.InstanceNumber = 2
    extra.save_as(tmp_path / "send" / "image1b.dcm", enforce_file_format=True)
    sent = storescu(node.port, "TOSHSTORE", [*files, tmp_path / "send" / "image1b.dcm"])
    assert stores(node_id=node.id) == 4, sent.stderr[-2000:]
    procs.worker_burst()

    db.session.rollback()
    (row,) = db.session.scalars(select(Study)).all()
    assert (row.study_instance_uid, row.modality, row.source_kind) == (study.study_uid, "CT", "toshiba")
    assert row.total_dlp_mgycm == pytest.approx(767.1)
    events = sorted(row.ct_events, key=lambda e: e.id)
    assert [(e.ctdivol_mgy, e.dlp_mgycm) for e in events] == [(45.6, 456.7), (8.2, 310.4)]
    assert [(e.sources[0].kvp, e.sources[0].tube_current_ma) for e in events] == [(120, 250), (100, 180)]
    instance = Path(scp_env["DOSEAPP_INSTANCE"])
    assert [p for p in (instance / "toshiba_held").iterdir()] == []
    kept = [p for p in (instance / "objects").rglob("*.dcm")]
    assert len(kept) == 4  # default delete policy: the screen and images are kept (the extra image unmatched)
