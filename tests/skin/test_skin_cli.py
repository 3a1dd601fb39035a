"""`doseapp skin-map` and `doseapp skin-maps recompute`, run as the real command against the test
database; and `doseapp import` / `doseapp size-import`, which make maps in-process."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from doseapp.models import SkinDoseMap, Study, db
from doseapp.skin import store
from tests.conftest import TESTDATA, run_cli
from tests.skin.conftest import ALLURA, DX, GE, GE_REASON, UIDS, ZEE, ZEE_MC_PSD_GY, map_of, set_maps

FIELDS = ("peak_skin_dose_Gy", "peak_surface", "cells_over_3Gy", "events_used", "events_skipped", "phantom",
          "patient_height_m", "patient_mass_kg", "height_source", "mass_source", "orientation", "seconds")


def _lines(text: str) -> dict[str, str]:
    return {line.split()[0]: line.split(None, 1)[1] for line in text.splitlines() if line.strip()}


def test_skin_map_prints_the_fields_and_keeps_the_map(app, app_env, imported):
    ids = imported(ZEE)
    done = run_cli(["skin-map", UIDS[ZEE]], app_env)
    assert done.returncode == 0, done.stderr
    shown = _lines(done.stdout)
    assert tuple(shown) == FIELDS
    row = map_of(ids[ZEE])
    assert row.status == "ok"
    assert shown["peak_surface"] == "posterior" and shown["phantom"] == row.phantom
    assert float(shown["peak_skin_dose_Gy"]) == pytest.approx(row.peak_skin_dose_gy, rel=1e-5)
    assert row.peak_skin_dose_gy == pytest.approx(ZEE_MC_PSD_GY, rel=0.05)
    assert (shown["events_used"], shown["events_skipped"], shown["orientation"]) == ("8", "0", "HFS")
    assert shown["height_source"] == "assumed" and float(shown["patient_height_m"]) == pytest.approx(1.786)
    assert int(shown["events_used"]) == row.events_used and int(shown["events_skipped"]) == row.events_skipped

    # --json is as_dict; a current kept map is read, not computed again; --recompute computes again.
    first = json.loads(run_cli(["skin-map", UIDS[ZEE], "--json"], app_env).stdout)
    assert first == json.loads(json.dumps(store.as_dict(row)))
    assert first["ok"] is True and first["reason"] is None and first["study_id"] == ids[ZEE]
    assert set(FIELDS) <= set(first)
    again = json.loads(run_cli(["skin-map", str(ids[ZEE]), "--json"], app_env).stdout)  # by database id too
    assert again["computed_at"] == first["computed_at"]
    fresh = json.loads(run_cli(["skin-map", UIDS[ZEE], "--json", "--recompute"], app_env).stdout)
    assert fresh["computed_at"] > first["computed_at"]
    assert fresh["peak_skin_dose_Gy"] == pytest.approx(first["peak_skin_dose_Gy"])


def test_no_map_exits_3_with_the_reason(app, app_env, imported):
    ids = imported(GE)
    done = run_cli(["skin-map", UIDS[GE]], app_env)
    assert done.returncode == 3
    reason = map_of(ids[GE]).reason
    assert reason == GE_REASON and f"No skin dose map: {reason}" in done.stderr.splitlines()
    as_json = run_cli(["skin-map", UIDS[GE], "--json"], app_env)
    assert as_json.returncode == 3
    data = json.loads(as_json.stdout)
    assert data["ok"] is False and data["reason"] == reason and data["peak_skin_dose_Gy"] is None
    assert data["events_used"] == 0 and data["events_skipped"] == 8
    assert data["skipped"][0] == {"event": 1, "reason": "no source-to-isocentre distance"}


def test_unknown_or_not_fluoroscopy_exits_2(app, app_env, imported):
    ids = imported(DX)
    done = run_cli(["skin-map", "1.2.3.4.5.nothing"], app_env)
    assert done.returncode == 2 and "There is no fluoroscopy study 1.2.3.4.5.nothing." in done.stderr
    dx_uid = db.session.get(Study, ids[DX]).study_instance_uid
    assert run_cli(["skin-map", dx_uid], app_env).returncode == 2
    assert run_cli(["skin-map", str(ids[DX])], app_env).returncode == 2


def test_openskin_phantom_compares_without_keeping(app, app_env, imported):
    ids = imported(ZEE)
    done = run_cli(["skin-map", UIDS[ZEE], "--json", "--phantom", "openskin"], app_env)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["stored"] is False and data["ok"] is True and data["phantom"] == "openskin"
    # openSkin's own figure for this file is 1.717 mGy (testdata/skin/README.md).
    assert data["peak_skin_dose_Gy"] == pytest.approx(1.717e-3, rel=0.05)
    assert map_of(ids[ZEE]) is None  # nothing kept


def test_switched_off_maps_are_still_made_when_asked_by_name(app, app_env, imported):
    ids = imported(ZEE)
    set_maps(enabled=False)
    done = run_cli(["skin-map", UIDS[ZEE]], app_env)
    assert done.returncode == 0 and "switched off in the settings" in done.stderr
    assert map_of(ids[ZEE]).status == "ok"


def test_import_command_makes_the_maps_in_process(app, app_env):
    done = run_cli(["import", str(TESTDATA / ZEE), str(TESTDATA / GE), str(TESTDATA / DX)], app_env)
    assert done.returncode == 0, done.stderr
    assert "Skin dose maps of 2 fluoroscopy studies: 1 with a map, 1 without." in done.stderr
    db.session.expire_all()
    rows = {s.study_instance_uid: map_of(s.id) for s in db.session.scalars(select(Study).where(Study.modality == "RF"))}
    assert rows[UIDS[ZEE]].status == "ok" and rows[UIDS[GE]].status == "no_map"
    # Calculation on import switched off: the command leaves maps for later.
    set_maps(enabled=True, on_import=False)
    done = run_cli(["import", "--json", str(TESTDATA / ALLURA)], app_env)
    assert done.returncode == 0 and "Skin dose maps" not in done.stderr
    allura = db.session.scalar(select(Study).where(Study.study_instance_uid == UIDS[ALLURA]))
    assert map_of(allura.id) is None
    assert [json.loads(line)["status"] for line in done.stdout.splitlines()] == ["imported"]


def test_size_import_command_recomputes_kept_maps(app, app_env, imported, tmp_path):
    ids = imported(ZEE, ALLURA)
    assert run_cli(["skin-map", UIDS[ZEE]], app_env).returncode == 0  # Allura keeps no map
    csv = tmp_path / "sizes.csv"
    csv.write_text(f"uid,height\n{UIDS[ZEE]},175\n{UIDS[ALLURA]},180\n")
    done = run_cli(["size-import", str(csv), "--id-col", "uid", "--height-col", "height", "--si-uid"], app_env)
    assert done.returncode == 0, done.stderr
    assert "Skin dose maps of 1 studies with a new size recomputed: 1 with a map, 0 without." in done.stdout
    row = map_of(ids[ZEE])
    assert row.height_source == "extracted" and row.patient_height_m == pytest.approx(1.75)
    assert map_of(ids[ALLURA]) is None


def test_recompute_command(app, app_env, imported):
    ids = imported(ZEE, GE, ALLURA)
    done = run_cli(["skin-maps", "recompute"], app_env)  # --stale by default: all three are missing
    assert done.returncode == 0, done.stderr
    assert "3 studies (stale)" in done.stdout and "2 with a map, 1 without." in done.stdout
    assert "3 of 3 studies" in done.stderr  # the progress line
    assert "0 studies (stale)" in run_cli(["skin-maps", "recompute", "--stale"], app_env).stdout
    name = db.session.get(Study, ids[GE]).equipment.display_name
    done = run_cli(["skin-maps", "recompute", "--all", "--system", name], app_env)
    assert done.returncode == 0 and "1 studies (all)" in done.stdout and "0 with a map, 1 without." in done.stdout
    done = run_cli(["skin-maps", "recompute", "--all", "--since", "2999-01-01"], app_env)
    assert "0 studies (all)" in done.stdout
    done = run_cli(["skin-maps", "recompute", "--all", "--system", "No such room"], app_env)
    assert done.returncode == 2 and "no system has the display name 'No such room'" in done.stderr
    assert db.session.scalar(select(SkinDoseMap.id).where(SkinDoseMap.study_id == ids[ALLURA])) is not None
