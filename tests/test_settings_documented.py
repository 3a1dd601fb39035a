"""Every DOSEAPP_* setting that config.py reads is in SETTINGS and documented in the README."""
from __future__ import annotations

import re

from doseapp import config
from tests.conftest import REPO


def test_settings_read_are_declared_and_documented():
    source = (REPO / "doseapp" / "config.py").read_text()
    read = set(re.findall(r'env\.get\("(DOSEAPP_[A-Z_]+)"', source))
    assert read, "no settings found: the pattern is stale"
    assert read <= set(config.SETTINGS), read - set(config.SETTINGS)
    readme = (REPO / "README.md").read_text()
    for name in config.SETTINGS:
        assert f"| `{name}` |" in readme, f"{name} missing from the README's settings table"
