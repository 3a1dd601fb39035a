"""C-FIND matching over the index of kept objects (find_scp), on the real database: every matching
rule against the set the test computes from what it indexed. The dcmtk end-to-end checks are in
test_qr_scp.py."""
from __future__ import annotations

import pytest
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from doseapp.dicomnet import find_scp, object_index
from doseapp.dicomnet.find_scp import QueryError, answers, parse
from doseapp.models import SystemSettings, db

# (patient id, name, study date, study time, accession, description, [(modality, instances)])
STUDIES = [
    ("P1", "Doe^John", "20240105", "083000", "ACC1", "CT HEAD", [("CT", 2), ("SR", 1)]),
    ("P1", "Doe^John", "20240610", "141500", "ACC2", "CT CHEST", [("CT", 1)]),
    ("P2", "DOE^JANE", "20231231", "235959", "ACC3", "MAMMO", [("MG", 3), ("SR", 1)]),
    ("P3", "Smith^Ann", "20240301", "120000", "XACC4", "DX CHEST", [("DX", 1)]),
    ("Q_1", "Müller^Jörg", "20240302", "120030.5", "ACC%5", "RF", [("RF", 1)]),
]


@pytest.fixture
def indexed(app, tmp_path):
    settings = SystemSettings.get()
    settings.id_stored, settings.id_hashed, settings.name_stored, settings.name_hashed = True, False, True, False
    db.session.commit()
    rows = []
    for pid, name, date, time, accession, description, series in STUDIES:
        study_uid = generate_uid()
        for number, (modality, count) in enumerate(series, 1):
            series_uid = generate_uid()
            for n in range(1, count + 1):
                ds = Dataset()
                ds.PatientID, ds.PatientName, ds.StudyDate, ds.StudyTime = pid, name, date, time
                ds.AccessionNumber, ds.StudyDescription, ds.Modality = accession, description, modality
                ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SeriesNumber = study_uid, series_uid, number
                ds.SOPInstanceUID, ds.SOPClassUID, ds.InstanceNumber = generate_uid(), "1.2.840.10008.5.1.4.1.1.7", n
                object_index.record(tmp_path / f"{ds.SOPInstanceUID}.dcm", ds, "MATCHER", settings)
                rows.append({"pid": pid, "name": name, "date": date, "time": time, "acc": accession,
                             "study": study_uid, "series": series_uid, "modality": modality,
                             "sop": str(ds.SOPInstanceUID), "number": n})
    return rows


def ask(model: str, level: str, **keys) -> list[Dataset]:
    ds = Dataset()
    ds.QueryRetrieveLevel = level
    for keyword, value in keys.items():
        setattr(ds, keyword, value)
    query = parse(ds, model)
    with db.engine.connect() as connection:
        return list(answers(connection, query, "MATCHER"))


def values(found, keyword) -> set:
    return {str(getattr(ds, keyword)) for ds in found}


