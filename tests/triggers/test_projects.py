"""LearnifierProjectCompletionTrigger and its check, against the simulator."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from airflow_provider_learnifier.completion import ProjectCompletionCheck
from airflow_provider_learnifier.triggers.base import LearnifierCompletionTrigger
from airflow_provider_learnifier.triggers.projects import LearnifierProjectCompletionTrigger
from tests.compat import deserialize, import_string, serialize
from tests.completion_helpers import (
    ORG_ID,
    PARTICIPANTS_PATH,
    PROJECT_EXTERNAL_ID,
    PROJECT_ID,
    advance_after_polls,
    after_polls,
    assert_rebuilt_from_earlier_kwargs,
    assert_serde_round_trip,
    enroll,
    first_event,
    polls,
)

CLASSPATH = "airflow_provider_learnifier.triggers.projects.LearnifierProjectCompletionTrigger"


def trigger(within: float = 5.0, **kwargs: Any) -> LearnifierProjectCompletionTrigger:
    names = {} if "project_external_id" in kwargs else {"org_id": ORG_ID, "project_id": PROJECT_ID}
    return LearnifierProjectCompletionTrigger(
        **names | {"poll_interval": 0.05, "end_time": time.time() + within} | kwargs
    )


#: The keyword arguments the project trigger was serialized with before the generic trigger: a
#: wait deferred then is rebuilt from them, as its row in the metadata database holds them.
EARLIER_KWARGS = {
    "learnifier_conn_id": "learnifier_default",
    "org_id": None,
    "project_id": None,
    "project_external_id": PROJECT_EXTERNAL_ID,
    "min_completed_share": 0.8,
    "min_share": 0.5,
    "count_never_completing": True,
    "poll_interval": 30.0,
    "end_time": 1_900_000_000.0,
}


def test_serialize_round_trips_through_airflow_serde():
    # Built with the arguments that the earlier version serialized: the same wait, now as a check.
    original = LearnifierProjectCompletionTrigger(**EARLIER_KWARGS)
    assert_serde_round_trip(
        original,
        CLASSPATH,
        {
            "check": {
                "classpath": "airflow_provider_learnifier.completion.ProjectCompletionCheck",
                "kwargs": {
                    "org_id": None,
                    "project_id": None,
                    "project_external_id": PROJECT_EXTERNAL_ID,
                    "min_completed_share": 0.8,
                    "min_share": 0.5,
                    "count_never_completing": True,
                },
            },
            "learnifier_conn_id": "learnifier_default",
            "poll_interval": 30.0,
            "end_time": 1_900_000_000.0,
            "max_consecutive_failures": 10,  # the default: earlier versions had none
        },
    )


def test_a_trigger_serialized_by_the_earlier_version_is_rebuilt_with_the_same_check():
    assert_rebuilt_from_earlier_kwargs(CLASSPATH, EARLIER_KWARGS, ProjectCompletionCheck)


def test_a_trigger_serialized_by_the_earlier_version_resumes_with_the_same_events(learnifier_conn):
    """Rebuilt from the earlier kwargs and run, it fires what the sensor's generic trigger fires."""
    first, second = enroll(2)
    learnifier_conn.advance_progress(participant_id=first, complete=True)
    learnifier_conn.advance_progress(participant_id=second, activities=3)  # 3 of 5: 60%, enough at 0.5
    timing = {"poll_interval": 0.05, "end_time": time.time() + 5}
    earlier = import_string(CLASSPATH)(**deserialize(serialize(EARLIER_KWARGS | timing)))
    generic = LearnifierCompletionTrigger(
        check=ProjectCompletionCheck(
            project_external_id=PROJECT_EXTERNAL_ID, min_completed_share=0.8, min_share=0.5
        ),
        **timing,
    )

    events = [asyncio.run(first_payload(each)) for each in (earlier, generic)]

    assert events[0] == events[1]
    assert events[0]["status"] == "success"
    assert events[0]["progress"]["completed"] == 2
    assert events[0]["progress"]["done"] is True


async def first_payload(trigger: Any) -> dict[str, Any]:
    return (await anext(trigger.run())).payload


@pytest.mark.parametrize(
    "names",
    [
        {"org_id": None, "project_id": None},
        {"org_id": ORG_ID, "project_id": None},
        {"org_id": ORG_ID, "project_id": PROJECT_ID, "project_external_id": PROJECT_EXTERNAL_ID},
    ],
)
def test_the_project_must_be_named_exactly_one_way(names):
    with pytest.raises(ValueError, match="name the project either by org_id and project_id"):
        LearnifierProjectCompletionTrigger(**names, end_time=0)


@pytest.mark.parametrize("thresholds", [{"min_completed_share": 0}, {"min_share": 1.5}])
def test_thresholds_are_fractions(thresholds):
    with pytest.raises(ValueError, match="must be a fraction"):
        trigger(**thresholds)


def test_waits_until_every_activated_participant_completed(learnifier_conn):
    first, second, _ = enroll(3)
    enroll(1, activated=False, prefix="pending")  # not activated: not waited for
    learnifier_conn.advance_progress(participant_id=first, complete=True)
    with (
        advance_after_polls(learnifier_conn, 2, participant_id=second, complete=True),
        advance_after_polls(learnifier_conn, 4, project_id=PROJECT_ID, complete=True),
    ):
        payload = first_event(trigger())

    assert payload["status"] == "success"
    assert payload["message"].endswith("3 of 3 activated participant(s) completed (100%); needs all of them")
    assert payload["progress"] == {
        "org_id": ORG_ID,
        "project_id": PROJECT_ID,
        "project_external_id": None,
        "participants": 4,
        "activated": 3,
        "completed": 3,
        "never_completing": 0,
        "unreadable": 0,
        "share": 1.0,
        "min_completed_share": 1.0,
        "min_share": 1.0,
        "count_never_completing": True,
        "done": True,
    }
    assert polls(learnifier_conn) >= 5


