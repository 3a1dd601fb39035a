"""Issue 20, nuclear medicine in standard names and reference levels, with real NM test files (SQLite
and PostgreSQL).

The studies: the Siemens PET/CT radiopharmaceutical dose report NM-RRDSR-Siemens.dcm ("PET/CT Ganzkoerper
FDG", 394.0 MBq of FDG, 110 kg, on the Biograph "Vision 600"), its extended twin NM-RRDSR-Siemens-Extended.dcm
("PET/CT Herz FDG", 250.0 MBq, 68 kg, another Biograph), the GE PET image NM-PetIm-GE.dcm ("Teilkörper-PET",
221.596288 MBq of FDG, 74 kg) and the Siemens bone scan image NM-NmIm-Siemens.dcm ("Bone Scan", 764 MBq
of DPD, no weight). One PET/CT system with five FDG studies makes a median worth the name: the real
394 MBq study and four more on the same system, with values set here (350, 380 and 420 MBq at 70, 95
and 100 kg, and 400 MBq with no weight recorded).

No national NM levels are shipped (the ARSAC notes could not be read offline): local DRLs only."""
from __future__ import annotations

import datetime as dt
import io
import re

import openpyxl
import pytest
from sqlalchemy import select

from doseapp.models import Equipment, ReferenceLevel, StandardName, Study, SystemSettings, db
from doseapp.standards import comparison, drl, flags, names
from doseapp.users import create_user
from tests.conftest import session_login
from tests.standards.drl_helpers import study
from tests.web.config_helpers import login, post

FDG = "Fluorodeoxyglucose F^18^"
WHOLE_BODY, HEART, GE_PET, BONE = "PET/CT Ganzkoerper FDG", "PET/CT Herz FDG", "Teilkörper-PET", "Bone Scan"
# (activity MBq, weight kg) of the four studies added on the real 394 MBq study's system.
ADDED = [(350.0, 70.0), (380.0, 95.0), (420.0, 100.0), (400.0, None)]
# Since 2022 (the test files' year) until today (the added studies are from ten days ago).
PERIOD = comparison.Period(dt.date(2022, 1, 1), dt.date.today())
ARGS = f"modality=NM&date_from=2022-01-01&date_until={dt.date.today().isoformat()}"


def _by_description() -> dict[str, Study]:
    return {s.study_description: s for s in db.session.scalars(select(Study).where(Study.modality == "NM"))}


@pytest.fixture
def nm(imp):
    for f in ("NM-RRDSR-Siemens.dcm", "NM-RRDSR-Siemens-Extended.dcm", "NM-PetIm-GE.dcm", "NM-NmIm-Siemens.dcm"):
        assert imp(f).status == "imported", f
    real = _by_description()
    assert set(real) == {WHOLE_BODY, HEART, GE_PET, BONE}
    # Every system of these files is called "REMOVED REMOVED": give them names to tell them apart.
    for description, label in ((WHOLE_BODY, "PET/CT Room 1"), (HEART, "PET/CT Room 2"), (GE_PET, "GE PET"),
                               (BONE, "Gamma camera")):
        db.session.get(Equipment, real[description].equipment_id).display_name = label
    room1 = db.session.get(Equipment, real[WHOLE_BODY].equipment_id)
    for activity, weight in ADDED:
        study(None, room1, modality="NM", study_description=WHOLE_BODY, nm_radiopharmaceutical=FDG,
              nm_activity_mbq=activity, patient_weight_kg=weight,
              nm_activity_per_kg_mbq=activity / weight if weight else None)
    db.session.commit()
    return real


def _fdg_by_exact_and_pattern() -> StandardName:
    names.add_rule("NM", "PET FDG", "study_description", "exact", WHOLE_BODY)
    names.add_rule("NM", "PET FDG", "study_description", "pattern", "pet/ct herz*")
    db.session.commit()
    names.apply_all(("NM",))
    return db.session.scalar(select(StandardName).where(StandardName.modality == "NM"))


def _local(name: StandardName, quantity: str, value: float) -> None:
    db.session.add(ReferenceLevel(standard_name_id=name.id, quantity=quantity, value=value, source="local NM audit"))
    db.session.commit()


