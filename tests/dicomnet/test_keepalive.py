"""The supervisor's keep-alive with a real node process: the first echo as soon as the node listens
(the interval here is two minutes, as long as no test waits), "starting" until then, never "not
responding"; after a crash and restart the error is shown as past once the node answers again."""
from __future__ import annotations

import datetime as dt
import os
import signal
import threading
import time
from zoneinfo import ZoneInfo

import pytest

from doseapp.models import DicomStoreScp, db
from doseapp.users import create_user
from tests.conftest import session_login
from tests.dicomnet.conftest import wait_until


def _watch(node_id: int, seen: list, stop: threading.Event, app) -> None:
    """Record every (status, echo status) the node row shows, as a page polling it would."""
    with app.app_context():
        while True:
            # One last look after `stop`: the test stops the watcher as soon as it sees the state it
            # waited for, which the watcher may not have sampled yet.
            last = stop.is_set()
            db.session.rollback()
            row = db.session.get(DicomStoreScp, node_id)
            state = (row.status, row.echo_status)
            if not seen or seen[-1] != state:
                seen.append(state)
            if last:
                break
            time.sleep(0.05)
        db.session.remove()


@pytest.fixture
def admin_client(client):
    client.application.config["WTF_CSRF_ENABLED"] = False
    admin = create_user("keepalive-admin", "password-123", ["admin"])
    session_login(client, admin)
    yield client
    client.application.config["WTF_CSRF_ENABLED"] = True


def test_first_echo_as_soon_as_the_node_is_up_and_an_error_is_past_once_it_answers(app, admin_client, procs,
                                                                                    make_node):
    node = make_node("KEEPALIVE")
    seen, stop = [], threading.Event()
    watcher = threading.Thread(target=_watch, args=(node.id, seen, stop, app), daemon=True)
    watcher.start()
    try:
        # Well inside the two-minute interval (a loaded machine takes seconds to start a process).
        procs.supervisor(echo_interval=120)
        alive = lambda: db.session.get(DicomStoreScp, node.id).echo_status == "alive"  # noqa: E731
        wait_until(alive, 45, what="the first echo answering")
        first_pid = db.session.get(DicomStoreScp, node.id).pid

        os.kill(first_pid, signal.SIGKILL)
        restarted = lambda: (r := db.session.get(DicomStoreScp, node.id)).pid != first_pid and \
            r.echo_status == "alive"  # noqa: E731
        wait_until(restarted, 60, what="the node restarted and answering")
    finally:
        stop.set()
        watcher.join()
    # Before each first echo the node showed "starting"; it never showed "not responding", and
    # never the previous process's "alive" for the new one.
    echo_states = [echo for status, echo in seen if status == "running"]
    assert "not responding" not in echo_states, seen
    assert [e for i, e in enumerate(echo_states) if i == 0 or echo_states[i - 1] != e] == [
        "starting", "alive", "starting", "alive"], seen
    assert ("error", None) in seen

    db.session.rollback()
    row = db.session.get(DicomStoreScp, node.id)
    assert row.last_error == "exit status -9" and row.last_error_at is not None
    status = admin_client.get("/api/dicom/status").get_json()["nodes"][0]
    assert (status["echo_status"], status["last_error"], status["last_error_past"]) == ("alive", "exit status -9",
                                                                                         True)
    page = admin_client.get(f"/dicom/nodes/{node.id}/dashboard").get_data(as_text=True)
    # Shown in the display zone (DOSEAPP_TIMEZONE), as "3 Dec 2026 14:05:09".
    zone = ZoneInfo(admin_client.application.config["TIMEZONE"])
    at = row.last_error_at.replace(tzinfo=dt.timezone.utc).astimezone(zone)
    when = f"{at.day} {at:%b %Y %H:%M:%S}"
    assert f"none now <span class=\"message\">(at {when}, before the node answered again: exit status -9)" in page
