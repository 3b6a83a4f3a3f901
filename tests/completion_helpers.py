"""Helpers for the sensor and trigger tests: enroll people in the demo project, advance their progress."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import pytest

from airflow_provider_learnifier.hooks.learnifier import LearnifierHook
from learnifier_simulator import LearnifierSimulator, seed

ORG_ID = seed.DEMO_ORG_UNIT_ID
PROJECT_ID = seed.DEMO_PROJECT_ID
PROJECT_EXTERNAL_ID = seed.DEMO_PROJECT_EXTERNAL_ID
ACTIVITIES = seed.ONBOARDING_ACTIVITIES
PARTICIPANTS_PATH = f"/orgunits/{ORG_ID}/projects/{PROJECT_ID}/participants"

#: Reschedule mode under ``dag.test()`` is broken in Airflow 3.0 only (2.11 and 3.3 run it).
RESCHEDULE_BROKEN_ON_AIRFLOW_3_0 = pytest.mark.not_on_airflow(
    "3.0",
    "Airflow 3.0's task runner breaks reschedule mode under dag.test(): get_first_reschedule_date "
    "returns text (TypeError in BaseSensorOperator.execute), for Airflow's own sensors too",
)


def enroll(count: int, *, activated: bool = True, prefix: str = "person") -> list[str]:
    """Add ``count`` people to the demo project through the API (``learnifier_default``); return their ids.

    Participation ``i`` has the external id ``f"{prefix}-{i}"``.
    """
    ids = []
    with LearnifierHook() as hook:
        for number in range(count):
            participant_id = hook.add_participant(
                ORG_ID, PROJECT_ID, email=f"{prefix}{number}@example.com", external_id=f"{prefix}-{number}"
            )
            assert participant_id is not None
            if activated:
                hook.activate_participant(ORG_ID, PROJECT_ID, participant_id)
            ids.append(participant_id)
    return ids


def short_lived_project() -> tuple[str, str, Callable[[], None]]:
    """Make an empty project in the demo organization unit: its id, its participants path, and a
    function that deletes it."""
    with LearnifierHook() as hook:
        project_id = str(
            hook.create_project(ORG_ID, name="Short-lived", design_id=seed.ONBOARDING_DESIGN_ID)["id"]
        )

    def delete() -> None:
        with LearnifierHook() as hook:
            hook.delete_project(ORG_ID, project_id)

    return project_id, f"/orgunits/{ORG_ID}/projects/{project_id}/participants", delete


def answered(sim: LearnifierSimulator, path: str, status: int) -> int:
    """Count the GET requests for ``path`` that the simulator answered with ``status``."""
    return sum(1 for e in sim.exchanges if e.method == "GET" and e.path == path and e.status == status)


def polls(sim: LearnifierSimulator, path: str = PARTICIPANTS_PATH) -> int:
    """Count the GET requests the simulator answered for ``path``."""
    return sum(1 for exchange in sim.exchanges if exchange.method == "GET" and exchange.path == path)


@contextmanager
def after_polls(
    sim: LearnifierSimulator, after: int, action: Callable[[], Any], *, path: str = PARTICIPANTS_PATH
) -> Iterator[dict[str, Any]]:
    """Once ``path`` was polled ``after`` more times, call ``action()`` from a thread.

    So the waiting code must notice the change itself, however slowly it starts. Yields a dict whose
    ``"result"`` is what ``action`` returned; on exit, checks that it ran.
    """
    start = polls(sim, path)
    outcome: dict[str, Any] = {}
    done = threading.Event()

    def wait_and_act() -> None:
        deadline = time.monotonic() + 60
        while polls(sim, path) < start + after and time.monotonic() < deadline and not done.is_set():
            time.sleep(0.02)
        if polls(sim, path) >= start + after:
            outcome["result"] = action()

    thread = threading.Thread(target=wait_and_act, daemon=True)
    thread.start()
    try:
        yield outcome
    finally:
        done.set()
        thread.join()
    assert "result" in outcome, f"fewer than {after} polls of {path}: the action never ran"


def advance_after_polls(
    sim: LearnifierSimulator, after: int, *, path: str = PARTICIPANTS_PATH, **advance: Any
) -> AbstractContextManager[dict[str, Any]]:
    """Once ``path`` was polled ``after`` more times, call ``sim.advance_progress(**advance)``."""
    return after_polls(sim, after, lambda: sim.advance_progress(**advance), path=path)


def assert_failed_with(dag_run, capfd, message: str) -> None:
    """The run failed, and its output (the task's log) holds ``message``."""
    output = capfd.readouterr()
    assert dag_run.state == "failed"
    assert message in output.out + output.err


def with_participants_changed(learnifier_conn, monkeypatch, change: Callable[[dict], dict]) -> None:
    """Serve every participant of a project list updated with ``change(participant)``."""
    list_participants = learnifier_conn.state.list_participants

    def changed(org_id, project_id):
        return [part | change(part) for part in list_participants(org_id, project_id)]

    monkeypatch.setattr(learnifier_conn.state, "list_participants", changed)


def with_counts_as(learnifier_conn, monkeypatch, convert) -> None:
    """Serve every participant with its activity counts passed through ``convert``."""
    with_participants_changed(
        learnifier_conn,
        monkeypatch,
        lambda part: {key: convert(part[key]) for key in ("activitiesCompleted", "activitiesTotal")},
    )


#: The trigger's own arguments, besides the check's.
TRIGGER_TIMING = ("learnifier_conn_id", "poll_interval", "end_time")


def assert_rebuilt_from_earlier_kwargs(
    classpath: str, earlier_kwargs: dict[str, Any], check_class: type
) -> None:
    """A trigger serialized with the check's arguments flat (as before the generic trigger) is
    rebuilt with that check and the same connection, interval and deadline."""
    from tests.compat import deserialize, import_string, serialize

    rebuilt = import_string(classpath)(**deserialize(serialize(earlier_kwargs)))

    names = {k: v for k, v in earlier_kwargs.items() if k not in TRIGGER_TIMING}
    assert rebuilt.check == check_class(**names)
    timing = (rebuilt.learnifier_conn_id, rebuilt.poll_interval, rebuilt.end_time)
    assert timing == tuple(earlier_kwargs[k] for k in TRIGGER_TIMING)


def first_event(trigger: Any) -> dict[str, Any]:
    """Run ``trigger`` until its first event: that event's payload."""

    async def run() -> dict[str, Any]:
        return (await anext(trigger.run())).payload

    return asyncio.run(run())


def assert_serde_round_trip(trigger: Any, classpath: str, kwargs: dict[str, Any]) -> None:
    """``trigger`` serializes as ``classpath`` and ``kwargs`` (plain JSON), and Airflow's serde
    rebuilds it from them into a trigger that serializes the same and waits with the same check."""
    from tests.compat import deserialize, import_string, serialize

    assert trigger.serialize() == (classpath, kwargs)
    assert json.loads(json.dumps(kwargs)) == kwargs
    rebuilt = import_string(classpath)(**deserialize(serialize(kwargs)))
    assert rebuilt.serialize() == (classpath, kwargs)
    assert rebuilt.check == trigger.check