def test_real_values_as_imported(nm):
    assert (nm[WHOLE_BODY].nm_activity_mbq, nm[WHOLE_BODY].patient_weight_kg) == (394.0, 110.0)
    assert (nm[HEART].nm_activity_mbq, nm[HEART].patient_weight_kg) == (250.0, 68.0)
    assert nm[GE_PET].nm_activity_mbq == pytest.approx(221.596288)
    assert (nm[BONE].nm_activity_mbq, nm[BONE].nm_radiopharmaceutical) == (764.0, "DPD")
    assert nm[WHOLE_BODY].nm_radiopharmaceutical == nm[GE_PET].nm_radiopharmaceutical == FDG


def test_two_studies_one_name_by_exact_value_and_by_pattern(nm):
    outcome = names.apply_all(("NM",))
    assert outcome.studies == {"NM": 0}
    fdg = _fdg_by_exact_and_pattern()
    got = {d: (s.standard_name.name if s.standard_name_id else None) for d, s in _by_description().items()}
    assert got == {WHOLE_BODY: "PET FDG", HEART: "PET FDG", GE_PET: None, BONE: None}
    assert names.names_with_counts("NM")[0]["studies"] == 2 + len(ADDED)
    unmapped = names.unmapped_values("NM")
    assert set(unmapped) == {"study_description", "requested_procedure", "procedure", "radiopharmaceutical"}
    assert unmapped["study_description"] == [(BONE, 1), (GE_PET, 1)]
    # Values are listed while no rule maps them, whichever field named the study.
    assert unmapped["radiopharmaceutical"] == [(FDG, 3 + len(ADDED)), ("DPD", 1)]
    assert fdg.name == "PET FDG"


def test_radiopharmaceutical_is_tried_after_the_study_fields(nm):
    _fdg_by_exact_and_pattern()
    names.add_rule("NM", "PET FDG", "radiopharmaceutical", "exact", FDG)
    names.add_rule("NM", "NM Bone", "study_description", "exact", BONE)
    names.add_rule("NM", "NM by DPD", "radiopharmaceutical", "pattern", "dpd")
    db.session.commit()
    outcome = names.apply_all(("NM",))
    assert outcome.studies == {"NM": 4 + len(ADDED)}
    got = {d: s.standard_name.name for d, s in _by_description().items()}
    # The GE study's description maps to nothing: its radiopharmaceutical names it. The bone scan's
    # description maps, and comes before its radiopharmaceutical.
    assert got == {WHOLE_BODY: "PET FDG", HEART: "PET FDG", GE_PET: "PET FDG", BONE: "NM Bone"}
    assert names.unmapped_values("NM")["radiopharmaceutical"] == []
    # A rule for a field NM does not have is refused, in words.
    with pytest.raises(names.RuleError, match="Unknown field 'acquisition_protocol' for NM"):
        names.add_rule("NM", "PET FDG", "acquisition_protocol", "exact", "x")
    with pytest.raises(names.RuleError, match="Unknown field 'radiopharmaceutical' for CT"):
        names.add_rule("CT", "CT Head", "radiopharmaceutical", "exact", FDG)


def test_ingest_names_a_new_study_by_its_radiopharmaceutical(imp):
    names.add_rule("NM", "PET FDG", "radiopharmaceutical", "exact", FDG)
    db.session.commit()
    assert imp("NM-PetIm-GE.dcm").status == "imported"
    [s] = db.session.scalars(select(Study).where(Study.modality == "NM")).all()
    assert (s.study_description, s.standard_name.name) == (GE_PET, "PET FDG")


def test_activity_comparison_median_p75_ratio(nm):
    fdg = _fdg_by_exact_and_pattern()
    _local(fdg, "activity", 350.0)
    rows = {r.system: r for r in comparison.compare("NM", "activity", period=PERIOD)}
    assert set(rows) == {"PET/CT Room 1", "PET/CT Room 2"}
    room1, room2 = rows["PET/CT Room 1"], rows["PET/CT Room 2"]
    # Room 1: 350, 380, 394, 400, 420 MBq. Median the middle one; p75 at rank 0.75 × 4 = 3: 400.
    assert (room1.n, room1.median, room1.p75) == (5, 394.0, 400.0)
    assert room1.drl.value == 350.0 and room1.drl.is_local and room1.drl.source == "local NM audit"
    assert room1.ratio == pytest.approx(394 / 350)
    assert room1.too_few and not room1.exceeds  # above, but 5 studies under the minimum of 10
    assert (room2.n, room2.median, room2.p75) == (1, 250.0, 250.0)
    assert room2.ratio == pytest.approx(250 / 350)
    SystemSettings.get().drl_min_sample = 5
    db.session.commit()
    rows = {r.system: r for r in comparison.compare("NM", "activity", period=PERIOD)}
    assert rows["PET/CT Room 1"].exceeds and not rows["PET/CT Room 2"].exceeds
    d = rows["PET/CT Room 1"].as_dict()
    assert (d["unit"], d["drl"], d["drl_origin"], d["quantity"]) == ("MBq", 350.0, "local", "activity")


