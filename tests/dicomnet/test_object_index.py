"""The index of kept objects that our query/retrieve SCP answers from: filled as objects are kept,
identifiers as the privacy settings store them, emptied as files are deleted, rebuilt from folders."""
from __future__ import annotations

import shutil

import pydicom
from sqlalchemy import select

from doseapp.dicomnet import object_index
from doseapp.ingest import import_file
from doseapp.security.privacy import keyed_hash
from doseapp.models import DicomStoredInstance, DicomStoredSeries, DicomStoredStudy, SystemSettings, db
from tests.conftest import TESTDATA

LAYOUT = {"node": "INDEXER", "structure": "series", "naming": "sop_uid"}


def _received(tmp_path, name: str, **changes):
    target = tmp_path / f"in-{len(list(tmp_path.iterdir()))}-{name}"
    shutil.copy(TESTDATA / name, target)
    if changes:
        ds = pydicom.dcmread(target)
        for keyword, value in changes.items():
            setattr(ds, keyword, value)
        ds.save_as(target)
    return target


def test_kept_objects_are_indexed_with_identifiers_as_stored(app, tmp_path):
    settings = SystemSettings.get()
    settings.id_stored, settings.id_hashed, settings.name_stored = True, True, False
    db.session.commit()
    source = pydicom.dcmread(TESTDATA / "CT-RDSR-Siemens_Flash-TAP-SS.dcm")
    result = import_file(_received(tmp_path, "CT-RDSR-Siemens_Flash-TAP-SS.dcm", PatientID="PID-123"), source="scp:INDEXER",
                         owned=True, layout=LAYOUT)
    assert result.status == "imported", result
    study = db.session.scalar(select(DicomStoredStudy))
    assert study.study_instance_uid == source.StudyInstanceUID
    assert study.patient_id == keyed_hash("PID-123") and "PID-123" not in study.patient_id
    assert study.patient_name is None  # names are not stored: not in the index either
    assert (study.study_date, study.series_count, study.instance_count, study.modalities) == \
        (str(source.StudyDate), 1, 1, "SR")
    [instance] = db.session.scalars(select(DicomStoredInstance)).all()
    assert instance.sop_instance_uid == source.SOPInstanceUID and instance.node_aetitle == "INDEXER"
    assert instance.path.endswith(".dcm") and pydicom.dcmread(instance.path).SOPInstanceUID == source.SOPInstanceUID
    assert instance.size_bytes == __import__("os").stat(instance.path).st_size


def test_deleted_files_leave_the_index_and_reindex_rebuilds_it(app, tmp_path):
    layout = dict(LAYOUT, node="REINDEXER")
    import_file(_received(tmp_path, "CT-RDSR-Siemens_Flash-TAP-SS.dcm"), source="scp:INDEXER", owned=True, layout=layout)
    import_file(_received(tmp_path, "CT-RDSR-Siemens_Flash-TAP-SS.dcm", SOPInstanceUID="1.2.826.0.1.3680043.10.1.77",
                          SeriesInstanceUID="1.2.826.0.1.3680043.10.1.78", Modality="CT"),
                source="scp:INDEXER", owned=True, layout=layout)
    study = db.session.scalar(select(DicomStoredStudy))
    assert (study.series_count, study.instance_count, study.modalities) == (2, 2, "CT\\SR")
    paths = db.session.scalars(select(DicomStoredInstance.path).order_by(DicomStoredInstance.id)).all()
    root = app.config["INSTANCE"] / "objects" / "REINDEXER"
    # A second run over the same folder changes nothing; a deleted file leaves.
    assert object_index.reindex(root, "REINDEXER") == {"indexed": 2, "skipped": 0, "forgotten": 0}
    __import__("os").unlink(paths[1])
    assert object_index.forget_missing() == 1
    study = db.session.scalar(select(DicomStoredStudy))
    assert (study.series_count, study.instance_count, study.modalities) == (1, 1, "SR")
    assert db.session.scalar(select(DicomStoredSeries.series_instance_uid)) != "1.2.826.0.1.3680043.10.1.78"
    # Emptied: the study leaves too; reindex puts back what is on disk.
    db.session.execute(DicomStoredStudy.__table__.delete())
    db.session.commit()
    assert object_index.reindex(root, "REINDEXER")["indexed"] == 1
    assert db.session.scalar(select(DicomStoredInstance.path)) == paths[0]
    object_index.forget([paths[0]])
    assert db.session.scalar(select(DicomStoredStudy)) is None
