"""Damaged and incomplete dose objects: always Rejected/Malformed with a reason, or a report with
warnings; never another exception."""
import io
import random

import pydicom
import pytest
from tests.extract import sr_builder as b
from tests.extract.extract_helpers import TESTDATA, dose_files, fresh, roundtrip
from pydicom.dataelem import RawDataElement

from doseapp.extract import DoseReport, Malformed, Rejected, extract, rdsr_ct, route


def test_missing_content_sequence():
    ds = fresh("CT-RDSR-Siemens_Flash-TAP-SS.dcm")
    del ds[0x0040A730]
    with pytest.raises(Malformed, match="no content"):
        extract(ds)


def test_empty_content_sequence():
    ds = b.dose_report([])
    del ds.ContentSequence[0]
    with pytest.raises(Malformed, match="no content"):
        extract(ds)


@pytest.mark.parametrize("keyword", ["SOPInstanceUID", "StudyInstanceUID"])
def test_missing_required_uid(keyword):
    ds = fresh("RF-RDSR-Siemens-Zee.dcm")
    delattr(ds, keyword)
    with pytest.raises(Malformed, match=keyword.replace("UID", " UID").replace("SOPInstance",
                                                                                "SOP Instance")
                       .replace("StudyInstance", "Study Instance")):
        extract(ds)


def test_missing_sop_class():
    ds = fresh("RF-RDSR-Siemens-Zee.dcm")
    del ds.SOPClassUID
    with pytest.raises(Malformed, match="SOP Class UID"):
        route(ds)


def test_ct_report_without_events_or_totals():
    ds = fresh("CT-RDSR-Siemens_Flash-TAP-SS.dcm")
    keep = [item for item in ds.ContentSequence
            if item.ConceptNameCodeSequence[0].CodeValue not in ("113811", "113819")]
    ds.ContentSequence = keep
    with pytest.raises(Malformed, match="neither irradiation events nor accumulated"):
        extract(ds)


def test_projection_report_without_dose():
    with pytest.raises(Malformed, match="neither irradiation events nor accumulated"):
        extract(b.dose_report([]))


def test_missing_accumulated_data_and_event_uid_are_warnings():
    ds = b.dose_report([b.container(b.EVENT, [b.num(b.DAP, "1e-5", "Gy.m2")])])
    report = extract(ds)
    assert report.xray_events[0].dap_gym2 == pytest.approx(1e-5)
    assert any("Accumulated X-Ray Dose Data" in w for w in report.warnings)
    assert any("without an Irradiation Event UID" in w for w in report.warnings)


def test_root_concept_not_a_dose_report():
    ds = fresh("RF-RDSR-Siemens-Zee.dcm")
    ds.ConceptNameCodeSequence[0].CodeValue = "18748-4"
    ds.ConceptNameCodeSequence[0].CodingSchemeDesignator = "LN"
    with pytest.raises(Rejected, match="not an X-ray radiation dose report"):
        extract(ds)


def test_unexpected_error_inside_extraction_becomes_malformed(monkeypatch):
    def broken(node, ctx):
        raise RuntimeError("boom")

    monkeypatch.setattr(rdsr_ct, "ct_event", broken)
    with pytest.raises(Malformed, match="RuntimeError: boom"):
        extract(fresh("CT-RDSR-Siemens_Flash-TAP-SS.dcm"))


def test_truncated_content_bytes():
    ds = fresh("CT-RDSR-Siemens_Flash-TAP-SS.dcm")
    elem = ds.get_item(0x0040A730)
    cut = elem.value[: len(elem.value) // 2]
    ds[0x0040A730] = RawDataElement(elem.tag, elem.VR, len(cut), cut, elem.value_tell,
                                    elem.is_implicit_VR, elem.is_little_endian)
    with pytest.raises(Malformed):
        extract(ds)


def test_wrong_value_types_do_not_crash():
    event = b.projection_event([b.num(b.DAP, "1e-5", "Gy.m2")])
    event.ContentSequence[1].ValueType = "NUM"  # an Irradiation Event Type sent as NUM
    event.ContentSequence.append(b.text(("122130", "DCM", "Dose Area Product"), "lots"))
    ds = b.dose_report([b.plane([]), event])
    for dataset in (ds, roundtrip(ds)):
        report = extract(dataset)
        assert isinstance(report, DoseReport)
        assert report.xray_events[0].event_type is None


def test_empty_code_sequences_and_values():
    ds = fresh("CT-RDSR-Toshiba_MultiValSD.dcm")  # Target Region sent with no code
    report = extract(ds)
    assert report.ct_events[0].target_region is None


def _flip(data: bytes, rng: random.Random, count: int, start: int) -> bytes:
    buf = bytearray(data)
    for _ in range(count):
        pos = rng.randrange(start, len(buf))
        buf[pos] ^= 1 << rng.randrange(8)
    return bytes(buf)


SMALL_DOSE_FILES = [n for n in dose_files() if (TESTDATA / n).stat().st_size < 100_000]


@pytest.mark.parametrize("name", SMALL_DOSE_FILES)
def test_random_byte_flips_never_escape_as_other_exceptions(name):
    data = (TESTDATA / name).read_bytes()
    rng = random.Random(f"flip-{name}")
    outcomes = {"report": 0, "rejected": 0, "unreadable": 0}
    for trial in range(40):
        damaged = _flip(data, rng, count=1 + trial % 8, start=400)
        try:
            ds = pydicom.dcmread(io.BytesIO(damaged))
        except Exception:
            outcomes["unreadable"] += 1  # not a readable DICOM file: ingest's concern
            continue
        try:
            report = extract(ds)
        except Rejected as exc:
            assert exc.reason
            outcomes["rejected"] += 1
        else:
            assert isinstance(report, DoseReport)
            outcomes["report"] += 1
    assert sum(outcomes.values()) == 40


def test_missing_document_title():
    ds = fresh("RF-RDSR-Siemens-Zee.dcm")
    del ds.ConceptNameCodeSequence
    with pytest.raises(Malformed, match="document title"):
        extract(ds)
