"""Query-retrieve against a real PACS (Orthanc): the seed's rules select exactly the dose objects,
C-MOVE and C-GET retrieve them, the import gives the real dose values, a second run retrieves
nothing."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from doseapp.dicomnet.qr import QrClient, run_query
from doseapp.dicomnet.qr_filter import QueryOptions
from doseapp.dicomnet.qr_jobs import new_query
from doseapp.dicomnet.qr_retrieve import plan, retrieve
from doseapp.models import DicomQueryStudy, DicomTransaction, Job, db
from tests.qr.conftest import QUERY_DAY, imported_sop_uids, log_in, study_by_uid, work


def _options(**kw) -> QueryOptions:
    base = dict(modalities=["CT", "MG", "DX", "FL"], date_from=QUERY_DAY, date_until=QUERY_DAY, desc_exclude=["imported"])
    return QueryOptions(**(base | kw))


def _query(nodes, options, method="move"):
    remote, store = nodes
    query = new_query(remote.id, store.id, options, method=method, enqueue_job=False)
    run_query(query)
    return query


def expected_objects(pacs) -> set[str]:
    """What the seed's rules select: each study's RDSR, the Philips Dose Info capture, the two
    mammography images (no RDSR there), and nothing of the out-of-range, SR-only or excluded studies."""
    return {pacs.sop("ct_rdsr"), pacs.sop("ct_philips"), pacs.sop("mg", 0), pacs.sop("mg", 1), pacs.sop("dx"),
            pacs.sop("rf")}


def expected_series(pacs) -> set[str]:
    return {*(str(pacs.content[n][0].SeriesInstanceUID) for n in ("ct_rdsr", "ct_philips", "dx", "rf")),
            *(str(ds.SeriesInstanceUID) for ds in pacs.content["mg"][:2])}


def _reasons(query) -> dict[str, str | None]:
    rows = db.session.scalars(select(DicomQueryStudy).where(DicomQueryStudy.query_id == query.id)).all()
    return {r.study_instance_uid: r.excluded_reason for r in rows}


def test_move_retrieves_exactly_the_selected_dose_objects_then_nothing(nodes, pacs, store_scp, app):
    query = _query(nodes, _options())
    requests = plan(query)
    assert {r.sop_uid or r.series_uid for r in requests} == expected_series(pacs)
    assert query.summary == {"CT": 2, "MG": 1, "DX": 1, "FL": 1}
    reasons = _reasons(query)
    assert "excluded term 'imported'" in reasons[pacs.uid("imported")]
    assert pacs.uid("sr_only") not in reasons and pacs.uid("old") not in reasons  # the PACS matched them out

    result = retrieve(query, "move")
    assert (result["requested"], result["received"], result["failed"]) == (6, 6, 0)
    work(app)
    assert imported_sop_uids() == expected_objects(pacs)
    assert study_by_uid(pacs.uid("ct_rdsr")).total_dlp_mgycm == pytest.approx(724.52, abs=0.01)
    assert study_by_uid(pacs.uid("ct_philips")).total_dlp_mgycm == pytest.approx(1102.446, abs=0.01)
    assert study_by_uid(pacs.uid("dx")).total_dap_gym2 == pytest.approx(1.07e-5, rel=1e-3)
    rf = study_by_uid(pacs.uid("rf"))
    assert rf.total_dap_gym2 == pytest.approx(1.6e-5, rel=1e-3) and rf.total_dose_rp_gy == pytest.approx(0.00252, rel=1e-3)
    mg = study_by_uid(pacs.uid("mg"))
    assert mg.number_of_events == 2 and mg.agd_left_mgy == pytest.approx(1.956, abs=0.002)
    moves = db.session.scalars(select(DicomTransaction).where(DicomTransaction.operation == "C-MOVE")).all()
    assert len(moves) == 6 and {m.status for m in moves} == {"success"}

    again = _query(nodes, _options())
    assert plan(again) == [] and again.summary == {}
    reasons = _reasons(again)
    assert {reasons[pacs.uid(n)] for n in ("ct_rdsr", "ct_philips", "mg", "dx", "rf")} == {"already imported"}
    assert retrieve(again, "move")["requested"] == 0


def test_get_gives_the_same_result_as_move(nodes, pacs, app):
    """C-GET: the objects come back on our own association, are spooled by the Store SCP's receiver
    and imported by the same import jobs; no Store SCP process is running here."""
    query = _query(nodes, _options(), method="get")
    result = retrieve(query, "get")
    assert (result["requested"], result["received"], result["stored_by_us"], result["failed"]) == (6, 6, 6, 0)
    work(app)
    assert imported_sop_uids() == expected_objects(pacs)
    assert study_by_uid(pacs.uid("ct_rdsr")).total_dlp_mgycm == pytest.approx(724.52, abs=0.01)
    stores = db.session.scalars(select(DicomTransaction).where(DicomTransaction.operation == "C-STORE")).all()
    assert len(stores) == 6
    assert {(s.direction, s.remote_node_id, s.status) for s in stores} == {("in", nodes[0].id, "success")}
    assert _query(nodes, _options(), method="get").summary == {}


def test_sr_only_option_selects_only_the_study_that_holds_nothing_but_an_rdsr(nodes, pacs):
    query = _query(nodes, _options(modalities=[], sr_only=True))
    assert [(r.study_row.study_instance_uid, r.level) for r in plan(query)] == [(pacs.uid("sr_only"), "SERIES")]
    assert query.summary == {"SR": 1}


def test_description_include_and_station_exclude_filters(nodes, pacs):
    query = _query(nodes, _options(modalities=["CT"], desc_exclude=[], desc_include=["tap"]))
    reasons = _reasons(query)
    assert reasons[pacs.uid("ct_rdsr")] is None
    assert "none of the terms to include (tap)" in reasons[pacs.uid("ct_philips")]
    # Orthanc returns StationName at series level only (empty at study level): the series-level pass filters.
    station = str(pacs.content["ct_rdsr"][0].StationName)
    query = _query(nodes, _options(modalities=["CT"], station_exclude=[station.lower()]))
    reasons = _reasons(query)
    assert reasons[pacs.uid("ct_rdsr")] == "no series left after the station name filters"
    assert reasons[pacs.uid("ct_philips")] is None


def test_use_modality_in_study_query_sends_modality_at_study_level(nodes, pacs):
    remote, _ = nodes
    remote.use_modality_tag = True
    db.session.commit()
    sent = []

    class Recording(QrClient):
        def prepare(self, identifier):
            sent.append((identifier.QueryRetrieveLevel, identifier.get("Modality")))
            return identifier

    query = new_query(remote.id, nodes[1].id, _options(), enqueue_job=False)
    run_query(query, client_cls=Recording)
    assert [m for level, m in sent if level == "STUDY"] == ["CT", "MG", "DX", "CR", "RF", "XA"]
    assert {r.sop_uid or r.series_uid for r in plan(query)} == expected_series(pacs)


class IgnoresModalitiesInStudy(QrClient):
    """Simulates a remote that does not support ModalitiesInStudy: the key is taken out of every
    study-level request before it reaches Orthanc (so Orthanc matches every study in the date range,
    as such a PACS does) and out of every response (so it is not returned). Orthanc itself has no
    setting for this; everything else is Orthanc's real answer."""

    def prepare(self, identifier):
        if identifier.QueryRetrieveLevel == "STUDY":
            del identifier.ModalitiesInStudy
        return identifier

    def answer(self, response):
        if "ModalitiesInStudy" in response:
            del response.ModalitiesInStudy
        return response


