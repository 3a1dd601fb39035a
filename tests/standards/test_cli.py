"""`doseapp standard-name add|list|export|import`, the interface the checks use."""
from __future__ import annotations

import json

from sqlalchemy import select

from doseapp.models import Study, db
from tests.conftest import run_cli
from tests.web.config_helpers import imp


def test_add_list_export_import(app, app_env, tmp_path):
    imp("CT-RDSR-Siemens-Multi-1.dcm", "CT-RDSR-Siemens_Flash-TAP-SS.dcm", "CT-ESR-GE_Optima.dcm")
    done = run_cli(["standard-name", "add", "CT", "CT Thorax", "--field", "study_description",
                    "--pattern", "thorax^*"], app_env)
    assert done.returncode == 0, done.stderr
    assert "CT: 2 studies, 0 events with a standard name" in done.stdout
    done = run_cli(["standard-name", "add", "ct", "CT TAP scan", "--field", "acquisition_protocol", "--value", "TAP"],
                   app_env)
    assert done.returncode == 0 and "CT: 2 studies, 1 events with a standard name" in done.stdout, done.stdout
    db.session.expire_all()
    assert sorted((s.study_description, s.standard_name.name if s.standard_name_id else None)
                  for s in db.session.scalars(select(Study))) == [
        ("Colonography", None), ("Thorax^RTP_4DCT_Thorax_C (Adult)", "CT Thorax"), ("Thorax^TAP (Adult)", "CT Thorax")]

    clash = run_cli(["standard-name", "add", "CT", "Other", "--field", "study_description", "--pattern", "THORAX^*"],
                    app_env)
    assert clash.returncode == 2 and "already maps to 'CT Thorax'" in clash.stderr
    bad = run_cli(["standard-name", "add", "XA", "X", "--field", "study_description", "--pattern", "*"], app_env)
    assert bad.returncode == 2 and "Unknown modality 'XA'" in bad.stderr
    bad = run_cli(["standard-name", "add", "RF", "X", "--field", "acquisition_protocol", "--pattern", "*"], app_env)
    assert bad.returncode == 2 and "Unknown field 'acquisition_protocol' for RF" in bad.stderr

    listed = json.loads(run_cli(["standard-name", "list", "--json"], app_env).stdout)
    assert listed == [
        {"modality": "CT", "name": "CT TAP scan", "studies": 0,
         "rules": [{"field": "acquisition_protocol", "match": "exact", "value": "TAP"}]},
        {"modality": "CT", "name": "CT Thorax", "studies": 2,
         "rules": [{"field": "study_description", "match": "pattern", "value": "thorax^*"}]}]

    out = tmp_path / "map.csv"
    assert run_cli(["standard-name", "export", str(out)], app_env).returncode == 0
    assert out.read_text().splitlines() == ["modality,standard_name,field,match,value",
                                            "CT,CT TAP scan,acquisition_protocol,exact,TAP",
                                            "CT,CT Thorax,study_description,pattern,thorax^*"]
    out.write_text(out.read_text() + "DX,Chest,study_description,exact,XR CHEST\r\nDX,Chest,nowhere,exact,X\r\n")
    refused = run_cli(["standard-name", "import", str(out)], app_env)
    assert refused.returncode == 2 and "row 5: Unknown field 'nowhere' for DX" in refused.stderr
    assert "Nothing was imported." in refused.stderr
    out.write_text("\r\n".join(out.read_text().splitlines()[:-1]) + "\r\n")
    done = run_cli(["standard-name", "import", str(out)], app_env)
    assert done.returncode == 0 and "1 rules added, 2 already there." in done.stdout, done.stderr
