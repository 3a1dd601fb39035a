"""Fluoroscopy reports that say so only through their events: real fluoroscopy RDSRs with the
accumulated fluoroscopy/acquisition split taken out (as systems that send only the plane's DAP and
dose totals do), or with a radiography device type (as some fluoroscopy systems declare), are
fluoroscopy studies, and each plane's split comes from the events' own types."""
from __future__ import annotations

import pydicom
import pytest
from pydicom.uid import generate_uid

from doseapp.models import Study, db
from tests.conftest import TESTDATA
from tests.extract import sr_builder as sr

# TID 10004 rows of an Accumulated X-Ray Dose Data container: fluoroscopy and acquisition totals.
SPLIT_CODES = {"113726", "113728", "113730", "113727", "113729", "113855"}
DEVICE_TYPE = ("122142", "DCM", "Acquisition Device Type")
INTEGRATED = ("113958", "DCM", "Integrated Projection Radiography System")


def _rewritten(name: str, tmp_path, *, drop_split=True, device=None) -> str:
    """A real RDSR as a new report of a new study: without its plane's fluoro/acquisition totals,
    and/or with an Acquisition Device Type added."""
    ds = pydicom.dcmread(TESTDATA / name)
    for item in ds.ContentSequence:
        if item.ConceptNameCodeSequence[0].CodeValue == "113702" and drop_split:
            item.ContentSequence = [c for c in item.ContentSequence
                                    if c.ConceptNameCodeSequence[0].CodeValue not in SPLIT_CODES]
    assert not any(i.ConceptNameCodeSequence[0].CodeValue == DEVICE_TYPE[0] for i in ds.ContentSequence)
    if device:
        ds.ContentSequence.insert(1, sr.coded(DEVICE_TYPE, device, "HAS CONCEPT MOD"))
    ds.StudyInstanceUID = generate_uid()
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    path = tmp_path / f"{ds.SOPInstanceUID}.dcm"
    ds.save_as(path, enforce_file_format=True)
    return str(path)


def _imported(imp, path) -> Study:
    result = imp(path)
    assert result.status == "imported", result
    return db.session.get(Study, result.study["id"])


def test_all_fluoroscopy_events_without_a_split_is_fluoroscopy(imp, tmp_path):
    """GE OEC: eight Fluoroscopy events; the plane keeps only its DAP and RP dose totals."""
    study = _imported(imp, _rewritten("RF-RDSR-GE.dcm", tmp_path))
    assert study.modality == "RF"
    assert (study.number_of_events, study.fluoro_event_count, study.acquisition_count) == (8, 8, 0)
    # the plane's own totals, as sent
    assert study.total_dap_gym2 == pytest.approx(0.00024126)
    assert study.total_dose_rp_gy == pytest.approx(0.0117317)
    # the split: sums over the Fluoroscopy events (the file's own split said 0.00024126 Gy·m²,
    # 0.0117317 Gy, 72.46 s; its events round each DAP to 8 decimals)
    assert study.fluoro_dap_total_gym2 == pytest.approx(0.00024125, rel=1e-9)
    assert study.fluoro_dose_rp_total_gy == pytest.approx(0.01173169, rel=1e-6)
    assert study.fluoro_time_total_s == pytest.approx(72.46099967, rel=1e-6)
    assert study.acquisition_dap_total_gym2 is None and study.acquisition_time_total_s is None


def test_mixed_events_split_by_their_own_types(imp, tmp_path):
    """Philips Allura: one Fluoroscopy and two Stationary Acquisition events."""
    study = _imported(imp, _rewritten("RF-RDSR-Philips_Allura.dcm", tmp_path))
    assert study.modality == "RF"
    assert (study.fluoro_event_count, study.acquisition_count) == (1, 2)
    assert study.total_dap_gym2 == pytest.approx(0.00015356864017)
    # the Fluoroscopy event's values, and the sums of the two acquisitions'
    assert study.fluoro_dap_total_gym2 == pytest.approx(1.0558274005e-05, rel=1e-9)
    assert study.acquisition_dap_total_gym2 == pytest.approx(6.4148712533e-05 + 7.8861653634e-05, rel=1e-9)
    assert study.fluoro_dose_rp_total_gy == pytest.approx(0.00029308116866, rel=1e-9)
    assert study.acquisition_dose_rp_total_gy == pytest.approx(0.00178446054343 + 0.00219373863859, rel=1e-9)
    assert study.fluoro_time_total_s == pytest.approx(13.066)
    assert study.acquisition_time_total_s == pytest.approx(6.25 + 8.5)


def test_a_fluoroscopy_system_declaring_a_radiography_device_is_fluoroscopy(imp, tmp_path):
    """Siemens Artis Zee with "Integrated Projection Radiography System": its eight Fluoroscopy
    events and its fluoroscopy totals say what it is. The reported split is kept as sent."""
    study = _imported(imp, _rewritten("RF-RDSR-Siemens-Zee.dcm", tmp_path, drop_split=False, device=INTEGRATED))
    assert study.modality == "RF"
    assert study.fluoro_dap_total_gym2 == pytest.approx(1.6e-5)
    assert study.fluoro_time_total_s == pytest.approx(28.0)
    assert study.acquisition_dap_total_gym2 == 0.0


def test_a_radiography_report_stays_radiography(imp, tmp_path):
    """The Dual system's radiography report (a Stationary Acquisition, zero fluoroscopy totals),
    with a radiography device type or without its split, is still DX."""
    for path in (_rewritten("Dual-RDSR-DX.dcm", tmp_path, drop_split=False, device=INTEGRATED),
                 _rewritten("Dual-RDSR-DX.dcm", tmp_path)):
        study = _imported(imp, path)
        assert study.modality == "DX"
        assert (study.fluoro_event_count, study.acquisition_count) == (0, 1)
        assert study.total_dap_gym2 == pytest.approx(2.39e-06)
