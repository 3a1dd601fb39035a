"""Peak skin dose wherever a fluoroscopy number is (issue 16 item 4): a list column (sortable), a
filter shared by the list, charts, exports and the JSON API, chart options, and an export column.

Four real fluoroscopy files; the PSD values are set on the studies (the value is what these tests
are about), except in the last test, which takes it from the real skin dose map computation."""
from __future__ import annotations

import re

import openpyxl
import pytest
from sqlalchemy import select

from doseapp import filters
from doseapp.charts import catalog
from doseapp.charts.data import compute
from doseapp.charts.options import ChartOptions
from doseapp.exports.run import run_export
from doseapp.models import ApiToken, Study, User, db
from tests.conftest import TESTDATA, FreshContextClient, _empty_all_tables, session_login
from tests.exports.helpers import as_dicts, read_csv

FILES = {"zee": "RF-RDSR-Siemens-Zee.dcm", "allura": "RF-RDSR-Philips_Allura.dcm",
         "alphenix": "RF-RDSR-Canon-Alphenix-rotational.dcm", "ge": "RF-RDSR-GE.dcm"}
# Set by the tests (Gy); GE has no map.
PSD = {"zee": 0.00171, "allura": 0.0123, "alphenix": 0.0311, "ge": None}


@pytest.fixture(scope="module")
def rf(_session_app):
    """The four files imported once; {name: study id}; a viewer and an exporter."""
    from doseapp.ingest import import_file
    from doseapp.users import create_user

    _empty_all_tables(_session_app)
    with _session_app.app_context():
        ids = {}
        for key, name in FILES.items():
            result = import_file(TESTDATA / name)
            assert result.status == "imported", (name, result.reason)
            uid = result.study["study_instance_uid"]
            ids[key] = db.session.scalar(select(Study.id).where(Study.study_instance_uid == uid))
        for key, study_id in ids.items():
            db.session.get(Study, study_id).peak_skin_dose_gy = PSD[key]
        users = {r: create_user(f"psd-{r}", "password-123", [r]).id for r in ("viewer", "exporter")}
        db.session.commit()
        db.session.remove()
    _session_app.config["PSD_USERS"] = users
    yield ids
    _empty_all_tables(_session_app)


def _client(app, role="viewer"):
    app.test_client_class = FreshContextClient
    client = app.test_client()
    with app.app_context():
        session_login(client, db.session.get(User, app.config["PSD_USERS"][role]))
    return client


def _list(client, **args) -> tuple[int, list[int], str]:
    resp = client.get("/rf/", query_string={"per_page": 200, **args})
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    count = int(re.search(r"There (?:is|are) <strong>(\d+)</strong>", html).group(1))
    return count, [int(i) for i in re.findall(r'data-study-id="(\d+)"', html)], html


def _names(rf, ids) -> list[str]:
    by_id = {v: k for k, v in rf.items()}
    return [by_id[i] for i in ids]


@pytest.mark.parametrize("args,expected", [
    ({"psd_min": "0.005"}, {"allura", "alphenix"}),
    ({"psd_max": "0.02"}, {"zee", "allura"}),
    ({"psd_min": "0.005", "psd_max": "0.02"}, {"allura"}),
    ({"psd_min": "0.00171", "psd_max": "0.00171"}, {"zee"}),  # bounds included
    ({"psd_min": "0"}, {"zee", "allura", "alphenix"}),  # a study without a map has no PSD to be in range
    ({"psd_min": "1"}, set()),
])
def test_filter_narrows_the_list_to_the_studies_in_range(_session_app, rf, args, expected):
    count, ids, _ = _list(_client(_session_app), **args)
    assert set(_names(rf, ids)) == expected and count == len(expected)


