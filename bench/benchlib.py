"""What several bench scripts share: the SQLite folder a database URL names, a logged-in test client, and the slow end of a
set of timings said honestly (a p95 needs at least 20 samples; with fewer, the nearest-rank p95 is
the maximum, and is printed as such)."""
from __future__ import annotations

import math
import os
from pathlib import Path

from sqlalchemy.engine import make_url

P95_SAMPLES = 20  # nearest rank ceil(0.95 n) is below n only from n = 20


def make_sqlite_folder(url: str | None) -> None:
    """Create the folder of an SQLite file URL (sqlite:////tmp/bench/big.db makes /tmp/bench), so the
    documented commands run on a machine where it does not exist yet; other URLs are left alone."""
    if not url:
        return
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)


def database_url_from_env() -> str | None:
    """DOSEAPP_DATABASE_URL, with its SQLite folder made."""
    url = os.environ.get("DOSEAPP_DATABASE_URL")
    make_sqlite_folder(url)
    return url


def slow_end_label(samples: int) -> str:
    """"p95" when `samples` timings give one, else "max"."""
    return "p95" if samples >= P95_SAMPLES else "max"


def slow_end(values: list[float]) -> float:
    """The nearest-rank 95th percentile of `values` (the maximum below 20 values: slow_end_label)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def log_in(client, session_id: str) -> None:
    """Log a Flask test client in as the user whose `User.get_id()` is `session_id` (the user id with
    the user's session token: an id alone no longer makes a session)."""
    with client.session_transaction() as sess:
        sess["_user_id"], sess["_fresh"] = session_id, True
