from tests.ingest.conftest import imp  # noqa: F401  (import test files by name)
