"""The unit table (every vendor code real systems send) and the repair of malformed numbers."""
import pytest

from doseapp.extract import units
from doseapp.extract.sr import Ctx, Node, TextDecoder


@pytest.mark.parametrize("code,kind,factor", [
    # dose-area product -> Gy·m²
    ("Gy.m2", "dap_gym2", 1.0),
    ("Gym2", "dap_gym2", 1.0),
    ("Gy.m^2", "dap_gym2", 1.0),
    ("dGy.cm2", "dap_gym2", 1e-5),
    ("cGy.cm2", "dap_gym2", 1e-6),
    ("mGy.cm2", "dap_gym2", 1e-7),
    ("uGy.m2", "dap_gym2", 1e-6),
    ("Gy.cm2", "dap_gym2", 1e-4),
    ("Gy.cm^2", "dap_gym2", 1e-4),  # Siemens radiation summary report
    ("uGy.cm2", "dap_gym2", 1e-10),
    # dose-length product -> mGy·cm
    ("mGy.cm", "dlp_mgycm", 1.0),
    ("mGycm", "dlp_mgycm", 1.0),
    ("Gy.cm", "dlp_mgycm", 1000.0),
    ("mGy.mm", "dlp_mgycm", 0.1),
    # dose at RP -> Gy; CT/mammography dose -> mGy
    ("Gy", "dose_gy", 1.0),
    ("mGy", "dose_gy", 1e-3),
    ("dGy", "dose_gy", 0.1),
    ("uGy", "dose_gy", 1e-6),
    ("Gy", "dose_mgy", 1000.0),
    ("mGy", "dose_mgy", 1.0),
    ("dGy", "dose_mgy", 100.0),
    ("uGy", "dose_mgy", 1e-3),
    # times
    ("s", "time_s", 1.0),
    ("ms", "time_s", 1e-3),
    ("us", "time_s", 1e-6),
    ("s", "time_ms", 1000.0),
    ("ms", "time_ms", 1.0),
    ("us", "time_ms", 1e-3),
    # lengths and areas
    ("mm", "length_mm", 1.0),
    ("cm", "length_mm", 10.0),
    ("m", "length_mm", 1000.0),
    ("m2", "area_m2", 1.0),
    ("m^2", "area_m2", 1.0),
    ("cm2", "area_m2", 1e-4),
    ("mm[Al]", "hvl_mm", 1.0),
    ("mm", "hvl_mm", 1.0),
    # generator
    ("kV", "kv", 1.0),
    ("mA", "current_ma", 1.0),
    ("uA.s", "charge_uas", 1.0),
    ("uAs", "charge_uas", 1.0),
    ("mA.s", "charge_uas", 1000.0),
    ("mAs", "charge_uas", 1000.0),
    ("deg", "angle_deg", 1.0),
    ("N", "force_n", 1.0),
    ("dN", "force_n", 0.1),
    ("{pulse}/s", "rate_per_s", 1.0),
    ("pulse/s", "rate_per_s", 1.0),
    # counts and ratios
    ("1", "count", 1.0),
    ("{events}", "count", 1.0),
    ("{X-Ray sources}", "count", 1.0),
    ("X-ray sources", "count", 1.0),
    ("{ratio}", "ratio", 1.0),
    ("%", "percent", 1.0),
])
def test_unit_factor(code, kind, factor):
    assert units.unit_factor(code, kind) == pytest.approx(factor, rel=1e-12)


def test_case_insensitive_match_only_when_unique():
    assert units.unit_factor("MGY", "dose_mgy") == 1.0
    assert units.unit_factor("KV", "kv") == 1.0
    assert units.unit_factor("MM", "length_mm") == 1.0
    # "mGY" folds to mGy only; but in the charge table "UAS" folds to uAs alone as well
    assert units.unit_factor("UAS", "charge_uas") == 1.0


