"""Re-evaluating every study after a rule change, as a background job with progress (the rules
page queues it; `doseapp alerts rule set` runs the same work in-process)."""
from __future__ import annotations

import time

from doseapp.alerts.evaluate import alerts_raised_hook, evaluate
from doseapp.display.timefmt import plural

KIND, QUEUE = "alerts_reevaluate", "default"


def reevaluate(keys=None, progress=None) -> dict:
    """Every switched-on rule (or `keys`) over every study; existing alerts stay as they are."""
    start = time.perf_counter()
    raised = evaluate(keys, None, progress)
    ids = [i for v in raised.values() for i in v]
    if ids:
        alerts_raised_hook(ids, source="reevaluation")
    from sqlalchemy import func, select

    from doseapp.models import Study, db

    studies = db.session.scalar(select(func.count()).select_from(Study))
    return {"raised": {k: len(v) for k, v in raised.items()}, "total_raised": len(ids), "studies": studies,
            "seconds": round(time.perf_counter() - start, 3)}


def reevaluate_job(ctx) -> dict:
    """The "alerts_reevaluate" job (parameters: optional keys)."""
    ctx.progress(0, None, "Evaluating the alert rules over every study")
    result = reevaluate(ctx.parameters.get("keys"),
                        lambda done, total, key: ctx.progress(done, total, f"{done} of {total} rules ({key})"))
    ctx.row.message = (f"{plural(result['total_raised'], 'new alert')} over {plural(result['studies'], 'study')} "
                       f"in {result['seconds']} s.")
    return result


def enqueue_reevaluation(*, user_id: int | None = None, keys=None):
    """Queue the job. Raises redis.RedisError when Redis is down."""
    from doseapp.runtime.queues import enqueue

    return enqueue(KIND, queue=QUEUE, title="Re-evaluate alert rules", user_id=user_id,
                   parameters={"keys": list(keys)} if keys else {})