def test_list_shows_the_formatted_psd_and_a_dash_without_a_map(_session_app, rf):
    _, ids, html = _list(_client(_session_app))
    assert "Peak skin dose (Gy)" in html
    cells = {}
    for row in re.findall(r'<tr data-study-id="(\d+)">(.*?)</tr>', html, re.S):
        cells[int(row[0])] = re.search(r'<td class="num psd">([^<]*)</td>', row[1]).group(1)
    assert {k: cells[rf[k]] for k in FILES} == {"zee": "0.0017", "allura": "0.0123", "alphenix": "0.0311", "ge": "—"}
    # The range filter is on the form, in Gy.
    assert 'name="psd_min"' in html and 'name="psd_max"' in html and "Peak skin dose (Gy)</legend>" in html
    # Other modalities have neither column nor filter.
    other = _client(_session_app).get("/ct/").get_data(as_text=True)
    assert "Peak skin dose" not in other and "psd_min" not in other


def test_sorting_by_psd_highest_first_and_back_studies_without_a_map_last(_session_app, rf):
    client = _client(_session_app)
    _, ids, html = _list(client)
    assert 'href="/rf/?o=-psd"' in html  # highest first on the first click, like the other doses
    assert _names(rf, _list(client, o="-psd")[1]) == ["alphenix", "allura", "zee", "ge"]
    assert _names(rf, _list(client, o="psd")[1]) == ["zee", "allura", "alphenix", "ge"]