def test_study_level_matching_rules(indexed):
    studies = {r["study"]: r for r in indexed}
    by = lambda pred: {uid for uid, r in studies.items() if pred(r)}  # noqa: E731
    cases = [
        ({"PatientName": "doe^*"}, by(lambda r: r["name"].lower().startswith("doe^"))),  # PN: case-insensitive
        ({"PatientName": "DOE^JOHN"}, by(lambda r: r["name"] == "Doe^John")),
        ({"PatientName": "M?ller*"}, by(lambda r: r["pid"] == "Q_1")),  # non-ASCII, ? is one character
        ({"AccessionNumber": "ACC?"}, by(lambda r: r["acc"] in ("ACC1", "ACC2", "ACC3"))),
        ({"AccessionNumber": "acc1"}, set()),  # not a PN: case counts
        ({"AccessionNumber": "*cc*"}, set()),
        ({"AccessionNumber": "ACC%5"}, by(lambda r: r["acc"] == "ACC%5")),  # SQL's wildcards are literal
        ({"AccessionNumber": "ACC_"}, set()),
        ({"PatientID": "Q?1"}, by(lambda r: r["pid"] == "Q_1")),
        ({"StudyDate": "20240101-20240331"}, by(lambda r: "20240101" <= r["date"] <= "20240331")),
        ({"StudyDate": "-20231231"}, by(lambda r: r["date"] <= "20231231")),
        ({"StudyDate": "20240301-"}, by(lambda r: r["date"] >= "20240301")),
        ({"StudyDate": "20240610"}, by(lambda r: r["date"] == "20240610")),
        ({"StudyTime": "1200-1200"}, by(lambda r: r["time"].startswith("1200"))),
        ({"StudyTime": "-0830"}, by(lambda r: r["time"] <= "083059")),
        ({"ModalitiesInStudy": "SR"}, by(lambda r: any(x["modality"] == "SR" and x["study"] == r["study"]
                                                       for x in indexed))),
        ({"ModalitiesInStudy": ["DX", "RF"]}, by(lambda r: r["pid"] in ("P3", "Q_1"))),
        ({"StudyDescription": "*CHEST"}, by(lambda r: r["acc"] in ("ACC2", "XACC4"))),
        ({"PatientName": "", "StudyDate": ""}, set(studies)),  # universal
        ({"StudyInstanceUID": list(studies)[:2]}, set(list(studies)[:2])),  # list of UIDs
    ]
    for keys, expected in cases:
        assert values(ask("study", "STUDY", **keys), "StudyInstanceUID") == expected, keys


def test_answers_hold_what_was_asked_and_counts(indexed):
    [answer] = ask("study", "STUDY", AccessionNumber="ACC1", PatientName="", ModalitiesInStudy="",
                   NumberOfStudyRelatedSeries="", NumberOfStudyRelatedInstances="", StudyDescription="",
                   ReferringPhysicianName="")
    assert answer.SpecificCharacterSet == "ISO_IR 192" and answer.QueryRetrieveLevel == "STUDY"
    assert answer.RetrieveAETitle == "MATCHER"
    assert (str(answer.PatientName), answer.ModalitiesInStudy, answer.NumberOfStudyRelatedSeries,
            answer.NumberOfStudyRelatedInstances, answer.StudyDescription) == ("Doe^John", ["CT", "SR"], 2, 3, "CT HEAD")
    assert "ReferringPhysicianName" in answer and not answer.ReferringPhysicianName  # asked, not held: empty
    assert "StudyInstanceUID" in answer  # the unique key, always
    patients = ask("patient", "PATIENT", PatientID="", PatientName="", NumberOfPatientRelatedStudies="",
                   NumberOfPatientRelatedInstances="")
    assert {(p.PatientID, p.NumberOfPatientRelatedStudies, p.NumberOfPatientRelatedInstances) for p in patients} == \
        {("P1", 2, 4), ("P2", 1, 4), ("P3", 1, 1), ("Q_1", 1, 1)}


def test_lower_levels_and_hierarchy(indexed):
    p1_studies = {r["study"] for r in indexed if r["pid"] == "P1"}
    found = ask("patient", "STUDY", PatientID="P1", StudyDate="")
    assert values(found, "StudyInstanceUID") == p1_studies
    study = next(r["study"] for r in indexed if r["acc"] == "ACC3")
    series = ask("study", "SERIES", StudyInstanceUID=study, Modality="MG", NumberOfSeriesRelatedInstances="")
    assert [(s.Modality, s.NumberOfSeriesRelatedInstances) for s in series] == [("MG", 3)]
    images = ask("study", "IMAGE", StudyInstanceUID=study, SeriesInstanceUID=series[0].SeriesInstanceUID,
                 InstanceNumber="2", SOPClassUID="")
    assert [(i.InstanceNumber, i.SOPClassUID) for i in images] == [(2, "1.2.840.10008.5.1.4.1.1.7")]
    assert values(ask("patient", "IMAGE", PatientID="P2", StudyInstanceUID=study,
                      SeriesInstanceUID=series[0].SeriesInstanceUID), "SOPInstanceUID") == \
        {r["sop"] for r in indexed if r["series"] == series[0].SeriesInstanceUID}
    # The unique keys above the level: required, single, no wildcard; levels outside the model refused.
    for model, level, keys in [("patient", "STUDY", {}), ("patient", "STUDY", {"PatientID": "P*"}),
                               ("study", "SERIES", {"StudyInstanceUID": [study, "1.2.3.4"]}),
                               ("study", "IMAGE", {"StudyInstanceUID": study}), ("study", "PATIENT", {}),
                               ("patient_study", "SERIES", {"PatientID": "P1", "StudyInstanceUID": study}),
                               ("study", "", {})]:
        with pytest.raises(QueryError) as exc:
            ask(model, level, **keys)
        assert exc.value.status == 0xA900, (model, level, keys)