def test_remote_without_modalities_in_study_gives_the_same_selection(nodes, pacs):
    remote, store = nodes
    query = new_query(remote.id, store.id, _options(), enqueue_job=False)
    run_query(query, client_cls=IgnoresModalitiesInStudy)
    assert {r.sop_uid or r.series_uid for r in plan(query)} == expected_series(pacs)
    rows = db.session.scalars(select(DicomQueryStudy).where(DicomQueryStudy.query_id == query.id)).all()
    # Six per-modality queries (CT, MG, DX, CR, RF, XA) each returned all eight studies of the day.
    assert len(rows) == 48 and not any(r.modalities_returned for r in rows if r.excluded_reason is None)
    first = {r.study_instance_uid: r for r in rows if r.modality == "CT"}
    assert set(first[pacs.uid("ct_rdsr")].modalities_in_study.split("\\")) == {"CT", "SR"}
    assert "none of the modalities asked for" in first[pacs.uid("sr_only")].excluded_reason
    duplicates = [r for r in rows if r.modality != "CT"]
    assert all(r.excluded_reason.startswith("duplicate response") for r in duplicates)
    assert query.summary == {"CT": 2, "MG": 1, "DX": 1, "FL": 1}


def test_query_history_page_shows_each_dropped_response_with_its_reason(nodes, pacs, client):
    query = _query(nodes, _options())
    log_in(client, "qr-user", "importqr")
    page = client.get(f"/qr/queries/{query.id}").get_data(as_text=True)
    dropped = [(s, se) for s in query.studies for se in [None, *s.series]
               if (se or s).excluded_reason]
    assert len(dropped) >= 5
    for study, series in dropped:
        row = series or study
        assert row.excluded_reason.replace("'", "&#39;").replace('"', "&#34;") in page
        assert (series.series_instance_uid if series else study.study_instance_uid) in page
    assert "Dropped: CT: the study has an RDSR, which is retrieved instead" in page
    assert "Dropped: mammography: SR series is not an RDSR; the images are retrieved instead" in page
    assert "contains the excluded term &#39;imported&#39;" in page
    assert "Dropped: fluoroscopy: image series hold no dose report; only RDSRs and ESRs are retrieved" in page
    assert "Dropped: CT: no RDSR, Enhanced SR or Philips &#34;Dose Info&#34; series (Toshiba images not asked for)" in page
    assert ">Retrieve</button>" in page
    history = client.get("/qr/history").get_data(as_text=True)
    assert f"/qr/queries/{query.id}" in history and "5 of 7 studies selected" in history


