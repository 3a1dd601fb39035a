"""Dose physics of the skin map: air kerma to skin dose, and table/mattress transmission.

Skin dose at a cell from one beam position (doseapp's model; the openSkin option keeps openSkin's
own factors, at the end of this module):

    D = K_RP × (d_RP / d)² × T^(path / thickness) × B_w(HVL, kV, field) × (μen/ρ)_w,air(kV, Cu)

- K_RP is the air kerma *free in air* at the reference point (IEC 60601-2-43: no backscatter in it).
- B_w, the backscatter factor of a water phantom, by beam quality and the side of the field at the
  skin: Benmakhlouf et al., "Influence of phantom thickness and material on the
  backscatter factors for diagnostic x-ray beam dosimetry", Phys. Med. Biol. 58 (2013) 247,
  doi:10.1088/0031-9155/58/2/247, eq. (8): a quadratic in kVp and in HVL per field side (5, 10,
  20, 25 and 35 cm), fitted to the Monte Carlo tables of Benmakhlouf et al.,
  "Backscatter factors and mass energy-absorption coefficient ratios for diagnostic radiology
  dosimetry", Phys. Med. Biol. 56 (2011) 7179, doi:10.1088/0031-9155/56/22/012 (the fit reproduces
  their tabulated B_w within 0.002 for every beam checked). The coefficients are as rvbCMTS/PySkinDose
  quotes them (corrections.py, "k_bs").
- HVL: the 2011 paper's first half-value layers for tube voltages 50–150 kV with 3.1 mm Al inherent
  filtration and 0–0.9 mm added copper (its table, as PySkinDose's correction_medium_and_backscatter.csv
  has it). An RDSR carries kVp and the added copper, not the HVL; 3.1 mm Al is the inherent
  filtration of that table closest to the usual interventional tube (2.5 mm Al is the IEC minimum).
  For the Siemens AXIOM-Artis, measured HVLs (PySkinDose, HVL_AXIOM-Artis_4.1mmAl…csv: 7.65 mm Al at
  77 kV + 0.6 mm Cu) agree with this table (7.60 mm Al) within 1 %.
- (μen/ρ)_w,air, the water-to-air mass energy-absorption coefficient ratio averaged over the photon
  fluence at the phantom surface, from the same 2011 table (1.016 at 50 kV, 1.038 at 80 kV + 0.6 mm
  Cu, 1.071 at 150 kV + 0.9 mm Cu). It turns kerma in air into dose to water. Dose to soft tissue
  differs little from dose to water at these energies for B (Ma and Seuntjens 1999, Phys. Med. Biol.
  44 131: within 1 %); the μen ratio of ICRU four-component tissue to water is lower (about 0.95 at
  50–60 keV, NIST), so a map in "dose to ICRU tissue" would be about 4 % lower: the map is dose to
  water, as the backscatter literature and most skin dose software report it.
- T, the table and mattress transmission at normal incidence, measured by tube voltage and added
  copper on a given table: for Siemens AXIOM-Artis systems, the AXIOM-Artis single-plane table with
  its pad (PySkinDose, table_transmission.csv, "measured in lab 106 - 2018-04"); for every other
  system, the Siemens Artis Zeego carbon-fibre table with its 4 cm mattress (the measurement openSkin
  ships, Royal Free Hospital 2016), the only other measured set at hand. An oblique ray crosses more
  table and mattress: T is raised to the power of the path length over the thickness (1 / cos θ).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

# --- beam quality: Benmakhlouf et al. 2011, 3.1 mm Al inherent filtration -------------
QUALITY_KV = np.arange(50.0, 151.0, 10.0)
QUALITY_CU_MM = np.array([0.0, 0.1, 0.2, 0.3, 0.6, 0.9])
# First HVL, mm Al [kV][Cu]
HVL_MM_AL = np.array([
    [1.99, 2.89, 3.49, 3.91, 4.70, 5.15],
    [2.37, 3.51, 4.28, 4.84, 5.90, 6.51],
    [2.73, 4.08, 4.99, 5.66, 6.94, 7.68],
    [3.12, 4.66, 5.71, 6.47, 7.88, 8.69],
    [3.53, 5.24, 6.38, 7.18, 8.66, 9.48],
    [3.95, 5.79, 6.97, 7.81, 9.30, 10.14],
    [4.37, 6.30, 7.51, 8.35, 9.85, 10.70],
    [4.79, 6.78, 8.01, 8.85, 10.34, 11.21],
    [5.21, 7.24, 8.46, 9.30, 10.79, 11.66],
    [5.62, 7.67, 8.89, 9.71, 11.20, 12.09],
    [6.04, 8.09, 9.29, 10.10, 11.58, 12.48],
])
# (μen/ρ)_w,air at the phantom surface (10 cm field; it changes by 0.001 or less with the field) [kV][Cu]
MUEN_WATER_AIR = np.array([
    [1.016, 1.015, 1.016, 1.016, 1.018, 1.019],
    [1.017, 1.018, 1.019, 1.021, 1.024, 1.026],
    [1.019, 1.021, 1.023, 1.026, 1.031, 1.034],
    [1.021, 1.025, 1.028, 1.031, 1.038, 1.042],
    [1.024, 1.029, 1.033, 1.037, 1.043, 1.048],
    [1.027, 1.033, 1.038, 1.041, 1.049, 1.053],
    [1.030, 1.037, 1.041, 1.045, 1.053, 1.058],
    [1.033, 1.040, 1.045, 1.049, 1.057, 1.062],
    [1.036, 1.043, 1.048, 1.052, 1.060, 1.065],
    [1.038, 1.046, 1.051, 1.055, 1.063, 1.068],
    [1.041, 1.049, 1.054, 1.058, 1.065, 1.071],
])

# --- backscatter: Benmakhlouf et al. 2013, eq. (8) --------------------------------------
# B_w = (c0 + c1 kVp + c2 kVp²) + (c3 + c4 kVp + c5 kVp²) HVL + (c6 + c7 kVp + c8 kVp²) HVL², one
# column of coefficients per field side at the phantom surface.
BSF_FIELD_CM = np.array([5.0, 10.0, 20.0, 25.0, 35.0])
BSF_COEFFICIENTS = np.array([
    [+1.00870e0, +9.29969e-1, +8.65442e-1, +8.58665e-1, +8.57065e-1],
    [+2.35816e-3, +4.08549e-3, +5.36739e-3, +5.51579e-3, +5.55933e-3],
    [-9.48937e-6, -1.66271e-5, -2.21494e-5, -2.27532e-5, -2.28004e-5],
    [+1.03143e-1, +1.53605e-1, +1.72418e-1, +1.70826e-1, +1.66418e-1],
    [-1.04881e-3, -1.45187e-3, -1.46088e-3, -1.38540e-3, -1.28180e-3],
    [+3.59731e-6, +5.05312e-6, +5.17430e-6, +4.91192e-6, +4.53036e-6],
    [-7.31303e-3, -9.32427e-3, -8.30138e-3, -7.64330e-3, -6.81574e-3],
    [+7.93272e-5, +9.40568e-5, +7.13576e-5, +6.13126e-5, +4.94197e-5],
    [-2.74296e-7, -3.28449e-7, -2.54885e-7, -2.21399e-7, -1.79074e-7],
])


@dataclass(frozen=True)
class PatientSupport:
    """A measured table (and mattress or pad) transmission at normal incidence, by kV and added Cu."""

    name: str
    model: str  # regular expression on the equipment's model name ("" matches every system)
    kv: np.ndarray
    cu_mm: np.ndarray
    transmission: np.ndarray  # [Cu][kV]


OPENSKIN_TABLE_KV = np.array([60.0, 80.0, 110.0, 125.0])
OPENSKIN_TABLE_CU_MM = np.array([0.0, 0.1, 0.2, 0.3, 0.6, 0.9])
OPENSKIN_TABLE_AND_MATTRESS = np.array([
    [0.66, 0.68, 0.71, 0.72], [0.73, 0.75, 0.78, 0.78], [0.75, 0.78, 0.81, 0.81],
    [0.76, 0.79, 0.83, 0.83], [0.79, 0.81, 0.85, 0.85], [0.80, 0.82, 0.85, 0.86],
])

SUPPORTS: tuple[PatientSupport, ...] = (
    PatientSupport(
        "Siemens AXIOM-Artis table and pad (measured, PySkinDose lab U106, 2018)", r"axiom[- ]?artis",
        np.array([50.0, 60.0, 70.0, 80.0, 90.0, 100.0, 110.0, 120.0, 125.0]), OPENSKIN_TABLE_CU_MM,
        np.array([
            [0.5974, 0.6192, 0.6383, 0.6547, 0.6685, 0.6796, 0.6880, 0.6937, 0.6956],
            [0.6514, 0.6702, 0.6866, 0.7004, 0.7118, 0.7207, 0.7272, 0.7311, 0.7322],
            [0.6715, 0.6904, 0.7065, 0.7200, 0.7307, 0.7388, 0.7441, 0.7467, 0.7470],
            [0.6861, 0.7040, 0.7192, 0.7319, 0.7419, 0.7493, 0.7541, 0.7562, 0.7563],
            [0.7003, 0.7191, 0.7350, 0.7477, 0.7574, 0.7640, 0.7676, 0.7681, 0.7672],
            [0.6977, 0.7204, 0.7391, 0.7540, 0.7650, 0.7721, 0.7752, 0.7745, 0.7727],
        ])),
    PatientSupport("Siemens Artis Zeego table and 4 cm mattress (measured, openSkin, Royal Free 2016)", "",
                   OPENSKIN_TABLE_KV, OPENSKIN_TABLE_CU_MM, OPENSKIN_TABLE_AND_MATTRESS),
)


def patient_support(model: str | None) -> PatientSupport:
    """The table transmission measured on this model's table, else the general one (the last)."""
    return next(s for s in SUPPORTS if re.search(s.model, model or "", re.IGNORECASE))


