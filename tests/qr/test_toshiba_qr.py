"""`doseapp qr -toshiba` against a real PACS (Orthanc) holding an older Toshiba CT study (dose summary
screen + CT images, no RDSR): the screen and the first image of each series are retrieved, held, and
built into one CT study with the screen's values and the headers' exposure values.

The dose screen is SYNTHETIC (drawn from PixelMed's glyph set, tests/extract/toshiba_screen.py).
"""
from __future__ import annotations

import pytest

from doseapp.config import pixelmed_jar
from tests.conftest import run_cli
from tests.extract.toshiba_screen import example_study, image_datasets, screen_dataset
from tests.qr.conftest import as_bytes, imported_sop_uids, study_by_uid, work

JAR = pixelmed_jar({})
DAY = "2024-01-02"  # the synthetic study's date; no other study of the PACS has it


def test_qr_toshiba_option_retrieves_and_builds_the_study(nodes, pacs, app, app_env):
    study = example_study()
    screen = screen_dataset(study, JAR)
    images = image_datasets(study)
    more = image_datasets(study)[1]  # a second image of the chest series: not retrieved
    more.SeriesInstanceUID, more.InstanceNumber = images[1].SeriesInstanceUID, 2
    for ds in (screen, *images, more):
        assert pacs.orthanc.upload(as_bytes(ds))["Status"] == "Success"

    done = run_cli(["qr", "Test PACS", "QR store", "-ct", "-f", DAY, "-t", DAY, "--get"], app_env)
    assert done.returncode == 0, done.stdout + done.stderr
    work(app)
    assert study_by_uid(study.study_uid) is None  # without -toshiba the study has nothing to retrieve

    app.config["TOSHIBA_SETTLE_SECONDS"] = 0  # the retrieve is whole before the worker runs
    try:
        done = run_cli(["qr", "Test PACS", "QR store", "-ct", "-toshiba", "-f", DAY, "-t", DAY, "--get"], app_env)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "3 of 3 objects received by C-GET" in done.stdout, done.stdout
        work(app)
    finally:
        app.config["TOSHIBA_SETTLE_SECONDS"] = 60
    row = study_by_uid(study.study_uid)
    assert (row.modality, row.source_kind) == ("CT", "toshiba")
    assert row.total_dlp_mgycm == pytest.approx(767.1)
    events = sorted(row.ct_events, key=lambda e: e.id)
    assert [(e.ctdivol_mgy, e.dlp_mgycm) for e in events] == [(45.6, 456.7), (8.2, 310.4)]
    assert [(e.sources[0].kvp, e.sources[0].tube_current_ma, e.pitch_factor) for e in events] == [
        (120, 250, 0.641), (100, 180, 1.375)]
    assert str(screen.SOPInstanceUID) in imported_sop_uids()
