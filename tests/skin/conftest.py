"""Shared by the skin dose map backend tests: the RF test files by name, with their Study Instance UIDs."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from doseapp.ingest import import_file
from doseapp.models import SkinDoseMap, Study, SystemSettings, db
from tests.conftest import TESTDATA

ZEE = "RF-RDSR-Siemens-Zee.dcm"
GE = "RF-RDSR-GE.dcm"  # no source-to-isocentre distance: no map
GE_REASON = "no source-to-isocentre distance in 8 of 8 events"
# The Monte Carlo peak skin dose of the Zee file (testdata/skin/README.md), Gy; the engine is within
# a few per cent of it (tests/skin/test_engine.py holds it to that): here it only shows the figure is
# the file's and not some other number.
ZEE_MC_PSD_GY = 1.54e-3
ALLURA = "RF-RDSR-Philips_Allura.dcm"
DX = "DX-Im-GE_XR220-1.dcm"
UIDS = {ZEE: "1.3.6.1.4.1.5962.99.1.3248661973.865054762.1480717444565.3.0",
        GE: "1.3.6.1.4.1.5962.99.1.3577657414.286912992.1554060884038.4.0",
        ALLURA: "1.3.6.1.4.1.5962.99.1.2392832606.1185842827.1484156582494.5.0"}


def import_study(name: str) -> Study:
    """Import a test file in this process (no map is made: that is the callers' business) and return its study."""
    result = import_file(TESTDATA / name, source="cli")
    assert result.status == "imported", result
    return db.session.get(Study, result.study["id"])


def map_of(study_id: int) -> SkinDoseMap | None:
    db.session.expire_all()
    return db.session.scalar(select(SkinDoseMap).where(SkinDoseMap.study_id == study_id))


def set_maps(enabled: bool = True, on_import: bool = True) -> None:
    s = SystemSettings.get()
    s.enable_skin_dose_maps, s.calc_skin_dose_on_import = enabled, on_import
    db.session.commit()


@pytest.fixture
def imported(app):
    """Import test files by name in this process; returns {name: study id}."""
    def _import(*names):
        return {n: import_study(n).id for n in names}
    return _import
