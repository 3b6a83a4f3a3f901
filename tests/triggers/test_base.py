"""The polling loop all Learnifier triggers share: deadline, events, async connection, a free event loop."""

from __future__ import annotations

import asyncio
import json
import math
import time
from typing import Any

import pytest

from airflow_provider_learnifier.hooks.learnifier import LearnifierHook
from airflow_provider_learnifier.triggers import base
from airflow_provider_learnifier.triggers.base import share_threshold
from airflow_provider_learnifier.triggers.projects import LearnifierProjectCompletionTrigger
from tests.completion_helpers import ORG_ID, PROJECT_ID, advance_after_polls, enroll, polls


def project_trigger(**kwargs: Any) -> LearnifierProjectCompletionTrigger:
    arguments: dict[str, Any] = {"org_id": ORG_ID, "project_id": PROJECT_ID, "poll_interval": 0.05}
    arguments.setdefault("end_time", time.time() + kwargs.pop("within", 5.0))
    return LearnifierProjectCompletionTrigger(**(arguments | kwargs))


async def first_event(trigger: Any) -> dict[str, Any]:
    event = await anext(trigger.run())
    return event.payload


async def first_event_and_loop_lag(trigger: Any) -> tuple[dict[str, Any], float, int]:
    """Run the trigger while a probe on the same loop measures how late its 10 ms sleeps wake up."""
    loop = asyncio.get_running_loop()
    lags: list[float] = []
    finished = asyncio.Event()

    async def probe() -> None:
        while not finished.is_set():
            started = loop.time()
            await asyncio.sleep(0.01)
            lags.append(loop.time() - started - 0.01)

    probing = asyncio.create_task(probe())
    try:
        payload = await first_event(trigger)
    finally:
        finished.set()
        await probing
    return payload, max(lags), len(lags)


@pytest.mark.parametrize("value, expected", [(0.5, 0.5), (1, 1.0), ("0.25", 0.25), ("1.0", 1.0)])
def test_share_threshold_reads_fractions_and_rendered_text(value, expected):
    assert share_threshold("min_share", value) == expected


@pytest.mark.parametrize("value", [0, -0.5, 1.01, 70, "70%", "", None, True, math.nan, math.inf])
def test_share_threshold_refuses_what_is_not_a_fraction(value):
    with pytest.raises(ValueError, match="min_share must be a fraction between 0 \\(exclusive\\) and 1"):
        share_threshold("min_share", value)


def test_network_calls_never_block_the_event_loop(learnifier_conn):
    """With the simulator answering in 0.3 s, a coroutine beside the trigger is never late by that."""
    enroll(1)
    learnifier_conn.latency = 0.3
    started = time.monotonic()
    payload, worst_lag, samples = asyncio.run(first_event_and_loop_lag(project_trigger(within=0.8)))
    elapsed = time.monotonic() - started

    assert payload["status"] == "timeout"
    assert polls(learnifier_conn) >= 3  # 0.9 s or more spent waiting for answers...
    assert elapsed >= 0.9
    assert samples >= 30  # ...while the probe kept running,
    assert worst_lag < 0.1, f"the event loop was blocked for {worst_lag:.3f} s"  # never held up for long


def test_the_loop_lag_probe_sees_a_blocking_call(learnifier_conn, monkeypatch):
    """The check above can fail: run the hook on the loop itself and the probe sees it stall."""

    async def on_the_loop(function, *args):
        return function(*args)

    monkeypatch.setattr(base, "_run_off_loop", on_the_loop)
    enroll(1)
    learnifier_conn.latency = 0.3
    payload, worst_lag, _ = asyncio.run(first_event_and_loop_lag(project_trigger(within=0.5)))

    assert payload["status"] == "timeout"
    assert worst_lag >= 0.25


@pytest.mark.min_airflow(
    "3.0",
    "Airflow 2 has no async connection lookup: common-compat's get_async_connection runs the "
    "synchronous one in a worker thread (which keeps the event loop free too)",
)
def test_connection_is_fetched_with_the_async_api_only(learnifier_conn, monkeypatch):
    from tests.compat import Connection

    def no_sync_lookups(*args, **kwargs):
        raise AssertionError("the trigger looked the connection up synchronously")

    ids = enroll(1)
    learnifier_conn.advance_progress(participant_id=ids[0], complete=True)
    monkeypatch.setattr(Connection, "get", classmethod(no_sync_lookups))
    monkeypatch.setattr(LearnifierHook, "get_connection", classmethod(no_sync_lookups))

    payload = asyncio.run(first_event(project_trigger()))

    assert payload["status"] == "success", payload


