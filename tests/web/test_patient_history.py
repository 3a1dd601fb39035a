"""Patient dose history (issue 18 item 4): real OpenREM test files, six of them given one patient ID,
imported with IDs stored in clear and as keyed hashes; the page's studies, cumulative fluoroscopy
totals (against the stored totals of those studies), the period, the search, the roles, the export
read back, and the audit log."""
from __future__ import annotations

import csv
import datetime as dt
import io
import re

import openpyxl
import pydicom
import pytest
from sqlalchemy import select

from doseapp.filters import DAP_DISPLAY_PER_STORED
from doseapp.models import AuditEntry, Study, SystemSettings, db
from tests.conftest import TESTDATA, FreshContextClient, _empty_all_tables, session_login

PATIENT_ID, PATIENT_NAME = "HX-2026-0001", "Historia^Hanna"
# Given the one patient ID. DX-Im-Date-Missing keeps its own name (PHYSICS^TABLE AEC), which OpenREM's
# legacy not-patient patterns flag, and has no study date.
SAME_PATIENT = ("RF-RDSR-Siemens-Zee.dcm", "RF-RDSR-Philips_Allura.dcm", "RF-RDSR-GE.dcm",
                "CT-RDSR-GEPixelMed.dcm", "CT-RDSR-Siemens_Flash-TAP-SS.dcm", "MG-RDSR-Hologic_2D.dcm",
                "DX-Im-Date-Missing.dcm", "NM-RRDSR-Siemens.dcm")
OTHER_PATIENT = ("CT-RDSR-ToshibaPixelMed.dcm", "DX-Im-Carestream_DRX.dcm")
USERS = {"pid": ["pid"], "pidexporter": ["pid", "exporter"], "viewer": ["viewer"], "exporter": ["exporter"]}


def _uid(name: str) -> str:
    return pydicom.dcmread(TESTDATA / name, stop_before_pixels=True).StudyInstanceUID


def load(app, folder, mode: str) -> None:
    """Empty the database; identifiers stored per `mode` ("clear", "hashed", "none"); the files imported
    (the SAME_PATIENT ones with PATIENT_ID), the fluoroscopy studies' skin dose maps computed; USERS made."""
    from doseapp.ingest import import_file
    from doseapp.security.privacy import add_legacy_patterns
    from doseapp.skin.store import compute_for_study
    from doseapp.users import create_user

    _empty_all_tables(app)
    with app.app_context():
        s = SystemSettings.get()
        stored, hashed = mode != "none", mode == "hashed"
        s.name_stored, s.name_hashed, s.id_stored, s.id_hashed = stored, hashed, stored, hashed
        db.session.commit()
        add_legacy_patterns()
        for name in SAME_PATIENT + OTHER_PATIENT:
            ds = pydicom.dcmread(TESTDATA / name)
            if name in SAME_PATIENT:
                ds.PatientID = PATIENT_ID
                if name != "DX-Im-Date-Missing.dcm":
                    ds.PatientName = PATIENT_NAME
            path = folder / name
            ds.save_as(path)
            assert import_file(path).status == "imported", name
        for study in db.session.scalars(select(Study).where(Study.modality == "RF")).all():
            compute_for_study(study)
        db.session.commit()
        app.config["HISTORY_USER_IDS"] = {who: create_user(f"h-{who}", "password-123", r).id for who, r in USERS.items()}
        db.session.remove()


def client_for(app, who: str):
    from doseapp.models import User

    app.test_client_class = FreshContextClient
    client = app.test_client()
    with app.app_context():
        session_login(client, db.session.get(User, app.config["HISTORY_USER_IDS"][who]))
    return client


@pytest.fixture(scope="module", params=["clear", "hashed"])
def loaded(request, _session_app, tmp_path_factory):
    _session_app.config["WTF_CSRF_ENABLED"] = False
    load(_session_app, tmp_path_factory.mktemp("history"), request.param)
    yield _session_app, request.param
    _session_app.config["WTF_CSRF_ENABLED"] = True
    _empty_all_tables(_session_app)


def _studies(app, names) -> list[Study]:
    uids = [_uid(n) for n in names]
    with app.app_context():
        rows = db.session.scalars(select(Study).where(Study.study_instance_uid.in_(uids))).all()
        db.session.expunge_all()
    assert len(rows) == len(names)
    return rows


def _anchor(app) -> int:
    return next(s.id for s in _studies(app, ["RF-RDSR-GE.dcm"]))