def test_activity_per_kg_needs_the_weight(nm):
    fdg = _fdg_by_exact_and_pattern()
    _local(fdg, "activity_per_kg", 4.0)
    rows = {r.system: r for r in comparison.compare("NM", "activity_per_kg", period=PERIOD)}
    room1, room2 = rows["PET/CT Room 1"], rows["PET/CT Room 2"]
    # Room 1 per kg: 394/110 = 3.5818, 350/70 = 5.0, 380/95 = 4.0, 420/100 = 4.2; the 400 MBq study has
    # no weight, so it is not counted. Sorted 3.58, 4.0, 4.2, 5.0: median (4.0 + 4.2) / 2, p75 at rank
    # 2.25: 4.2 + 0.25 × 0.8.
    assert room1.n == 4
    assert room1.median == pytest.approx(4.1) and room1.p75 == pytest.approx(4.4)
    assert room1.ratio == pytest.approx(4.1 / 4.0)
    assert (room2.n, room2.median) == (1, pytest.approx(250 / 68))
    assert room1.as_dict()["unit"] == "MBq/kg"


def test_study_flags_above_the_factor(nm, client):
    fdg = _fdg_by_exact_and_pattern()
    _local(fdg, "activity", 350.0)
    SystemSettings.get().drl_flag_factor = 1.1
    db.session.commit()
    flags.refresh_all()
    got = {(s.study_description, s.nm_activity_mbq): s.drl_ratio for s in db.session.scalars(
        select(Study).where(Study.modality == "NM"))}
    assert got[(WHOLE_BODY, 394.0)] == pytest.approx(394 / 350)  # 1.126: flagged
    assert got[(HEART, 250.0)] == pytest.approx(250 / 350)       # 0.714: not
    assert got[(WHOLE_BODY, 380.0)] == pytest.approx(380 / 350)  # 1.086: not
    assert [r for (d, _), r in got.items() if d in (GE_PET, BONE)] == [None, None]  # no name, no DRL
    # Each study's ratio is its highest quantity over its DRL: with a per-kg DRL too, the 350 MBq
    # study at 70 kg (5.0 MBq/kg) is 1.25; the study with no weight keeps its activity ratio.
    _local(fdg, "activity_per_kg", 4.0)
    flags.refresh_all()
    got = {(s.study_description, s.nm_activity_mbq): s.drl_ratio for s in db.session.scalars(
        select(Study).where(Study.modality == "NM"))}
    assert got[(WHOLE_BODY, 350.0)] == pytest.approx(1.25)
    assert got[(WHOLE_BODY, 400.0)] == pytest.approx(400 / 350)
    assert got[(WHOLE_BODY, 394.0)] == pytest.approx(394 / 350)  # 394/110/4 = 0.90 < 1.126

    session_login(client, create_user("nm-viewer", "password-123", ["viewer"]))
    html = client.get("/nm/?per_page=100").get_data(as_text=True)
    rows = dict(re.findall(r'<tr data-study-id="(\d+)">(.*?)</tr>', html, re.S))
    flagged = {int(i) for i, row in rows.items() if "drl-flag" in row}
    ids = {(s.study_description, s.nm_activity_mbq): s.id for s in db.session.scalars(
        select(Study).where(Study.modality == "NM"))}
    assert ids[(WHOLE_BODY, 394.0)] in flagged and ids[(HEART, 250.0)] not in flagged
    assert flagged == {ids[(WHOLE_BODY, a)] for a in (394.0, 350.0, 400.0, 420.0)}  # 380: 1.086 (and 4.0/4)
    assert "above DRL ×1.1" in rows[str(ids[(WHOLE_BODY, 394.0)])]
    only = client.get("/nm/?drl=yes&per_page=100").get_data(as_text=True)
    assert {int(i) for i in re.findall(r'<tr data-study-id="(\d+)">', only)} == flagged
    named = client.get("/nm/?standard_name=PET+FDG&per_page=100").get_data(as_text=True)
    assert len(re.findall(r'<tr data-study-id="(\d+)">', named)) == 2 + len(ADDED)
    page = client.get(f"/nm/{ids[(WHOLE_BODY, 394.0)]}").get_data(as_text=True)
    assert "Administered activity DRL (MBq)" in page and "×1.13 the DRL" in page