def test_an_unknown_connection_fires_error(learnifier_conn):
    payload = asyncio.run(first_event(project_trigger(learnifier_conn_id="no_such_connection")))

    assert payload["status"] == "error"
    assert "no_such_connection" in payload["message"]
    assert payload["progress"] is None


def test_refused_credentials_fire_error_with_the_reason(learnifier_conn, monkeypatch):
    connection = json.loads(learnifier_conn.connection_json())
    monkeypatch.setenv("AIRFLOW_CONN_LEARNIFIER_WRONG", json.dumps(connection | {"password": "wrong"}))

    payload = asyncio.run(first_event(project_trigger(learnifier_conn_id="learnifier_wrong")))

    assert payload["status"] == "error"
    assert "LearnifierAuthError" in payload["message"]
    assert "401" in payload["message"]
    assert "wrong" not in payload["message"]


def test_deadline_fires_timeout_after_polling_until_it(learnifier_conn):
    enroll(2)
    started = time.monotonic()
    payload = asyncio.run(first_event(project_trigger(within=0.6, poll_interval=0.1)))
    elapsed = time.monotonic() - started

    assert payload["status"] == "timeout"
    assert 0.6 <= elapsed < 3
    assert polls(learnifier_conn) >= 5  # it polled every 0.1 s until the deadline
    assert "0 of 2 activated participant(s) completed (0%)" in payload["message"]
    assert payload["progress"]["completed"] == 0


def test_the_deadline_cuts_a_long_poll_interval_short(learnifier_conn):
    enroll(1)
    started = time.monotonic()
    payload = asyncio.run(first_event(project_trigger(within=0.3, poll_interval=60)))

    assert payload["status"] == "timeout"
    assert time.monotonic() - started < 5
    assert polls(learnifier_conn) == 2  # one check at the start, one at the deadline


def test_a_deadline_in_the_past_still_checks_once(learnifier_conn):
    ids = enroll(1)
    learnifier_conn.advance_progress(participant_id=ids[0], complete=True)

    payload = asyncio.run(first_event(project_trigger(end_time=time.time() - 60)))

    assert payload["status"] == "success"
    assert polls(learnifier_conn) == 1


def test_progress_made_while_polling_fires_success(learnifier_conn):
    enroll(2)
    with advance_after_polls(learnifier_conn, 3, project_id=PROJECT_ID, complete=True):
        payload = asyncio.run(first_event(project_trigger(poll_interval=0.05)))

    assert payload["status"] == "success"
    assert payload["progress"]["completed"] == 2
    assert polls(learnifier_conn) >= 4


def test_every_poll_logs_the_progress(learnifier_conn, capfd):
    enroll(1)
    capfd.readouterr()
    payload = asyncio.run(first_event(project_trigger(within=0.35, poll_interval=0.1)))

    assert payload["status"] == "timeout"
    logged = capfd.readouterr()
    progress_lines = [
        line
        for line in (logged.out + logged.err).splitlines()
        if "project 2001 (organization unit 1001): 0 of 1 activated participant(s) completed (0%)" in line
    ]
    assert len(progress_lines) == polls(learnifier_conn) >= 3


def test_the_hook_session_is_closed_when_the_trigger_ends(learnifier_conn, monkeypatch):
    closed = []
    monkeypatch.setattr(LearnifierHook, "close", lambda self: closed.append(self))
    enroll(1)

    asyncio.run(first_event(project_trigger(within=0.1)))

    assert [type(hook) for hook in closed if isinstance(hook, base._PrefetchedConnectionHook)] == [
        base._PrefetchedConnectionHook
    ]


@pytest.mark.parametrize("poll_interval", [-1, "5", None])
def test_poll_interval_must_be_seconds(poll_interval):
    with pytest.raises(ValueError, match="poll_interval"):
        project_trigger(poll_interval=poll_interval)
