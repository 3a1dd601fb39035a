"""The content-tree reader: raw-bytes and pydicom paths agree; transfer syntaxes; character sets;
number repair inside whole reports; per-pulse values."""
import io

import pydicom
import pytest
from tests.extract import sr_builder as b
from tests.extract.extract_helpers import dose_files, fresh, roundtrip
from pydicom.uid import ExplicitVRBigEndian, ImplicitVRLittleEndian

from doseapp.extract import extract
from doseapp.extract.rawtree import read_raw_tree
from doseapp.extract.sr import TextDecoder, _node, parse_datetime, read_tree, walk


def _signature(nodes):
    return [(n.key, n.meaning, n.vtype, n.value, n.unit, _signature(n.children)) for n in nodes]


@pytest.mark.parametrize("name", [n for n in dose_files()
                                  if not n.startswith(("RF-Pat", "ESR_non-dose"))])
def test_raw_and_pydicom_readers_give_the_same_tree(name):
    ds = fresh(name)
    decode = TextDecoder(ds.get("SpecificCharacterSet"))
    elem = ds.get_item(0x0040A730)
    if isinstance(elem.value, bytes):
        raw = read_raw_tree(elem.value, elem.is_implicit_VR, elem.is_little_endian, decode)
    else:  # undefined-length sequence: pydicom parsed it while reading the file
        raw = read_tree(ds, decode)
    parsed = [_node(item, decode) for item in fresh(name).ContentSequence]
    assert _signature(raw) == _signature(parsed)
    assert sum(1 for _ in walk(raw)) > 5


def _write(ds, syntax):
    ds.file_meta.TransferSyntaxUID = syntax
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return pydicom.dcmread(io.BytesIO(buf.getvalue()))


def _sample():
    return b.dose_report([
        b.plane([b.num(b.DAP_TOTAL, "2.5", "dGy.cm2")]),
        b.projection_event([b.num(b.DAP, "2.5", "dGy.cm2"), b.num(b.KVP, "70", "kV"),
                            b.text(("125203", "DCM", "Acquisition Protocol"), "Abdomen")]),
    ])


@pytest.mark.parametrize("syntax", [ImplicitVRLittleEndian, ExplicitVRBigEndian])
def test_transfer_syntaxes(syntax):
    expected = extract(roundtrip(_sample()))
    ds = _write(_sample(), syntax)
    assert isinstance(ds.get_item(0x0040A730).value, bytes)  # the raw reader is used
    report = extract(ds)
    assert report.xray_events[0].dap_gym2 == pytest.approx(2.5e-5, rel=1e-12)
    assert report.planes[0].dap_total_gym2 == pytest.approx(2.5e-5, rel=1e-12)
    assert report.xray_events[0].acquisition_protocol == "Abdomen"
    assert report.xray_events[0].kvp == expected.xray_events[0].kvp == 70


def test_in_memory_dataset_uses_pydicom_path():
    report = extract(_sample())  # never written: values are pydicom's own
    assert report.xray_events[0].dap_gym2 == pytest.approx(2.5e-5, rel=1e-12)
    assert report.xray_events[0].kvp == 70


def test_number_repair_inside_a_report():
    ds = b.dose_report([
        b.plane([b.num(b.DAP_TOTAL, "1,5", "Gy.m2", raw=True)]),
        b.projection_event([
            b.num(b.DAP, "0,75", "Gym2", raw=True),  # decimal comma
            b.num(b.KVP, "70/72/74", "kV", raw=True),  # "/"-separated per-pulse values
            b.num(b.TUBE_CURRENT, "10", "mA"),
            b.num(b.TUBE_CURRENT, "12", "mA"),  # one content item per pulse
            b.num(("113768", "DCM", "Number of Pulses"), "2.0", "1", raw=True),
            b.num(("113766", "DCM", "Focal Spot Size"), "0.6/1.2", "mm", raw=True),
        ]),
    ])
    for dataset in (ds, roundtrip(ds)):
        report = extract(dataset)
        event = report.xray_events[0]
        assert report.planes[0].dap_total_gym2 == pytest.approx(1.5, rel=1e-12)
        assert event.dap_gym2 == pytest.approx(0.75, rel=1e-12)
        assert event.kvp == pytest.approx(72, rel=1e-12)
        assert event.tube_current_ma == pytest.approx(11, rel=1e-12)
        assert event.per_pulse == {"kvp": [70.0, 72.0, 74.0], "tube_current_ma": [10.0, 12.0]}
        assert event.number_of_pulses == 2
        assert event.focal_spot_size_mm is None  # two focal spots: which one is unclear
        assert any("focal_spot_size_mm" in w and "different" in w for w in report.warnings)