def _index(grid: np.ndarray, value) -> tuple[np.ndarray, np.ndarray]:
    """Lower grid index and fraction for linear interpolation, clamped to the grid's ends."""
    value = np.clip(np.asarray(value, float), grid[0], grid[-1])
    i = np.clip(np.searchsorted(grid, value, side="right") - 1, 0, len(grid) - 2)
    frac = (value - grid[i]) / (grid[i + 1] - grid[i])
    return i, frac


def _bilinear(table: np.ndarray, row_grid: np.ndarray, row, col_grid: np.ndarray, col) -> float:
    ir, fr = _index(row_grid, row)
    ic, fc = _index(col_grid, col)
    return float((1 - fr) * (1 - fc) * table[ir, ic] + fr * (1 - fc) * table[ir + 1, ic]
                 + (1 - fr) * fc * table[ir, ic + 1] + fr * fc * table[ir + 1, ic + 1])


def half_value_layer(kv: float, cu_mm: float) -> float:
    """First HVL (mm Al) of a beam of this tube voltage and added copper (3.1 mm Al inherent)."""
    return _bilinear(HVL_MM_AL, QUALITY_KV, kv, QUALITY_CU_MM, cu_mm)


def water_air_ratio(kv: float, cu_mm: float) -> float:
    """(μen/ρ)_w,air at the phantom surface for this beam."""
    return _bilinear(MUEN_WATER_AIR, QUALITY_KV, kv, QUALITY_CU_MM, cu_mm)


