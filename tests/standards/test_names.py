"""Standard names on the real test files: exact and pattern rules, precedence, the set-based job
against the ingest-time assignment, conflicts, the mapping CSV, the filter, the API and exports."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from doseapp.models import AuditEntry, CtEvent, StandardName, Study, XrayEvent, db
from doseapp.exports import standard_names_csv as name_csv
from doseapp.standards import names
from tests.conftest import TESTDATA
from tests.web import studydata
from tests.web.tables import read_table


@pytest.fixture(scope="module")
def loaded(_session_app):
    studydata.load_testdata(_session_app)
    return _session_app


@pytest.fixture
def ctx(loaded):
    """The test files, with no standard names (each test adds its own rules)."""
    with loaded.app_context():
        _clear()
        yield loaded
        _clear()
        db.session.remove()


def _clear():
    for sn in db.session.scalars(select(StandardName)).all():
        names.delete_name(sn)
    db.session.execute(db.delete(AuditEntry))
    db.session.commit()


def _named(modality: str) -> dict:
    """{study description (or the first protocol when none): standard name} of a modality's studies."""
    out = {}
    for s in db.session.scalars(select(Study).where(Study.modality == modality).order_by(Study.id)):
        events = s.ct_events if modality == "CT" else s.xray_events
        key = s.study_description or s.requested_procedure_code_meaning or next(
            (e.acquisition_protocol for e in events if e.acquisition_protocol), None)
        out[key] = s.standard_name.name if s.standard_name_id else None
    return out


def _event_names(table, protocol: str) -> set:
    return {sn for (sn,) in db.session.execute(
        select(StandardName.name).select_from(table).outerjoin(StandardName, StandardName.id == table.standard_name_id)
        .where(table.acquisition_protocol == protocol))}


def _rules():
    names.add_rule("CT", "CT Thorax", "study_description", "pattern", "THORAX^*")
    names.add_rule("CT", "CT Chest abdomen pelvis", "study_description", "exact", "Thorax^TAP (Adult)")
    names.add_rule("CT", "CT Abdomen", "acquisition_protocol", "pattern", "abdomen*")
    names.add_rule("CT", "CT Localiser", "acquisition_protocol", "exact", "Topogram")
    names.add_rule("DX", "Chest", "study_description", "exact", "XR CHEST")
    names.add_rule("DX", "Chest", "study_description", "pattern", "cr thorax")
    names.add_rule("DX", "Fingers", "acquisition_protocol", "pattern", "P Finger(s) *")
    names.add_rule("MG", "Mammography tomosynthesis", "study_description", "pattern", "*tomosynthesis*")
    names.add_rule("MG", "Mammography screening", "acquisition_protocol", "exact", "ROUTINE")
    names.add_rule("RF", "Gastrostomy", "requested_procedure", "exact", "Gastrostomy Insertion")
    names.add_rule("RF", "Cardiac", "study_description", "pattern", "cardiac*")
    db.session.commit()


def test_exact_and_pattern_rules_name_the_test_studies_and_events(ctx):
    _rules()
    outcome = names.apply_all()
    ct = _named("CT")
    # The pattern ignores case; the exact rule wins over it for the TAP study.
    assert ct["Thorax^Thorax_NON_CON (Adult)"] == "CT Thorax"
    assert ct["Thorax^RTP_4DCT_Thorax_C (Adult)"] == "CT Thorax"
    assert ct["Thorax^TAP (Adult)"] == "CT Chest abdomen pelvis"
    # No description: the name of its events' protocol ("Abdomen Routine ZC (NR)").
    assert ct["Abdomen Routine ZC (NR)"] == "CT Abdomen"
    # A description that maps nothing, with a Topogram event: the events' most frequent name.
    assert ct["PET/CT Ganzkoerper FDG"] == "CT Localiser"
    assert ct["Colonography"] is None and ct["CT Chest With Contrast"] is None
    assert _event_names(CtEvent, "Topogram") == {"CT Localiser"}
    assert _event_names(CtEvent, "Abdomen Routine ZC (NR)") == {"CT Abdomen"}
    assert _event_names(CtEvent, "Thorax") == {None}  # the study's name is not its events'
    dx = _named("DX")
    assert dx["XR CHEST"] == dx["CR THORAX"] == "Chest"
    assert dx["P Finger(s) DP"] == "Fingers" and dx["AEC"] is None
    assert _event_names(XrayEvent, "P Finger(s) LAT") == {"Fingers"}
    mg = _named("MG")
    assert mg["XR Breast tomosynthesis Both"] == "Mammography tomosynthesis"
    assert mg["ROUTINE"] == "Mammography screening" and mg["Bilateral Mammography"] is None
    rf = _named("RF")
    assert rf["Gastrostomy Insertion"] == "Gastrostomy"
    assert rf["Cardiac"] == "Cardiac" and rf["Cardiac pacemaker temporary"] == "Cardiac"
    # Fluoroscopy: study-level names only.
    rf_events = select(XrayEvent.standard_name_id).join(Study).where(Study.modality == "RF",
                                                                     XrayEvent.standard_name_id.isnot(None))
    assert db.session.scalars(rf_events).all() == []
    assert outcome.studies == {"CT": 5, "DX": 3, "MG": 2, "RF": 3, "NM": 0}


