"""Standard name rules on an empty database: a new import is named, conflicts are refused, the
mapping CSV goes round and a file with a bad row applies nothing."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from doseapp.models import StandardName, Study, db
from doseapp.exports import standard_names_csv as name_csv
from doseapp.standards import names
from tests.conftest import TESTDATA


def test_a_new_import_is_named_in_its_transaction(app):
    from doseapp.ingest import import_file

    names.add_rule("CT", "CT Thorax", "study_description", "pattern", "thorax^*")
    names.add_rule("CT", "CT TAP scan", "acquisition_protocol", "exact", "TAP")
    db.session.commit()
    import_file(TESTDATA / "CT-RDSR-Siemens_Flash-TAP-SS.dcm")
    study = db.session.scalar(select(Study))
    assert study.study_description == "Thorax^TAP (Adult)" and study.standard_name.name == "CT Thorax"
    assert {e.acquisition_protocol: (e.standard_name.name if e.standard_name else None) for e in study.ct_events} \
        == {"TAP": "CT TAP scan", "PreMonitoring": None, "Monitoring": None, "testæøå": None}


def test_a_rule_giving_a_value_a_second_name_is_refused(app):
    names.add_rule("CT", "CT Head", "study_description", "exact", "Head routine")
    names.add_rule("CT", "CT Head", "study_description", "pattern", "*head*")
    with pytest.raises(names.RuleError, match="already maps to 'CT Head'"):
        names.add_rule("CT", "CT Brain", "study_description", "exact", "Head routine")
    with pytest.raises(names.RuleError, match="already maps to 'CT Head'"):
        names.add_rule("CT", "CT Brain", "study_description", "pattern", "*HEAD*")
    with pytest.raises(names.RuleError, match="Unknown field"):
        names.add_rule("RF", "X", "acquisition_protocol", "exact", "A")
    with pytest.raises(names.RuleError, match="Unknown modality"):
        names.add_rule("XA", "X", "study_description", "exact", "A")
    # Another field, another modality, or a different case of an exact value: allowed.
    names.add_rule("CT", "CT Brain", "requested_procedure", "exact", "Head routine")
    names.add_rule("DX", "Skull", "study_description", "exact", "Head routine")
    names.add_rule("CT", "CT Brain", "study_description", "exact", "HEAD ROUTINE")
    db.session.commit()
    rules = names.load_rules("CT")
    assert rules.name_for("study_description", "Head routine") == rules.name_for("study_description", "head x")
    assert rules.name_for("study_description", "HEAD ROUTINE") != rules.name_for("study_description", "Head routine")


def test_mapping_csv_round_trip_and_a_bad_row_applies_nothing(app):
    names.add_rule("CT", "CT Head", "study_description", "exact", "=HYPERLINK(\"x\")")
    names.add_rule("DX", "Chest", "acquisition_protocol", "pattern", "*chest*")
    db.session.commit()
    text = name_csv.export_text()
    assert text.splitlines() == ["modality,standard_name,field,match,value",
                                 "CT,CT Head,study_description,exact,\"'=HYPERLINK(\"\"x\"\")\"",
                                 "DX,Chest,acquisition_protocol,pattern,*chest*"]
    for sn in db.session.scalars(select(StandardName)).all():
        names.delete_name(sn)
    db.session.commit()
    assert name_csv.import_rows(name_csv.parse(text.encode())) == {"added": 2, "already": 0}
    db.session.commit()
    assert name_csv.export_text() == text
    assert name_csv.import_rows(name_csv.parse(text.encode())) == {"added": 0, "already": 2}
    bad = (text + "RF,Angio,acquisition_protocol,exact,A\r\nCT,Other,study_description,exact,=HYPERLINK(\"x\")\r\n"
           "MG,Mammo,study_description,exact,Bilateral\r\n")
    with pytest.raises(name_csv.ImportErrors) as err:
        name_csv.import_rows(name_csv.parse(bad.encode()))
    assert err.value.problems[0].startswith("row 4: Unknown field 'acquisition_protocol' for RF")
    assert err.value.problems[1].startswith("row 5: Study description exact")
    assert len(err.value.problems) == 2
    assert db.session.scalar(select(db.func.count()).select_from(StandardName)) == 2  # no Mammo




def test_the_apply_job_names_stored_studies_with_progress(app):
    from doseapp.models import Job
    from doseapp.runtime.jobs import execute
    from doseapp.standards.name_jobs import enqueue_apply
    from tests.web.config_helpers import imp

    imp("DX-Im-Carestream_DRX.dcm", "DX-RDSR-Canon_CXDI.dcm", "RF-RDSR-Siemens-Zee.dcm")
    assert db.session.scalars(select(Study.standard_name_id)).all() == [None, None, None]
    names.add_rule("DX", "Chest", "study_description", "pattern", "* ch?st")
    names.add_rule("DX", "Chest", "study_description", "exact", "CR THORAX")
    db.session.commit()
    job = enqueue_apply(why="test")
    execute(job.id, job.rq_id)  # as a worker runs it
    db.session.expire_all()
    job = db.session.get(Job, job.id)
    assert job.status == "finished" and (job.progress_done, job.progress_total) == (5, 5)  # a step per modality
    assert job.result == {"studies": {"CT": 0, "RF": 0, "DX": 2, "MG": 0, "NM": 0},
                          "events": {"CT": 0, "RF": 0, "DX": 0, "MG": 0}}
    assert job.message == "2 studies and 0 events have a standard name."
    assert sorted((s.modality, s.standard_name.name if s.standard_name_id else None)
                  for s in db.session.scalars(select(Study))) == [("DX", "Chest"), ("DX", "Chest"), ("RF", None)]
