"""A continued CT study (one Study Instance UID, a later report holding only new events) is ONE exam:
its events come from both reports, each event keeps the report it came from, each report keeps its
own totals as sent, and the study's totals are the sums. Cumulative reports still replace, repeats
still change nothing. Built from the real Siemens Flash RDSR split in two, and the real Siemens
continued pair."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pydicom
import pytest
from pydicom.uid import generate_uid
from sqlalchemy import func, select

from doseapp.exports.run import run_export
from doseapp.models import CtEvent, ProcessedObject, Study, db
from doseapp.users import create_user
from tests.conftest import TESTDATA, run_cli
from tests.exports.helpers import as_dicts, read_csv
from tests.web.studydata import client_for
from tests.web.tables import read_table

FLASH = "CT-RDSR-Siemens_Flash-TAP-SS.dcm"
FLASH_UID = "1.3.6.1.4.1.5962.99.1.2662687737.2058515598.1471541535737.3.0"
# The Flash report's four events (DLP mGy·cm) and its own total, 724.52.
FLASH_DLP = (11.51, 1.2, 3.61, 708.2)
CONTINUED = ["CT-RDSR-Siemens-Continued-1.dcm", "CT-RDSR-Siemens-Continued-2.dcm"]


def split_report(name: str, groups, tmp_path, totals) -> list[tuple[str, str]]:
    """A real report as several reports of its study, one per group of event indexes, each with its
    own SOP Instance UID; `totals(container, kept)` rewrites an accumulated container for the events
    kept, as a system sends them. Returns (path, SOP Instance UID) for each."""
    parts = []
    for n, keep in enumerate(groups, start=1):
        ds = pydicom.dcmread(TESTDATA / name)
        events = [i for i in ds.ContentSequence if i.ConceptNameCodeSequence[0].CodeValue in ("113819", "113706")]
        drop = {id(e) for k, e in enumerate(events) if k not in keep}
        ds.ContentSequence = [i for i in ds.ContentSequence if id(i) not in drop]
        for item in ds.ContentSequence:
            if item.ConceptNameCodeSequence[0].CodeValue in ("113811", "113702"):
                totals(item, keep)
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        path = tmp_path / f"{Path(name).stem}-part{n}.dcm"
        ds.save_as(path, enforce_file_format=True)
        parts.append((str(path), ds.SOPInstanceUID))
    return parts


def _set(container, values: dict) -> None:
    for item in container.ContentSequence:
        code = item.ConceptNameCodeSequence[0].CodeValue
        if code in values:
            item.MeasuredValueSequence[0].NumericValue = values[code]


def split_flash(tmp_path) -> list[tuple[str, str]]:
    """The Flash report as two reports of its study, events 1-2 and events 3-4, each with its own
    CT Accumulated Dose Data (event count and DLP total)."""
    def totals(container, keep):
        _set(container, {"113812": str(len(keep)), "113813": f"{sum(FLASH_DLP[k] for k in keep):.2f}"})
    return split_report(FLASH, ((0, 1), (2, 3)), tmp_path, totals)


def _studies(uid: str) -> list[Study]:
    db.session.expire_all()
    return db.session.scalars(select(Study).where(Study.study_instance_uid == uid).order_by(Study.id)).all()


def assert_one_flash_exam(first_sop: str, second_sop: str) -> Study:
    (study,) = _studies(FLASH_UID)
    assert study.modality == "CT" and study.number_of_events == 4
    assert study.total_dlp_mgycm == pytest.approx(sum(FLASH_DLP), rel=1e-9)  # 724.52
    assert sorted(e.dlp_mgycm for e in study.ct_events) == pytest.approx(sorted(FLASH_DLP))
    assert study.ct_spiral_count + study.ct_constant_angle_count + study.ct_stationary_count == 4
    by_report = {}
    for e in study.ct_events:
        by_report.setdefault(e.report.sop_instance_uid, []).append(e.dlp_mgycm)
    assert {k: sorted(round(d, 2) for d in v) for k, v in by_report.items()} == {
        first_sop: [1.2, 11.51], second_sop: [3.61, 708.2]}
    reports = {o.sop_instance_uid: (o.event_count, o.total_dlp_mgycm) for o in study.objects}
    assert reports == {first_sop: (2, pytest.approx(12.71)), second_sop: (2, pytest.approx(711.81))}
    return study


@pytest.mark.parametrize("order", [(0, 1), (1, 0)], ids=["in-order", "reversed"])
def test_a_continued_report_joins_its_study(imp, tmp_path, order):
    parts = split_flash(tmp_path)
    results = [imp(parts[k][0]) for k in order]
    assert [r.status for r in results] == ["imported", "imported"]
    assert results[0].study["id"] == results[1].study["id"]
    assert any("continued study" in w for w in results[1].warnings), results[1].warnings
    assert results[1].study["number_of_events"] == 4
    assert results[1].study["total_dlp_mGy_cm"] == pytest.approx(724.52)
    study = assert_one_flash_exam(parts[0][1], parts[1][1])

    # the same reports again change nothing
    assert [imp(p).status for p, _ in parts] == ["duplicate", "duplicate"]
    assert_one_flash_exam(parts[0][1], parts[1][1])
    assert db.session.scalar(select(func.count()).select_from(CtEvent)) == 4
    assert study.id == _studies(FLASH_UID)[0].id


def test_a_cumulative_report_still_replaces(imp, tmp_path):
    """The first half, then the whole report (it holds the first half's events and more): the whole
    report replaces the study; the second half is then a duplicate."""
    (first, first_sop), (second, _) = split_flash(tmp_path)
    assert imp(first).status == "imported"
    whole = imp(FLASH)
    assert whole.status == "imported" and any("cumulative" in w for w in whole.warnings)
    assert imp(second).status == "duplicate"
    (study,) = _studies(FLASH_UID)
    assert study.number_of_events == 4 and study.total_dlp_mgycm == pytest.approx(724.52)
    whole_sop = pydicom.dcmread(TESTDATA / FLASH).SOPInstanceUID
    assert {e.report.sop_instance_uid for e in study.ct_events} == {whole_sop}
    # the replaced report stays known with its totals as sent, holding no events now
    reports = {o.sop_instance_uid: (o.event_count, o.total_dlp_mgycm) for o in study.objects}
    assert reports[first_sop] == (2, pytest.approx(12.71)) and reports[whole_sop] == (4, pytest.approx(724.52))


@pytest.mark.parametrize("order", [CONTINUED, CONTINUED[::-1]], ids=["in-order", "reversed"])
def test_the_real_siemens_continued_pair_is_one_exam(imp, order):
    assert [r.status for r in imp(*order)] == ["imported", "imported"]
    (study,) = [s for s in db.session.scalars(select(Study)).all()]
    assert study.number_of_events == 4
    assert study.total_dlp_mgycm == pytest.approx(60.17 + 56.44, rel=1e-9)
    sops = {pydicom.dcmread(TESTDATA / n).SOPInstanceUID: n for n in CONTINUED}
    per_report = {sops[o.sop_instance_uid]: (o.event_count, o.total_dlp_mgycm) for o in study.objects}
    assert per_report == {CONTINUED[0]: (2, pytest.approx(60.17)), CONTINUED[1]: (2, pytest.approx(56.44))}
    assert sorted((sops[e.report.sop_instance_uid], round(e.dlp_mgycm, 2)) for e in study.ct_events) == [
        (CONTINUED[0], 5.05), (CONTINUED[0], 55.12), (CONTINUED[1], 4.62), (CONTINUED[1], 51.82)]


def test_study_page_export_and_command_line_show_one_exam(app, imp, tmp_path, app_env):
    parts = split_flash(tmp_path)
    imp(parts[1][0], parts[0][0])
    (study,) = _studies(FLASH_UID)
    app.config["TEST_USER_IDS"] = {"viewer": create_user("viewer", "long-enough-1", ["viewer"]).id}
    client = client_for(app, "viewer")

    listed = client.get("/ct/").get_data(as_text=True)
    assert re.search(r"There is <strong>1</strong>", listed) and listed.count("data-study-id=") == 1
    page = client.get(f"/ct/{study.id}").get_data(as_text=True)
    assert "<tr><th>Number of events</th><td>4</td></tr>" in page
    assert "<tr><th>Total DLP (mGy·cm)</th><td>724.52</td></tr>" in page
    reports = re.findall(r'<tr class="report"><td>(R\d)</td><td class="uid">([^<]+)</td><td class="nowrap">[^<]+</td>'
                         r'<td class="num">(\d+)</td><td class="num">([\d.]+)</td></tr>', page)
    # numbered in the order they arrived: the second half came first
    assert reports == [("R1", parts[1][1], "2", "711.81"), ("R2", parts[0][1], "2", "12.71")]
    # each event names its report, under its protocol
    table = read_table(page, "events")
    events = [(re.search(r"from (R\d)", next(iter(r.values())).text).group(1), r["DLP (mGy·cm)"].text)
              for r in table.rows]
    assert sorted(events) == [("R1", "3.61"), ("R1", "708.20"), ("R2", "1.20"), ("R2", "11.51")]

    out = tmp_path / "ct.csv"
    assert run_export("CT", "csv", {}, out=out)["records"] == 1
    (row,) = as_dicts(read_csv(out))
    assert row["No. events"] == "4" and float(row["DLP total (mGy.cm)"]) == pytest.approx(724.52)
    assert sorted(float(row[f"E{n} DLP (mGy.cm)"]) for n in range(1, 5)) == pytest.approx(sorted(FLASH_DLP))

    shown = run_cli(["study", "show", FLASH_UID, "--json"], app_env)
    assert shown.returncode == 0, shown.stderr
    detail = json.loads(shown.stdout)
    assert isinstance(detail, dict) and detail["number_of_events"] == 4
    assert [(r["sop_instance_uid"], r["event_count"], r["total_dlp_mGy_cm"]) for r in detail["reports"]] == [
        (parts[1][1], 2, pytest.approx(711.81)), (parts[0][1], 2, pytest.approx(12.71))]
    assert sorted((e["report_sop_instance_uid"], round(e["dlp_mgycm"], 2)) for e in detail["ct_events"]) == sorted(
        [(parts[0][1], 11.51), (parts[0][1], 1.2), (parts[1][1], 3.61), (parts[1][1], 708.2)])
    text = run_cli(["study", "show", FLASH_UID], app_env).stdout
    assert text.count("number_of_events ") == 1 and f"report R2 {parts[0][1]}: 2 events, total DLP 12.71" in text


# Philips Allura: a Fluoroscopy event, then two Stationary Acquisitions (DAP Gy·m², dose at RP Gy).
ALLURA = "RF-RDSR-Philips_Allura.dcm"
ALLURA_DAP = (1.0558274005e-05, 6.4148712533e-05, 7.8861653634e-05)
ALLURA_RP = (0.00029308116866, 0.00178446054343, 0.00219373863859)
SPLIT_CODES = {"113726", "113728", "113730", "113727", "113729", "113855"}


def test_a_continued_fluoroscopy_exam_is_one_rf_study(app, imp, tmp_path):
    """The acquisitions' report first (radiography on its own), then the fluoroscopy's: one exam,
    fluoroscopy, its plane totals the sum of both reports' planes, each event marked with its report."""
    def totals(container, keep):
        container.ContentSequence = [i for i in container.ContentSequence
                                     if i.ConceptNameCodeSequence[0].CodeValue not in SPLIT_CODES]
        _set(container, {"113722": f"{sum(ALLURA_DAP[k] for k in keep):.10g}",  # DS: 16 characters at most
                         "113725": f"{sum(ALLURA_RP[k] for k in keep):.10g}"})
    (fluoro, fluoro_sop), (acquisitions, acq_sop) = split_report(ALLURA, ((0,), (1, 2)), tmp_path, totals)
    first = imp(acquisitions)
    assert first.status == "imported" and first.study["modality"] == "DX"
    second = imp(fluoro)
    assert second.status == "imported" and second.study["id"] == first.study["id"]
    (study,) = db.session.scalars(select(Study)).all()
    assert study.modality == "RF" and study.number_of_events == 3
    assert (study.fluoro_event_count, study.acquisition_count) == (1, 2)
    assert study.total_dap_gym2 == pytest.approx(sum(ALLURA_DAP), rel=1e-9)
    assert study.total_dose_rp_gy == pytest.approx(sum(ALLURA_RP), rel=1e-9)
    assert study.fluoro_dap_total_gym2 == pytest.approx(ALLURA_DAP[0], rel=1e-9)
    assert study.acquisition_dap_total_gym2 == pytest.approx(ALLURA_DAP[1] + ALLURA_DAP[2], rel=1e-9)
    assert {p.report.sop_instance_uid: p.dap_total_gym2 for p in study.planes} == {
        fluoro_sop: pytest.approx(ALLURA_DAP[0], rel=1e-9), acq_sop: pytest.approx(ALLURA_DAP[1] + ALLURA_DAP[2], rel=1e-9)}

    app.config["TEST_USER_IDS"] = {"viewer": create_user("viewer", "long-enough-1", ["viewer"]).id}
    page = client_for(app, "viewer").get(f"/rf/{study.id}").get_data(as_text=True)
    reports = re.findall(r'<tr class="report"><td>(R\d)</td><td class="uid">([^<]+)</td><td class="nowrap">[^<]+</td>'
                         r'<td class="num">(\d+)</td><td class="num">([\d.]+)</td></tr>', page)
    # DAP as sent, in cGy·cm²
    assert reports == [("R1", acq_sop, "2", "143.01"), ("R2", fluoro_sop, "1", "10.56")]
    events = re.findall(r'<tr class="event">\s*<td class="nowrap">[^<]*<br><small class="report-ref">from (R\d)'
                        r'</small></td>\s*<td>([^<]+)</td>', page)
    assert sorted(events) == [("R1", "Stationary Acquisition"), ("R1", "Stationary Acquisition"), ("R2", "Fluoroscopy")]


def test_each_report_gives_its_own_split(imp, tmp_path):
    """The fluoroscopy report sends its plane's fluoroscopy/acquisition DAP split (its acquisition DAP
    0), the acquisitions' report none: the exam's acquisition DAP is 0 from the first plus the second's
    acquisition events, not the first report's 0 alone."""
    def totals(container, keep):
        reported = {"113726", "113727"} if keep == (0,) else set()
        container.ContentSequence = [i for i in container.ContentSequence
                                     if i.ConceptNameCodeSequence[0].CodeValue not in SPLIT_CODES - reported]
        _set(container, {"113722": f"{sum(ALLURA_DAP[k] for k in keep):.10g}", "113725": f"{sum(ALLURA_RP[k] for k in keep):.10g}",
                         "113726": f"{ALLURA_DAP[0]:.10g}", "113727": "0"})
    parts = split_report(ALLURA, ((0,), (1, 2)), tmp_path, totals)
    assert [imp(p).status for p, _ in parts] == ["imported", "imported"]
    (study,) = db.session.scalars(select(Study)).all()
    assert study.fluoro_dap_total_gym2 == pytest.approx(ALLURA_DAP[0], rel=1e-9)
    assert study.acquisition_dap_total_gym2 == pytest.approx(ALLURA_DAP[1] + ALLURA_DAP[2], rel=1e-9)
    assert study.fluoro_dose_rp_total_gy == pytest.approx(ALLURA_RP[0], rel=1e-9)
    assert study.acquisition_dose_rp_total_gy == pytest.approx(ALLURA_RP[1] + ALLURA_RP[2], rel=1e-9)
    assert study.total_dap_gym2 == pytest.approx(sum(ALLURA_DAP), rel=1e-9)