def _cells(html: str, row_id: str) -> dict[str, str]:
    row = re.search(rf'<tr id="{row_id}">(.*?)</tr>', html, re.S).group(1)
    return dict(re.findall(r'<td class="num (\w[\w-]*)">([^<]*)</td>', row))


def test_history_lists_exactly_the_patients_studies_newest_first_undated_last(loaded):
    app, mode = loaded
    mine = _studies(app, SAME_PATIENT)
    html = client_for(app, "pid").get(f"/patients/history?study={_anchor(app)}").get_data(as_text=True)
    listed = [int(i) for i in re.findall(r'<tr data-study-id="(\d+)"', html)]
    dated = sorted((s for s in mine if s.study_datetime), key=lambda s: s.study_datetime, reverse=True)
    assert listed == [s.id for s in dated] + [s.id for s in mine if s.study_datetime is None]
    assert f"<strong>{len(SAME_PATIENT)}</strong> studies across modalities" in html
    assert "1 without a date, listed last" in html
    # The study without a date is the flagged not-patient one, marked as the lists mark it.
    undated = re.search(r'<tr data-study-id="%d".*?</tr>' % listed[-1], html, re.S).group(0)
    assert "Possible test data" in undated
    # Each row links to its study page, and shows the modality's dose as the lists do.
    for s in mine:
        assert f'href="/{s.modality.lower()}/{s.id}?back=' in html
    ct = next(s for s in mine if s.modality == "CT")
    row = re.search(r'<tr data-study-id="%d".*?</tr>' % ct.id, html, re.S).group(0)
    assert f">{ct.total_dlp_mgycm:.1f}</td>" in row
    mg = next(s for s in mine if s.modality == "MG")
    row = re.search(r'<tr data-study-id="%d".*?</tr>' % mg.id, html, re.S).group(0)
    assert f">{mg.agd_both_mgy:.2f}</td>" in row
    # NM: the administered activity the RRDSR states (394.0 MBq) and its radiopharmaceutical.
    nm = next(s for s in mine if s.modality == "NM")
    row = re.search(r'<tr data-study-id="%d".*?</tr>' % nm.id, html, re.S).group(0)
    assert nm.nm_activity_mbq == pytest.approx(394.0) and nm.nm_radiopharmaceutical
    assert f'<td class="num">394.0<br><span class="hint">{nm.nm_radiopharmaceutical}</span></td>' in row
    # The patient is named as stored: the ID in clear, or its hash shortened.
    if mode == "clear":
        assert f"Patient ID {PATIENT_ID}</h2>" in html and "Historia^Hanna" in html
    else:
        assert PATIENT_ID not in html and re.search(r"Patient ID [0-9a-f]{12}… \(hashed\)</h2>", html)
    # Nobody else's studies.
    for other in _studies(app, OTHER_PATIENT):
        assert f'data-study-id="{other.id}"' not in html


def test_cumulative_fluoroscopy_totals_are_the_sums_of_the_studies(loaded):
    app, _ = loaded
    rf = [s for s in _studies(app, SAME_PATIENT) if s.modality == "RF"]
    assert len(rf) == 3 and all(s.total_dap_gym2 and s.total_dose_rp_gy for s in rf)
    psd = [s.peak_skin_dose_gy for s in rf if s.peak_skin_dose_gy is not None]
    assert psd, "the skin dose maps gave no peak skin dose"
    html = client_for(app, "pid").get(f"/patients/history?study={_anchor(app)}&weeks=12&until=2019-03-31").get_data(as_text=True)
    every = _cells(html, "totals-all")
    assert every["dap"] == f"{sum(s.total_dap_gym2 for s in rf) * DAP_DISPLAY_PER_STORED:.2f}"
    assert every["rp"] == f"{sum(s.total_dose_rp_gy for s in rf):.4f}"
    assert every["psd-sum"] == f"{sum(psd):.4f}" and every["psd-max"] == f"{max(psd):.4f}"
    # 12 weeks up to 31 March 2019: only the GE study of 16 March 2019.
    ge = next(s for s in rf if s.study_instance_uid == _uid("RF-RDSR-GE.dcm"))
    period = _cells(html, "totals-period")
    assert period["dap"] == f"{ge.total_dap_gym2 * DAP_DISPLAY_PER_STORED:.2f}"
    assert period["rp"] == f"{ge.total_dose_rp_gy:.4f}"
    assert '<tr id="totals-period"><th>12 weeks, ' in html


