"""Patient phantoms: a grid of skin cells with their positions, outward normals, areas and surface names.

Patient coordinates, in cm: x towards the patient's left, y from the top of the head (y = 0) towards
the feet, z anterior, with the posterior (back) surface of the torso at z = 0. Rows run along y;
columns run round the body from the right edge of the anterior surface, across the anterior surface
towards the patient's left, then down the left side, across the back, and up the right side.

Two shapes:
- ``doseapp``: the whole body (head, neck, torso, legs to the soles), each row a stadium (flat front
  and back joined by half-cylinders) whose size follows the region, so beams aimed at the head or the
  legs land on skin; normals from the surface itself, so the top of the head and the soles face up
  and down the body.
- ``openskin``: the shape OpenREM's openSkin uses (a 70 cm torso: a cuboid with a half-cylinder on
  each side, and a 58 cm circumference head cylinder), so maps can be compared with OpenREM's.

Both are scaled from the patient's height and mass the way openSkin scales its torso: length with
height, half-cylinder radius with sqrt(mass / height) against the 178.6 cm, 73.2 kg reference.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

REFERENCE_HEIGHT_CM = 178.6
REFERENCE_MASS_KG = 73.2
_RADIUS_CM = 10.0  # half-thickness of the reference torso
_FLAT_CM = 14.4  # width of the flat front and back of the reference torso
_HEAD_CIRCUMFERENCE_CM = 58.0
# openSkin's torso starts this far below the top of the head, and its table origin lies this far
# beyond the top of the head (its cells sit at y = row + 5 in table coordinates).
OPENSKIN_HEAD_ROWS_CM = 24.0
OPENSKIN_TORSO_CM = 70.0

KINDS = ("doseapp", "openskin")


@dataclass
class Phantom:
    kind: str
    points: np.ndarray  # (rows, cols, 3) cm, patient coordinates
    normals: np.ndarray  # (rows, cols, 3) unit outward normals
    areas: np.ndarray  # (rows, cols) cm²
    surface: np.ndarray  # (rows, cols) str: anterior/posterior/left/right/superior/inferior
    valid: np.ndarray  # (rows, cols) bool: False for padding cells (openSkin's head rows)
    thickness_cm: float  # torso front-to-back
    width_cm: float  # torso side to side
    length_cm: float
    description: str

    @property
    def rows(self) -> int:
        return self.points.shape[0]

    @property
    def cols(self) -> int:
        return self.points.shape[1]


def torso_size(height_cm: float, mass_kg: float) -> tuple[float, float]:
    """(half-cylinder radius, flat width) in cm of the torso for this patient, as openSkin scales it."""
    radius = _RADIUS_CM / math.sqrt(height_cm / REFERENCE_HEIGHT_CM) * math.sqrt(mass_kg / REFERENCE_MASS_KG)
    return radius, _FLAT_CM * radius / _RADIUS_CM


def build(kind: str, height_m: float, mass_kg: float, orientation: str = "HFS") -> Phantom:
    """The phantom of ``kind`` for a patient of this height (m) and mass (kg).

    ``orientation`` does not change the phantom (it is in patient coordinates); it is accepted so
    that callers can rebuild exactly what a stored map used.
    """
    height_cm = height_m * 100.0
    if kind == "doseapp":
        return _doseapp(height_cm, mass_kg)
    if kind == "openskin":
        return _openskin(height_cm, mass_kg)
    raise ValueError(f"unknown phantom {kind!r}; choose one of {', '.join(KINDS)}")


def _stadium(flat: np.ndarray, radius: np.ndarray, cols: int) -> tuple[np.ndarray, np.ndarray]:
    """x, z of ``cols`` equally spaced points round each row's stadium (back flat on z = 0).

    ``flat`` and ``radius`` have one value per row; the walk starts at the right edge of the front
    flat and goes towards the patient's left, as the column order says.
    """
    f = flat[:, None]
    r = radius[:, None]
    perimeter = 2 * f + 2 * math.pi * r
    s = (np.arange(cols)[None, :] + 0.5) / cols * perimeter
    x = np.empty_like(s)
    z = np.empty_like(s)
    arc = math.pi * r
    front = s < f
    x[front] = (-f / 2 + s)[front]
    z[front] = np.broadcast_to(2 * r, s.shape)[front]
    left = (s >= f) & (s < f + arc)
    angle = (s - f) / np.maximum(r, 1e-9)  # 0 at the top of the left side, pi at the bottom
    x[left] = (f / 2 + r * np.sin(angle))[left]
    z[left] = (r + r * np.cos(angle))[left]
    back = (s >= f + arc) & (s < 2 * f + arc)
    x[back] = (f / 2 - (s - f - arc))[back]
    z[back] = 0.0
    right = s >= 2 * f + arc
    angle = (s - 2 * f - arc) / np.maximum(r, 1e-9)  # 0 at the bottom of the right side
    x[right] = (-f / 2 - r * np.sin(angle))[right]
    z[right] = (r - r * np.cos(angle))[right]
    return x, z


def _surface_normals(points: np.ndarray) -> np.ndarray:
    """Outward unit normals of a row-by-column grid of points that wraps round the body."""
    along = np.gradient(points, axis=0)
    around = (np.roll(points, -1, axis=1) - np.roll(points, 1, axis=1)) / 2
    normals = np.cross(along, around)
    length = np.linalg.norm(normals, axis=2, keepdims=True)
    normals = normals / np.where(length > 0, length, 1.0)
    # Columns go round anticlockwise seen from the head; make sure the normals point outwards.
    centre = points.mean(axis=1, keepdims=True)
    outward = np.sum(normals * (points - centre), axis=2, keepdims=True)
    return np.where(outward < 0, -normals, normals)


def _surface_names(normals: np.ndarray) -> np.ndarray:
    nx, ny, nz = normals[..., 0], normals[..., 1], normals[..., 2]
    names = np.where(np.abs(nz) >= np.abs(nx), np.where(nz >= 0, "anterior", "posterior"),
                     np.where(nx >= 0, "left", "right"))
    names = np.where(ny <= -0.7, "superior", names)
    return np.where(ny >= 0.7, "inferior", names).astype("<U9")


def _doseapp(height_cm: float, mass_kg: float) -> Phantom:
    scale = height_cm / REFERENCE_HEIGHT_CM
    radius, flat = torso_size(height_cm, mass_kg)
    cols = int(2 * round(math.pi * radius) + 2 * round(flat))
    rows = int(round(height_cm))
    y = np.arange(rows) + 0.5
    frac = y / height_cm
    head_r = _HEAD_CIRCUMFERENCE_CM / (2 * math.pi) * math.sqrt(scale)
    head_end, neck_end, torso_end = 0.125, 0.14, 0.53
    # Each row's half-thickness and flat width by region (a smooth body outline, not a mesh of one
    # person: the point is to have skin wherever a beam can point).
    rad = np.empty(rows)
    fl = np.zeros(rows)
    in_head = frac < head_end
    # The head is rounded at the crown: radius grows from the top over the first third of the head.
    crown = np.clip(frac / (head_end / 3), 0, 1)
    rad[in_head] = (head_r * np.sqrt(1 - (1 - crown) ** 2))[in_head].clip(min=1.0)
    in_neck = (frac >= head_end) & (frac < neck_end)
    rad[in_neck] = 0.6 * head_r
    in_torso = (frac >= neck_end) & (frac < torso_end)
    rad[in_torso] = radius
    fl[in_torso] = flat
    legs = frac >= torso_end
    # Legs together: from the hips (torso size) to the ankles (about half of it), feet rounded off.
    t = np.clip((frac - torso_end) / (0.97 - torso_end), 0, 1)
    rad[legs] = (radius * (1 - 0.45 * t))[legs]
    fl[legs] = (flat * (1 - 0.5 * t))[legs]
    sole = np.clip((frac - 0.97) / 0.03, 0, 1)
    taper = np.sqrt(np.clip(1 - sole ** 2, 0.05, 1))
    rad[legs] *= taper[legs]
    fl[legs] *= taper[legs]
    x, z = _stadium(fl, rad, cols)
    # Every row rests on the table: its back is at z = 0 (the torso's back), the head and legs too.
    points = np.stack([x, np.broadcast_to(y[:, None], x.shape), z], axis=2)
    normals = _surface_normals(points)
    perimeter = 2 * fl + 2 * math.pi * rad
    areas = np.broadcast_to((perimeter / cols)[:, None], x.shape).copy()
    return Phantom(
        kind="doseapp", points=points, normals=normals, areas=areas, surface=_surface_names(normals),
        valid=np.ones(x.shape, bool), thickness_cm=2 * radius, width_cm=flat + 2 * radius,
        length_cm=height_cm,
        description=(f"whole body {height_cm:.0f} cm, torso {flat + 2 * radius:.0f} × {2 * radius:.0f} cm"
                     " (stadium cross-sections)"),
    )


def _openskin(height_cm: float, mass_kg: float) -> Phantom:
    scale = height_cm / REFERENCE_HEIGHT_CM
    radius, flat = torso_size(height_cm, mass_kg)
    curve_cells = int(round(math.pi * radius))
    flat_cells = int(round(flat))
    cols = 2 * curve_cells + 2 * flat_cells
    head_rows = int(round(OPENSKIN_HEAD_ROWS_CM * scale)) + 1
    rows = int(round(OPENSKIN_TORSO_CM * scale)) + int(round(OPENSKIN_HEAD_ROWS_CM * scale))
    # openSkin walks round the torso from the front midline towards the patient's left: the front
    # flat's left half, the left curve, the back flat, the right curve, the front's right half; one
    # cell per cm of arc, flats stretched to a whole number of cells. Its maps are then turned so
    # that they start flat_cells // 2 cells earlier, which is the column order used here.
    spacing = flat / flat_cells
    step = math.pi / curve_cells
    ends = np.cumsum([flat_cells / 2 + 0.5, curve_cells, flat_cells, curve_cells])
    first_curve = int(round(ends[0]))  # openSkin rounds half to even here, as Python does
    second_curve = int(round(ends[2]))
    xs, zs, nxs, nzs = [], [], [], []
    for c in range(cols):
        if c < ends[0] or c >= ends[3]:
            x, z, nx, nz = (c if c < ends[0] else c - cols) * spacing, 2 * radius, 0.0, 1.0
        elif c < ends[1]:
            a = step * (c - first_curve + 1)
            x, z = spacing * first_curve - 1 + radius * math.sin(a), radius + radius * math.cos(a)
            nx, nz = math.sin(a), math.cos(a)
        elif c < ends[2]:
            x, z, nx, nz = flat - (c - curve_cells) * spacing, 0.0, 0.0, -1.0
        else:
            a = step * (c - second_curve + 1)
            x = -spacing * round(flat_cells / 2) - radius * math.sin(a)
            z = radius - radius * math.cos(a)
            nx, nz = -math.sin(a), -math.cos(a)
        xs.append(x), zs.append(z), nxs.append(nx), nzs.append(nz)
    # Head: a cylinder of 58 cm circumference lying on the table, one cell per cm round it, starting
    # at its left side; the rest of each head row is unused.
    head_cells = int(_HEAD_CIRCUMFERENCE_CM)
    head_r = _HEAD_CIRCUMFERENCE_CM / (2 * math.pi)
    phi = 2 * math.pi * np.arange(cols) / head_cells
    head = np.stack([head_r * np.cos(phi), head_r * (np.sin(phi) + 1), np.cos(phi), np.sin(phi)])
    torso = np.array([xs, zs, nxs, nzs])
    shift = flat_cells // 2
    torso = np.roll(torso, shift, axis=1)
    head = np.roll(head, shift, axis=1)
    head_valid = np.roll(np.arange(cols) < head_cells, shift)
    is_head = (np.arange(rows) < head_rows)[:, None]
    grid = np.where(is_head[None, :, :], head[:, None, :], torso[:, None, :])  # (4, rows, cols)
    y = np.broadcast_to(np.arange(rows, dtype=float)[:, None], (rows, cols))
    points = np.stack([grid[0], y, grid[1]], axis=2)
    normals = np.stack([grid[2], np.zeros_like(y), grid[3]], axis=2)
    valid = np.where(is_head, head_valid[None, :], True)
    areas = np.where(valid, 1.0, 0.0)
    torso_rows = rows - head_rows
    return Phantom(
        kind="openskin", points=points, normals=normals, areas=areas, surface=_surface_names(normals),
        valid=valid, thickness_cm=2 * radius, width_cm=flat + 2 * radius, length_cm=float(rows),
        description=f"openSkin phantom: {cols} × {torso_rows} cm torso (cuboid with half-cylinder sides) and head",
    )
