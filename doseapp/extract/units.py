"""Unit codes -> stored units, in one table, and the repair of malformed numbers.

``UNIT_TABLE`` maps each quantity kind to its stored unit and to the factor that converts a value
sent in a given unit code into that stored unit. It holds the UCUM codes and the variants real
systems send (``Gym2``, ``dGy.cm2``, ``mGycm``, ``uAs``, ``Gy.cm^2``, ``{pulse}/s``...). The dose
and area products are generated from prefix x unit combinations so that every spelling of one
combination gets the same factor. A unit code the table does not know for the kind is never
guessed: the value is not stored and the caller records a warning.

Matching is exact first; when no exact code matches, a case-insensitive match is accepted only if
exactly one code of that kind matches (so ``MGY`` -> ``mGy`` within a dose kind, where megagray
cannot be meant).

Number repair (``parse_number``), applied to the text of a decimal string:

* surrounding spaces and NUL padding are removed; an empty string is "no value";
* values separated by ``\\`` (the DICOM multi-value separator), ``/`` or ``;`` are split into
  several values;
* a comma is a decimal separator when the text holds exactly one comma, no point and digits on
  both sides (``"1,5"`` -> 1.5: DICOM decimal strings never carry thousands separators, so the
  comma can only be a locale's decimal mark); otherwise commas separate values
  (``"1.5,2.5"``, ``"1,2,3"``);
* NaN and infinities are refused.

What several values mean is decided per quantity by ``combine``: per-pulse quantities keep the
list and use the mean; elsewhere equal values collapse to one; different values are reported and
nothing is stored. Integer quantities accept an integral decimal (``"24.0"`` -> 24); a fraction is
reported and nothing is stored.
"""
from __future__ import annotations

import math
import re

_DOSE_PREFIX = {"": 1.0, "d": 0.1, "c": 0.01, "m": 1e-3, "u": 1e-6, "µ": 1e-6, "μ": 1e-6}
_JOINERS = (".", "", "*", "·", " ")
_AREAS = {"m2": 1.0, "m^2": 1.0, "m²": 1.0, "dm2": 1e-2, "dm^2": 1e-2, "cm2": 1e-4, "cm^2": 1e-4,
          "cm²": 1e-4, "mm2": 1e-6, "mm^2": 1e-6, "mm²": 1e-6}
_LENGTHS = {"m": 1000.0, "cm": 10.0, "mm": 1.0, "um": 1e-3, "µm": 1e-3}


def _dose_area_units() -> dict[str, float]:
    """Every spelling of <prefix>Gy x <area> -> factor to Gy·m²."""
    out = {}
    for prefix, dose in _DOSE_PREFIX.items():
        for area_code, area in _AREAS.items():
            for joiner in _JOINERS:
                out[f"{prefix}Gy{joiner}{area_code}"] = dose * area
    return out


def _dose_length_units() -> dict[str, float]:
    """Every spelling of <prefix>Gy x <length> -> factor to mGy·cm."""
    out = {}
    for prefix, dose in _DOSE_PREFIX.items():
        for length_code, mm in _LENGTHS.items():
            for joiner in _JOINERS:
                out[f"{prefix}Gy{joiner}{length_code}"] = dose * 1000.0 * mm / 10.0
    return out


def _dose_units(stored_in_gy: float) -> dict[str, float]:
    return {f"{p}Gy": f / stored_in_gy for p, f in _DOSE_PREFIX.items()}


def _charge_units() -> dict[str, float]:
    """Every spelling of current x time -> factor to µAs."""
    currents = {"": 1e6, "m": 1e3, "u": 1.0, "µ": 1.0, "n": 1e-3}
    out = {}
    for prefix, factor in currents.items():
        for joiner in (".", "", "*", "·"):
            out[f"{prefix}A{joiner}s"] = factor
    return out


_COUNT = {"1": 1.0, "{events}": 1.0, "{event}": 1.0, "events": 1.0, "{X-Ray sources}": 1.0,
          "{X-ray sources}": 1.0, "X-Ray sources": 1.0, "X-ray sources": 1.0, "{sources}": 1.0,
          "{pulses}": 1.0, "{pulse}": 1.0, "pulses": 1.0, "{frames}": 1.0, "{frame}": 1.0,
          "{images}": 1.0, "{exposures}": 1.0, "{ratio}": 1.0, "{count}": 1.0, "{#}": 1.0}

