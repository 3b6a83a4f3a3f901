"""LearnifierCompletionEventTrigger against the simulator: one event per new completion, across restarts."""

from __future__ import annotations

import asyncio
import importlib
import json
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from airflow_provider_learnifier.exceptions import LearnifierAuthError
from tests.compat import AIRFLOW_V_3_0_PLUS, AIRFLOW_VERSION, deserialize, import_string, serialize
from tests.completion_helpers import (
    ORG_ID,
    PARTICIPANTS_PATH,
    PROJECT_EXTERNAL_ID,
    PROJECT_ID,
    answered,
    enroll,
    polls,
    short_lived_project,
)

CLASSPATH = "airflow_provider_learnifier.triggers.events.LearnifierCompletionEventTrigger"
airflow3_only = pytest.mark.airflow3_only("event-driven scheduling (BaseEventTrigger) is new in Airflow 3.0")


class MemoryStateStore:
    """Airflow 3.3's asset state store as the triggerer hands it to an event trigger, kept in a dict."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    async def aget(self, key: str, default: Any = None) -> Any:
        return json.loads(self.values[key]) if key in self.values else default

    async def aset(self, key: str, value: Any) -> None:
        self.values[key] = json.dumps(value)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The hand-over record's clock, standing still until a test moves ``clock[0]`` on."""
    from airflow_provider_learnifier.triggers import events

    now = [0.0]
    monkeypatch.setattr(events, "_now", lambda: now[0])
    return now


def make(**kwargs: Any) -> Any:
    from airflow_provider_learnifier.triggers.events import LearnifierCompletionEventTrigger

    names = {} if "project_external_id" in kwargs else {"org_id": ORG_ID, "project_id": PROJECT_ID}
    return LearnifierCompletionEventTrigger(**names | {"poll_interval": 0.05} | kwargs)


def run_for(
    sim, trigger, polls_count: int, actions: dict[int, Any] | None = None, *, path: str = PARTICIPANTS_PATH
) -> list[dict[str, Any]]:
    """Run ``trigger`` for ``polls_count`` polls of ``path``, calling ``actions[n]()`` before poll ``n``:
    its payloads."""
    actions = dict(actions or {})
    events: list[dict[str, Any]] = []

    async def consume() -> None:
        async for event in trigger.run():
            events.append(event.payload)

    async def drive() -> None:
        task = asyncio.create_task(consume())
        start = polls(sim, path)
        deadline = time.monotonic() + 30
        try:
            while (done := polls(sim, path) - start) < polls_count and not task.done():
                assert time.monotonic() < deadline, f"only {done} polls"
                if done in actions:
                    await asyncio.to_thread(actions.pop(done))
                await asyncio.sleep(0.005)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        if task.done() and not task.cancelled() and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]

    asyncio.run(drive())
    return events


def complete(sim, participant_id: str):
    return lambda: sim.advance_progress(participant_id=participant_id, complete=True)


@airflow3_only
def test_serialize_round_trips_through_airflow_serde():
    original = make(project_external_id=PROJECT_EXTERNAL_ID, min_share=0.8, poll_interval=30)
    classpath, kwargs = original.serialize()

    assert classpath == CLASSPATH
    assert kwargs == {
        "org_id": None,
        "project_id": None,
        "project_external_id": PROJECT_EXTERNAL_ID,
        "min_share": 0.8,
        "learnifier_conn_id": "learnifier_default",
        "poll_interval": 30.0,
        "max_consecutive_failures": 10,
    }
    rebuilt = import_string(classpath)(**deserialize(serialize(kwargs)))
    assert rebuilt.serialize() == (classpath, kwargs)
    # Without one, the interval is the connection's, read where the trigger runs.
    from_connection = make(project_external_id=PROJECT_EXTERNAL_ID, poll_interval=None)
    assert from_connection.serialize()[1]["poll_interval"] is None
    rebuilt = import_string(classpath)(**deserialize(serialize(from_connection.serialize()[1])))
    assert rebuilt.poll_interval is None