def test_unknown_unit_in_a_report_is_a_warning_not_a_number():
    ds = b.dose_report([
        b.plane([b.num(b.DAP_TOTAL, "3", "Gy.dm2x")]),
        b.projection_event([b.num(b.DAP, "3", "Gy.dm2x"), b.num(b.DOSE_RP, "2.1", "mGy")]),
    ])
    report = extract(ds)
    assert report.planes[0].dap_total_gym2 is None
    assert report.xray_events[0].dap_gym2 is None
    assert report.xray_events[0].dose_rp_gy == pytest.approx(0.0021, rel=1e-12)  # RP dose in mGy
    unit_warnings = [w for w in report.warnings if "Gy.dm2x" in w]
    assert len(unit_warnings) == 2
    assert any(w.startswith("X-ray event 1") for w in unit_warnings)


def test_utf8_rule_and_non_latin_text():
    decode = TextDecoder("ISO_IR 100")
    assert decode("testæøå".encode("utf-8")) == "testæøå"
    assert decode("Müller".encode("latin-1")) == "Müller"
    assert "UTF-8" in decode.warnings()[0]
    utf8 = TextDecoder("ISO_IR 192")
    assert utf8("中心医院".encode("utf-8")) == "中心医院"
    assert utf8("Москва".encode("utf-8")) == "Москва"
    assert utf8.warnings() == []
    cyrillic = TextDecoder("ISO_IR 144")
    assert cyrillic("Москва".encode("iso8859_5")) == "Москва"
    none_declared = TextDecoder(None)
    assert none_declared("Müller".encode("latin-1")) == "Müller"
    assert "no character set" in none_declared.warnings()[0]
    unknown = TextDecoder("ISO_IR 999")
    assert unknown(b"plain") == "plain"
    assert "ISO_IR 999" in unknown.warnings()[0]


def test_non_latin_text_survives_a_report():
    ds = b.dose_report([b.projection_event([
        b.text(("125203", "DCM", "Acquisition Protocol"), "胸部 正面"),
        b.num(b.DAP, "1", "Gy.m2")])], charset="ISO_IR 192")
    ds.InstitutionName = "中心医院"
    ds.InstitutionAddress = "Москва"
    for dataset in (ds, roundtrip(ds)):
        report = extract(dataset)
        assert report.xray_events[0].acquisition_protocol == "胸部 正面"
        assert report.equipment.institution_name == "中心医院"
        assert report.equipment.institution_address == "Москва"
        assert not any("UTF-8" in w for w in report.warnings)


@pytest.mark.parametrize("text,expected", [
    ("20160818192617.043", (2016, 8, 18, 19, 26, 17, 43000)),
    ("19970101000631.737+0000", (1997, 1, 1, 0, 6, 31, 737000)),
    ("20130611140817.965005", (2013, 6, 11, 14, 8, 17, 965005)),
    ("20180101", (2018, 1, 1, 0, 0, 0, 0)),
    ("201801011230", (2018, 1, 1, 12, 30, 0, 0)),
    ("2018-13-45", None),
    ("garbage", None),
])
def test_parse_datetime(text, expected):
    parsed = parse_datetime(text)
    if expected is None:
        assert parsed is None
    else:
        assert (parsed.year, parsed.month, parsed.day, parsed.hour, parsed.minute, parsed.second,
                parsed.microsecond) == expected