# kind -> (stored unit, {unit code: factor to the stored unit})
UNIT_TABLE: dict[str, tuple[str, dict[str, float]]] = {
    "dap_gym2": ("Gy.m2", _dose_area_units()),
    "dose_gy": ("Gy", _dose_units(1.0)),
    "dose_mgy": ("mGy", _dose_units(1e-3)),
    "dlp_mgycm": ("mGy.cm", _dose_length_units()),
    "effective_dose_msv": ("mSv", {"Sv": 1000.0, "mSv": 1.0, "uSv": 1e-3, "µSv": 1e-3}),
    "time_s": ("s", {"s": 1.0, "sec": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "min": 60.0,
                     "h": 3600.0, "d": 86400.0}),
    "time_ms": ("ms", {"s": 1000.0, "sec": 1000.0, "ms": 1.0, "us": 1e-3, "µs": 1e-3,
                       "min": 60000.0}),
    "length_mm": ("mm", dict(_LENGTHS)),
    "area_m2": ("m2", dict(_AREAS)),
    "kv": ("kV", {"kV": 1.0, "kVp": 1.0, "V": 1e-3}),
    "current_ma": ("mA", {"mA": 1.0, "A": 1000.0, "uA": 1e-3, "µA": 1e-3}),
    "charge_uas": ("uA.s", _charge_units()),
    "angle_deg": ("deg", {"deg": 1.0, "°": 1.0, "º": 1.0, "degrees": 1.0,
                          "rad": 180.0 / math.pi}),
    "force_n": ("N", {"N": 1.0, "dN": 0.1, "daN": 10.0, "kN": 1000.0}),
    "rate_per_s": ("/s", {"{pulse}/s": 1.0, "{pulses}/s": 1.0, "pulse/s": 1.0, "pulses/s": 1.0,
                          "{frame}/s": 1.0, "{frames}/s": 1.0, "/s": 1.0, "1/s": 1.0, "s-1": 1.0,
                          "Hz": 1.0, "{pulse}/min": 1 / 60.0}),
    "hvl_mm": ("mm", {"mm": 1.0, "mm[Al]": 1.0, "mm{Al}": 1.0, "mmAl": 1.0, "mm Al": 1.0,
                      "cm": 10.0, "cm[Al]": 10.0}),
    # Radiopharmaceutical activity: stored in MBq (UCUM Bq prefixes and the curie units still sent).
    "activity_mbq": ("MBq", {"Bq": 1e-6, "kBq": 1e-3, "MBq": 1.0, "GBq": 1e3, "TBq": 1e6, "Ci": 37000.0,
                             "mCi": 37.0, "uCi": 0.037, "µCi": 0.037, "[Ci]": 37000.0, "m[Ci]": 37.0,
                             "u[Ci]": 0.037}),
    "volume_ml": ("ml", {"ml": 1.0, "mL": 1.0, "cm3": 1.0, "cm^3": 1.0, "l": 1000.0, "L": 1000.0, "ul": 1e-3}),
    # Blood glucose (mg/dl converted with glucose's molar mass, 180.16 g/mol).
    "glucose_mmol_l": ("mmol/l", {"mmol/l": 1.0, "mmol/L": 1.0, "umol/l": 1e-3, "umol/L": 1e-3,
                                  "mg/dl": 1 / 18.016, "mg/dL": 1 / 18.016}),
    "bmi": ("kg/m2", {"kg/m2": 1.0, "kg/m^2": 1.0, "kg.m-2": 1.0}),
    "percent": ("%", {"%": 1.0, "percent": 1.0}),
    "ratio": ("1", {"1": 1.0, "{ratio}": 1.0, "ratio": 1.0, "{}": 1.0, "%": 0.01}),
    "count": ("1", _COUNT),
    # Exposure index and deviation index are dimensionless by definition.
    "index": ("1", {"1": 1.0, "{ratio}": 1.0, "{EI}": 1.0, "{DI}": 1.0, "{}": 1.0}),
}

_FOLDED: dict[str, dict[str, str | None]] = {}
for _kind, (_stored, _codes) in UNIT_TABLE.items():
    _folded: dict[str, str | None] = {}
    for _code in _codes:
        key = _code.casefold()
        _folded[key] = None if (key in _folded and _folded[key] != _code) else _code
    _FOLDED[_kind] = _folded


def unit_factor(unit: str | None, kind: str) -> float | None:
    """Factor converting a value in ``unit`` to the stored unit of ``kind``; None when unknown."""
    if unit is None:
        return None
    codes = UNIT_TABLE[kind][1]
    factor = codes.get(unit)
    if factor is not None:
        return factor
    unit = unit.strip()
    factor = codes.get(unit)
    if factor is not None:
        return factor
    canonical = _FOLDED[kind].get(unit.casefold())
    return codes[canonical] if canonical else None