@airflow3_only
@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"org_id": None, "project_id": PROJECT_ID}, "name one project by org_id and project_id"),
        ({"project_external_id": PROJECT_EXTERNAL_ID, "org_id": ORG_ID}, "or every project of an"),
        ({"poll_interval": 0}, "poll_interval must be a positive number"),
        ({"poll_interval": "60"}, "poll_interval must be a positive number"),
        ({"min_share": 0}, "must be a fraction"),
    ],
)
def test_wrong_arguments_fail_at_construction(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make(**kwargs)


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The seconds the trigger waits between polls, recorded; each wait is cut to a few milliseconds."""
    from airflow_provider_learnifier.triggers import events

    asked: list[float] = []

    async def short_sleep(seconds: float) -> None:
        asked.append(seconds)
        await asyncio.sleep(0.01)

    monkeypatch.setattr(events, "_sleep", short_sleep)
    return asked


@airflow3_only
@pytest.mark.parametrize(
    "extra, poll_interval, expected",
    [
        ({"poll_interval": 42}, None, 42.0),
        ({"poll_interval": "2.5"}, None, 2.5),  # the connection form's text field, or a URI's query
        ({}, None, 60.0),
        ({"poll_interval": 42}, 7, 7.0),
    ],
)
def test_the_poll_interval_is_the_arguments_else_the_connections_extra_else_60_s(
    learnifier_conn, monkeypatch, sleeps, extra, poll_interval, expected
):
    monkeypatch.setenv("AIRFLOW_CONN_LEARNIFIER_DEFAULT", learnifier_conn.connection_json(extra=extra))
    (person,) = enroll(1)

    events = run_for(
        learnifier_conn, make(poll_interval=poll_interval), 5, {2: complete(learnifier_conn, person)}
    )

    assert [event["participant_id"] for event in events] == [str(person)]
    assert len(sleeps) >= 4 and set(sleeps) == {expected}


@airflow3_only
def test_the_poll_interval_extra_is_read_where_the_triggerer_can_mask_the_extras(
    learnifier_conn, monkeypatch, sleeps, triggerer_comms
):
    """Off the loop, through asgiref: on Airflow 3.0 reading it on the loop failed every watcher."""
    monkeypatch.setenv(
        "AIRFLOW_CONN_LEARNIFIER_DEFAULT", learnifier_conn.connection_json(extra={"poll_interval": 42})
    )
    (person,) = enroll(1)

    events = run_for(learnifier_conn, make(poll_interval=None), 3, {1: complete(learnifier_conn, person)})

    assert [event["participant_id"] for event in events] == [str(person)]
    assert set(sleeps) == {42.0}
    assert triggerer_comms.misrouted == []
    masked = [message.value for message in triggerer_comms.sent if type(message).__name__ == "MaskSecret"]
    assert any(isinstance(value, dict) and value.get("poll_interval") == 42 for value in masked), masked


@airflow3_only
@pytest.mark.parametrize("value", ["soon", 0, -5, True, [60]])
def test_a_poll_interval_extra_that_is_not_positive_seconds_fails_the_trigger(
    learnifier_conn, monkeypatch, sleeps, value
):
    monkeypatch.setenv(
        "AIRFLOW_CONN_LEARNIFIER_DEFAULT", learnifier_conn.connection_json(extra={"poll_interval": value})
    )

    with pytest.raises(ValueError) as raised:
        run_for(learnifier_conn, make(poll_interval=None), 1)

    assert str(raised.value) == (
        "Learnifier connection 'learnifier_default' is not usable: extra 'poll_interval' must be a "
        f"positive number of seconds, not {value!r}"
    )
    assert polls(learnifier_conn) == 0 and sleeps == []


@pytest.mark.skipif(AIRFLOW_V_3_0_PLUS, reason="Airflow 3 has event-driven scheduling")
def test_below_airflow_3_the_module_imports_and_the_trigger_refuses_to_be_made():
    from airflow.exceptions import AirflowOptionalProviderFeatureException

    events = importlib.import_module("airflow_provider_learnifier.triggers.events")

    with pytest.raises(
        AirflowOptionalProviderFeatureException, match=r"needs Airflow 3\.0 or newer"
    ) as caught:
        events.LearnifierCompletionEventTrigger(org_id=ORG_ID, project_id=PROJECT_ID)
    assert "LearnifierProjectCompletionSensor" in str(caught.value)  # what to use instead


@airflow3_only
def test_each_new_completion_fires_exactly_one_event_and_the_baseline_none(learnifier_conn):
    before, first, second, _ = enroll(4)
    learnifier_conn.advance_progress(participant_id=before, complete=True)

    events = run_for(
        learnifier_conn,
        make(),
        8,
        {2: complete(learnifier_conn, first), 4: complete(learnifier_conn, second)},
    )

    assert [event["participant_id"] for event in events] == [str(first), str(second)]
    user = learnifier_conn.state.list_participants(str(ORG_ID), str(PROJECT_ID))[1]["userId"]
    assert events[0] | {"seen_at": None} == {
        "dedupe_key": f"learnifier-completion/{ORG_ID}/{PROJECT_ID}/{first}",
        "org_id": str(ORG_ID),
        "project_id": str(PROJECT_ID),
        "project_external_id": PROJECT_EXTERNAL_ID,
        "participant_id": str(first),
        "user_id": user,
        "participation_external_id": "person-1",
        "progress": {"activities_completed": 5, "activities_total": 5, "share": 1.0},
        "seen_at": None,
    }
    assert events[0]["seen_at"] <= events[1]["seen_at"]


@airflow3_only
def test_min_share_counts_part_way_completions(learnifier_conn):
    (person,) = enroll(1)

    events = run_for(
        learnifier_conn,
        make(project_external_id=PROJECT_EXTERNAL_ID, min_share=0.6),
        6,
        {
            1: lambda: learnifier_conn.advance_progress(participant_id=person, activities=2),
            3: lambda: learnifier_conn.advance_progress(participant_id=person, activities=1),
        },
    )

    assert [(event["participant_id"], event["progress"]["activities_completed"]) for event in events] == [
        (str(person), 3)
    ]


@airflow3_only
def test_a_restart_from_serialized_kwargs_hands_over_what_it_missed_and_nothing_twice(learnifier_conn, clock):
    from airflow_provider_learnifier.triggers.events import RECORD_DELAY

    before, first, missed, later = enroll(4)
    learnifier_conn.advance_progress(participant_id=before, complete=True)
    store = MemoryStateStore()
    trigger = make()
    trigger.asset_state_store = store

    def wait_for_the_record_delay() -> None:
        clock[0] += RECORD_DELAY

    first_run = run_for(
        learnifier_conn, trigger, 6, {2: complete(learnifier_conn, first), 4: wait_for_the_record_delay}
    )
    stored = json.loads(store.values[f"learnifier_completions/{ORG_ID}/{PROJECT_ID}"])
    assert stored == {
        "projects": {str(PROJECT_ID): sorted([str(before), str(first)])},
        "since": stored["since"],
    }
    learnifier_conn.advance_progress(participant_id=missed, complete=True)  # while no triggerer runs
    classpath, kwargs = trigger.serialize()
    restarted = import_string(classpath)(**deserialize(serialize(kwargs)))
    restarted.asset_state_store = store
    second_run = run_for(learnifier_conn, restarted, 5, {2: complete(learnifier_conn, later)})

    assert [event["participant_id"] for event in first_run] == [str(first)]
    assert [event["participant_id"] for event in second_run] == [str(missed), str(later)]


@airflow3_only
def test_a_crash_before_the_record_is_saved_repeats_the_event_with_its_dedupe_key(learnifier_conn, clock):
    (person,) = enroll(1)
    store = MemoryStateStore()
    trigger = make()
    trigger.asset_state_store = store

    # Stopped less than RECORD_DELAY after the hand-over: the record does not hold it yet.
    first_run = run_for(learnifier_conn, trigger, 5, {2: complete(learnifier_conn, person)})
    restarted = make()
    restarted.asset_state_store = store
    second_run = run_for(learnifier_conn, restarted, 3)

    assert [event["dedupe_key"] for event in first_run] == [event["dedupe_key"] for event in second_run]


@airflow3_only
def test_without_a_state_store_a_restart_takes_a_new_baseline(learnifier_conn):
    first, missed = enroll(2)

    first_run = run_for(learnifier_conn, make(), 4, {2: complete(learnifier_conn, first)})
    learnifier_conn.advance_progress(participant_id=missed, complete=True)
    second_run = run_for(learnifier_conn, make(), 4)

    assert [event["participant_id"] for event in first_run] == [str(first)]
    assert second_run == []


@airflow3_only
def test_a_server_error_is_outlived_and_an_auth_error_is_not(learnifier_conn, monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_LEARNIFIER_DEFAULT", learnifier_conn.connection_json(extra={"max_retries": 0})
    )
    (person,) = enroll(1)

    def break_and_complete() -> None:
        learnifier_conn.inject(status=500, times=3, method="GET", path=PARTICIPANTS_PATH)
        learnifier_conn.advance_progress(participant_id=person, complete=True)

    events = run_for(learnifier_conn, make(), 7, {2: break_and_complete})
    learnifier_conn.inject(status=401, times=1000, method="GET", path=PARTICIPANTS_PATH)

    assert [event["participant_id"] for event in events] == [str(person)]
    with pytest.raises(LearnifierAuthError):
        run_for(learnifier_conn, make(), 1000)


@airflow3_only
def test_the_event_trigger_polls_through_the_connection_s_proxy(learnifier_conn, monkeypatch):
    from tests.forward_proxy import ForwardProxy

    (person,) = enroll(1)
    with ForwardProxy(username="watcher", password="pr0xy") as proxy:
        monkeypatch.setenv(
            "AIRFLOW_CONN_LEARNIFIER_DEFAULT", learnifier_conn.connection_json(extra={"proxy": proxy.url()})
        )
        events = run_for(learnifier_conn, make(), 4, {2: complete(learnifier_conn, person)})
        tunnels = proxy.log().count(f"CONNECT 127.0.0.1:{learnifier_conn.port} ")

    assert [event["participant_id"] for event in events] == [str(person)]
    assert tunnels == 1  # every poll went through the one tunnel of the trigger's hook


@pytest.mark.min_airflow("3.3", "shared streams between event triggers are new in Airflow 3.3")
def test_twenty_watchers_of_one_project_share_one_poll(learnifier_conn):
    from airflow.triggers.shared_stream import SharedStreamManager

    first, second = enroll(2)
    triggers = [make(min_share=1.0 if number % 2 else 0.2) for number in range(20)]
    assert len({trigger.shared_stream_key() for trigger in triggers}) == 1
    events: dict[int, list[str]] = {number: [] for number in range(20)}

    async def drive() -> int:
        manager = SharedStreamManager()
        key = triggers[0].shared_stream_key()

        async def consume(number: int) -> None:
            stream = manager.subscribe(trigger_id=number, trigger=triggers[number], key=key)
            async for event in triggers[number].filter_shared_stream(stream):
                events[number].append(event.payload["participant_id"])

        tasks = [asyncio.create_task(consume(number)) for number in range(20)]
        start = polls(learnifier_conn)
        while polls(learnifier_conn) - start < 2:
            await asyncio.sleep(0.005)
        await asyncio.to_thread(learnifier_conn.advance_progress, participant_id=first, activities=1)
        await asyncio.to_thread(learnifier_conn.advance_progress, participant_id=second, complete=True)
        while polls(learnifier_conn) - start < 6:
            await asyncio.sleep(0.005)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await manager.stop_all()
        return polls(learnifier_conn) - start

    polled = asyncio.run(drive())

    assert polled <= 7  # one poll per interval for all twenty, not twenty
    for number in range(20):
        expected = [str(second)] if number % 2 else [str(first), str(second)]
        assert sorted(events[number]) == sorted(expected), (number, AIRFLOW_VERSION)


@airflow3_only
def test_participants_the_server_sends_wrong_are_skipped_and_the_others_handed_over(
    learnifier_conn, monkeypatch
):
    (person,) = enroll(1)
    list_participants = learnifier_conn.state.list_participants
    hostile = [
        {"activitiesCompleted": 5, "activitiesTotal": 5},  # no id
        {"id": "../3999", "activitiesCompleted": 5, "activitiesTotal": 5},
        {"id": 3998, "activitiesCompleted": "five", "activitiesTotal": 5},
    ]

    def served(org_id, project_id):
        real = list_participants(org_id, project_id)
        return real + hostile if any(p["activitiesCompleted"] for p in real) else real

    monkeypatch.setattr(learnifier_conn.state, "list_participants", served)

    def complete_with_an_odd_user_id() -> None:
        learnifier_conn.advance_progress(participant_id=person, complete=True)
        now = datetime.now(timezone.utc).isoformat()  # added and completed between two polls
        hostile.append(
            {
                "id": 3997,
                "userId": {"nested": 1},
                "activitiesCompleted": 5,
                "activitiesTotal": 5,
                "lastAccess": now,
            }
        )

    events = run_for(learnifier_conn, make(), 5, {2: complete_with_an_odd_user_id})

    assert [(event["participant_id"], event["user_id"]) for event in events] == [
        (str(person), events[0]["user_id"]),
        ("3997", None),
    ]
    assert isinstance(events[0]["user_id"], str)


@airflow3_only
def test_an_org_unit_watch_covers_its_projects_new_ones_included(learnifier_conn, clock):
    from airflow_provider_learnifier.hooks.learnifier import LearnifierHook
    from learnifier_simulator import seed

    before, first = enroll(2)
    learnifier_conn.advance_progress(participant_id=before, complete=True)
    store = MemoryStateStore()
    trigger = make(org_id=ORG_ID, project_id=None)
    trigger.asset_state_store = store
    made: dict[str, str] = {}

    def open_a_course_run_and_complete_it() -> None:
        with LearnifierHook() as hook:
            project = hook.create_project(
                ORG_ID, name="Acme Onboarding Q3", design_id=seed.ONBOARDING_DESIGN_ID
            )
            made["project"] = project_id = str(project["id"])
            made["person"] = person = str(hook.add_participant(ORG_ID, project_id, email="q3@example.com"))
            hook.activate_participant(ORG_ID, project_id, person)
        learnifier_conn.advance_progress(project_id=project_id, complete=True)

    events = run_for(
        learnifier_conn,
        trigger,
        6,
        {2: complete(learnifier_conn, first), 3: open_a_course_run_and_complete_it},
    )

    assert [(event["project_id"], event["participant_id"]) for event in events] == [
        (str(PROJECT_ID), str(first)),
        (made["project"], made["person"]),
    ]
    assert events[1]["dedupe_key"] == f"learnifier-completion/{ORG_ID}/{made['project']}/{made['person']}"
    assert trigger.shared_stream_key() != make().shared_stream_key()
    stored = json.loads(store.values[f"learnifier_completions/{ORG_ID}"])
    assert stored["projects"][str(PROJECT_ID)] == [str(before)]  # the others less than RECORD_DELAY ago


# ---------------------------------------------------------------------- outages and 404s


@airflow3_only
def test_one_404_of_the_listing_does_not_end_the_watch(no_hook_retries, sleeps):
    sim = no_hook_retries
    first, second = enroll(2)

    def a_404_then_a_completion() -> None:
        sim.inject(status=404, times=1, method="GET", path=PARTICIPANTS_PATH)
        sim.advance_progress(participant_id=first, complete=True)

    events = run_for(sim, make(), 6, {2: a_404_then_a_completion, 4: complete(sim, second)})

    assert [event["participant_id"] for event in events] == [str(first), str(second)]
    assert answered(sim, PARTICIPANTS_PATH, 404) == 1
    assert answered(sim, f"/orgunits/{ORG_ID}/projects/{PROJECT_ID}", 200) >= 1  # asked after the 404


@airflow3_only
def test_an_outage_of_eight_minutes_at_the_default_interval_is_outlived(no_hook_retries, sleeps):
    sim = no_hook_retries
    (person,) = enroll(1)

    def outage_and_completion() -> None:
        sim.inject(status=503, times=8, method="GET", path=PARTICIPANTS_PATH)
        sim.advance_progress(participant_id=person, complete=True)

    events = run_for(sim, make(poll_interval=None), 11, {1: outage_and_completion})

    assert [event["participant_id"] for event in events] == [str(person)]
    assert answered(sim, PARTICIPANTS_PATH, 503) == 8
    assert set(sleeps) == {60.0}


@airflow3_only
def test_one_failure_more_than_the_budget_ends_the_watch(no_hook_retries, sleeps):
    from airflow_provider_learnifier.exceptions import LearnifierServerError

    sim = no_hook_retries
    sim.inject(status=500, times=100, method="GET", path=PARTICIPANTS_PATH)

    with pytest.raises(LearnifierServerError):
        run_for(sim, make(max_consecutive_failures=3), 100)

    assert answered(sim, PARTICIPANTS_PATH, 500) == 4


@airflow3_only
def test_a_project_deleted_while_watched_ends_the_watch_naming_it(learnifier_conn, sleeps):
    from airflow_provider_learnifier.exceptions import LearnifierNotFoundError

    sim = learnifier_conn
    project_id, listing, delete_it = short_lived_project()

    with pytest.raises(LearnifierNotFoundError) as ended:
        run_for(sim, make(project_id=project_id), 100, {2: delete_it}, path=listing)

    assert str(ended.value).startswith(
        f"Learnifier project {project_id} (organization unit {ORG_ID}) does not exist (any more): "
    )
    assert answered(sim, listing, 404) == 1
    assert answered(sim, f"/orgunits/{ORG_ID}/projects/{project_id}", 404) == 1


# ---------------------------------------------------------------------- who counts as new


def long_ago() -> datetime:
    return datetime.now(timezone.utc) - timedelta(days=30)


@airflow3_only
def test_a_short_first_listing_never_makes_long_completed_people_new(learnifier_conn, monkeypatch):
    sim = learnifier_conn
    veteran, newcomer, never_accessed, person = enroll(4)
    sim.advance_progress(participant_id=veteran, complete=True, at=long_ago())
    list_participants = sim.state.list_participants
    short = [True]

    def short_at_first(org_id, project_id):
        everyone = list_participants(org_id, project_id)
        # The listings miss all but one person until the server catches up; then the others show,
        # one completed long ago, one completed with no access at all (lastAccess null).
        if short[0]:
            return [p for p in everyone if str(p["id"]) == str(person)]
        return [p | ({"lastAccess": None} if str(p["id"]) == str(never_accessed) else {}) for p in everyone]

    monkeypatch.setattr(sim.state, "list_participants", short_at_first)

    def completions_during_the_watch() -> None:
        sim.advance_progress(participant_id=never_accessed, complete=True)
        sim.advance_progress(participant_id=newcomer, complete=True)  # first seen completed, just now
        sim.advance_progress(participant_id=person, complete=True)  # seen before, completed now
        short[0] = False

    events = run_for(sim, make(), 6, {2: completions_during_the_watch})

    assert sorted(event["participant_id"] for event in events) == sorted([str(newcomer), str(person)])


@airflow3_only
def test_a_project_that_answered_404_at_the_baseline_hands_over_only_new_completions(learnifier_conn):
    sim = learnifier_conn
    veteran, first, during = enroll(3)
    sim.advance_progress(participant_id=veteran, complete=True, at=long_ago())
    sim.inject(status=404, times=1, method="GET", path=PARTICIPANTS_PATH)  # the baseline poll

    events = run_for(
        sim,
        make(org_id=ORG_ID, project_id=None),
        6,
        {2: complete(sim, first), 3: complete(sim, during)},
    )

    assert sorted(event["participant_id"] for event in events) == sorted([str(first), str(during)])


@airflow3_only
@pytest.mark.parametrize(
    ("before_the_watch", "handed_over"),
    [(timedelta(minutes=2), True), (timedelta(minutes=10), False)],
    ids=["within-the-skew-tolerance", "beyond-it"],
)
def test_a_last_access_just_before_the_watch_began_is_within_the_clock_skew_tolerance(
    learnifier_conn, monkeypatch, before_the_watch, handed_over
):
    from airflow_provider_learnifier.triggers.events import CLOCK_SKEW_TOLERANCE

    assert timedelta(minutes=2).total_seconds() < CLOCK_SKEW_TOLERANCE < timedelta(minutes=10).total_seconds()
    sim = learnifier_conn
    (person,) = enroll(1)
    watch_began = datetime.now(timezone.utc)
    list_participants = sim.state.list_participants
    hidden = [True]

    def hidden_at_first(org_id, project_id):
        everyone = list_participants(org_id, project_id)
        return [] if hidden[0] else everyone

    monkeypatch.setattr(sim.state, "list_participants", hidden_at_first)

    def appears_completed() -> None:
        sim.advance_progress(participant_id=person, complete=True, at=watch_began - before_the_watch)
        hidden[0] = False

    events = run_for(sim, make(), 4, {1: appears_completed})

    assert [event["participant_id"] for event in events] == ([str(person)] if handed_over else [])


class FailingStateStore(MemoryStateStore):
    """A state store whose next writes raise the given errors, or answer ``False`` (not written)."""

    def __init__(self, *answers: BaseException | bool) -> None:
        super().__init__()
        self.answers = list(answers)
        self.writes = 0

    async def aset(self, key: str, value: Any) -> Any:
        self.writes += 1
        answer = self.answers.pop(0) if self.answers else None
        if isinstance(answer, BaseException):
            raise answer
        if answer is None:
            await super().aset(key, value)
        return answer


def _record_after_saves(store: MemoryStateStore, saves: int, clock: list[float]) -> Any:
    """Save a record of one hand-over ``saves`` times into ``store``; return the record."""
    from airflow_provider_learnifier.triggers.events import RECORD_DELAY, _HandOverRecord

    async def scenario() -> Any:
        record = _HandOverRecord(store)
        await record.load("key")
        assert record.projects is None  # nothing stored yet
        record.projects = {str(PROJECT_ID): set()}
        record.add(str(PROJECT_ID), "3001")
        clock[0] += RECORD_DELAY
        for _ in range(saves):
            await record.save("key")
        return record

    return asyncio.run(scenario())


def test_a_failed_or_refused_write_of_the_record_is_made_again_at_the_next_save(clock, caplog):
    store = FailingStateStore(RuntimeError("the database is away"), False)
    _record_after_saves(store, 4, clock)
    assert store.writes == 3  # failed, refused, written; the fourth save had nothing new
    assert json.loads(store.values["key"]) == {"projects": {str(PROJECT_ID): ["3001"]}}
    assert "The asset state store failed (RuntimeError: the database is away)" in caplog.text


def test_a_store_that_cannot_keep_one_record_leaves_it_in_memory(clock, caplog):
    store = FailingStateStore(ValueError("several assets share this trigger"))
    record = _record_after_saves(store, 2, clock)
    assert store.writes == 1  # not asked again
    assert "key" not in store.values
    assert "Keeping the hand-over record in memory only: several assets share" in caplog.text
    assert record.projects == {str(PROJECT_ID): {"3001"}}
