"""Deleting one study: confirmation with its summary, cancel, delete, back to the list."""
from __future__ import annotations

import re

from doseapp.security.safe_urls import same_site_path
from tests.web.config_helpers import audit_rows, imp, login, post, studies_of

CANON = "DX-RDSR-Canon_CXDI.dcm"


def test_confirm_cancel_and_delete_return_to_the_list(app, client):
    imp(CANON, "CT-RDSR-GEPixelMed.dcm")
    dx, ct = studies_of("")
    dx_id, ct_id, uid, dap = dx.id, ct.id, dx.study_instance_uid, dx.total_dap_gym2
    login(client, "ada")
    back = "/studies/dx?display_name=CANON&page=2"
    url = f"/studies/{dx_id}/delete?next=/studies/dx%3Fdisplay_name%3DCANON%26page%3D2"
    page = client.get(url).get_data(as_text=True)
    # The summary, with the total DAP for DX as the seed asks, in cGy·cm² like every page (stored Gy·m²).
    assert f'<tr><th>Total DAP (cGy·cm²)</th><td data-value="dap">{dap * 1e6:.2f}</td>' in page
    assert dap > 0 and uid in page and "<td>DX</td>" in page
    assert f'href="{back.replace("&", "&amp;")}">Cancel</a>' in page
    # Cancel: a POST without the confirmation goes back and deletes nothing.
    resp = post(client, f"/studies/{dx_id}/delete", {"next": back}, form_page=url)
    assert (resp.status_code, resp.location) == (302, back)
    assert len(studies_of("")) == 2
    resp = post(client, f"/studies/{dx_id}/delete", {"next": back, "confirm": "yes"}, form_page=url)
    assert (resp.status_code, resp.location) == (302, back)
    assert [s.id for s in studies_of("")] == [ct_id]
    [entry] = audit_rows("study.delete")
    assert entry.username == "ada" and entry.target == uid
    assert entry.details["modality"] == "DX" and entry.details["total_dap_gym2"] == dap
    assert client.get(f"/studies/{dx_id}/delete").status_code == 404


def test_unsafe_next_falls_back_to_home(app, client):
    imp(CANON)
    [dx] = studies_of("")
    login(client, "ada")
    resp = post(client, f"/studies/{dx.id}/delete", {"next": "//evil.example/x", "confirm": "yes"},
                form_page=f"/studies/{dx.id}/delete")
    assert resp.location == "/dx/"  # the study's list, not the other site
    for bad in ("//evil.example", "https://evil.example/", "/\\evil.example", "javascript:alert(1)", ""):
        assert same_site_path(bad) is None
    assert same_site_path("/studies/ct?page=3") == "/studies/ct?page=3"


def test_viewer_may_not_delete(app, client):
    imp(CANON)
    [dx] = studies_of("")
    login(client, "vic", ["viewer", "exporter", "pid"])
    assert client.get(f"/studies/{dx.id}/delete").status_code == 403
    assert client.post(f"/studies/{dx.id}/delete", data={"confirm": "yes"}).status_code in (400, 403)
    assert len(studies_of("")) == 1


def test_delete_column_of_the_list_leads_here_and_back(app, client):
    imp(CANON, "Dual-RDSR-DX.dcm")
    canon = next(s for s in studies_of("") if s.equipment.station_name == "CANONDaRt")
    canon_id = canon.id
    login(client, "ada", ["admin", "viewer"])
    html = client.get("/dx/?display_name=canon").get_data(as_text=True)
    link = re.search(rf'href="(/studies/{canon_id}/delete\?next=[^"]+)">Delete</a>', html).group(1).replace("&amp;", "&")
    page = client.get(link).get_data(as_text=True)
    back = re.search(r'name="next" value="([^"]+)"', page).group(1).replace("&amp;", "&")
    assert back.startswith("/dx/") and "display_name=canon" in back
    resp = post(client, "/studies/%d/delete" % canon_id, {"next": back, "confirm": "yes"}, form_page=link)
    assert resp.location == back
    assert [s.equipment.station_name for s in studies_of("")] == ["dRFMax-1234"]
