"""Skin dose maps for fluoroscopy.

The engine (``result``, ``phantom``, ``geometry``, ``vendors``, ``physics``, ``engine``) is pure like
``extract/``: study, equipment and event records in (anything with the model's attribute names: an
``XrayEventRecord`` or an ``XrayEvent`` row), numpy arrays out. ``store`` is the database edge and
``jobs`` the RQ entry points.
"""
from doseapp.skin.result import METHOD_VERSION, SkinMapResult, SURFACES

__all__ = ["METHOD_VERSION", "SkinMapResult", "SURFACES", "compute"]


def compute(study, events, equipment=None, *, phantom: str = "doseapp", trusted: bool | None = None):
    """Compute the skin dose map of one study: see ``doseapp.skin.engine.compute``."""
    from doseapp.skin.engine import compute as _compute
    return _compute(study, events, equipment, phantom=phantom, trusted=trusted)
