"""Short names of X-ray target and filter materials: the DICOM code meanings ("Tungsten or Tungsten
compound", CID 10016) as physicists write them (W). One table for the study pages and the exports."""
from __future__ import annotations

SHORT_MATERIALS = {"aluminum": "Al", "aluminium": "Al", "copper": "Cu", "rhodium": "Rh", "silver": "Ag",
                   "molybdenum": "Mo", "tungsten": "W", "tin": "Sn", "niobium": "Nb", "europium": "Eu",
                   "lead": "Pb", "tantalum": "Ta", "titanium": "Ti"}


def short_material(name: str | None) -> str | None:
    """'Aluminum or Aluminum compound' -> 'Al'; anything unknown is kept as sent."""
    if not name:
        return None
    first = name.strip().split()[0].lower()
    return SHORT_MATERIALS.get(first, name.strip())
