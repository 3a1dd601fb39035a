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


# European paediatric CT DRLs: European Commission, Radiation Protection No 185, "European Guidelines on Diagnostic
# Reference Levels for Paediatric Imaging" (2018), the European DRLs for paediatric CT (head CT by age group, chest
# and abdomen CT by weight group), as transcribed in github.com/nathanwangai/drl_app drls/europe_pediatric_drls.csv
# (commit 66d09ed): CTDIvol mGy, DLP mGy·cm.
EU = "eu_rp185_paediatric"


def _eu(name: str, quantity: str, group: str) -> drl.Level:
    [row] = [lv for lv in drl.national_sets()[EU]
             if lv.standard_name == name and lv.quantity == quantity and lv.group == group]
    return row


@pytest.mark.parametrize("name,quantity,group,value", [
    ("CT Head", "ctdivol", "age 0–3 months", 24), ("CT Head", "dlp", "age 0–3 months", 300),
    ("CT Head", "dlp", "age 3–12 months", 385), ("CT Head", "ctdivol", "age 1–6 y", 40),
    ("CT Head", "dlp", "age 6–18 y", 650),
    ("CT Chest", "ctdivol", "age < 18 y, weight < 5 kg", 1.4), ("CT Chest", "dlp", "age < 18 y, weight 30–50 kg", 115),
    ("CT Chest", "dlp", "age < 18 y, weight 50–80 kg", 200),
    ("CT Abdomen", "dlp", "age < 18 y, weight < 5 kg", 45), ("CT Abdomen", "ctdivol", "age < 18 y, weight 5–15 kg", 3.5),
    ("CT Abdomen", "ctdivol", "age < 18 y, weight 50–80 kg", 13), ("CT Abdomen", "dlp", "age < 18 y, weight 50–80 kg", 480),
])
def test_eu_paediatric_ct_values_as_published(name, quantity, group, value):
    row = _eu(name, quantity, group)
    assert row.value == value and row.modality == "CT" and row.year == 2018


def test_eu_paediatric_rows_cite_the_publication_and_the_copy_read():
    rows = drl.national_sets()[EU]
    assert len(rows) == 27  # head 4 age groups, chest and abdomen 5 weight groups each, × CTDIvol and DLP, less one
    for lv in rows:
        assert "Radiation Protection No 185" in lv.source and "2018" in lv.source
        assert "github.com/nathanwangai/drl_app" in lv.source and "66d09edd9b0d5550817bc07c87c11066ab061c13" in lv.source
        assert not lv.is_adult and lv.age_max is not None and lv.age_max <= drl.ADULT_AGE  # children only
    # The abdomen CTDIvol of the < 5 kg group is not given (printed "-"): no row, not a zero.
    assert not [lv for lv in rows if lv.standard_name == "CT Abdomen" and lv.quantity == "ctdivol"
                and lv.weight_max == 5]


def _national(name: str, quantity: str) -> drl.NameLevels:
    """The shipped levels of one name and quantity by patient group, as levels_by_name builds them."""
    levels = drl.NameLevels({})
    for key in sorted(drl.national_sets()):
        for lv in drl.national_sets()[key]:
            if lv.standard_name == name and lv.quantity == quantity:
                levels.bands.setdefault(lv.band, []).append(lv)
    return levels


@pytest.mark.parametrize("age,weight,value", [
    (0.1, None, 300), (0.25, None, 385), (0.99, None, 385), (1, None, 505), (5.99, 20, 505), (6, None, 650),
    (17.9, 70, 650), (18, None, 790), (40, 80, 790), (None, None, 790),
])
def test_which_head_level_applies(age, weight, value):
    """Head CT by age ([min, max) bands; a child's band before the UK adult NDRL, age 18 and over is adult)."""
    assert _national("CT Head", "dlp").for_study(None, age, weight).value == value


@pytest.mark.parametrize("age,weight,value", [
    (10, 40, 115), (2, 4.5, 35), (2, 5, 50), (16, 79.9, 200),
    (40, 60, 290),     # an adult of a paediatric weight keeps the UK adult NDRL
    (None, 20, 290),   # age unknown: adult, as doseapp treats every study of unknown age
])
def test_which_chest_level_applies(age, weight, value):
    assert _national("CT Chest", "dlp").for_study(None, age, weight).value == value


def test_a_heavy_child_has_no_european_band():
    """16 years, 90 kg: above the 50-80 kg group and under 18, so no DRL (compared with nothing)."""
    assert _national("CT Chest", "dlp").for_study(None, 16, 90) is None


def test_infant_bands_are_labelled_in_months():
    assert drl.group_label(0, 0.25) == "age 0–3 months" and drl.group_label(0.25, 1) == "age 3–12 months"
    assert drl.group_label(None, 1) == "age < 12 months" and drl.group_label(1, 6) == "age 1–6 y"