def test_cumulative_ct_and_nm_totals(loaded):
    """CT: total DLP summed (GE 586.34 + Siemens TAP 724.52 mGy·cm) and the effective dose estimates summed
    over the studies that have one (the TAP study's 10.695 mSv; the GE study has no description to give a
    region); NM: the administered activity (394.0 MBq). The period (12 weeks to 31 March 2019) holds none."""
    app, _ = loaded
    html = client_for(app, "pid").get(f"/patients/history?study={_anchor(app)}&weeks=12&until=2019-03-31").get_data(as_text=True)
    ct, nm = _cells(html, "ct-totals-all"), _cells(html, "nm-totals-all")
    assert ct == {"dose": "1310.9", "effective": "10.70"}
    assert nm["dose"] == "394.0"
    assert re.search(r'<tr id="ct-totals-all"><th>All time</th><td class="num">2</td>', html)
    assert "never this patient's dose; 1 of 2 studies have one." in html
    assert _cells(html, "ct-totals-period") == {"dose": "—", "effective": "—"}
    assert re.search(r'<tr id="nm-totals-period"><th>12 weeks, [^<]*</th><td class="num">0</td>', html)
    from doseapp.models import Study

    with app.app_context():
        stated = db.session.scalar(select(Study.nm_effective_dose_msv).where(
            Study.study_instance_uid == _uid("NM-RRDSR-Siemens.dcm")))
    assert nm["effective"] == ("—" if stated is None else f"{stated:.2f}")


def test_the_period_leaves_out_an_older_study(loaded):
    app, _ = loaded
    rf = {s.study_instance_uid: s for s in _studies(app, SAME_PATIENT) if s.modality == "RF"}
    zee, allura = rf[_uid("RF-RDSR-Siemens-Zee.dcm")], rf[_uid("RF-RDSR-Philips_Allura.dcm")]
    assert (zee.study_date, allura.study_date) == (dt.date(2016, 5, 12), dt.date(2016, 3, 15))
    client = client_for(app, "pid")
    both = _cells(client.get(f"/patients/history?study={zee.id}&weeks=12&until=2016-05-31").get_data(as_text=True),
                  "totals-period")
    assert both["rp"] == f"{zee.total_dose_rp_gy + allura.total_dose_rp_gy:.4f}"
    # 8 weeks up to 31 May 2016 start on 6 April: the Allura study of 15 March is out.
    one = _cells(client.get(f"/patients/history?study={zee.id}&weeks=8&until=2016-05-31").get_data(as_text=True),
                 "totals-period")
    assert one["rp"] == f"{zee.total_dose_rp_gy:.4f}"
    assert one["dap"] == f"{zee.total_dap_gym2 * DAP_DISPLAY_PER_STORED:.2f}"
    bad = client.get(f"/patients/history?study={zee.id}&weeks=9999").get_data(as_text=True)
    main = re.search(r'<main id="content">(.*)</main>', bad, re.S).group(1)
    assert "Not understood, so the default was used: weeks" in main, main
    german = client.get(f"/patients/history?study={zee.id}&weeks=9999&until=31.05.2016",
                        headers={"Accept-Language": "de"}).get_data(as_text=True)
    assert "Wochen (eine ganze Zahl von 1 bis 520), bis (ein Datum, jjjj-mm-tt)" in german
    assert 'name="weeks" min="1" max="520" value="12"' in main


def test_search_by_id_finds_the_patient_in_clear_and_through_the_hash(loaded):
    app, mode = loaded
    client = client_for(app, "pid")
    resp = client.post("/patients/history", data={"q": f"  {PATIENT_ID} "})
    assert resp.status_code == 302
    assert re.fullmatch(r"/patients/history\?study=\d+", resp.location), resp.location
    assert PATIENT_ID not in resp.location
    html = client.get(resp.location).get_data(as_text=True)
    assert f"<strong>{len(SAME_PATIENT)}</strong> studies" in html
    # Part of an ID is not an ID; a hashed one cannot be found by part anyway.
    html = client.post("/patients/history", data={"q": PATIENT_ID[:-1]}).get_data(as_text=True)
    assert 'id="no-patient"' in html


