"""Unique equipment: the row that carries a system's display name and user-defined modality."""
from __future__ import annotations

import datetime as dt
import hashlib

from sqlalchemy import Boolean, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from doseapp.models.base import db, utcnow

# The fields that together identify one piece of equipment: OpenREM's eight (seed §3.2.1) plus the
# SR device observer UID. A software upgrade makes a new row; admins give several rows one display
# name to group them.
IDENTITY_FIELDS = (
    "manufacturer", "institution_name", "station_name", "department_name", "model_name",
    "device_serial_number", "software_versions", "gantry_id", "device_observer_uid",
)

USER_DEFINED_MODALITIES = ("DX", "RF", "Dual")


def identity_hash(values: dict) -> str:
    """SHA-256 over the identity fields; None and "" are the same (absent)."""
    joined = "\x1f".join((values.get(f) or "") for f in IDENTITY_FIELDS)
    return hashlib.sha256(joined.encode("utf-8")).hexdigest()


class Equipment(db.Model):
    __tablename__ = "equipment"

    id: Mapped[int] = mapped_column(primary_key=True)
    identity_hash: Mapped[str] = mapped_column(String(64), unique=True)
    manufacturer: Mapped[str | None] = mapped_column(Text)
    institution_name: Mapped[str | None] = mapped_column(Text)
    station_name: Mapped[str | None] = mapped_column(Text)
    department_name: Mapped[str | None] = mapped_column(Text)
    model_name: Mapped[str | None] = mapped_column(Text)
    device_serial_number: Mapped[str | None] = mapped_column(Text)
    software_versions: Mapped[str | None] = mapped_column(Text)
    gantry_id: Mapped[str | None] = mapped_column(Text)
    device_observer_uid: Mapped[str | None] = mapped_column(Text)
    institution_address: Mapped[str | None] = mapped_column(Text)
    display_name: Mapped[str] = mapped_column(String(255), index=True)
    # None: modality comes from the objects; DX / RF force it; Dual: sorted per study.
    user_defined_modality: Mapped[str | None] = mapped_column(String(8))
    # Skin dose maps for this system: None follows the vendor geometry table
    # (doseapp.skin.vendors), True/False is an admin's decision (openSkin's safe list).
    skin_map_trusted: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    @staticmethod
    def default_display_name(values: dict) -> str:
        """Institution name + station name, as OpenREM does; falls back to model then 'Unknown'."""
        parts = [p for p in (values.get("institution_name"), values.get("station_name")) if p]
        return " ".join(parts) or values.get("model_name") or "Unknown system"
