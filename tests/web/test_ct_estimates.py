"""SSDE and effective dose estimates where people read them: the CT list's SSDE column (with its
method as hover text), the `ssde` filter and sort, the study page, the JSON API and the exports.
Real files; the one water-equivalent diameter is ADDED BY THE TEST to a copy of the Siemens Flash
RDSR (no testdata file carries one)."""
from __future__ import annotations

import re

import pydicom
import pytest
from sqlalchemy import select

from doseapp.exports.run import run_export
from doseapp.models import Study, db
from tests.conftest import TESTDATA, _empty_all_tables
from tests.exports.helpers import as_dicts, read_csv
from tests.standards.rdsr_files import with_wed
from tests.web import studydata
from tests.web.studydata import client_for
from tests.web.tables import read_table

FLASH = "CT-RDSR-Siemens_Flash-TAP-SS.dcm"
MULTI = "CT-RDSR-Siemens-Multi-3.dcm"
# 9.91 mGy × 3.704369 × exp(−0.03671937 × 28.4) = 9.91 × 1.3056262698 = 12.938756 mGy
FLASH_SSDE = 12.938756
METHOD = "TG-220 from reported water-equivalent diameter 28.4 cm, 32 cm phantom"
ADULT = "no SSDE: the report gives no water-equivalent diameter and the patient is an adult (age 60 y)"


@pytest.fixture(scope="module")
def loaded(_session_app, tmp_path_factory):
    wed = with_wed(FLASH, {3: 28.4}, tmp_path_factory.mktemp("wed") / "flash-wed.dcm")
    studydata.load_testdata(_session_app, [wed, TESTDATA / MULTI])
    yield _session_app
    _empty_all_tables(_session_app)


def _id(app, name: str) -> int:
    uid = pydicom.dcmread(TESTDATA / name, stop_before_pixels=True).StudyInstanceUID
    with app.app_context():
        return db.session.scalar(select(Study.id).where(Study.study_instance_uid == uid))


def test_list_column_with_method_as_title_filter_and_sort(loaded):
    client = client_for(loaded, "viewer")
    html = client.get("/ct/?o=-ssde").get_data(as_text=True)
    assert "SSDE (mGy) ▼" in html
    cells = re.findall(r'<td class="num ssde"(?: title="([^"]*)")?>([^<]*)</td>', html)
    assert cells == [(METHOD, "12.9"), (ADULT, "—")]  # highest first, empty values last
    only = client.get("/ct/?ssde_min=12&ssde_max=13").get_data(as_text=True)
    assert f'data-study-id="{_id(loaded, FLASH)}"' in only and f'data-study-id="{_id(loaded, MULTI)}"' not in only
    none = client.get("/ct/?ssde_min=13").get_data(as_text=True)
    assert "data-study-id=" not in none


def test_study_page_shows_method_wed_and_estimate(loaded):
    html = client_for(loaded, "viewer").get(f"/ct/{_id(loaded, FLASH)}").get_data(as_text=True)
    events = read_table(html, "events")
    spiral = [r for r in events.rows if r["Type"].text == "Spiral Acquisition"][0]
    # the method beside each SSDE: its short name, the full words on hover
    assert spiral["SSDE (mGy)"].text == "12.94 TG-220" and spiral["SSDE (mGy)"].titles == [METHOD]
    assert spiral["WED (cm)"].text == "28.4"
    assert spiral["E estimate (mSv)"].text == "10.623 k 0.015"
    assert spiral["E estimate (mSv)"].titles == ["k = 0.015 mSv/(mGy·cm): abdomen and pelvis, adult"]
    localizer = [r for r in events.rows if r["Type"].text == "Constant Angle Acquisition"][0]
    assert localizer["SSDE (mGy)"].text == "— why none?"
    assert localizer["SSDE (mGy)"].titles == ["no SSDE: a localizer (constant angle acquisition) is not a scan"]
    assert localizer["E estimate (mSv)"].titles == ["no estimate: target region 'Entire body' has no coefficient"]
    assert f'id="mean-ssde">12.94<br><small class="ssde-method">{METHOD}</small>' in html
    assert "Effective dose estimate (population, not this patient&#39;s dose)" in html or \
        "Effective dose estimate (population, not this patient's dose)" in html
    assert 'id="mean-ctdivol">9.91' in html
    adult = client_for(loaded, "viewer").get(f"/ct/{_id(loaded, MULTI)}").get_data(as_text=True)
    assert ADULT in adult