def test_search_by_name_ignores_case_in_clear_and_lists_several_patients(loaded):
    app, mode = loaded
    client = client_for(app, "pid")
    resp = client.post("/patients/history", data={"q": PATIENT_NAME.upper() if mode == "clear" else PATIENT_NAME})
    assert resp.status_code == 302
    # Two patients of one name: both are listed with their study counts, to choose one.
    with app.app_context():
        other = db.session.scalar(select(Study).where(Study.study_instance_uid == _uid("CT-RDSR-ToshibaPixelMed.dcm")))
        from doseapp.security.privacy import keyed_hash
        other.patient_name = keyed_hash(PATIENT_NAME) if mode == "hashed" else PATIENT_NAME
        db.session.commit()
        other_id = other.id
    try:
        html = client.post("/patients/history", data={"q": PATIENT_NAME}).get_data(as_text=True)
        table = re.search(r'<table class="list" id="candidates">(.*?)</table>', html, re.S).group(1)
        rows = re.findall(r"<tr><td class=\"uid\">([^<]*)</td>.*?<td class=\"num\">(\d+)</td>", table, re.S)
        assert sorted(int(n) for _, n in rows) == [1, len(SAME_PATIENT)]
        if mode == "clear":
            assert {i for i, _ in rows} == {PATIENT_ID, "physics12345"}
        else:
            assert all(re.fullmatch(r"[0-9a-f]{12}… \(hashed\)", i) for i, _ in rows)
        assert f'href="/patients/history?study={other_id}"' in table
    finally:
        with app.app_context():
            db.session.get(Study, other_id).patient_name = "QATesting^Physics"
            db.session.commit()


def test_the_audit_log_has_searches_views_and_exports_without_the_identifier(loaded):
    app, mode = loaded
    with app.app_context():
        start = db.session.scalar(select(db.func.max(AuditEntry.id))) or 0
    client = client_for(app, "pidexporter")
    anchor = _anchor(app)
    client.post("/patients/history", data={"q": PATIENT_ID})
    client.get(f"/patients/history?study={anchor}")
    client.post("/patients/history/export/csv", data={"study": anchor})
    with app.app_context():
        entries = db.session.scalars(select(AuditEntry).where(AuditEntry.id > start).order_by(AuditEntry.id)).all()
        got = [(e.username, e.action, e.details) for e in entries]
    assert [a for _, a, _ in got] == ["patient.search", "patient.history_view", "patient.history_export"]
    assert all(u == "h-pidexporter" for u, _, _ in got)
    assert got[0][2] == {"term": "(patient identifier, not recorded)", "patients_found": 1}
    assert got[1][2]["study_id"] == anchor and got[1][2]["studies"] == len(SAME_PATIENT)
    assert got[2][2]["format"] == "csv" and got[2][2]["studies"] == len(SAME_PATIENT)
    from doseapp.security.privacy import keyed_hash
    text = repr(got)
    with app.app_context():
        digest = keyed_hash(PATIENT_ID)
    assert PATIENT_ID not in text and PATIENT_NAME not in text and digest not in text


