"""The openSkin export (issue 16 item 5, seed §7.3-7.4): one fluoroscopy study as the CSV standalone
openSkin reads, from the study page, for exporters; values from RF-RDSR-Siemens-Zee.dcm's 8 events."""
from __future__ import annotations

import csv
import io
import re

import pytest
from sqlalchemy import select

from doseapp.exports.columns import OPENSKIN_EVENT
from doseapp.exports.openskin import COPPER_WARNING, plain_number
from doseapp.models import AuditEntry, Study, SystemSettings, db
from doseapp.users import create_user
from tests.conftest import session_login
from tests.exports.helpers import load

ZEE = "RF-RDSR-Siemens-Zee.dcm"
ZEE_UID = "1.3.6.1.4.1.5962.99.1.3248661973.865054762.1480717444565.3.0"
COLUMN = {c.header: i for i, c in enumerate(OPENSKIN_EVENT)}

# Per event, in the order they were made: primary and secondary angle (deg), table longitudinal,
# lateral and height position (mm), dose at RP (Gy), DAP (Gy·m²), kVp (kV), copper thickness (mm).
ZEE_EVENTS = [
    ("0.1", "-0.1", "-25.9", "525.1", "151.8", "0.00014", "0.000001", "77", "0.6"),
    ("0.1", "-0.1", "-25.9", "525.3", "288.7", "0.00019", "0.0000012", "74", "0.9"),
    ("25.4", "-0.2", "-25.9", "525.1", "150", "0.00014", "0.000001", "77", "0.6"),
    ("25.4", "-0.2", "-25.9", "677.3", "150", "0.0004", "0.0000025", "75", "0.9"),
    ("0.4", "-0.1", "-25.9", "677.3", "150", "0.00059", "0.0000038", "77", "0.6"),
    ("-45.4", "0.1", "-25.9", "677.3", "150", "0.00036", "0.0000023", "77", "0.6"),
    ("0", "15.3", "-25.9", "677.3", "150", "0.00061", "0.0000038", "77", "0.6"),
    ("-0.1", "-0.1", "-100.2", "597.5", "150", "0.00006", "0.0000004", "77", "0.6"),
]
ZEE_KEYS = ("Positioner primary angle (deg)", "Positioner secondary angle (deg)", "Table longitudinal position (mm)",
            "Table lateral position (mm)", "Table height position (mm)", "Dose at RP (Gy)", "DAP (Gy.m^2)",
            "kVp (kV)", "Copper filter thickness minimum (mm)")


@pytest.fixture
def zee(app):
    settings = SystemSettings.get()  # identifiers stored plain, to show none of them reaches the file
    settings.name_stored, settings.name_hashed, settings.id_stored, settings.id_hashed = True, False, True, False
    db.session.commit()
    load(ZEE)
    return db.session.scalar(select(Study).where(Study.study_instance_uid == ZEE_UID))


def _client_as(app, client, *roles):
    user = create_user("-".join(roles) or "nobody", "password-123", list(roles))
    session_login(client, user)
    return client


def _rows(resp) -> list[list[str]]:
    return list(csv.reader(io.StringIO(resp.get_data(as_text=True), newline="")))


def test_zee_rows_hold_each_events_geometry_and_dose_in_openskins_units(app, client, zee):
    _client_as(app, client, "exporter")
    resp = client.get(f"/exports/openskin/{zee.id}")
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    name = re.search(r'filename="?([^";]+)', resp.headers["Content-Disposition"]).group(1)
    assert re.fullmatch(r"OpenSkinExport\d{8}-\d{12}\.csv", name)
    rows = _rows(resp)
    # No header row: openSkin reads by position, and the first row is the first event.
    assert len(rows) == 8 and all(len(r) == 39 for r in rows)
    assert [tuple(r[COLUMN[k]] for k in ZEE_KEYS) for r in rows] == ZEE_EVENTS
    first = rows[0]
    assert first[:11] == ["Anon", "O", ZEE_UID, "", "Single Plane", "2016-05-12 10:11:54", "Fluoroscopy", "FL - Ang",
                          "15cm from Isocenter toward Source",
                          "1.3.6.1.4.1.5962.99.1.3248661973.865054762.1480717444565.4.0", "0.000001"]
    assert first[COLUMN["Copper filter type"]] == "Strip Filter"
    assert first[COLUMN["Copper filter material"]] == "Copper or Copper compound"
    assert first[COLUMN["Copper filter thickness maximum (mm)"]] == "0.6"
    assert (first[COLUMN["Fluoro mode"]], first[COLUMN["Pulse rate (/s)"]], first[COLUMN["Number of pulses"]]) == \
        ("Pulsed", "7.5", "24")
    assert (first[COLUMN["X-ray tube current (mA)"]], first[COLUMN["Exposure time (ms)"]],
            first[COLUMN["Pulse width (ms)"]], first[COLUMN["Exposure (uAs)"]],
            first[COLUMN["Focal spot size (mm)"]]) == ("95.1", "100.8", "4.2", "9586", "0.6")
    assert {(r[COLUMN["Distance source to detector (mm)"]], r[COLUMN["Distance source to isocentre (mm)"]])
            for r in rows} == {("1200", "785")}
    assert {r[COLUMN["Target region"]] for r in rows} == {"Entire body"}
    # Every event's dose, none left out: 0.00249 Gy (the system's own accumulated total says 0.00252).
    assert sum(float(r[COLUMN["Dose at RP (Gy)"]]) for r in rows) == pytest.approx(0.00249)
    # Nothing that identifies the patient (stored in the test database: name and ID).
    text = resp.get_data(as_text=True)
    assert (zee.patient_id, zee.patient_name) == ("098765", "آدم كوري")
    assert "098765" not in text and "آدم" not in text and "1916" not in text  # nor the birth date
    assert "1234.5678" not in text  # nor the accession number
    assert not any("," in cell for r in rows for cell in r)
    # So a reader that splits each line on commas (no CSV quoting rules) still finds 39 columns.
    assert [len(line.split(",")) for line in text.splitlines()] == [39] * 8


