"""Records line up with the model columns: ingest writes ``Model(**record.as_columns())``."""
import pytest

from doseapp.extract.records import (
    AccumulatedPlaneRecord, BreastDoseRecord, CtEventRecord, CtSourceRecord, EquipmentRecord,
    StudyRecord, XrayEventRecord,
)
from doseapp.models.ct import CtEvent, CtSource
from doseapp.models.equipment import IDENTITY_FIELDS, Equipment
from doseapp.models.projection import AccumulatedPlane, BreastDose, XrayEvent
from doseapp.models.study import Study


@pytest.mark.parametrize("record,model", [
    (CtEventRecord, CtEvent), (CtSourceRecord, CtSource), (XrayEventRecord, XrayEvent),
    (AccumulatedPlaneRecord, AccumulatedPlane), (BreastDoseRecord, BreastDose),
    (StudyRecord, Study), (EquipmentRecord, Equipment),
])
def test_record_fields_are_model_columns(record, model):
    assert set(record().as_columns()) <= set(model.__table__.columns.keys())


def test_equipment_record_holds_the_identity_fields():
    assert set(IDENTITY_FIELDS) <= set(EquipmentRecord().as_columns())


def test_nested_sources_are_not_columns():
    event = CtEventRecord(sources=[CtSourceRecord(kvp=120.0)])
    assert "sources" not in event.as_columns()
    assert event.sources[0].as_columns()["kvp"] == 120.0
