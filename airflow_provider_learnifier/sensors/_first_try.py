"""When a sensor's first try started, so that its retries share one deadline on every Airflow line."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from airflow_provider_learnifier.version_compat import AIRFLOW_V_3_0_PLUS

#: The task state store key under which a sensor keeps the start of its first try (Airflow 3.3+).
FIRST_TRY_START_KEY = "learnifier_first_try_start"


def first_try_start(context: Any, retries: int | None) -> datetime | None:
    """When the first try of this task instance started, so that retries share one deadline.

    Airflow's reschedule mode counts ``timeout`` from the first try's start; this gives deferrable
    waits the same rule. The first try is the one after the latest clear,
    ``max_tries - retries + 1``, as Airflow computes it. Where each Airflow line keeps it:

    - Airflow 3.3 and newer: the task state store (``context["task_state_store"]``), which
      outlives retries: the first try writes its start there and later tries read it.
    - Airflow 2.x: the metadata database, which a worker reaches: the task instance history
      (``TaskInstanceHistory``) holds the start of every earlier try. Not in database isolation
      mode (the internal API), where a worker has no database session.
    - Airflow 3.0 to 3.2: nowhere a task can reach. The Task SDK gives a worker no per-task store
      that outlives a retry: a new try clears the task's XComs, the task instance gets a new id
      and its reschedule records are deleted (so reschedule mode restarts its timeout on a retry
      there too), and the execution API does not expose the task instance history. So it is the
      start of this try, and each retry waits ``timeout`` again.

    :return: an aware datetime, or ``None`` without a task instance in ``context`` (a task run
        outside Airflow's task runner).
    """
    ti = context.get("ti") if hasattr(context, "get") else None
    if ti is None:
        return None
    start = getattr(ti, "start_date", None) or datetime.now(timezone.utc)
    first_try = int(getattr(ti, "max_tries", 0) or 0) - int(retries or 0) + 1
    if "task_state_store" in context:
        store = context["task_state_store"]
        kept = store.get(FIRST_TRY_START_KEY)
        if isinstance(kept, dict) and kept.get("first_try") == first_try and kept.get("start"):
            return datetime.fromisoformat(str(kept["start"]))
        store.set(FIRST_TRY_START_KEY, {"first_try": first_try, "start": start.isoformat()})
        return start
    if not AIRFLOW_V_3_0_PLUS and int(getattr(ti, "try_number", 0) or 0) > first_try:
        earlier = _earlier_try_start(ti, first_try)
        if earlier is not None and earlier < start:
            return earlier
    return start


def _earlier_try_start(ti: Any, first_try: int) -> datetime | None:
    """Airflow 2.x: the start of the earliest try from ``first_try`` on before this one, from the
    task instance history; ``None`` where the worker has no database (database isolation mode).

    From ``first_try`` on, not only ``first_try``: as Airflow's reschedule mode does, so that a
    try whose record is missing does not restart the deadline.
    """
    from airflow.api_internal.internal_api_call import InternalApiConfig

    if InternalApiConfig.get_use_internal_api():
        return None
    from airflow.models.taskinstancehistory import TaskInstanceHistory
    from airflow.utils.session import create_session
    from sqlalchemy import select

    history = TaskInstanceHistory
    with create_session() as session:
        started: datetime | None = session.scalar(
            select(history.start_date)
            .where(
                history.dag_id == ti.dag_id,
                history.task_id == ti.task_id,
                history.run_id == ti.run_id,
                history.map_index == ti.map_index,
                history.try_number >= first_try,
                history.try_number < ti.try_number,
                history.start_date.is_not(None),
            )
            .order_by(history.try_number)
            .limit(1)
        )
    return started