def test_text_is_neutralised_and_kept_to_one_cell(app, client, zee):
    event = zee.xray_events[0]
    event.acquisition_protocol = '=HYPERLINK("http://x.example", "click")'
    event.comment = "line one,\nline two"
    event.filters = [{"type": "Flat filter", "material": "Aluminum or Aluminum compound", "thickness_min_mm": 1.0,
                      "thickness_max_mm": 1.0}]
    db.session.commit()
    _client_as(app, client, "exporter")
    first = _rows(client.get(f"/exports/openskin/{zee.id}"))[0]
    assert first[COLUMN["Acquisition protocol"]] == '\'=HYPERLINK("http://x.example"; "click")'
    assert first[COLUMN["Comment"]] == "line one; line two"
    # Aluminium only: openSkin gets no filter (only copper is considered).
    assert [first[COLUMN[k]] for k in ("Copper filter type", "Copper filter material",
                                       "Copper filter thickness minimum (mm)")] == ["", "", ""]
    assert first[COLUMN["Positioner secondary angle (deg)"]] == "-0.1"  # numbers stay numbers


def test_numbers_in_plain_decimals():
    assert [plain_number(v) for v in (1e-06, 4e-07, 785.0, 1200.0, -45.4, 0.0, -0.0, 24, 2.5e-06)] == \
        ["0.000001", "0.0000004", "785", "1200", "-45.4", "0", "0", "24", "0.0000025"]


def test_page_link_and_warning_for_exporters_only_and_each_download_audited(app, client, zee):
    page = f"/rf/{zee.id}"
    _client_as(app, client, "viewer")
    html = client.get(page).get_data(as_text=True)
    assert "openskin-link" not in html and "/exports/openskin/" not in html
    resp = client.get(f"/exports/openskin/{zee.id}")
    assert resp.status_code == 403

    _client_as(app, client, "exporter")
    html = client.get(page).get_data(as_text=True)
    assert f'href="/exports/openskin/{zee.id}"' in html
    assert "Only copper filters are considered in this export" in html and COPPER_WARNING.split(" - ")[0] in html
    assert html.count("<li>", html.index("openskin-columns")) >= 39

    resp = client.get(f"/exports/openskin/{zee.id}")
    assert resp.status_code == 200
    name = re.search(r'filename="?([^";]+)', resp.headers["Content-Disposition"]).group(1)
    db.session.expire_all()
    (entry,) = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "export.openskin")).all()
    assert entry.username == "exporter" and entry.target == f"RF study {zee.id}"
    assert entry.details == {"study_id": zee.id, "study_instance_uid": ZEE_UID, "events": 8, "file": name}

    with client.session_transaction() as sess:
        sess.clear()
    resp = client.get(f"/exports/openskin/{zee.id}")
    assert resp.status_code == 302 and resp.location.startswith("/login?next=")


def test_only_fluoroscopy_studies(app, client, zee):
    load("DX-Im-Carestream_DR7500-1.dcm")
    dx = db.session.scalar(select(Study).where(Study.modality == "DX"))
    _client_as(app, client, "exporter", "viewer")
    assert client.get(f"/exports/openskin/{dx.id}").status_code == 404
    assert "openskin-link" not in client.get(f"/dx/{dx.id}").get_data(as_text=True)
    assert client.get("/exports/openskin/999999").status_code == 404