def test_export_csv_and_xlsx_read_back(loaded):
    app, mode = loaded
    mine = {s.id: s for s in _studies(app, SAME_PATIENT)}
    anchor = _anchor(app)
    client = client_for(app, "pidexporter")
    resp = client.post("/patients/history/export/csv", data={"study": anchor})
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    assert re.fullmatch(r'attachment; filename="patient-dose-history-\d{8}-\d{6}\.csv"', resp.headers["Content-Disposition"])
    rows = list(csv.DictReader(io.StringIO(resp.data.decode("utf-8-sig"))))
    assert {r["Study instance UID"] for r in rows} == {s.study_instance_uid for s in mine.values()}
    tap = next(r for r in rows if r["Study instance UID"] == _uid("CT-RDSR-Siemens_Flash-TAP-SS.dcm"))
    assert float(tap["Effective dose (mSv; CT: population estimate, NM: as reported)"]) == pytest.approx(10.69515)
    assert rows[-1]["Study date"] == "" and rows[-1]["Possible test data"] == "Yes"
    for r in rows:
        s = next(x for x in mine.values() if x.study_instance_uid == r["Study instance UID"])
        assert r["Modality"] == s.modality
        if mode == "clear":
            assert r["Patient ID"] == PATIENT_ID and r["Patient ID hashed"] == "No"
        else:
            assert r["Patient ID"] == s.patient_id and r["Patient ID hashed"] == "Yes" and len(s.patient_id) == 64
        effective = r["Effective dose (mSv; CT: population estimate, NM: as reported)"]
        if s.modality == "CT":
            assert float(r["CT total DLP (mGy·cm)"]) == pytest.approx(s.total_dlp_mgycm)
            assert effective == ("" if s.effective_dose_msv is None else str(s.effective_dose_msv))
        elif s.modality == "NM":
            assert effective == ("" if s.nm_effective_dose_msv is None else str(s.nm_effective_dose_msv))
        else:
            assert effective == ""
        if s.modality == "RF":
            assert float(r["Total DAP (cGy·cm²)"]) == pytest.approx(s.total_dap_gym2 * DAP_DISPLAY_PER_STORED)
            assert float(r["Total dose at RP (Gy)"]) == pytest.approx(s.total_dose_rp_gy)
        if s.modality == "NM":
            assert float(r["NM administered activity (MBq)"]) == pytest.approx(394.0)
            assert r["NM radiopharmaceutical"] == s.nm_radiopharmaceutical
        else:
            assert r["NM administered activity (MBq)"] == "" and r["NM radiopharmaceutical"] == ""
    rf = sorted((s for s in mine.values() if s.modality == "RF"), key=lambda s: s.study_datetime)
    newest = next(r for r in rows if r["Study instance UID"] == rf[-1].study_instance_uid)
    assert float(newest["Cumulative fluoroscopy dose at RP (Gy)"]) == pytest.approx(sum(s.total_dose_rp_gy for s in rf))

    resp = client.post("/patients/history/export/xlsx", data={"study": anchor})
    assert resp.status_code == 200 and resp.mimetype.endswith("spreadsheetml.sheet")
    ws = openpyxl.load_workbook(io.BytesIO(resp.data)).active
    values = list(ws.values)
    header, body = values[0], values[1:]
    assert header[0] == "Patient ID" and len(body) == len(SAME_PATIENT)
    uid_col, date_col, rp_col = (header.index(h) for h in ("Study instance UID", "Study date", "Total dose at RP (Gy)"))
    first = rf[-1]
    row = next(r for r in body if r[uid_col] == first.study_instance_uid)
    assert row[date_col].date() == first.study_date and row[rp_col] == pytest.approx(first.total_dose_rp_gy)


def test_roles(loaded):
    app, _ = loaded
    anchor = _anchor(app)
    for who in ("viewer", "exporter"):
        client = client_for(app, who)
        assert client.get("/patients/history").status_code == 403
        assert client.get(f"/patients/history?study={anchor}").status_code == 403
        assert client.post("/patients/history", data={"q": PATIENT_ID}).status_code == 403
        assert client.post("/patients/history/export/csv", data={"study": anchor}).status_code == 403
        # No link to it for them.
        html = client.get(f"/rf/{anchor}").get_data(as_text=True)
        assert "patient-history-link" not in html and "nav-patient-history" not in html
    # pid without an exporting role sees the history, not the export.
    pid = client_for(app, "pid")
    html = pid.get(f"/patients/history?study={anchor}").get_data(as_text=True)
    assert 'id="history-export"' not in html
    resp = pid.post("/patients/history/export/csv", data={"study": anchor})
    assert resp.status_code == 302 and resp.location == f"/patients/history?study={anchor}"
    # The study page and the top bar link to it for pid.
    html = pid.get(f"/rf/{anchor}").get_data(as_text=True)
    assert f'<a id="patient-history-link" href="/patients/history?study={anchor}">' in html
    assert 'id="nav-patient-history" href="/patients/history"' in html


def test_page_draws_the_chart_with_a_nonce(loaded):
    app, _ = loaded
    resp = client_for(app, "pid").get(f"/patients/history?study={_anchor(app)}")
    html = resp.get_data(as_text=True)
    nonce = re.search(r"'nonce-([^']+)'", resp.headers["Content-Security-Policy"]).group(1)
    assert "'unsafe-eval'" in resp.headers["Content-Security-Policy"]
    assert f'<script nonce="{nonce}">' in html and html.count("<script>") == 0
    assert 'id="history-chart"' in html and "bokeh.min.js" in html


def test_identifiers_not_kept_says_it_cannot(_session_app, tmp_path):
    app = _session_app
    app.config["WTF_CSRF_ENABLED"] = False
    try:
        load(app, tmp_path, "none")
        client = client_for(app, "pid")
        html = client.get("/patients/history").get_data(as_text=True)
        assert "Patient dose histories cannot be built: this system keeps no patient" in html
        assert 'id="patient-search"' not in html
        html = client.post("/patients/history", data={"q": PATIENT_ID}).get_data(as_text=True)
        assert "cannot be built" in html
        with app.app_context():
            sid = db.session.scalar(select(Study.id).where(Study.modality == "RF").limit(1))
        html = client.get(f"/patients/history?study={sid}").get_data(as_text=True)
        assert 'id="no-identifier"' in html
        assert "patient-history-link" not in client.get(f"/rf/{sid}").get_data(as_text=True)
    finally:
        app.config["WTF_CSRF_ENABLED"] = True
        _empty_all_tables(app)


