"""The polling loop all Learnifier triggers share: deadline, events, async connection, a free event loop."""

from __future__ import annotations

import asyncio
import json
import math
import sys
import threading
import time
from types import SimpleNamespace
from typing import Any

import pytest

from airflow_provider_learnifier.completion import (
    ParticipantCompletionCheck,
    ProjectCompletionCheck,
    share_threshold,
)
from airflow_provider_learnifier.hooks.learnifier import LearnifierHook
from airflow_provider_learnifier.triggers import base
from airflow_provider_learnifier.triggers.projects import LearnifierProjectCompletionTrigger
from learnifier_simulator import seed
from tests.compat import deserialize, import_string, serialize
from tests.completion_helpers import (
    ORG_ID,
    PARTICIPANTS_PATH,
    PROJECT_ID,
    advance_after_polls,
    after_polls,
    answered,
    enroll,
    polls,
    short_lived_project,
)


def project_trigger(**kwargs: Any) -> LearnifierProjectCompletionTrigger:
    arguments: dict[str, Any] = {"org_id": ORG_ID, "project_id": PROJECT_ID, "poll_interval": 0.05}
    arguments.setdefault("end_time", time.time() + kwargs.pop("within", 5.0))
    return LearnifierProjectCompletionTrigger(**(arguments | kwargs))


async def first_event(trigger: Any) -> dict[str, Any]:
    event = await anext(trigger.run())
    return event.payload


class FakeClock:
    """The trigger's clock and its waits between polls: a wait advances the clock, without sleeping."""

    def __init__(self) -> None:
        self.now = time.time()
        self.waits: list[float] = []

    def time(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """Replace the trigger module's clock and poll wait (its seams) with a :class:`FakeClock`."""
    fake = FakeClock()
    monkeypatch.setattr(base, "time", SimpleNamespace(time=fake.time))
    monkeypatch.setattr(base, "asyncio", SimpleNamespace(sleep=fake.sleep))
    return fake


class CheckThatWaitsForTheLoop:
    """A trigger's check that, before checking, waits until a coroutine on the event loop has run.

    Were the check run on the loop itself, no coroutine could run meanwhile: the wait would end
    after ``patience`` seconds, and the check raise.
    """

    def __init__(self, check: Any, patience: float) -> None:
        self._check = check
        self._patience = patience
        self.started = threading.Event()
        self.loop_ran = threading.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._check, name)

    def __call__(self, hook: LearnifierHook) -> Any:
        self.started.set()
        if not self.loop_ran.wait(self._patience):
            raise RuntimeError("the event loop did not run while the check was running")
        return self._check(hook)


async def first_event_beside_a_coroutine(trigger: Any, check: CheckThatWaitsForTheLoop) -> dict[str, Any]:
    """Run the trigger while a coroutine on the same loop signals ``check`` once the check started."""

    async def coroutine_beside() -> None:
        while not check.started.is_set():
            await asyncio.sleep(0.01)
        check.loop_ran.set()

    beside = asyncio.create_task(coroutine_beside())
    try:
        return await first_event(trigger)
    finally:
        beside.cancel()


@pytest.mark.parametrize("value, expected", [(0.5, 0.5), (1, 1.0), ("0.25", 0.25), ("1.0", 1.0)])
def test_share_threshold_reads_fractions_and_rendered_text(value, expected):
    assert share_threshold("min_share", value) == expected


@pytest.mark.parametrize("value", [0, -0.5, 1.01, 70, "70%", "", None, True, math.nan, math.inf])
def test_share_threshold_refuses_what_is_not_a_fraction(value):
    with pytest.raises(ValueError, match="min_share must be a fraction between 0 \\(exclusive\\) and 1"):
        share_threshold("min_share", value)


def test_network_calls_never_block_the_event_loop(learnifier_conn, monkeypatch):
    """The check (its HTTP requests included) runs in a worker thread: the loop runs meanwhile."""
    enroll(1)
    trigger = project_trigger(within=0.5)
    check = CheckThatWaitsForTheLoop(trigger.make_check(), patience=60)
    monkeypatch.setattr(trigger, "make_check", lambda: check)

    payload = asyncio.run(first_event_beside_a_coroutine(trigger, check))

    assert payload["status"] == "timeout", payload["message"]
    assert check.loop_ran.is_set()
    assert polls(learnifier_conn) >= 2  # real requests: one at the start, one at the deadline