def stored_unit(kind: str) -> str:
    """The unit values of ``kind`` are stored in."""
    return UNIT_TABLE[kind][0]


_MULTI_SPLIT = re.compile(r"[\\/;]")
_DECIMAL_COMMA = re.compile(r"^[+-]?\d*,\d+(?:[eE][+-]?\d+)?$")


def parse_number(text: str | bytes | float | int | tuple | None) -> list[float] | None:
    """The values in a decimal string, repaired as the module docstring describes.

    Returns None for an empty value; raises ValueError when the text is not a number.
    """
    if text is None:
        return None
    if isinstance(text, (int, float)):
        return _finite([float(text)])
    if isinstance(text, (tuple, list)):  # FloatingPointValue
        return _finite([float(v) for v in text]) or None
    if isinstance(text, bytes):
        text = text.decode("ascii", "replace")
    text = text.strip(" \x00\t\r\n")
    if not text:
        return None
    if "," in text:
        if _DECIMAL_COMMA.match(text):
            text = text.replace(",", ".")
        else:
            text = text.replace(",", "\\")
    parts = [p.strip(" \x00") for p in _MULTI_SPLIT.split(text)] if _needs_split(text) else [text]
    values = [float(p) for p in parts if p]
    return _finite(values) if values else None


def _needs_split(text: str) -> bool:
    return "\\" in text or "/" in text or ";" in text


def _finite(values: list[float]) -> list[float]:
    for v in values:
        if math.isnan(v) or math.isinf(v):
            raise ValueError("not a finite number")
    return values


def combine(values: list[float], per_pulse: bool = False) -> tuple[float | None, str | None]:
    """One value from several sent for one quantity, with a problem description or None.

    Per-pulse quantities give their mean; otherwise equal values collapse to one and different
    values give no value (which one was meant is not clear).
    """
    if len(values) == 1:
        return values[0], None
    if per_pulse:
        return sum(values) / len(values), None
    if all(v == values[0] for v in values):
        return values[0], None
    return None, f"several different values {values!r} where one was expected"


def shift(value: float, places: int) -> float:
    """``value`` x 10**places, as the decimal the value stands for: 0.00028933 Gy·m² x 1e6 is
    289.33 cGy·cm², where the binary product is 289.33000000000004.

    A float is only the nearest binary number to its decimal (its shortest form, repr), and a
    product or quotient adds a rounding of its own, so unit conversions print artefacts a quarter of
    the time (x1e-3) to half of it (x1e-5). Moving the decimal point in the shortest form and reading
    that back is exact: the result is the float nearest to the decimal meant, whose repr is that
    decimal. A whole number needs no text: it and a power of ten are exact, so one multiplication or
    division (each correctly rounded) gives the same float, faster."""
    if value.__class__ is int or value.is_integer():
        return value * 10.0 ** places if places >= 0 else value / 10.0 ** -places
    if value - value:  # infinity or NaN: nothing to move
        return value
    text = repr(value)
    if "e" in text:
        mantissa, exponent = text.split("e")
        return float(f"{mantissa}e{int(exponent) + places}")
    return float(f"{text}e{places}")


def scale(value: float, factor: float) -> float:
    """``value`` x ``factor``: exactly as decimals (shift()) when the factor is a power of ten, as
    most unit factors are (mGy -> Gy, ms -> s, dGy·cm² -> Gy·m²); others (minutes, radians) multiply."""
    places = _POWERS_OF_TEN.get(factor)
    if places is None:
        places = round(math.log10(factor)) if factor > 0 else None
        # The factor tables multiply prefixes (0.1 x 1e-4 is 1.0000000000000001e-05): near is enough.
        if places is not None and not math.isclose(factor, 10.0 ** places, rel_tol=1e-12):
            places = None
        _POWERS_OF_TEN[factor] = places
    return value * factor if places is None else shift(value, places)


_POWERS_OF_TEN: dict[float, int | None] = {}


def significant(value: float, digits: int = 12) -> float:
    """``value`` rounded to ``digits`` significant digits: for the results of arithmetic (means,
    sums), whose last bits are rounding noise (the mean of 1.1 and 2.2 is 1.6500000000000001).
    Twelve digits is far beyond any measurement's precision, and far above that noise for sums
    of up to millions of values."""
    if value - value:
        return value
    return float(f"{value:.{digits}g}")


def as_integer(value: float) -> tuple[int | None, str | None]:
    """An integral decimal as int; a fraction gives None and a problem description."""
    if value == int(value):
        return int(value), None
    return None, f"{value!r} is not a whole number"
