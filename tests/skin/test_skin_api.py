"""`GET /api/v1/studies/<id>/skin-map`: the CLI's JSON, computed and kept on first ask; roles, 404s,
the no-map answer, switched-off maps; and the study JSON's peak_skin_dose_Gy."""
from __future__ import annotations

import pytest

from doseapp.models import ApiToken, Study, User, db
from doseapp.skin import store
from doseapp.users import create_user
from tests.conftest import FreshContextClient, session_login
from tests.skin.conftest import DX, GE, GE_REASON, UIDS, ZEE, ZEE_MC_PSD_GY, map_of, set_maps


def _client(app, *roles):
    user = create_user(f"u-{'-'.join(roles) or 'none'}", "long-enough-1", list(roles))
    app.test_client_class = FreshContextClient
    client = app.test_client()
    session_login(client, user)
    return client


def test_skin_map_is_computed_kept_and_read(app, imported):
    ids = imported(ZEE)
    viewer = _client(app, "viewer")
    resp = viewer.get(f"/api/v1/studies/{UIDS[ZEE]}/skin-map")
    assert resp.status_code == 200, resp.data
    data = resp.get_json()
    row = map_of(ids[ZEE])
    assert row is not None and data == store.as_dict(row) | {"computed_at": data["computed_at"]}
    assert data["ok"] is True and data["peak_surface"] == "posterior"
    assert data["peak_skin_dose_Gy"] == pytest.approx(ZEE_MC_PSD_GY, rel=0.05)
    assert data["height_source"] == "assumed" and data["study_id"] == ids[ZEE]
    # By database id, the same kept map (not computed again).
    again = viewer.get(f"/api/v1/studies/{ids[ZEE]}/skin-map").get_json()
    assert again == data
    # The study JSON carries the peak skin dose; other modalities' is null.
    detail = viewer.get(f"/api/v1/studies/{UIDS[ZEE]}").get_json()
    assert detail["peak_skin_dose_Gy"] == data["peak_skin_dose_Gy"]
    listed = viewer.get("/api/v1/studies?modality=RF").get_json()["results"]
    assert [r["peak_skin_dose_Gy"] for r in listed] == [data["peak_skin_dose_Gy"]]


def test_no_map_is_200_with_ok_false_and_the_reason(app, imported):
    imported(GE)
    data = _client(app, "exporter").get(f"/api/v1/studies/{UIDS[GE]}/skin-map").get_json()
    assert data["ok"] is False and data["reason"] == GE_REASON
    assert data["peak_skin_dose_Gy"] is None


def test_not_found_roles_and_switched_off(app, imported):
    ids = imported(ZEE, DX)
    viewer = _client(app, "viewer")
    dx_uid = db.session.get(Study, ids[DX]).study_instance_uid
    for key in ("1.2.3.nothing", dx_uid, str(ids[DX]), "99999999"):
        resp = viewer.get(f"/api/v1/studies/{key}/skin-map")
        assert resp.status_code == 404 and resp.get_json()["error"] == "not_found", key
    anonymous = FreshContextClient(app).get(f"/api/v1/studies/{UIDS[ZEE]}/skin-map")
    assert anonymous.status_code == 401 and anonymous.is_json
    admin_only = _client(app, "admin").get(f"/api/v1/studies/{UIDS[ZEE]}/skin-map")
    assert admin_only.status_code == 403
    # A token acts with its user's roles.
    user = db.session.scalar(db.select(User).where(User.username == "u-viewer"))
    _, token = ApiToken.issue(user, "test")
    db.session.commit()
    resp = FreshContextClient(app).get(f"/api/v1/studies/{UIDS[ZEE]}/skin-map", headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 200 and resp.get_json()["ok"] is True
    set_maps(enabled=False)
    resp = viewer.get(f"/api/v1/studies/{UIDS[ZEE]}/skin-map")
    assert resp.status_code == 409 and resp.get_json()["error"] == "skin_maps_off"


def test_the_study_route_still_takes_uids_ending_in_anything(app, imported):
    imported(ZEE)
    resp = _client(app, "viewer").get(f"/api/v1/studies/{UIDS[ZEE]}")
    assert resp.status_code == 200 and resp.get_json()["study_instance_uid"] == UIDS[ZEE]
    assert resp.get_json()["peak_skin_dose_Gy"] is None  # no map computed yet
    with pytest.raises(KeyError):
        resp.get_json()["ok"]
