"""The mammography CSV is OpenREM's layout (testdata/README.md: its column names and order, one row
per exposure), on the web and on the command line; the one-row-per-study layout stays as csv-wide."""
from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import delete, func, select

from doseapp.exports.run import run_export
from doseapp.models import Job, Study, db
from doseapp.models.projection import XrayEvent
from tests.conftest import SHARED, run_cli
from tests.exports.helpers import as_dicts, load, read_csv
from tests.exports.test_jobs_web import _login, _token, people  # noqa: F401 (a fixture)

MG_FILES = ("MG-RDSR-Hologic_mix.dcm", "MG-RDSR-Hologic_2D.dcm", "MG-Im-GE-SenDS-scaled.dcm",
            "MG-Im-GE_Seno_1_ForPresentation.dcm", "MG-Im-GE_Seno_2_ForPresentation.dcm", "MG-Im-Hologic-PropProj.dcm")


def openrem_layout() -> tuple[list[str], list[str]]:
    """The column names of OpenREM's mammography CSV, and the GE Senographe DS row's exposure values,
    as testdata/README.md gives them."""
    text = " ".join((SHARED / "testdata" / "README.md").read_text().split())
    m = re.search(r"\*\*Mammography CSV\*\*, (\d+) columns: `([^`]+)` \(for MG-Im-GE-SenDS-scaled\.dcm: … (.+?), …\)",
                  text)
    assert m, "the mammography CSV layout is no longer in testdata/README.md"
    names = m.group(2).split(", ")
    assert len(names) == int(m.group(1)) == 38
    return names, m.group(3).split(", ")


def test_mammography_csv_is_openrems_layout_one_row_per_exposure(app, tmp_path):
    names, senographe = openrem_layout()
    load(*MG_FILES)
    out = tmp_path / "mg.csv"
    result = run_export("MG", "csv", {}, out=out)
    rows = read_csv(out)
    assert rows[0] == names
    exposures = db.session.scalar(select(func.count(XrayEvent.id)))
    studies = db.session.scalar(select(func.count(Study.id)))
    assert result["records"] == studies == 5 and len(rows) - 1 == exposures > studies
    body = as_dicts(rows)
    by_accession: dict[str, list[dict]] = {}
    for r in body:
        by_accession.setdefault(r["Accession number"], []).append(r)
    for accession, group in by_accession.items():
        study = db.session.scalar(select(Study).where(Study.accession_number == accession))
        assert len(group) == study.number_of_events  # every exposure of the study, one row each
        assert {tuple(r[n] for n in names[:16]) for r in group} == {tuple(group[0][n] for n in names[:16])}
        # In exposure order, with each exposure's own values.
        events = sorted(study.xray_events, key=lambda e: e.id)
        assert [(r["View"], r["Laterality"], r["kVp"]) for r in group] == \
            [(e.image_view or "", e.laterality or "", f"{e.kvp:g}" if e.kvp is not None else "") for e in events]
    (ge,) = by_accession["AAAA9876"]
    assert [ge[n] for n in names[16:37]] == senographe
    assert (ge["Institution"], ge["No. events"], ge["uAs"], ge["AGD"]) == ("中心医院", "1", "51800", "1.373")
    hologic = by_accession["6414000490125177"]
    assert len(hologic) == 7 and {r["Target"] for r in hologic} == {"W"}


def test_identifiers_and_a_study_without_exposures(app, tmp_path):
    names, _ = openrem_layout()
    load("MG-Im-GE-SenDS-scaled.dcm", "MG-RDSR-Hologic_2D.dcm")
    empty = db.session.scalar(select(Study).where(Study.accession_number == "AJSKDL1234"))
    db.session.execute(delete(XrayEvent).where(XrayEvent.study_id == empty.id))
    db.session.commit()
    out = tmp_path / "pid.csv"
    run_export("MG", "csv", {}, out=out, name=True, pat_id=True)
    rows = read_csv(out)
    assert rows[0][:2] == ["Patient name", "Patient ID"] and rows[0][2:] == \
        names[:9] + ["Date of birth"] + names[9:]
    body = as_dicts(rows)
    assert len(body) == 2
    # Left out by OpenREM; kept here, so that no study of the list goes missing from its export.
    (bare,) = [r for r in body if r["Accession number"] == "AJSKDL1234"]
    assert bare["Manufacturer"] and all(bare[n] == "" for n in names[16:])


def test_command_line_csv_and_csv_wide(app, app_env, tmp_path):
    load("MG-RDSR-Hologic_mix.dcm", "MG-Im-GE-SenDS-scaled.dcm")
    per_exposure, wide = tmp_path / "mg.csv", tmp_path / "wide.csv"
    done = run_cli(["export", "--modality", "mg", "--format", "csv", "--out", str(per_exposure)], app_env)
    assert done.returncode == 0 and "2 studies written" in done.stdout, done.stderr
    done = run_cli(["export", "--modality", "mg", "--format", "csv-wide", "--out", str(wide)], app_env)
    assert done.returncode == 0, done.stderr
    assert read_csv(per_exposure)[0] == openrem_layout()[0] and len(read_csv(per_exposure)) == 1 + 7 + 1
    header = read_csv(wide)[0]
    assert len(read_csv(wide)) == 1 + 2 and header[17] == "E1 View" and "E7 View" in header and "E8 View" not in header
    refused = run_cli(["export", "--modality", "ct", "--format", "csv-wide", "--out", str(tmp_path / "c.csv")], app_env)
    assert refused.returncode == 2 and "mammography only" in refused.stderr and not (tmp_path / "c.csv").exists()


def test_web_offers_both_csv_layouts_for_mammography(app, client, app_env, people):  # noqa: F811
    load("MG-RDSR-Hologic_mix.dcm")
    _login(client, "pat")
    html = client.get("/mg/").get_data(as_text=True)
    assert 'action="/exports/start/mg/csv"' in html and 'action="/exports/start/mg/csv-wide"' in html
    # Both CSVs ask for the byte order mark Excel needs for non-Latin text.
    assert 'name="bom" value="1">CSV (one row per study)</button>' in html and 'name="bom" value="1">CSV</button>' in html
    assert 'action="/exports/start-pid/mg/csv-wide"' in html
    assert "csv-wide" not in client.get("/ct/").get_data(as_text=True)

    _login(client, "erin")
    for fmt in ("csv", "csv-wide"):
        assert client.post(f"/exports/start/mg/{fmt}", data={"csrf_token": _token(client), "bom": "1"}).status_code == 302
    client.post("/exports/start/ct/csv-wide", data={"csrf_token": _token(client)})  # refused: mammography only
    jobs = db.session.scalars(select(Job).where(Job.kind == "export").order_by(Job.id)).all()
    assert [j.parameters["format"] for j in jobs] == ["csv", "csv-wide"]
    assert jobs[1].title == "MG CSV export (one row per study)"
    done = run_cli(["worker", "--burst"], app_env)
    assert done.returncode == 0, done.stderr
    db.session.expire_all()
    per_exposure, wide = (Path(db.session.get(Job, j.id).result_path) for j in jobs)
    assert re.fullmatch(r"mgexport\d{8}-\d{12}\.csv", per_exposure.name)
    assert re.fullmatch(r"mg_wide_\d{8}-\d{12}\.csv", wide.name)
    assert len(read_csv(per_exposure, "utf-8-sig")) == 1 + 7 and len(read_csv(wide, "utf-8-sig")) == 1 + 1
    assert per_exposure.read_bytes().startswith(b"\xef\xbb\xbf") and wide.read_bytes().startswith(b"\xef\xbb\xbf")
    per_exposure.unlink()
    wide.unlink()