def test_toshiba_option_selects_a_dose_summary_capture_whole_and_the_first_image_of_other_series(nodes, pacs, app):
    query = _query(nodes, _options(modalities=["CT"], toshiba=True))
    capture, first_axial = pacs.content["ct_toshiba"][0], pacs.content["ct_toshiba"][1]
    toshiba = [(r.level, r.sop_uid or r.series_uid) for r in plan(query)
               if r.study_row.study_instance_uid == pacs.uid("ct_toshiba")]
    assert sorted(toshiba) == [("IMAGE", str(first_axial.SOPInstanceUID)), ("SERIES", str(capture.SeriesInstanceUID))]
    # The studies with an RDSR or a Dose Info series are not touched by the option.
    assert {r.series_uid for r in plan(query) if r.study_row.study_instance_uid != pacs.uid("ct_toshiba")} == {
        str(pacs.content["ct_rdsr"][0].SeriesInstanceUID), str(pacs.content["ct_philips"][0].SeriesInstanceUID)}
    result = retrieve(query, "get")
    assert (result["requested"], result["received"]) == (4, 4)  # RDSR, Dose Info, capture, one axial image
    work(app)
    # These generated images name no Toshiba manufacturer and the capture is no dose screen, so the
    # Toshiba path (tests/qr/test_toshiba_qr.py) does not take them: the import rejects them with its
    # reason (kept as unmatched objects), and only the two dose objects are imported.
    assert imported_sop_uids() == {pacs.sop("ct_rdsr"), pacs.sop("ct_philips")}
    outcomes = [j.message for j in db.session.scalars(select(Job).where(Job.kind == "import_file"))]
    assert len(outcomes) == 4 and sum(m.startswith("rejected") for m in outcomes) == 2


