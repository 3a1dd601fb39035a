"""Dose physics of the skin map: backscatter and table/mattress transmission.

Backscatter: Benmakhlouf, Bosmans and Sandborg, "Backscatter factors and mass energy-absorption
coefficient ratios for diagnostic radiology dosimetry", Phys. Med. Biol. 56 (2011) 7179,
doi:10.1088/0031-9155/56/22/012 — the product of the backscatter factor and the water-to-air mass
energy-absorption coefficient ratio, tabulated by tube voltage, added copper (with 3.1 mm Al) and
the side of a square field at the skin. openSkin looks the table up at its nearest entry; here it is
interpolated in all three, with the field the beam really has on the skin.

Table and mattress transmission: the measurements openSkin ships (Royal Free Hospital, Siemens Artis
Zeego carbon-fibre table with and without its 4 cm mattress, 2016), by tube voltage and added
copper, interpolated here; an oblique ray crosses more table, so the transmission is raised to the
power of the ray's path length through it over the table's thickness.
"""
from __future__ import annotations

import numpy as np

BSF_KV = np.array([50.0, 80.0, 110.0, 150.0])
BSF_CU_MM = np.array([0.0, 0.1, 0.2, 0.3, 0.6, 0.9])
BSF_FIELD_CM = np.array([5.0, 10.0, 20.0, 35.0])
# [kV][Cu][field side]
BSF = np.array([
    [[1.2, 1.3, 1.3, 1.3], [1.3, 1.3, 1.4, 1.4], [1.3, 1.4, 1.4, 1.4],
     [1.3, 1.4, 1.4, 1.5], [1.3, 1.4, 1.5, 1.5], [1.3, 1.5, 1.5, 1.6]],
    [[1.3, 1.4, 1.4, 1.5], [1.3, 1.4, 1.5, 1.5], [1.3, 1.5, 1.6, 1.6],
     [1.4, 1.5, 1.6, 1.7], [1.4, 1.5, 1.7, 1.7], [1.4, 1.5, 1.7, 1.7]],
    [[1.3, 1.4, 1.5, 1.5], [1.3, 1.5, 1.6, 1.6], [1.3, 1.5, 1.6, 1.7],
     [1.4, 1.5, 1.6, 1.7], [1.4, 1.5, 1.7, 1.7], [1.3, 1.5, 1.7, 1.7]],
    [[1.3, 1.5, 1.5, 1.6], [1.3, 1.5, 1.6, 1.6], [1.3, 1.5, 1.6, 1.7],
     [1.3, 1.5, 1.6, 1.7], [1.3, 1.5, 1.6, 1.7], [1.3, 1.5, 1.6, 1.7]],
])

TABLE_KV = np.array([60.0, 80.0, 110.0, 125.0])
TABLE_CU_MM = np.array([0.0, 0.1, 0.2, 0.3, 0.6, 0.9])
# [Cu][kV]
TABLE_ONLY = np.array([
    [0.80, 0.82, 0.82, 0.82], [0.84, 0.84, 0.86, 0.87], [0.86, 0.86, 0.88, 0.88],
    [0.84, 0.86, 0.88, 0.89], [0.86, 0.87, 0.88, 0.90], [0.86, 0.87, 0.89, 0.90],
])
TABLE_AND_MATTRESS = np.array([
    [0.66, 0.68, 0.71, 0.72], [0.73, 0.75, 0.78, 0.78], [0.75, 0.78, 0.81, 0.81],
    [0.76, 0.79, 0.83, 0.83], [0.79, 0.81, 0.85, 0.85], [0.80, 0.82, 0.85, 0.86],
])


def _index(grid: np.ndarray, value) -> tuple[np.ndarray, np.ndarray]:
    """Lower grid index and fraction for linear interpolation, clamped to the grid's ends."""
    value = np.clip(np.asarray(value, float), grid[0], grid[-1])
    i = np.clip(np.searchsorted(grid, value, side="right") - 1, 0, len(grid) - 2)
    frac = (value - grid[i]) / (grid[i + 1] - grid[i])
    return i, frac


def _nearest(grid: np.ndarray, value: float) -> int:
    return int(np.abs(grid - value).argmin())


def backscatter(kv: float, cu_mm: float, field_cm) -> np.ndarray:
    """Backscatter x water/air energy-absorption factor for fields of side ``field_cm`` (an array)."""
    # Interpolate kV and Cu first: a 4-entry curve over field size is left.
    return np.interp(np.asarray(field_cm, float), BSF_FIELD_CM, _field_curve(kv, cu_mm))


def backscatter_many(kvs, cus, field_cm: np.ndarray) -> np.ndarray:
    """``backscatter`` for many beams at once: ``field_cm`` is (cells, beams), one kV and Cu per beam."""
    curves = np.array([_field_curve(kv, cu) for kv, cu in zip(kvs, cus)])  # (beams, 4)
    i, frac = _index(BSF_FIELD_CM, field_cm)
    cols = np.arange(field_cm.shape[1])[None, :]
    return curves[cols, i] * (1 - frac) + curves[cols, i + 1] * frac


def _field_curve(kv: float, cu_mm: float) -> np.ndarray:
    ik, fk = _index(BSF_KV, kv)
    ic, fc = _index(BSF_CU_MM, cu_mm)
    return ((1 - fk) * (1 - fc) * BSF[ik, ic] + fk * (1 - fc) * BSF[ik + 1, ic]
            + (1 - fk) * fc * BSF[ik, ic + 1] + fk * fc * BSF[ik + 1, ic + 1])


def backscatter_openskin(kv: float, cu_mm: float, field_cm: float) -> float:
    """What openSkin uses: the nearest table entry (no interpolation)."""
    return float(BSF[_nearest(BSF_KV, kv), _nearest(BSF_CU_MM, cu_mm), _nearest(BSF_FIELD_CM, field_cm)])


def table_transmission(kv: float, cu_mm: float, *, mattress: bool = True) -> float:
    """Transmission of the table (and mattress) at normal incidence."""
    table = TABLE_AND_MATTRESS if mattress else TABLE_ONLY
    ic, fc = _index(TABLE_CU_MM, cu_mm)
    ik, fk = _index(TABLE_KV, kv)
    return float((1 - fc) * (1 - fk) * table[ic, ik] + fc * (1 - fk) * table[ic + 1, ik]
                 + (1 - fc) * fk * table[ic, ik + 1] + fc * fk * table[ic + 1, ik + 1])


def table_transmission_openskin(kv: float, cu_mm: float) -> float:
    table = TABLE_AND_MATTRESS
    return float(table[_nearest(TABLE_CU_MM, cu_mm), _nearest(TABLE_KV, kv)])