def test_drl_page_xlsx_and_api(nm, client):
    fdg = _fdg_by_exact_and_pattern()
    _local(fdg, "activity", 350.0)
    session_login(client, create_user("nm-exporter", "password-123", ["viewer", "exporter"]))
    html = client.get(f"/drl?{ARGS}&quantity=activity").get_data(as_text=True)
    assert '<option value="NM" selected>Nuclear medicine</option>' in html
    assert '<td class="num">5</td><td class="num">394</td><td class="num">400</td>' in html
    assert 'id="drl-nm-note"' in html and "ARSAC" in html and "drl-chart" in html
    # The quantity of another modality, kept by the form when the modality changed: NM's first one.
    html = client.get(f"/drl?{ARGS}&quantity=dlp").get_data(as_text=True)
    assert 'value="activity" selected' in html and "must be one of" not in html

    wb = openpyxl.load_workbook(io.BytesIO(client.get(f"/drl/comparison.xlsx?{ARGS}&quantity=activity").data))
    rows = list(wb["DRL comparison"].iter_rows(values_only=True))
    assert rows[0][0].startswith("Nuclear medicine Administered activity compared with diagnostic reference levels")
    room1 = next(r for r in rows if r[2] == "PET/CT Room 1")
    assert room1[:9] == ("PET FDG", "adult", "PET/CT Room 1", "Administered activity", "MBq", 5, 394, 400, 350)
    assert room1[10] == pytest.approx(394 / 350)

    got = client.get(f"/api/v1/drl-comparison?{ARGS}&quantity=activity_per_kg").get_json()
    assert [(r["system"], r["n"], r["unit"], r["drl"]) for r in got] == [
        ("PET/CT Room 1", 4, "MBq/kg", None), ("PET/CT Room 2", 1, "MBq/kg", None)]
    assert got[0]["median"] == pytest.approx(4.1)
    assert client.get(f"/api/v1/drl-comparison?{ARGS}").get_json()[0]["quantity"] == "activity"
    resp = client.get(f"/api/v1/drl-comparison?{ARGS}&quantity=dlp")
    assert resp.status_code == 400 and "quantity for NM must be one of activity, activity_per_kg" in \
        resp.get_json()["detail"]