def test_a_remote_that_does_not_answer_fails_the_query_with_the_reason_logged(nodes, pacs):
    from doseapp.dicomnet.qr import QrError
    from doseapp.models import DicomRemoteNode
    from tests.conftest import free_port

    remote = DicomRemoteNode(name="Switched off PACS", aetitle="OFFPACS", ip="127.0.0.1", port=free_port())
    db.session.add(remote)
    db.session.commit()
    query = new_query(remote.id, nodes[1].id, _options(), enqueue_job=False)
    with pytest.raises(QrError, match="did not answer"):
        run_query(query)
    db.session.rollback()
    assert query.failed and query.stage == "Query failed" and "OFFPACS at 127.0.0.1" in query.message
    row = db.session.scalar(select(DicomTransaction).where(DicomTransaction.remote_node_id == remote.id))
    assert (row.direction, row.operation, row.status, row.error) == ("out", "ASSOCIATE", "failed", "did not answer")


def test_abort_stops_a_running_query_and_a_running_retrieve(nodes, pacs, app):
    """Abort as the page does it (queues.cancel on the job's row, while the job runs); the job stops
    at its next progress report."""
    from doseapp.runtime.queues import JobCancelled, JobContext, cancel

    remote, store = nodes

    def started_job() -> Job:
        job = Job(kind="qr_query", queue="qr", title="test", status="started")
        db.session.add(job)
        db.session.commit()
        return job

    query = new_query(remote.id, store.id, _options(), enqueue_job=False)
    job = started_job()

    class AbortedDuringSeriesQueries(QrClient):
        def find_series(self, study):
            cancel(job)  # a user presses Abort while the series are being queried
            return super().find_series(study)

    with pytest.raises(JobCancelled):
        run_query(query, JobContext(job), client_cls=AbortedDuringSeriesQueries)
    db.session.rollback()
    assert (query.stage, query.complete, query.studies) == ("Query aborted", False, [])

    query = _query(nodes, _options())
    job = started_job()

    class AbortAfterFirstRequest(JobContext):
        def progress(self, done, total=None, message=None):
            if done == 1:
                cancel(self.row)
            super().progress(done, total, message)

    with pytest.raises(JobCancelled):
        retrieve(query, "get", AbortAfterFirstRequest(job))
    db.session.rollback()
    assert query.stage == "Retrieve aborted" and query.objects_received == 1 and not query.move_complete
    assert query.message == "Aborted by a user after 1 of 6 objects had been received."
    work(app)
    assert len(imported_sop_uids()) == 1


class NoInstanceCounts(QrClient):
    """A remote that leaves Number of Series Related Instances out of its series answers (the key
    is optional in a C-FIND response; several PACS do): the plan does not know how many to expect."""

    def answer(self, response):
        if "NumberOfSeriesRelatedInstances" in response:
            del response.NumberOfSeriesRelatedInstances
        return response


@pytest.mark.parametrize("method", ["get", "move"])
def test_counts_are_what_arrived_never_more_than_requested(nodes, pacs, app, method, request):
    if method == "move":
        request.getfixturevalue("store_scp")
    remote, store = nodes
    query = new_query(remote.id, store.id, _options(), method=method, enqueue_job=False)
    run_query(query, client_cls=NoInstanceCounts)
    assert any(r.expected is None for r in plan(query))
    result = retrieve(query, method)
    assert (result["requested"], result["received"], result["failed"]) == (6, 6, 0)
    if method == "get":
        assert result["stored_by_us"] == 6
    assert query.message == f"6 of 6 objects received by C-{method.upper()}"
