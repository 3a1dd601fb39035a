"""Records -> database: the one place that writes dose data.

    result = import_file(path)   # ImportResult: imported / duplicate / rejected / failed
"""
from doseapp.ingest.files import ImportResult, import_file, retry_quarantine

__all__ = ["ImportResult", "import_file", "retry_quarantine"]
