"""Fixtures of tests/notify/support.py (shared with the web tests of the e-mail pages)."""
from tests.notify.support import certs, rf_study, smtp_server, trust  # noqa: F401