def test_the_loop_check_sees_a_blocking_call(learnifier_conn, monkeypatch):
    """The check above can fail: run the hook on the loop itself and the coroutine never runs."""

    async def on_the_loop(function, *args):
        return function(*args)

    monkeypatch.setattr(base, "_run_off_loop", on_the_loop)
    enroll(1)
    trigger = project_trigger(within=0.5)
    check = CheckThatWaitsForTheLoop(trigger.make_check(), patience=0.5)
    monkeypatch.setattr(trigger, "make_check", lambda: check)

    payload = asyncio.run(first_event_beside_a_coroutine(trigger, check))

    assert payload["status"] == "error"
    assert "the event loop did not run" in payload["message"]
    assert not check.loop_ran.is_set()


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


@pytest.mark.min_airflow("3.0", "Airflow 2's connections mask their extras without the supervisor")
def test_the_hook_reads_the_connection_where_the_triggerer_can_mask_its_extras(
    learnifier_conn, monkeypatch, triggerer_comms
):
    """Reading the extras off the loop sends the masking message to the triggerer's loop, as 3.0 needs."""
    monkeypatch.setenv(
        "AIRFLOW_CONN_LEARNIFIER_DEFAULT", learnifier_conn.connection_json(extra={"timeout": 30})
    )
    ids = enroll(1)
    learnifier_conn.advance_progress(participant_id=ids[0], complete=True)

    payload = asyncio.run(first_event(project_trigger()))

    assert payload["status"] == "success", payload
    assert triggerer_comms.misrouted == []
    masked = [message.value for message in triggerer_comms.sent if type(message).__name__ == "MaskSecret"]
    assert any(isinstance(value, dict) and value.get("timeout") == 30 for value in masked), masked


def test_the_trigger_polls_through_the_connection_s_proxy(learnifier_conn, monkeypatch):
    from tests.forward_proxy import ForwardProxy

    ids = enroll(1)
    learnifier_conn.advance_progress(participant_id=ids[0], complete=True)
    with ForwardProxy(username="trigger", password="pr0xy") as proxy:
        monkeypatch.setenv(
            "AIRFLOW_CONN_LEARNIFIER_PROXIED", learnifier_conn.connection_json(extra={"proxy": proxy.url()})
        )
        payload = asyncio.run(first_event(project_trigger(learnifier_conn_id="learnifier_proxied")))
        tunnels = proxy.log().count(f"CONNECT 127.0.0.1:{learnifier_conn.port} ")

    assert payload["status"] == "success", payload
    assert tunnels == 1


def test_a_trigger_whose_proxy_is_down_fires_error_naming_the_proxy(learnifier_conn, monkeypatch, mocker):
    from tests.forward_proxy import ForwardProxy

    mocker.patch("airflow_provider_learnifier.hooks.learnifier.time.sleep")
    with ForwardProxy(username="trigger", password="pr0xy") as proxy:
        url = proxy.url()
    monkeypatch.setenv(
        "AIRFLOW_CONN_LEARNIFIER_PROXIED",
        learnifier_conn.connection_json(extra={"proxy": url, "max_retries": 1}),
    )

    payload = asyncio.run(first_event(project_trigger(learnifier_conn_id="learnifier_proxied")))

    assert payload["status"] == "error"
    assert f"the proxy http://127.0.0.1:{proxy.port} failed" in payload["message"]
    assert "pr0xy" not in payload["message"]


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


def test_deadline_fires_timeout_after_polling_until_it(learnifier_conn, clock):
    enroll(2)
    payload = asyncio.run(first_event(project_trigger(end_time=clock.now + 0.6, poll_interval=0.1)))

    assert payload["status"] == "timeout"
    # It polled every 0.1 s, at the start and after each wait, until the deadline; never beyond it.
    assert all(0 < wait <= 0.1 for wait in clock.waits)
    assert math.isclose(sum(clock.waits), 0.6, abs_tol=1e-6)
    assert polls(learnifier_conn) == len(clock.waits) + 1 >= 7
    assert "0 of 2 activated participant(s) completed (0%)" in payload["message"]
    assert payload["progress"]["completed"] == 0


def test_the_deadline_cuts_a_long_poll_interval_short(learnifier_conn, clock):
    enroll(1)
    payload = asyncio.run(first_event(project_trigger(end_time=clock.now + 0.3, poll_interval=60)))

    assert payload["status"] == "timeout"
    # One wait, cut to the deadline: not the 60 s poll interval.
    assert len(clock.waits) == 1
    assert math.isclose(clock.waits[0], 0.3, abs_tol=1e-6)
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


# ---------------------------------------------------------------------- one trigger over serializable checks


