"""For every dose report in the test data: the event count equals the SR's own count of
irradiation event containers, and accumulated totals equal the sums of the events where the SR
gives both, to within the rounding of the decimal strings the system sent. The SR is read here
with pydicom directly, independently of the extractor."""
import pytest
from tests.extract.extract_helpers import dose_files, half_unit, read

from doseapp.extract import Rejected, extract

READ = [n for n in dose_files() if "RRDSR" not in n and not n.startswith("ESR")]


def _code(item, seq="ConceptNameCodeSequence"):
    items = item.get(seq)
    return items[0].CodeValue if items else None


def _num_text(item):
    mv = item.get("MeasuredValueSequence")
    if not mv or "NumericValue" not in mv[0]:
        return None
    return str(mv[0].NumericValue)  # pydicom keeps the string as sent


def _containers(ds, code):
    return [item for item in ds.ContentSequence if _code(item) == code]


def _children(item, code):
    return [c for c in item.get("ContentSequence", []) if _code(c) == code]


@pytest.mark.parametrize("name", READ)
def test_event_count_equals_sr_containers(name):
    ds = read(name)
    report = extract(ds)
    ct = len(_containers(ds, "113819"))
    projection = len(_containers(ds, "113706"))
    assert len(report.ct_events) == ct
    assert len(report.xray_events) == projection
    if report.ct_total_events is not None:
        assert report.ct_total_events == ct


def _sum_check(total_text, event_texts, total, events):
    """total equals sum(events) within the rounding of every string involved."""
    tolerance = half_unit(total_text) + sum(half_unit(t) for t in event_texts)
    assert abs(total - sum(events)) <= tolerance * 1.0000001 + 1e-15


@pytest.mark.parametrize("name", [n for n in READ if n.startswith(("CT", "NM-CT"))])
def test_ct_total_dlp_equals_event_sum(name):
    ds = read(name)
    report = extract(ds)
    (accumulated,) = _containers(ds, "113811")
    (total_item,) = _children(accumulated, "113813")
    texts = []
    for event in _containers(ds, "113819"):
        doses = [d for c in _children(event, "113829") for d in _children(c, "113838")]
        texts += [_num_text(d) for d in doses]
    texts = [t for t in texts if t is not None]  # some systems leave out a localiser's DLP
    events = [e.dlp_mgycm for e in report.ct_events if e.dlp_mgycm is not None]
    assert len(events) == len(texts)
    _sum_check(_num_text(total_item), texts, report.ct_total_dlp_mgycm, events)


PLANE_CHECKS = [
    # (total code, event code, event filter on irradiation event type code, record fields)
    ("113722", "122130", None, "dap_total_gym2", "dap_gym2"),
    ("113725", "113738", None, "dose_rp_total_gy", "dose_rp_gy"),
    ("113726", "122130", True, "fluoro_dap_total_gym2", "dap_gym2"),
    ("113727", "122130", False, "acquisition_dap_total_gym2", "dap_gym2"),
]
_FLUORO = {"P5-06000", "44491008"}
# The SR itself disagrees beyond rounding: Siemens Fluorospot Compact's acquisition total is
# 1.72e-6 Gy·m² while its two acquisition events sum to 1.69e-6 (both stored as sent).
KNOWN_SR_DISAGREEMENTS = {
    ("Dual-RDSR-RF.dcm", "dap_total_gym2"): (2.12e-6, 2.09e-6),
    ("Dual-RDSR-RF.dcm", "acquisition_dap_total_gym2"): (1.72e-6, 1.69e-6),
}


@pytest.mark.parametrize("name", [n for n in READ if not n.startswith(("CT", "NM-CT"))])
def test_plane_totals_equal_event_sums(name):
    ds = read(name)
    report = extract(ds)
    events = _containers(ds, "113706")
    checked = 0
    for plane_item, plane in zip(_containers(ds, "113702"), report.planes):
        plane_name = plane.acquisition_plane
        in_plane = [(item, rec) for item, rec in zip(events, report.xray_events)
                    if rec.acquisition_plane == plane_name]
        for total_code, event_code, fluoro, total_field, event_field in PLANE_CHECKS:
            totals = _children(plane_item, total_code)
            if not totals or _num_text(totals[0]) is None or not in_plane:
                continue
            chosen = [(item, rec) for item, rec in in_plane
                      if fluoro is None or any(
                          (_code(c, "ConceptCodeSequence") in _FLUORO) == fluoro
                          for c in _children(item, "113721"))]
            texts = [_num_text(v) for item, _ in chosen for v in _children(item, event_code)]
            values = [getattr(rec, event_field) for _, rec in chosen]
            if None in texts or None in values or len(texts) != len(values):
                continue  # the SR does not give every event's value
            known = KNOWN_SR_DISAGREEMENTS.get((name, total_field))
            if known:
                assert (getattr(plane, total_field), sum(values)) == pytest.approx(known, rel=1e-6)
            else:
                _sum_check(_num_text(totals[0]), texts, getattr(plane, total_field), values)
            checked += 1
    if events and report.planes and any(e.dap_gym2 is not None for e in report.xray_events):
        assert checked


@pytest.mark.parametrize("name", ["MG-RDSR-Hologic_2D.dcm", "MG-RDSR-Hologic_mix.dcm"])
def test_accumulated_agd_equals_event_sum_per_breast(name):
    report = extract(read(name))
    assert len(report.breast_doses) == 2
    for breast in report.breast_doses:
        side = breast.laterality.split()[0]  # "Left breast" -> events with laterality "Left"
        events = [e.agd_mgy for e in report.xray_events if e.laterality == side]
        # two-decimal strings: each value rounded by at most 0.005 mGy
        assert breast.agd_mgy == pytest.approx(sum(events), abs=0.005 * (len(events) + 1))


def test_rejected_reports_are_not_read():
    for name in dose_files():
        if name.startswith("ESR"):
            with pytest.raises(Rejected):
                extract(read(name))
