"""Not-patient patterns are admin knowledge: they hold parts of names and IDs (OpenREM's legacy set
includes "*phy*", "*test*"...), so the pattern a study matched is shown only to those who may read the
patterns (admins) and the command line; everyone else learns only "possible test data", yes or no —
on the list, the study page, the JSON API and in exports."""
from __future__ import annotations

import csv
import json
import re

import pytest
from sqlalchemy import select

from doseapp.exports.run import run_export
from doseapp.models import Study, User, db
from tests.conftest import run_cli
from tests.web.studydata import client_for
from tests.web.test_lists import SLUG, loaded  # noqa: F401 (the module's test data, a fixture)


@pytest.fixture(scope="module")
def flagged(loaded):
    """A study that matched a not-patient pattern: (id, modality, UID, the pattern text)."""
    with loaded.app_context():
        s = db.session.scalars(select(Study).where(Study.not_patient_indicator.isnot(None)).order_by(Study.id)).first()
        assert s is not None and ":" in s.not_patient_indicator  # e.g. "name: *phy*"
        return s.id, s.modality, s.study_instance_uid, s.not_patient_indicator


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_list_says_possible_test_data_and_only_admins_see_the_pattern(loaded, flagged):
    sid, mod, _, pattern = flagged
    for who, shows in (("viewer", False), ("pid", False), ("adminviewer", True)):
        html = client_for(loaded, who).get(f"/{SLUG[mod]}/", query_string={"per_page": 200}).get_data(as_text=True)
        row = html.split(f'data-study-id="{sid}"')[1].split("</tr>")[0]
        assert "Possible test data" in row, who
        assert (pattern in row) is shows, who
        assert ("Possible test data:" in row) is shows, who


def test_study_page_says_yes_and_only_admins_see_the_pattern(loaded, flagged):
    sid, mod, _, pattern = flagged
    viewer = _text(client_for(loaded, "viewer").get(f"/{SLUG[mod]}/{sid}").get_data(as_text=True))
    assert "Possible test data? Yes" in viewer and pattern not in viewer and "Test patient indicators" not in viewer
    admin = _text(client_for(loaded, "adminviewer").get(f"/{SLUG[mod]}/{sid}").get_data(as_text=True))
    assert f"Test patient indicators? {pattern}" in admin


def test_api_gives_a_yes_no_and_the_pattern_to_admins_only(loaded, flagged):
    sid, mod, uid, pattern = flagged
    for who, shows in (("viewer", False), ("pid", False), ("adminviewer", True)):
        client = client_for(loaded, who)
        [row] = [r for r in client.get("/api/v1/studies", query_string={"modality": mod, "per_page": 500}).json["results"]
                 if r["id"] == sid]
        detail = client.get(f"/api/v1/studies/{uid}").json
        for answer in (row, detail):
            assert answer["possible_test_data"] is True, who
            assert ("not_patient_indicator" in answer) is shows, who
            assert pattern not in json.dumps(answer) or shows, who
        if shows:
            assert row["not_patient_indicator"] == detail["not_patient_indicator"] == pattern
    others = client_for(loaded, "viewer").get("/api/v1/studies", query_string={"per_page": 500}).json["results"]
    assert any(r["possible_test_data"] is False for r in others)


def test_exports_say_yes_to_non_admins_and_the_pattern_to_admins_and_the_shell(loaded, flagged, tmp_path, app_env):
    sid, mod, uid, pattern = flagged

    def column(path) -> dict[str, str]:
        with open(path, encoding="utf-8", newline="") as fh:
            rows = list(csv.reader(fh))
        where = rows[0].index("Test patient?")
        return {r[where] for r in rows[1:]}
    with loaded.app_context():
        users = {who: db.session.get(User, loaded.config["TEST_USER_IDS"][who]) for who in ("viewer", "adminviewer")}
        for who, fmt in (("viewer", "csv"), ("adminviewer", "csv")):
            out = tmp_path / f"{who}.{fmt}"
            run_export(mod, fmt, {}, out=out, user=users[who])
            values = column(out)
            if who == "viewer":
                assert values <= {"Yes", ""} and "Yes" in values
            else:
                assert pattern in values
    shell = tmp_path / "shell.csv"
    done = run_cli(["export", "--modality", mod.lower(), "--format", "csv", "--out", str(shell)], app_env)
    assert done.returncode == 0, done.stderr
    assert pattern in column(shell)
    shown = run_cli(["study", "show", uid, "--json"], app_env)
    assert shown.returncode == 0, shown.stderr
    answer = json.loads(shown.stdout)
    [mine] = [d for d in (answer if isinstance(answer, list) else [answer]) if d["id"] == sid]  # continued studies share a UID
    assert mine["not_patient_indicator"] == pattern


def test_xlsx_export_for_a_non_admin_has_no_pattern(loaded, flagged, tmp_path):
    import openpyxl

    _, mod, _, pattern = flagged
    with loaded.app_context():
        viewer = db.session.get(User, loaded.config["TEST_USER_IDS"]["viewer"])
        run_export(mod, "xlsx", {}, out=tmp_path / "v.xlsx", user=viewer)
    book = openpyxl.load_workbook(tmp_path / "v.xlsx", read_only=True)
    cells = {str(c) for ws in book.worksheets for row in ws.iter_rows(values_only=True) for c in row if c}
    assert pattern not in cells and "Yes" in cells


def test_mammography_csvs_for_a_non_admin_have_no_pattern(loaded, tmp_path):
    """Both mammography CSV layouts (one row per exposure, and one per study) say only Yes to a viewer."""
    pattern = "name: *phy*"
    with loaded.app_context():
        study = db.session.scalars(select(Study).where(Study.modality == "MG").order_by(Study.id)).first()
        before, study.not_patient_indicator = study.not_patient_indicator, pattern
        db.session.commit()
        try:
            users = {who: db.session.get(User, loaded.config["TEST_USER_IDS"][who]) for who in ("viewer", "adminviewer")}
            seen = {}
            for who in users:
                for fmt in ("csv", "csv-wide"):
                    out = tmp_path / f"{who}-{fmt}.csv"
                    run_export("MG", fmt, {}, out=out, user=users[who])
                    with open(out, encoding="utf-8", newline="") as fh:
                        rows = list(csv.reader(fh))
                    where = rows[0].index("Test patient?")
                    seen[who, fmt] = {r[where] for r in rows[1:]} - {""}
        finally:
            study.not_patient_indicator = before
            db.session.commit()
    assert seen["viewer", "csv"] == seen["viewer", "csv-wide"] == {"Yes"}
    assert pattern in seen["adminviewer", "csv"] and pattern in seen["adminviewer", "csv-wide"]
