"""Applying the standard name rules to every stored study, as a background job with progress. It is
queued when the rules change (config page, CSV import) and can be started by hand."""
from __future__ import annotations

import logging

import redis

from doseapp.standards import names

log = logging.getLogger(__name__)

KIND = "standard_names_apply"
QUEUE = "default"
TITLE = "Apply standard names"


def apply_job(ctx) -> dict:
    """The "standard_names_apply" job: name every study and event by the current rules."""
    ctx.progress(0, None, "Reading the rules")
    outcome = names.apply_all(progress=lambda done, total, words: ctx.progress(done, total, words))
    ctx.row.message = outcome.words() + "."
    return outcome.as_dict()


def enqueue_apply(*, user_id: int | None = None, why: str | None = None):
    """Queue the job. Raises redis.RedisError when Redis is down."""
    from doseapp.runtime.queues import enqueue

    return enqueue(KIND, queue=QUEUE, title=TITLE + (f" ({why})" if why else ""), user_id=user_id, parameters={})


def after_rules_changed(*, user_id: int | None = None, why: str | None = None):
    """Queue the job after a rule change; returns the job, or None (with a warning logged) when the
    queue does not answer: the rules stand and the job can be started from the page."""
    try:
        return enqueue_apply(user_id=user_id, why=why)
    except redis.RedisError as exc:
        log.warning("standard names job not queued: %s", exc)
        return None