def test_a_patient_with_no_other_studies_and_an_unknown_study(loaded):
    app, _ = loaded
    client = client_for(app, "pid")
    other = _studies(app, ["DX-Im-Carestream_DRX.dcm"])[0]
    html = client.get(f"/patients/history?study={other.id}").get_data(as_text=True)
    assert re.findall(r'<tr data-study-id="(\d+)"', html) == [str(other.id)]
    assert "<strong>1</strong> study across modalities" in html
    assert re.search(r'<tr id="totals-all"><th>All time</th><td class="num">0</td>', html)
    assert 'id="history-chart"' not in html  # nothing to draw: no fluoroscopy or CT
    assert client.get("/patients/history?study=999999999").status_code == 404


def test_a_big_history_is_paged_and_its_totals_cover_every_study(app, tmp_path):
    """300 fluoroscopy studies of one patient (rows as ingest writes them): the table shows 100 a page,
    newest first, the totals are over all 300, and the page answers quickly."""
    import time

    from doseapp.models import Equipment
    from doseapp.users import create_user

    s = SystemSettings.get()
    s.id_stored, s.id_hashed = True, False
    eq = Equipment(identity_hash="1" * 64, display_name="Big room", manufacturer="ACME")
    start = dt.datetime(2020, 1, 1, 9, 0)
    rows = [Study(study_instance_uid=f"1.2.826.0.1.{i}", modality="RF", equipment=eq, patient_id="BIG-1",
                  study_date=(start + dt.timedelta(days=i)).date(), study_time=start.time(),
                  study_datetime=start + dt.timedelta(days=i), total_dap_gym2=0.0001 * (i + 1),
                  total_dose_rp_gy=0.001 * (i + 1)) for i in range(300)]
    db.session.add_all(rows)
    db.session.commit()
    app.config["HISTORY_USER_IDS"] = {"pid": create_user("h-pid", "password-123", ["pid"]).id}
    ids = [r.id for r in rows]
    client = client_for(app, "pid")
    began = time.perf_counter()
    html = client.get(f"/patients/history?study={ids[0]}").get_data(as_text=True)
    assert time.perf_counter() - began < 5
    assert [int(i) for i in re.findall(r'<tr data-study-id="(\d+)"', html)] == ids[::-1][:100]
    every = _cells(html, "totals-all")
    assert every["rp"] == f"{sum(0.001 * (i + 1) for i in range(300)):.4f}"
    assert every["dap"] == f"{sum(0.0001 * (i + 1) for i in range(300)) * DAP_DISPLAY_PER_STORED:.2f}"
    assert '<nav class="pager"' in html
    page3 = client.get(f"/patients/history?study={ids[0]}&page=3").get_data(as_text=True)
    assert [int(i) for i in re.findall(r'<tr data-study-id="(\d+)"', page3)] == ids[::-1][200:]


def test_an_id_kept_in_clear_also_finds_the_studies_stored_after_switching_to_hashes(app):
    """Settings changed from clear to hashed IDs: the patient's older studies hold the ID, the newer the
    keyed hash of it; a history from an older study has both."""
    from doseapp.security.privacy import keyed_hash
    from doseapp.patients import history

    old = Study(study_instance_uid="1.2.3.100", modality="CT", patient_id="P-7", study_date=dt.date(2020, 1, 1))
    new = Study(study_instance_uid="1.2.3.101", modality="RF", patient_id=keyed_hash("P-7"), patient_id_hashed=True,
                study_date=dt.date(2021, 1, 1))
    other = Study(study_instance_uid="1.2.3.102", modality="RF", patient_id="P-8")
    db.session.add_all([old, new, other])
    db.session.commit()
    assert [r.id for r in history.studies(history.key_of(old))] == [new.id, old.id]
    assert [r.id for r in history.studies(history.key_of(new))] == [new.id]
    found, more = history.find_patients("P-7")
    # One patient, found through the ID in clear, with both studies.
    assert [(c.key, c.studies, c.study_id) for c in found] == [(history.key_of(old), 2, old.id)] and not more