@pytest.mark.parametrize(
    "min_completed_share, completed, done",
    [(0.5, 1, False), (0.5, 2, True), (0.75, 2, False), (0.75, 3, True), (1.0, 3, False), (0.25, 1, True)],
)
def test_min_completed_share_is_the_share_of_activated_participants(
    learnifier_conn, min_completed_share, completed, done
):
    ids = enroll(4)
    for participant in ids[:completed]:
        learnifier_conn.advance_progress(participant_id=participant, complete=True)

    payload = first_event(trigger(within=0, min_completed_share=min_completed_share))

    assert payload["status"] == ("success" if done else "timeout")
    assert payload["progress"]["completed"] == completed
    assert payload["progress"]["share"] == completed / 4
    assert payload["progress"]["done"] is done


def test_min_share_counts_participants_part_way_through(learnifier_conn):
    ids = enroll(2)
    learnifier_conn.advance_progress(participant_id=ids[0], activities=3)  # 60%
    learnifier_conn.advance_progress(participant_id=ids[1], activities=2)  # 40%

    both = first_event(trigger(within=0, min_share=0.4))
    one = first_event(trigger(within=0, min_share=0.6))

    assert both["status"] == "success"
    assert one["status"] == "timeout"
    assert (
        "1 of 2 activated participant(s) completed (50%); needs all of them, each with 60% of the activities"
        in one["message"]
    )


def test_a_project_without_activated_participants_is_not_complete(learnifier_conn):
    enroll(2, activated=False)

    payload = first_event(trigger(within=0.2, min_completed_share=0.01, min_share=0.01))

    assert payload["status"] == "timeout"
    assert "0 of 0 activated participant(s) completed (0%)" in payload["message"]
    assert "(no activated participants yet)" in payload["message"]
    assert payload["progress"]["participants"] == 2
    assert payload["progress"]["done"] is False


def test_a_project_named_by_external_id_is_resolved_once(learnifier_conn):
    enroll(1)

    payload = first_event(trigger(within=0.3, project_external_id=PROJECT_EXTERNAL_ID))

    lookups = [e for e in learnifier_conn.exchanges if e.path == "/extproject"]
    assert payload["status"] == "timeout"
    assert payload["message"].startswith("Timed out at ")
    assert f"waiting for Learnifier project {PROJECT_EXTERNAL_ID!r}: 0 of 1 activated" in payload["message"]
    assert payload["progress"]["org_id"] == ORG_ID
    assert payload["progress"]["project_id"] == PROJECT_ID
    assert len(lookups) == 1
    assert polls(learnifier_conn) >= 3


def test_an_unknown_project_fires_error(learnifier_conn):
    payload = first_event(trigger(org_id=ORG_ID, project_id=2999))

    assert payload["status"] == "error"
    assert payload["message"].startswith(
        f"Waiting for Learnifier project 2999 (organization unit {ORG_ID}) failed: "
    )
    assert "LearnifierNotFoundError" in payload["message"]
    assert "404" in payload["message"]


def test_an_unknown_project_external_id_fires_error(learnifier_conn):
    payload = first_event(trigger(project_external_id="no-such-course"))

    assert payload["status"] == "error"
    assert "project 'no-such-course'" in payload["message"]
    assert "404" in payload["message"]


def test_a_server_error_fires_error_with_the_last_progress_seen(learnifier_conn, monkeypatch):
    no_retries = learnifier_conn.connection_json(extra={"max_retries": 0})
    monkeypatch.setenv("AIRFLOW_CONN_LEARNIFIER_DEFAULT", no_retries)
    enroll(2)
    learnifier_conn.advance_progress(activities=2)

    def break_the_server() -> None:
        learnifier_conn.inject(status=500, times=100, method="GET", path=PARTICIPANTS_PATH)

    with after_polls(learnifier_conn, 2, break_the_server):
        payload = first_event(trigger(poll_interval=0.1))

    assert payload["status"] == "error"
    assert "LearnifierServerError" in payload["message"]
    assert "500" in payload["message"]
    assert payload["progress"]["activated"] == 2  # the progress of the last successful poll
    assert payload["progress"]["completed"] == 0


def test_participants_with_unreadable_counts_are_named_up_to_a_limit(learnifier_conn, monkeypatch, capfd):
    from airflow_provider_learnifier.completion import MAX_NAMED_UNREADABLE
    from tests.completion_helpers import with_counts_as

    ids = enroll(MAX_NAMED_UNREADABLE + 2)
    with_counts_as(learnifier_conn, monkeypatch, lambda count: {"n": count})

    payload = first_event(trigger(within=0.1))

    logged = capfd.readouterr().out
    assert payload["status"] == "timeout"
    assert (payload["progress"]["unreadable"], payload["progress"]["completed"]) == (len(ids), 0)
    named = [pid for pid in ids if f"Learnifier sent participant {pid} (project {PROJECT_ID})" in logged]
    assert named == ids[:MAX_NAMED_UNREADABLE]
    assert (
        f"... and 2 more participant(s) of Learnifier project {PROJECT_ID} (organization unit {ORG_ID}) "
        "with activity counts that are no numbers"
    ) in logged