def test_the_job_gives_what_ingest_gives(ctx):
    _rules()
    names.apply_all()
    by_job = _snapshot()
    for model in (Study, CtEvent, XrayEvent):
        db.session.execute(db.update(model).values(standard_name_id=None))
    db.session.commit()
    for study in db.session.scalars(select(Study)).all():
        names.assign_study(study)
    db.session.commit()
    assert _snapshot() == by_job
    assert sum(1 for v in by_job[0].values() if v) == 13


def _snapshot():
    return (dict(db.session.execute(select(Study.id, Study.standard_name_id)).all()),
            dict(db.session.execute(select(CtEvent.id, CtEvent.standard_name_id)).all()),
            dict(db.session.execute(select(XrayEvent.id, XrayEvent.standard_name_id)).all()))


def test_filter_api_and_export_give_the_mapped_studies(ctx, tmp_path):
    import csv

    from doseapp.exports.run import run_export
    from doseapp.filters import study_query

    _rules()
    names.apply_all()

    def descriptions(modality, value):
        q = study_query(modality, {"standard_name": value})
        return sorted(s.study_description or "-" for s in db.session.scalars(q.select()))

    assert descriptions("CT", "ct thorax") == ["Thorax^RTP_4DCT_Thorax_C (Adult)", "Thorax^Thorax_NON_CON (Adult)"]
    assert descriptions("CT", "abdomen") == ["-", "Thorax^TAP (Adult)"]  # contains: "CT Chest abdomen pelvis" too
    assert descriptions("CT", '"ct abdomen"') == ["-"]
    # Studies whose events have the name match too (the two Thorax studies have a Topogram).
    assert descriptions("CT", "=CT Localiser") == ["PET/CT Ganzkoerper FDG", "Thorax^RTP_4DCT_Thorax_C (Adult)",
                                                  "Thorax^Thorax_NON_CON (Adult)"]
    assert descriptions("RF", "cardiac") == ["Cardiac", "Cardiac pacemaker temporary"]
    assert descriptions("DX", "nothing like it") == []

    client = studydata.client_for(ctx, "viewer")
    resp = client.get("/api/v1/studies?modality=DX&standard_name=chest")
    assert resp.status_code == 200
    assert sorted((r["study_description"], r["standard_name"]) for r in resp.get_json()["results"]) == \
        [("CR THORAX", "Chest"), ("XR CHEST", "Chest")]

    out = tmp_path / "dx.csv"
    run_export("DX", "csv", {"standard_name": "fingers"}, out=out)
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert [(r["Standard name"], r["E1 Protocol"], r["E1 Standard name"]) for r in rows] == \
        [("Fingers", "P Finger(s) DP", "Fingers")]


def _page_events(client, modality: str, description: str | None = None, protocol: str | None = None):
    q = select(Study).where(Study.modality == modality)
    if description:
        q = q.where(Study.study_description == description)
    if protocol:
        q = q.where(Study.id.in_(select(XrayEvent.study_id).where(XrayEvent.acquisition_protocol == protocol)))
    study = db.session.scalar(q.order_by(Study.id).limit(1))
    html = client.get(f"/{modality.lower()}/{study.id}").get_data(as_text=True)
    return read_table(html, "events"), html


def test_the_study_page_shows_each_events_standard_name(ctx):
    """The event tables carry the event's own name (from its protocol) beside the protocol; a study
    whose events have none shows no such column and does not call it "not recorded"."""
    _rules()
    names.apply_all()
    client = studydata.client_for(ctx, "viewer")
    ct, html = _page_events(client, "CT", "Thorax^Thorax_NON_CON (Adult)")
    assert ct.headings.index("Standard name") == ct.headings.index("Protocol") + 1
    # Two reports of one study: the first cell names the report each event came from.
    assert list(zip(ct.column("Protocol"), ct.column("Standard name"))) == [
        ("Topogram from R1", "CT Localiser"), ("Thorax from R1", "—"),
        ("Topogram from R2", "CT Localiser"), ("Thorax from R2", "—")]
    assert 'id="standard-name">CT Thorax<' in html  # the study's own name stays in the summary
    dx, _ = _page_events(client, "DX", protocol="P Finger(s) DP")
    assert set(zip(dx.column("Protocol"), dx.column("Standard name"))) == {("P Finger(s) DP", "Fingers"),
                                                                           ("P Finger(s) LAT", "Fingers")}
    mg, _ = _page_events(client, "MG", protocol="ROUTINE")
    assert list(zip(mg.column("Protocol"), mg.column("Standard name"))) == [("ROUTINE", "Mammography screening")]
    unnamed, html = _page_events(client, "CT", "Colonography")
    assert "Standard name" not in unnamed.headings
    assert "standard name" not in (re.search(r'id="not-recorded">([^<]*)', html) or [None, ""])[1]