@pytest.mark.parametrize("code,kind", [
    ("Gy.dm", "dap_gym2"),  # a length where an area is meant
    ("mGy", "dap_gym2"),
    ("furlong", "length_mm"),
    ("", "dose_gy"),
    (None, "dose_gy"),
    ("mGy.cm", "dose_mgy"),
])
def test_unknown_unit_has_no_factor(code, kind):
    assert units.unit_factor(code, kind) is None


def test_every_kind_names_its_stored_unit_with_factor_one():
    for kind, (stored, codes) in units.UNIT_TABLE.items():
        assert codes.get(stored) == 1.0, kind


def _num(text, unit, meaning="Dose Area Product"):
    return Node("122130", "DCM", meaning, "NUM", text, unit, [])


def test_unknown_unit_gives_warning_and_no_value():
    ctx = Ctx(TextDecoder(None))
    assert ctx.value(_num("1.5", "Gy.dm2x"), "dap_gym2") is None
    assert len(ctx.warnings) == 1
    assert "Gy.dm2x" in ctx.warnings[0] and "not stored" in ctx.warnings[0]


def test_missing_unit_gives_warning_and_no_value():
    ctx = Ctx(TextDecoder(None))
    assert ctx.value(_num("1.5", None), "dap_gym2") is None
    assert ctx.warnings


def test_value_is_converted():
    ctx = Ctx(TextDecoder(None))
    assert ctx.value(_num("2.5", "dGy.cm2"), "dap_gym2") == pytest.approx(2.5e-5, rel=1e-12)
    assert ctx.value(_num("0.00252", "Gy"), "dose_gy") == pytest.approx(0.00252, rel=1e-12)
    assert ctx.value(_num("2.52", "mGy"), "dose_gy") == pytest.approx(0.00252, rel=1e-12)
    assert not ctx.warnings


@pytest.mark.parametrize("text,values", [
    ("724.52", [724.52]),
    (" 1.6e-005 ", [1.6e-5]),
    ("12\x00", [12.0]),
    ("1,5", [1.5]),  # decimal comma
    ("-0,25", [-0.25]),
    ("1.5,2.5", [1.5, 2.5]),  # comma between values that have decimal points
    ("1,2,3", [1.0, 2.0, 3.0]),
    ("10.50/ 15.00", [10.5, 15.0]),  # Toshiba "/"-separated multi-value
    ("70\\72\\71", [70.0, 72.0, 71.0]),  # DICOM multi-value
    ("3;4", [3.0, 4.0]),
    (b"0.00024126", [0.00024126]),
    (5, [5.0]),
])
def test_parse_number(text, values):
    assert units.parse_number(text) == pytest.approx(values, rel=1e-12)


@pytest.mark.parametrize("text", ["", "   ", "\x00", None])
def test_parse_number_empty(text):
    assert units.parse_number(text) is None


@pytest.mark.parametrize("text", ["abc", "1.2.3", "nan", "inf", "1e999"])
def test_parse_number_refuses_non_numbers(text):
    with pytest.raises(ValueError):
        units.parse_number(text)


def test_combine_rules():
    assert units.combine([3.0]) == (3.0, None)
    assert units.combine([3.0, 3.0]) == (3.0, None)
    value, problem = units.combine([3.0, 4.0])
    assert value is None and "different" in problem
    assert units.combine([70.0, 72.0, 71.0], per_pulse=True) == (71.0, None)


def test_integer_repair():
    assert units.as_integer(24.0) == (24, None)
    assert units.as_integer(0.0) == (0, None)
    value, problem = units.as_integer(24.5)
    assert value is None and "whole" in problem


def test_ctx_integer_repairs_decimal_count():
    ctx = Ctx(TextDecoder(None))
    node = Node("113731", "DCM", "Total Number of Radiographic Frames", "NUM", "0.00", "1", [])
    assert ctx.integer(node) == 0
    node = Node("113731", "DCM", "Total Number of Radiographic Frames", "NUM", "2.5", "1", [])
    assert ctx.integer(node) is None
    assert "whole number" in ctx.warnings[0]