def test_the_trigger_round_trips_a_check_through_airflow_serde():
    check = ParticipantCompletionCheck(participation_external_id="person-0", min_share="0.5")
    original = base.LearnifierCompletionTrigger(check=check, poll_interval=3, end_time=1_900_000_000.0)

    classpath, kwargs = original.serialize()
    rebuilt = import_string(classpath)(**deserialize(serialize(kwargs)))

    assert classpath == "airflow_provider_learnifier.triggers.base.LearnifierCompletionTrigger"
    assert json.loads(json.dumps(kwargs)) == kwargs
    assert rebuilt.check == check
    assert rebuilt.serialize() == (classpath, kwargs)


@pytest.mark.parametrize(
    "serialized",
    [
        {"classpath": "os.system", "kwargs": {}},
        {"classpath": "tests.never_imported_module.Check", "kwargs": {}},
        {"classpath": "airflow_provider_learnifier.triggers.base.LearnifierCompletionTrigger", "kwargs": {}},
    ],
)
def test_the_trigger_refuses_a_check_that_is_not_one_of_the_provider_s(serialized):
    with pytest.raises(ValueError, match="refusing to rebuild a completion check"):
        base.LearnifierCompletionTrigger(check=serialized, end_time=0)
    assert "tests.never_imported_module" not in sys.modules


def test_the_trigger_refuses_a_check_object_of_another_class():
    class Lookalike(ProjectCompletionCheck):
        pass

    with pytest.raises(ValueError, match="refusing to rebuild a completion check"):
        base.LearnifierCompletionTrigger(check=Lookalike(org_id=ORG_ID, project_id=PROJECT_ID), end_time=0)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({}, "needs the check to wait for"),
        ({"check": "ProjectCompletionCheck"}, "check must be a completion check or its serialized form"),
        ({"check": {"classpath": "x"}}, "check must be a completion check or its serialized form"),
        (
            {"check": ProjectCompletionCheck(org_id=ORG_ID, project_id=PROJECT_ID), "org_id": ORG_ID},
            "takes the check or its arguments, not both",
        ),
    ],
)
def test_the_trigger_needs_exactly_one_check(arguments, message):
    with pytest.raises(ValueError, match=message):
        base.LearnifierCompletionTrigger(**arguments, end_time=0)


def test_a_resource_trigger_waits_only_for_its_own_kind_of_check():
    with pytest.raises(ValueError, match="waits for a ProjectCompletionCheck"):
        LearnifierProjectCompletionTrigger(
            check=ParticipantCompletionCheck(participation_external_id="x"), end_time=0
        )


def test_each_run_polls_a_fresh_check_resolved_on_its_own(learnifier_conn):
    """The check handed over was poked (it resolved its project); the trigger starts from its arguments."""
    ids = enroll(1)
    learnifier_conn.advance_progress(participant_id=ids[0], complete=True)
    check = ProjectCompletionCheck(project_external_id=seed.DEMO_PROJECT_EXTERNAL_ID)
    with LearnifierHook() as hook:
        check(hook)
    trigger = base.LearnifierCompletionTrigger(check=check, poll_interval=0.05, end_time=time.time() + 5)

    payload = asyncio.run(first_event(trigger))

    assert payload["status"] == "success"
    assert trigger.make_check() is not trigger.make_check()
    assert trigger.make_check().org_id is None
    resolved = [e for e in learnifier_conn.exchanges if e.method == "GET" and e.path == "/extproject"]
    assert len(resolved) >= 2, "the trigger did not resolve the project's external id itself"


# ---------------------------------------------------------------------- outages and 404s


def project_path(project_id: Any = PROJECT_ID) -> str:
    return f"/orgunits/{ORG_ID}/projects/{project_id}"


def test_an_outage_of_eight_minutes_at_the_default_interval_is_outlived(no_hook_retries, clock, capfd):
    sim = no_hook_retries
    (person,) = enroll(1)
    sim.advance_progress(participant_id=person, complete=True)
    sim.inject(status=503, times=8, method="GET", path=PARTICIPANTS_PATH)

    trigger = LearnifierProjectCompletionTrigger(
        org_id=ORG_ID, project_id=PROJECT_ID, end_time=clock.now + 3600
    )
    payload = asyncio.run(first_event(trigger))

    assert payload["status"] == "success"
    assert clock.waits == [60.0] * 8  # the default interval, 8 minutes of failed polls
    assert answered(sim, PARTICIPANTS_PATH, 503) == 8
    assert "8 poll(s) in a row failed, of at most 10 (max_consecutive_failures)" in capfd.readouterr().out