def test_config_pages_local_nm_drl_and_mapping_csv(nm, client):
    login(client, "nm-admin")
    html = client.get("/config/standard-names?modality=NM").get_data(as_text=True)
    assert 'id="nm-names-note"' in html and 'data-field="radiopharmaceutical"' in html
    assert f'value="radiopharmaceutical:{FDG}"' in html
    # Tick the FDG radiopharmaceutical and the heart description: one new name, two exact rules.
    post(client, "/config/standard-names/assign",
         {"modality": "NM", "pick": [f"radiopharmaceutical:{FDG}", f"study_description:{HEART}"],
          "new_name": "PET FDG"}, form_page="/config/standard-names?modality=NM")
    fdg = db.session.scalar(select(StandardName).where(StandardName.modality == "NM"))
    assert sorted((r.field, r.match, r.value) for r in fdg.rules) == [
        ("radiopharmaceutical", "exact", FDG), ("study_description", "exact", HEART)]
    csv_text = client.get("/config/standard-names/export.csv").get_data(as_text=True)
    assert f"NM,PET FDG,radiopharmaceutical,exact,{FDG}\r\n" in csv_text
    upload = ("modality,standard_name,field,match,value\r\nNM,NM Bone,radiopharmaceutical,pattern,DPD*\r\n"
              f"{csv_text.splitlines()[1]}\r\n").encode()
    resp = post(client, "/config/standard-names/import", {"modality": "NM", "file": (io.BytesIO(upload), "m.csv")},
                form_page="/config/standard-names?modality=NM", follow_redirects=True)
    assert "1 rule(s) added, 1 already there" in resp.get_data(as_text=True)
    names.apply_all(("NM",))
    got = {d: s.standard_name.name for d, s in _by_description().items()}
    assert got == {WHOLE_BODY: "PET FDG", HEART: "PET FDG", GE_PET: "PET FDG", BONE: "NM Bone"}

    # A local NM DRL on the config page, in MBq; a CT quantity for an NM name is refused.
    html = client.get("/config/drl").get_data(as_text=True)
    assert "Administered activity (MBq) – nuclear medicine" in html
    post(client, "/config/drl/levels", {"standard_name_id": str(fdg.id), "quantity": "activity", "value": "350",
                                        "source": "local NM audit"}, form_page="/config/drl")
    post(client, "/config/drl/levels", {"standard_name_id": str(fdg.id), "quantity": "activity_per_kg",
                                        "value": "4", "weight_min_kg": "", "source": "local NM audit"},
         form_page="/config/drl")
    levels = sorted((lv.quantity, lv.value) for lv in drl.local_levels("NM"))
    assert levels == [("activity", 350.0), ("activity_per_kg", 4.0)]
    resp = post(client, "/config/drl/levels", {"standard_name_id": str(fdg.id), "quantity": "dlp", "value": "1"},
                form_page="/config/drl", follow_redirects=True)
    assert "NM reference levels are for activity, activity_per_kg" in resp.get_data(as_text=True)
    html = client.get("/config/drl").get_data(as_text=True)
    assert "NM · PET FDG" in html and "350 MBq" in html and "4 MBq/kg" in html


def test_command_line_nm_rule_levels_and_comparison(nm, app_env):
    import json

    from tests.conftest import run_cli

    done = run_cli(["standard-name", "add", "nm", "PET FDG", "--field", "radiopharmaceutical", "--value", FDG],
                   app_env)
    assert done.returncode == 0, done.stderr
    assert "Added: NM 'PET FDG' <- radiopharmaceutical exact" in done.stdout
    db.session.expire_all()
    got = {d: (s.standard_name.name if s.standard_name_id else None) for d, s in _by_description().items()}
    assert got == {WHOLE_BODY: "PET FDG", HEART: "PET FDG", GE_PET: "PET FDG", BONE: None}
    bad = run_cli(["standard-name", "add", "NM", "X", "--field", "acquisition_protocol", "--value", "x"], app_env)
    assert bad.returncode == 2 and "Unknown field 'acquisition_protocol' for NM" in bad.stderr
    fdg = db.session.scalar(select(StandardName).where(StandardName.modality == "NM"))
    _local(fdg, "activity", 350.0)
    levels = json.loads(run_cli(["drl", "list", "--json", "--modality", "NM"], app_env).stdout)
    assert [(lv["standard_name"], lv["quantity"], lv["value"], lv["unit"], lv["origin"]) for lv in levels] == [
        ("PET FDG", "activity", 350.0, "MBq", "local")]  # no national NM set
    done = run_cli(["drl", "compare", "--modality", "NM", "--date-from", "2022-01-01", "--json"], app_env)
    assert done.returncode == 0, done.stderr
    rows = {r["system"]: r for r in json.loads(done.stdout)}
    # Room 1: 350, 380, 394, 400, 420; Room 2: 250; the GE system: 221.596288 (one study each).
    assert (rows["PET/CT Room 1"]["n"], rows["PET/CT Room 1"]["median"], rows["PET/CT Room 1"]["p75"]) == (
        5, 394.0, 400.0)
    assert rows["GE PET"]["median"] == pytest.approx(221.596288)
    assert rows["GE PET"]["ratio"] == pytest.approx(221.596288 / 350)
    text = run_cli(["drl", "compare", "--modality", "nm", "--quantity", "activity_per_kg", "--date-from",
                    "2022-01-01"], app_env).stdout
    assert text.startswith("NM Activity per kg (MBq/kg)") and "n=4" in text and "DRL=— ratio=—" in text