def backscatter_curve(kv: float, hvl_mm: float) -> np.ndarray:
    """B_w for the field sides BSF_FIELD_CM, for this kVp and HVL (both clamped to the fitted range)."""
    kv = float(np.clip(kv, 50.0, 150.0))
    hvl = float(np.clip(hvl_mm, HVL_MM_AL.min(), HVL_MM_AL.max()))
    c = BSF_COEFFICIENTS
    return (c[0] + c[1] * kv + c[2] * kv ** 2) + (c[3] + c[4] * kv + c[5] * kv ** 2) * hvl \
        + (c[6] + c[7] * kv + c[8] * kv ** 2) * hvl ** 2


@lru_cache(maxsize=4096)
def skin_factor_curve(kv: float, cu_mm: float) -> np.ndarray:
    """B_w × (μen/ρ)_w,air for the field sides BSF_FIELD_CM: free-in-air kerma to skin dose (kept per
    beam quality: a study has a handful of them and thousands of beam positions; read-only)."""
    curve = backscatter_curve(kv, half_value_layer(kv, cu_mm)) * water_air_ratio(kv, cu_mm)
    curve.flags.writeable = False
    return curve


def skin_factor(kv: float, cu_mm: float, field_cm) -> np.ndarray:
    """``skin_factor_curve`` at field sides ``field_cm`` (linear between the fitted sides, clamped)."""
    return np.interp(np.asarray(field_cm, float), BSF_FIELD_CM, skin_factor_curve(kv, cu_mm))


