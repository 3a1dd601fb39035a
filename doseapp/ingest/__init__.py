"""Records -> database: the one place that writes dose data.

    result = import_file(path)   # ImportResult: imported / duplicate / rejected / failed
"""
from doseapp.ingest.files import ImportResult, import_file
from doseapp.ingest.quarantine import retry_all as retry_quarantine

__all__ = ["ImportResult", "import_file", "retry_quarantine"]