def test_charts_of_psd_follow_the_list_filters(_session_app, rf):
    chart = catalog.chart("RF", "study_psd")
    assert (chart.value, chart.unit, chart.range_filter) == ("peak_skin_dose_gy", "Gy", "psd")
    assert {c.key for c in catalog.RF} >= {"study_psd", "request_psd", "study_psd_over_time"}
    with _session_app.app_context():
        descriptions = dict(db.session.execute(select(Study.id, Study.study_description)).all())

        def rows(args, **opts):
            q = filters.study_query("RF", args)
            data = compute(chart, q.where, ChartOptions(**opts))
            return data, {r["cat"]: r for r in data.rows}

        def want_for(keys):
            want = {}
            for key in keys:
                want.setdefault(descriptions[rf[key]] or "Blank", []).append(PSD[key])
            return want

        for args, keys in (({}, ("zee", "allura", "alphenix")), ({"psd_min": "0.005"}, ("allura", "alphenix"))):
            data, got = rows(args, average="both")
            want = want_for(keys)
            assert set(got) == set(want) and data.total == len(keys), args
            for cat, values in want.items():
                assert got[cat]["n"] == len(values)
                assert got[cat]["mean"] == pytest.approx(sum(values) / len(values), rel=1e-9)
                assert got[cat]["median"] == pytest.approx(sorted(values)[len(values) // 2] if len(values) % 2
                                                           else sum(values) / 2, rel=1e-9)


def test_chart_options_offer_the_psd_charts(_session_app, rf):
    html = _client(_session_app).get("/charts/options").get_data(as_text=True)
    for label in ("Peak skin dose per study description", "Peak skin dose per requested procedure",
                  "Peak skin dose over time, per study description"):
        assert label in html


def test_csv_and_xlsx_have_the_column_with_the_exact_value(_session_app, rf, tmp_path):
    with _session_app.app_context():
        accession = dict(db.session.execute(select(Study.id, Study.accession_number)).all())
        run_export("RF", "csv", {}, out=tmp_path / "rf.csv")
        rows = read_csv(tmp_path / "rf.csv")
        assert rows[0][-2:] == ["Peak skin dose (Gy)", "Standard name"]  # the study totals, then the name
        by_acc = {r["Accession number"]: r for r in as_dicts(rows)}
        assert by_acc[accession[rf["zee"]]]["Peak skin dose (Gy)"] == "0.00171"
        assert by_acc[accession[rf["alphenix"]]]["Peak skin dose (Gy)"] == "0.0311"
        assert by_acc[accession[rf["ge"]]]["Peak skin dose (Gy)"] == ""
        # The filter applies to exports as to the list.
        run_export("RF", "csv", {"psd_min": "0.005"}, out=tmp_path / "high.csv")
        high = as_dicts(read_csv(tmp_path / "high.csv"))
        assert sorted(float(r["Peak skin dose (Gy)"]) for r in high) == [0.0123, 0.0311]

        run_export("RF", "xlsx", {}, out=tmp_path / "rf.xlsx")
        book = openpyxl.load_workbook(tmp_path / "rf.xlsx")
        sheet = list(book["All data"].iter_rows(values_only=True))
        head = sheet[0]
        at, acc = head.index("Peak skin dose (Gy)"), head.index("Accession number")
        values = {r[acc]: r[at] for r in sheet[1:]}
        assert values[accession[rf["allura"]]] == 0.0123 and values[accession[rf["ge"]]] is None


def test_api_study_list_gives_and_filters_on_psd(_session_app, rf):
    with _session_app.app_context():
        _, token = ApiToken.issue(db.session.get(User, _session_app.config["PSD_USERS"]["viewer"]), "psd")
        db.session.commit()
    client = _session_app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    resp = client.get("/api/v1/studies", query_string={"modality": "RF", "psd_min": "0.005", "o": "-psd"},
                      headers=headers)
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["count"] == 2
    assert [(r["id"], r["peak_skin_dose_Gy"]) for r in body["results"]] == [(rf["alphenix"], 0.0311),
                                                                          (rf["allura"], 0.0123)]
    everyone = client.get("/api/v1/studies", query_string={"modality": "RF"}, headers=headers).get_json()
    assert {r["id"]: r["peak_skin_dose_Gy"] for r in everyone["results"]}[rf["ge"]] is None
    assert client.get("/api/v1/studies", query_string={"modality": "RF", "psd_min": "lots"},
                      headers=headers).status_code == 400


def test_the_computed_map_reaches_list_filter_and_export(_session_app, rf, tmp_path):
    """Zee's PSD from the real skin dose map computation (not set by hand), everywhere."""
    from doseapp.skin.store import compute_for_study

    with _session_app.app_context():
        zee = db.session.get(Study, rf["zee"])
        row = compute_for_study(zee)
        db.session.commit()
        psd, accession = zee.peak_skin_dose_gy, zee.accession_number
        status, map_psd = row.status, row.peak_skin_dose_gy
    try:
        assert status == "ok" and psd == map_psd
        assert 0.0014 < psd < 0.0018  # Monte Carlo 1.54 mGy; openSkin 1.717 mGy
        client = _client(_session_app)
        _, ids, html = _list(client, psd_max=repr(psd * 1.001), psd_min=repr(psd * 0.999))
        assert ids == [rf["zee"]]
        assert f'<td class="num psd">{psd:.4f}</td>' in html
        with _session_app.app_context():
            run_export("RF", "csv", {"psd_max": "0.002"}, out=tmp_path / "zee.csv")
        (only,) = as_dicts(read_csv(tmp_path / "zee.csv"))
        assert only["Accession number"] == accession and float(only["Peak skin dose (Gy)"]) == psd
    finally:
        with _session_app.app_context():
            db.session.get(Study, rf["zee"]).peak_skin_dose_gy = PSD["zee"]
            db.session.commit()


def test_a_psd_histogram_bin_opens_the_list_of_its_studies(_session_app, rf):
    from doseapp.charts.data import bin_args

    chart = catalog.chart("RF", "study_psd")
    client = _client(_session_app)
    with _session_app.app_context():
        data = compute(chart, filters.study_query("RF", {}).where, ChartOptions(histograms=True, bins=2))
    checked = 0
    for (category, system), hist in data.histograms.items():
        for n, count in enumerate(hist["counts"]):
            args = bin_args(chart, category, system, hist["edges"][n], hist["edges"][n + 1])
            if args is None or not count:  # (a one-study category's empty bin spans the same value)
                continue
            assert "psd_min" in args and "psd_max" in args
            listed, ids, _ = _list(client, **args)
            assert listed == count, (category, n, args, _names(rf, ids))
            checked += 1
    assert checked