def skin_factor_many(kvs, cus, field_cm: np.ndarray) -> np.ndarray:
    """``skin_factor`` for many beams at once: ``field_cm`` is (cells, beams), one kV and Cu per beam."""
    curves = np.array([skin_factor_curve(kv, cu) for kv, cu in zip(kvs, cus)])  # (beams, fields)
    i, frac = _index(BSF_FIELD_CM, field_cm)
    cols = np.arange(field_cm.shape[1])[None, :]
    return curves[cols, i] * (1 - frac) + curves[cols, i + 1] * frac


def table_transmission(kv: float, cu_mm: float, support: PatientSupport = SUPPORTS[-1]) -> float:
    """Transmission of the table and its mattress at normal incidence."""
    return _bilinear(support.transmission, support.cu_mm, cu_mm, support.kv, kv)


# --- openSkin's own factors, for the openSkin-shaped option ----------------------------------------
# openSkin's backscatter table: B × (μen/ρ)_w,air from Benmakhlouf et al. 2011, rounded to one decimal,
# by kV, added Cu (with 3.1 mm Al) and field side, looked up at the nearest entry. [kV][Cu][field]
OPENSKIN_BSF_KV = np.array([50.0, 80.0, 110.0, 150.0])
OPENSKIN_BSF_CU_MM = np.array([0.0, 0.1, 0.2, 0.3, 0.6, 0.9])
OPENSKIN_BSF_FIELD_CM = np.array([5.0, 10.0, 20.0, 35.0])
OPENSKIN_BSF = np.array([
    [[1.2, 1.3, 1.3, 1.3], [1.3, 1.3, 1.4, 1.4], [1.3, 1.4, 1.4, 1.4],
     [1.3, 1.4, 1.4, 1.5], [1.3, 1.4, 1.5, 1.5], [1.3, 1.5, 1.5, 1.6]],
    [[1.3, 1.4, 1.4, 1.5], [1.3, 1.4, 1.5, 1.5], [1.3, 1.5, 1.6, 1.6],
     [1.4, 1.5, 1.6, 1.7], [1.4, 1.5, 1.7, 1.7], [1.4, 1.5, 1.7, 1.7]],
    [[1.3, 1.4, 1.5, 1.5], [1.3, 1.5, 1.6, 1.6], [1.3, 1.5, 1.6, 1.7],
     [1.4, 1.5, 1.6, 1.7], [1.4, 1.5, 1.7, 1.7], [1.3, 1.5, 1.7, 1.7]],
    [[1.3, 1.5, 1.5, 1.6], [1.3, 1.5, 1.6, 1.6], [1.3, 1.5, 1.6, 1.7],
     [1.3, 1.5, 1.6, 1.7], [1.3, 1.5, 1.6, 1.7], [1.3, 1.5, 1.6, 1.7]],
])


def _nearest(grid: np.ndarray, value: float) -> int:
    return int(np.abs(grid - value).argmin())


def backscatter_openskin(kv: float, cu_mm: float, field_cm: float) -> float:
    """What openSkin uses: the nearest table entry (no interpolation)."""
    return float(OPENSKIN_BSF[_nearest(OPENSKIN_BSF_KV, kv), _nearest(OPENSKIN_BSF_CU_MM, cu_mm),
                              _nearest(OPENSKIN_BSF_FIELD_CM, field_cm)])


def table_transmission_openskin(kv: float, cu_mm: float) -> float:
    return float(OPENSKIN_TABLE_AND_MATTRESS[_nearest(OPENSKIN_TABLE_CU_MM, cu_mm), _nearest(OPENSKIN_TABLE_KV, kv)])
