"""What the web answers while the job queue (Redis) is down: a plain 503 page saying so, never a
500. Pages that only read the database keep working; starting or cancelling a job waits for Redis,
which `doseapp run` restarts within seconds (in production, its service manager)."""
from __future__ import annotations

import logging

import redis
from flask import Blueprint, render_template
from flask_babel import gettext as _

log = logging.getLogger(__name__)

bp = Blueprint("unavailable", __name__)

RETRY_AFTER_SECONDS = 30


@bp.app_errorhandler(redis.ConnectionError)
@bp.app_errorhandler(redis.TimeoutError)
def _queue_down(exc):
    log.warning("The job queue is not answering: %s", exc)
    page = render_template("error.html", code=503, title=_("The job queue is not answering"),
                           message=_("Nothing was started: doseapp cannot reach its job queue (Redis) just now. "
                                     "It is usually back within a minute; try again then. Nothing already "
                                     "received or queued is lost."))
    return page, 503, {"Retry-After": str(RETRY_AFTER_SECONDS)}