def test_multivalue_in_scalar_quantity_is_reported():
    ctx = Ctx(TextDecoder(None))
    assert ctx.value(_num("0.6/1.0", "mm", "Focal Spot Size"), "length_mm") is None
    assert "several different values" in ctx.warnings[0]
    ctx = Ctx(TextDecoder(None))
    assert ctx.value(_num("0.6\\0.6", "mm", "Focal Spot Size"), "length_mm") == 0.6
    assert not ctx.warnings


def test_not_a_number_is_reported():
    ctx = Ctx(TextDecoder(None))
    assert ctx.value(_num("n/a", "Gy.m2"), "dap_gym2") is None
    assert "not a number" in ctx.warnings[0]


def test_floating_point_values_are_checked():
    assert units.parse_number((1.5, 2.5)) == [1.5, 2.5]
    with pytest.raises(ValueError):
        units.parse_number((float("nan"),))


def test_number_sent_as_text_is_reported():
    ctx = Ctx(TextDecoder(None))
    node = Node("122130", "DCM", "Dose Area Product", "TEXT", "0.5", None, [])
    assert ctx.value(node, "dap_gym2") is None
    assert "sent as TEXT" in ctx.warnings[0]


@pytest.mark.parametrize("text,unit,kind,stored", [
    ("15745", "ms", "time_s", "15.745"),          # Philips CT exposure time: was 15.745000000000001
    ("110.13", "cGy.cm2", "dap_gym2", "0.00011013"),  # was 0.00011013000000000002
    ("1.1", "Gy.cm2", "dap_gym2", "0.00011"),     # was 0.00011000000000000002
    ("11.7317", "mGy", "dose_gy", "0.0117317"),
])
def test_converted_value_is_the_decimal_sent(text, unit, kind, stored):
    ctx = Ctx(TextDecoder(None))
    assert repr(ctx.value(_num(text, unit), kind)) == stored


@pytest.mark.parametrize("value,places,expected", [
    (0.00028933, 6, "289.33"),            # Canon Alphenix acquisition DAP (Gy·m²) in cGy·cm²
    (0.00011013, 6, "110.13"),            # Carestream DR 7500 DAP
    (4e-07, 6, "0.4"),                    # Dual-RDSR-RF fluoro DAP: was 0.39999999999999997
    (2.954178618e-05, 6, "29.54178618"),  # was 29.541786180000003
    (20138.40039062, -3, "20.13840039062"),  # GE fluoroscopy µAs in mAs: was 20.138400390620003
    (51800.0, -3, "51.8"),
    (35600, -3, "35.6"),
    (-1.5e-07, 6, "-0.15"),
    (0.0, 6, "0.0"),
    (1e-300, 6, "1e-294"),
])
def test_shift_moves_the_decimal_point(value, places, expected):
    assert repr(units.shift(value, places)) == expected


def test_scale_is_exact_for_powers_of_ten_and_multiplies_otherwise():
    assert repr(units.scale(15745.0, units.unit_factor("ms", "time_s"))) == "15.745"
    assert repr(units.scale(0.7, units.unit_factor("dGy.cm2", "dap_gym2"))) == "7e-06"
    assert units.scale(2.5, 60.0) == 150.0  # minutes -> s: not a power of ten
    assert units.scale(1.0, units.unit_factor("{pulse}/min", "rate_per_s")) == 1 / 60.0


def test_significant_rounds_arithmetic_noise():
    assert repr(units.significant((1.1 + 2.2) / 2)) == "1.65"  # 1.6500000000000001 before rounding
    assert repr(units.significant(110.13000000000001)) == "110.13"
    assert repr(units.significant(100 / 3)) == "33.3333333333"
    assert units.significant(-9.3) == -9.3