def test_api_fields(loaded):
    client = client_for(loaded, "viewer")
    uid = pydicom.dcmread(TESTDATA / FLASH, stop_before_pixels=True).StudyInstanceUID
    detail = client.get(f"/api/v1/studies/{uid}").get_json()
    assert detail["mean_ssde_mGy"] == pytest.approx(FLASH_SSDE, rel=1e-6)
    assert detail["mean_ctdivol_mGy"] == pytest.approx(9.91)
    assert detail["ssde_method"] == METHOD
    # 708.2 × 0.015 + 1.2 × 0.015 + 3.61 × 0.015 = 10.69515 mSv
    assert detail["effective_dose_estimate_mSv"] == pytest.approx(10.69515, rel=1e-9)
    spiral = [e for e in detail["ct_events"] if e["acquisition_type"] == "Spiral Acquisition"][0]
    assert spiral["ssde_mgy"] == pytest.approx(FLASH_SSDE, rel=1e-6) and spiral["ssde_method"] == METHOD
    assert spiral["water_equivalent_diameter_mm"] == pytest.approx(284)
    assert spiral["effective_dose_coefficient"] == 0.015


def test_export_columns_read_back(loaded, tmp_path):
    with loaded.app_context():
        out = tmp_path / "ct.csv"
        run_export("CT", "csv", {"o": "-ssde"}, out=out)
    rows = {r["Accession number"]: r for r in as_dicts(read_csv(out))}
    flash = rows["ACC12345601"]
    assert float(flash["Mean SSDE of scans (mGy)"]) == pytest.approx(FLASH_SSDE, rel=1e-6)
    assert flash["Mean CTDIvol of scans (mGy)"] == "9.91" and flash["SSDE method"] == METHOD
    assert float(flash["Effective dose estimate, population (mSv)"]) == pytest.approx(10.69515, rel=1e-9)
    assert flash["E4 Water equivalent diameter (cm)"] == "28.4" and flash["E4 SSDE method"] == METHOD
    assert float(flash["E4 SSDE (mGy)"]) == pytest.approx(FLASH_SSDE, rel=1e-6)
    assert flash["E4 Effective dose coefficient (mSv/(mGy.cm))"] == "0.015"
    assert flash["E4 Effective dose estimate, population (mSv)"] == "10.623"
    multi = [r for r in rows.values() if r is not flash][0]
    assert multi["Mean SSDE of scans (mGy)"] == "" and multi["SSDE method"] == ADULT
    assert multi["Mean CTDIvol of scans (mGy)"] == "7.575"


def test_charts_read_the_ssde(loaded):
    from dataclasses import replace

    from doseapp import filters
    from doseapp.charts import catalog
    from doseapp.charts.data import compute
    from doseapp.charts.options import ChartOptions

    with loaded.app_context():
        where = filters.study_query("CT", {}).where
        scatter = compute(catalog.chart("CT", "ssde_wed"), where, ChartOptions())
        bars = compute(catalog.chart("CT", "study_ssde"), where, replace(ChartOptions(), average="mean"))
    assert [(r["x"], round(r["val"], 6)) for r in scatter.rows] == [(284.0, FLASH_SSDE)]
    assert scatter.total == 1
    assert [(r["cat"], round(r["mean"], 6), r["n"]) for r in bars.rows] == [("Thorax^TAP (Adult)", FLASH_SSDE, 1)]


@pytest.mark.parametrize("key", ["study_ssde", "acquisition_ssde", "ssde_wed"])
def test_ssde_charts_draw_with_table_and_csv(loaded, key):
    client = client_for(loaded, "viewer")
    html = client.get(f"/ct/charts/{key}").get_data(as_text=True)
    assert re.search(r'data-root-id="p\d+"', html) and "Bokeh.embed.embed_items" in html
    assert 'data-total="1"' in html
    text = client.get(f"/ct/charts/{key}/csv").get_data(as_text=True).lstrip("\ufeff")
    lines = text.strip().splitlines()
    assert len(lines) == 2 and "12.938756" in lines[1]