def test_one_failure_more_than_the_budget_fires_error_naming_the_project(no_hook_retries, clock):
    sim = no_hook_retries
    enroll(1)
    sim.inject(status=500, times=100, method="GET", path=PARTICIPANTS_PATH)

    payload = asyncio.run(first_event(project_trigger(max_consecutive_failures=3, end_time=clock.now + 3600)))

    assert payload["status"] == "error"
    assert answered(sim, PARTICIPANTS_PATH, 500) == 4
    assert payload["message"].startswith(
        f"Waiting for Learnifier project {PROJECT_ID} (organization unit {ORG_ID}) failed: "
        "LearnifierServerError: "
    )
    assert payload["message"].endswith("(4 poll(s) in a row failed, of at most 3 (max_consecutive_failures))")


def test_a_404_of_the_listing_is_outlived_while_the_project_itself_answers(no_hook_retries, clock):
    sim = no_hook_retries
    (person,) = enroll(1)
    sim.advance_progress(participant_id=person, complete=True)
    sim.inject(status=404, times=2, method="GET", path=PARTICIPANTS_PATH)

    payload = asyncio.run(first_event(project_trigger(end_time=clock.now + 3600)))

    assert payload["status"] == "success"
    assert answered(sim, PARTICIPANTS_PATH, 404) == 2
    assert answered(sim, project_path(), 200) == 2  # asked after each 404: the project is there


def test_a_project_deleted_while_waited_for_ends_the_wait_once_its_own_get_answers_404(
    learnifier_conn, clock
):
    sim = learnifier_conn
    project_id, listing, delete_it = short_lived_project()

    with after_polls(sim, 2, delete_it, path=listing):
        trigger = project_trigger(project_id=project_id, end_time=clock.now + 10**6)
        payload = asyncio.run(first_event(trigger))

    assert payload["status"] == "error"
    assert payload["message"].startswith(
        f"Waiting for Learnifier project {project_id} (organization unit {ORG_ID}) failed: "
        f"LearnifierNotFoundError: Learnifier project {project_id} (organization unit {ORG_ID}) does not "
        "exist (any more): Learnifier get_project: GET "
    )
    assert answered(sim, listing, 404) == 1  # counted as a failure once ...
    assert answered(sim, project_path(project_id), 404) == 1  # ... then confirmed by the project itself


def test_the_failure_budget_must_be_a_whole_number():
    for value in (-1, 1.5, True, "3"):
        with pytest.raises(ValueError, match="max_consecutive_failures must be a whole number"):
            project_trigger(max_consecutive_failures=value)


def test_an_outage_until_the_deadline_fires_timeout_saying_no_poll_succeeded(no_hook_retries, clock):
    no_hook_retries.inject(status=503, times=100, method="GET", path=PARTICIPANTS_PATH)

    payload = asyncio.run(first_event(project_trigger(poll_interval=60, end_time=clock.now + 150)))

    assert payload["status"] == "timeout"
    assert payload["message"].endswith(
        f"waiting for Learnifier project {PROJECT_ID} (organization unit {ORG_ID}): no poll succeeded "
        "(4 poll(s) in a row failed, of at most 10 (max_consecutive_failures))"
    )
    assert payload["progress"] is None


@pytest.mark.parametrize(
    ("poll_interval", "closed_while_waiting"), [(base.KEEP_ALIVE_SECONDS, True), (1.0, False)]
)
def test_a_trigger_holds_no_connection_while_it_waits_long(
    learnifier_conn, clock, mocker, poll_interval, closed_while_waiting
):
    enroll(1)
    close = mocker.spy(base._PrefetchedConnectionHook, "close")
    sessions_at_waits: list[bool] = []
    wait = clock.sleep

    async def sleep(seconds: float) -> None:
        hook = close.call_args.args[0] if close.call_args else None
        sessions_at_waits.append(hook is not None and hook._session is None)
        await wait(seconds)

    mocker.patch.object(base, "asyncio", SimpleNamespace(sleep=sleep))
    payload = asyncio.run(
        first_event(project_trigger(end_time=clock.now + 3 * poll_interval, poll_interval=poll_interval))
    )

    assert payload["status"] == "timeout"
    assert polls(learnifier_conn) == 4  # and each poll after a long wait opened its connection again
    assert sessions_at_waits == [closed_while_waiting] * 3
    # Closed before each long wait, and once at the end.
    assert close.call_count == (4 if closed_while_waiting else 1)