def test_hashed_ids_never_match_nor_answer_in_clear(app, tmp_path):
    from doseapp.security.privacy import keyed_hash

    settings = SystemSettings.get()
    settings.id_stored, settings.id_hashed = True, True
    db.session.commit()
    ds = Dataset()
    ds.PatientID, ds.StudyInstanceUID, ds.SeriesInstanceUID = "CLEAR-77", generate_uid(), generate_uid()
    ds.SOPInstanceUID, ds.SOPClassUID = generate_uid(), "1.2.840.10008.5.1.4.1.1.7"
    object_index.record(tmp_path / "x.dcm", ds, "MATCHER", settings)
    assert ask("patient", "PATIENT", PatientID="CLEAR-77") == []
    assert ask("patient", "PATIENT", PatientID="CLEAR*") == []
    [everyone] = ask("patient", "PATIENT", PatientID="")
    assert everyone.PatientID == keyed_hash("CLEAR-77") and "CLEAR" not in str(everyone)
    assert len(ask("study", "STUDY", PatientID=keyed_hash("CLEAR-77"))) == 1


@pytest.mark.parametrize("keys, index", [
    ({"AccessionNumber": "ACC2"}, "ix_dicom_stored_study_accession_number"),
    ({"PatientName": "KALO*"}, {"sqlite": "ix_dicom_stored_study_patient_name_nocase_sqlite",
                                "postgresql": "ix_dicom_stored_study_patient_name_lower_pg"}),
    ({"PatientName": "doe^john"}, {"sqlite": "ix_dicom_stored_study_patient_name_nocase_sqlite",
                                   "postgresql": "ix_dicom_stored_study_patient_name_lower_pg"}),
])
def test_accession_and_name_prefix_are_index_lookups(indexed, keys, index):
    """The two scans docs/performance.md found (accession number; case-insensitive name prefix) are
    index lookups on both databases (migration 0015), by the plan of find_scp's own statement. On
    PostgreSQL sequential scans are priced out: the test's few rows would make one cheaper."""
    ds = Dataset()
    ds.QueryRetrieveLevel = "STUDY"
    ds.StudyInstanceUID = ""
    for keyword, value in keys.items():
        setattr(ds, keyword, value)
    dialect = db.engine.dialect
    sql = str(find_scp.statement(parse(ds, "study"), dialect.name).compile(
        dialect=dialect, compile_kwargs={"literal_binds": True}))
    connection = db.session.connection()
    if dialect.name == "postgresql":
        connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
        plan = "\n".join(r[0] for r in connection.exec_driver_sql("EXPLAIN " + sql.replace("%", "%%")))
    else:
        plan = "\n".join(str(r[-1]) for r in connection.exec_driver_sql("EXPLAIN QUERY PLAN " + sql))
    name = index if isinstance(index, str) else index[dialect.name]
    assert name in plan, plan
    found = {str(a.StudyInstanceUID) for a in answers(connection, parse(ds, "study"), "MATCHER")}
    wanted = next(iter(keys.values()))
    same = {"AccessionNumber": lambda r: r["acc"] == wanted,
            "PatientName": lambda r: (r["name"].lower().startswith(wanted[:-1].lower()) if wanted.endswith("*")
                                      else r["name"].lower() == wanted.lower())}[next(iter(keys))]
    assert found == {r["study"] for r in indexed if same(r)}
    assert found or wanted == "KALO*"
