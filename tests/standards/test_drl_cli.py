"""`doseapp drl list --json` and `doseapp drl compare`, in a subprocess on the test database."""
from __future__ import annotations

import json

from doseapp.models import ReferenceLevel, db
from tests.conftest import run_cli
from tests.standards.drl_helpers import standard_name, study, system


def test_list_and_compare(app, app_env):
    eq = system("CT Room A")
    name = standard_name("CT", "CT Head")
    db.session.add(ReferenceLevel(standard_name_id=name.id, quantity="ctdivol", value=50.0, source="local audit 2026"))
    for v in (700, 800, 900):
        study(name, eq, total_dlp_mgycm=v)
    db.session.commit()
    done = run_cli(["drl", "list", "--json", "--modality", "CT"], app_env)
    assert done.returncode == 0, done.stderr
    levels = json.loads(done.stdout)
    head = [lv for lv in levels if lv["standard_name"] == "CT Head" and lv["quantity"] == "dlp"
            and lv["patient_group"] == "adult"]
    assert head[0]["value"] == 790 and head[0]["origin"] == "national" and "GOV.UK" in head[0]["source"]
    local = [lv for lv in levels if lv["origin"] == "local"]
    assert local[0]["value"] == 50 and local[0]["source"] == "local audit 2026"
    assert all(lv["source"] for lv in levels)
    done = run_cli(["drl", "compare", "--modality", "CT", "--json"], app_env)
    assert done.returncode == 0, done.stderr
    [row] = json.loads(done.stdout)
    assert (row["system"], row["n"], row["median"], row["p75"], row["drl"]) == ("CT Room A", 3, 800.0, 850.0, 790.0)
    text = run_cli(["drl", "compare", "--modality", "ct"], app_env)
    assert "n=3" in text.stdout and "too few" in text.stdout
    bad = run_cli(["drl", "compare", "--modality", "CT", "--quantity", "dap"], app_env)
    assert bad.returncode == 2 and "quantity for CT" in bad.stderr
    assert run_cli(["drl", "refresh"], app_env).returncode == 0
