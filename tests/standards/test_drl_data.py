"""The shipped national DRL sets load, every row has a source, and values match the publication."""
from __future__ import annotations

import pytest

from doseapp.standards import drl

UK = "UK Health Security Agency, National Diagnostic Reference Levels (NDRLs) from 20 November 2024, Table 1 Adult CT examinations"


def _uk(name: str, quantity: str) -> drl.Level:
    [row] = [lv for lv in drl.national_sets()["uk_ndrl"] if lv.standard_name == name and lv.quantity == quantity]
    return row


def test_every_shipped_row_has_a_source_and_a_positive_value():
    sets = drl.national_sets()
    assert "uk_ndrl" in sets
    rows = [lv for levels in sets.values() for lv in levels]
    assert len(rows) >= 21
    for lv in rows:
        assert lv.source and "gov.uk" in lv.source.lower() or lv.set_key != "uk_ndrl"
        assert lv.value > 0 and lv.quantity in drl.UNITS and lv.modality in drl.MODALITIES
        assert lv.year


@pytest.mark.parametrize("name,quantity,value", [
    # UK adult CT NDRLs (UKHSA, GOV.UK; year adopted 2022): CTDIvol per sequence mGy, DLP mGy·cm.
    ("CT Head", "ctdivol", 47), ("CT Head", "dlp", 790),
    ("CT Cervical spine", "dlp", 400), ("CT Chest", "ctdivol", 8.5), ("CT Chest", "dlp", 290),
    ("CT Pulmonary angiography", "ctdivol", 9.1), ("CT Abdomen pelvis", "dlp", 530),
    ("CT Chest abdomen pelvis", "dlp", 660), ("CT KUB", "ctdivol", 6.3), ("CT Urogram", "dlp", 890),
])
def test_uk_adult_ct_values_as_published(name, quantity, value):
    row = _uk(name, quantity)
    assert row.value == value
    assert row.is_adult and row.modality == "CT" and row.year == 2022
    assert row.source.startswith(UK)


def test_a_bad_row_is_refused(tmp_path):
    bad = tmp_path / "bad_set.csv"
    header = open(drl.DATA / "uk_ndrl.csv", encoding="utf-8").readline()
    bad.write_text(header + "bad_set,CT,Head,,CT Head,dlp,790,mGy·cm,790,adult,,,,,2022,\n", encoding="utf-8")
    with pytest.raises(drl.DrlDataError, match="no source"):
        drl._load_file(bad)
    bad.write_text(header + "bad_set,CT,Head,,CT Head,dlp,0,mGy·cm,0,adult,,,,,2022,src\n", encoding="utf-8")
    with pytest.raises(drl.DrlDataError, match="positive"):
        drl._load_file(bad)
    bad.write_text(header + "bad_set,CT,Head,,CT Head,kerma,1,mGy,1,adult,,,,,2022,src\n", encoding="utf-8")
    with pytest.raises(drl.DrlDataError, match="unknown"):
        drl._load_file(bad)


def test_group_labels_and_bands():
    assert drl.group_label() == "adult"
    assert drl.group_label(1, 5) == "age 1–5 y"
    assert drl.group_label(None, None, 15, 30) == "weight 15–30 kg"
    adult = (None, None, None, None)
    assert drl.in_band(adult, None, None) and drl.in_band(adult, 18, None) and not drl.in_band(adult, 17.9, 70)
    assert drl.in_band((1, 5, None, None), 1, None) and not drl.in_band((1, 5, None, None), 5, None)
    assert not drl.in_band((1, 5, None, None), None, 20)
    assert drl.in_band((None, None, 15, 30), 4, 15) and not drl.in_band((None, None, 15, 30), 4, 30)
