"""NM and PET objects sent to our Store SCP with dcmtk's storescu: the radiopharmaceutical dose
report and the PET images of one exam become one NM study with one administration, and the exam's
CT dose report its CT part; the NM image delete switch applies to received images."""
from __future__ import annotations

from sqlalchemy import select

from doseapp.models import Study, SystemSettings, db
from tests.conftest import TESTDATA
from tests.dicomnet.conftest import storescu, wait_running, wait_until

FILES = ["NM-PetIm-Siemens.dcm", "NM-RRDSR-Siemens.dcm", "NM-PetIm-Siemens-2.dcm", "NM-CT-RDSR-Siemens.dcm"]


def test_pet_ct_sent_to_the_store_scp(app, scp_env, procs, make_node, tmp_path):
    settings = SystemSettings.get()
    settings.del_nm_im = True
    db.session.commit()
    node = make_node("NMSTORE")
    procs.supervisor()
    wait_running(node)
    sent = storescu(node.port, "NMSTORE", [TESTDATA / f for f in FILES], calling="PETCT1")
    assert sent.returncode == 0, sent.stderr[-2000:]
    procs.worker_burst()

    def both():
        db.session.rollback()
        rows = db.session.scalars(select(Study).order_by(Study.modality)).all()
        return rows if [s.modality for s in rows] == ["CT", "NM"] and len(rows[1].objects) == 3 else None
    ct, nm = wait_until(both, 120, what="the CT and NM studies of the PET/CT")
    assert ct.study_instance_uid == nm.study_instance_uid
    [a] = nm.nm_administrations
    assert a.from_report and a.administered_activity_mbq == 394.0 and a.radionuclide == "^18^Fluorine"
    assert sorted(s.series_description for s in nm.nm_series) == ["PET AC", "PET NAC"]
    assert ct.total_dlp_mgycm > 0
    objects = scp_env["DOSEAPP_INSTANCE"] + "/objects"
    from pathlib import Path
    kept = [p.name for p in Path(objects).rglob("*") if p.is_file()]
    # the images were deleted after processing (del_nm_im), the two reports kept (del_rdsr off)
    assert len(kept) == 2, kept
