"""LearnifierParticipantCompletedTrigger and its check, against the simulator."""

from __future__ import annotations

import time
from typing import Any

import pytest

from airflow_provider_learnifier.completion import ParticipantCompletionCheck
from airflow_provider_learnifier.hooks.learnifier import LearnifierHook
from airflow_provider_learnifier.triggers.base import LearnifierCompletionTrigger
from airflow_provider_learnifier.triggers.participants import LearnifierParticipantCompletedTrigger
from tests.compat import deserialize, import_string, serialize
from tests.completion_helpers import (
    ACTIVITIES,
    ORG_ID,
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

CLASSPATH = "airflow_provider_learnifier.triggers.participants.LearnifierParticipantCompletedTrigger"


def trigger(within: float = 5.0, **kwargs: Any) -> LearnifierParticipantCompletedTrigger:
    return LearnifierParticipantCompletedTrigger(
        **{"poll_interval": 0.05, "end_time": time.time() + within} | kwargs
    )


#: The keyword arguments the participant trigger was serialized with before the generic trigger:
#: a wait deferred then is rebuilt from them, as its row in the metadata database holds them.
EARLIER_KWARGS = {
    "learnifier_conn_id": "learnifier_other",
    "participant_id": "3001",
    "org_id": ORG_ID,
    "project_id": PROJECT_ID,
    "project_external_id": None,
    "participation_external_id": None,
    "min_share": 0.6,
    "on_never_completing": "succeed",
    "poll_interval": 7.0,
    "end_time": 1_900_000_000.5,
}


def test_serialize_round_trips_through_airflow_serde():
    # Built with the arguments that the earlier version serialized: the same wait, now as a check.
    original = LearnifierParticipantCompletedTrigger(**EARLIER_KWARGS)
    assert_serde_round_trip(
        original,
        CLASSPATH,
        {
            "check": {
                "classpath": "airflow_provider_learnifier.completion.ParticipantCompletionCheck",
                "kwargs": {
                    "participant_id": "3001",
                    "org_id": ORG_ID,
                    "project_id": PROJECT_ID,
                    "project_external_id": None,
                    "participation_external_id": None,
                    "min_share": 0.6,
                    "on_never_completing": "succeed",
                },
            },
            "learnifier_conn_id": "learnifier_other",
            "poll_interval": 7.0,
            "end_time": 1_900_000_000.5,
            "max_consecutive_failures": 10,  # the default: earlier versions had none
        },
    )


def test_a_trigger_serialized_by_the_earlier_version_is_rebuilt_with_the_same_check():
    assert_rebuilt_from_earlier_kwargs(CLASSPATH, EARLIER_KWARGS, ParticipantCompletionCheck)


@pytest.mark.parametrize("outcome", ["completed", "gone", "timeout"])
def test_a_trigger_serialized_by_the_earlier_version_resumes_with_the_same_events(learnifier_conn, outcome):
    """Rebuilt from the earlier kwargs and run, it fires what the sensor's generic trigger fires."""
    (participant,) = enroll(1)
    if outcome == "completed":
        learnifier_conn.advance_progress(participant_id=participant, complete=True)
    names = {
        "participant_id": participant if outcome != "gone" else "9999",
        "org_id": ORG_ID,
        "project_id": PROJECT_ID,
    }
    timing = {"poll_interval": 0.05, "end_time": time.time() + (0.2 if outcome == "timeout" else 5)}
    earlier_kwargs = EARLIER_KWARGS | names | timing | {"learnifier_conn_id": "learnifier_default"}
    earlier = import_string(CLASSPATH)(**deserialize(serialize(earlier_kwargs)))
    generic = LearnifierCompletionTrigger(
        check=ParticipantCompletionCheck(**names, min_share=0.6, on_never_completing="succeed"), **timing
    )

    events = [first_event(each) for each in (earlier, generic)]

    assert events[0] == events[1]
    assert events[0]["status"] == {"completed": "success", "gone": "success", "timeout": "timeout"}[outcome]
    assert events[0]["progress"]["never_completing"] is (outcome == "gone")


@pytest.mark.parametrize(
    "names",
    [
        {},
        {"participant_id": "3001"},
        {"participant_id": "3001", "org_id": ORG_ID},
        {"participant_id": "3001", "org_id": ORG_ID, "project_external_id": PROJECT_EXTERNAL_ID},
        {"org_id": ORG_ID, "project_id": PROJECT_ID},
        {"participation_external_id": "person-0", "participant_id": "3001"},
        {"participation_external_id": "person-0", "project_external_id": PROJECT_EXTERNAL_ID},
    ],
)
def test_the_participant_must_be_named_exactly_one_way(names):
    with pytest.raises(ValueError, match="name the participant either by participation_external_id"):
        trigger(**names)


def test_waits_for_a_participant_by_id_until_all_activities_are_completed(learnifier_conn):
    first, second = enroll(2)
    learnifier_conn.advance_progress(participant_id=second, complete=True)  # someone else: does not count
    with advance_after_polls(learnifier_conn, 2, participant_id=first, complete=True):
        payload = first_event(trigger(participant_id=first, org_id=ORG_ID, project_id=PROJECT_ID))

    assert payload["status"] == "success"
    assert f"participant {first} of project {PROJECT_ID}" in payload["message"]
    assert payload["progress"] | {"user_id": None} == {
        "participant_id": int(first),
        "project_id": PROJECT_ID,
        "org_id": ORG_ID,
        "project_external_id": None,
        "participation_external_id": None,
        "user_id": None,
        "activated": True,
        "in_error": False,
        "activities_completed": ACTIVITIES,
        "activities_total": ACTIVITIES,
        "share": 1.0,
        "min_share": 1.0,
        "completed": True,
        "never_completing": False,
        "never_completing_reason": None,
    }
    assert polls(learnifier_conn) >= 3


def test_min_share_counts_a_participant_completed_before_the_last_activity(learnifier_conn):
    (participant,) = enroll(1)
    learnifier_conn.advance_progress(participant_id=participant, activities=2)  # 2 of 5: 40%

    stalled = first_event(
        trigger(
            within=0.2, participant_id=participant, project_external_id=PROJECT_EXTERNAL_ID, min_share=0.6
        )
    )
    learnifier_conn.advance_progress(participant_id=participant, activities=1)  # 3 of 5: 60%
    reached = first_event(
        trigger(participant_id=participant, project_external_id=PROJECT_EXTERNAL_ID, min_share=0.6)
    )

    assert stalled["status"] == "timeout"
    assert "2 of 5 activities completed (40%); needs 60%" in stalled["message"]
    assert reached["status"] == "success"
    assert reached["progress"]["share"] == 0.6
    assert reached["progress"]["completed"] is True
    assert reached["progress"]["org_id"] == ORG_ID  # resolved from the project's external id


def test_waits_for_a_participation_by_external_id(learnifier_conn):
    enroll(2)
    with advance_after_polls(learnifier_conn, 2, path="/extparticipation", complete=True):
        payload = first_event(trigger(participation_external_id="person-1"))

    assert payload["status"] == "success"
    assert payload["progress"]["participation_external_id"] == "person-1"
    assert payload["progress"]["activities_completed"] == ACTIVITIES


def test_timeout_gives_the_progress_reached(learnifier_conn):
    (participant,) = enroll(1)
    learnifier_conn.advance_progress(participant_id=participant, activities=3)

    payload = first_event(
        trigger(within=0.3, participant_id=participant, org_id=ORG_ID, project_id=PROJECT_ID)
    )

    assert payload["status"] == "timeout"
    assert payload["message"].startswith("Timed out at ")
    assert f"participant {participant} of project {PROJECT_ID}" in payload["message"]
    assert "3 of 5 activities completed (60%); needs all of them" in payload["message"]
    assert payload["progress"]["activities_completed"] == 3


def test_a_participant_who_is_not_activated_never_completes(learnifier_conn):
    (participant,) = enroll(1, activated=False)
    learnifier_conn.advance_progress(participant_id=participant, complete=True)  # ignored: not activated

    payload = first_event(
        trigger(within=0.2, participant_id=participant, org_id=ORG_ID, project_id=PROJECT_ID)
    )

    assert payload["status"] == "timeout"
    assert payload["progress"]["activated"] is False


def test_an_unknown_participant_fires_error(learnifier_conn):
    enroll(1)

    payload = first_event(trigger(participant_id="3999", org_id=ORG_ID, project_id=PROJECT_ID))

    assert payload["status"] == "error"
    assert f"project {PROJECT_ID} (organization unit {ORG_ID}) has no participant 3999" in payload["message"]


def test_an_unknown_participation_external_id_fires_error(learnifier_conn):
    payload = first_event(trigger(participation_external_id="nobody"))

    assert payload["status"] == "error"
    assert "LearnifierNotFoundError" in payload["message"]
    assert "404" in payload["message"]


def test_on_never_completing_is_checked_when_the_trigger_is_made():
    with pytest.raises(ValueError, match="on_never_completing must be 'fail' or 'succeed', not 'skip'"):
        trigger(participation_external_id="person-0", on_never_completing="skip")


def test_a_participant_removed_while_waited_for_fires_success_when_asked(learnifier_conn, capfd):
    """Removed: no longer in the project's list. The trigger fires once, done, with the reason."""
    (participant,) = enroll(1)

    def remove() -> None:
        with LearnifierHook() as hook:
            hook.delete_participant(ORG_ID, PROJECT_ID, participant)

    with after_polls(learnifier_conn, 2, remove):
        payload = first_event(
            trigger(
                participant_id=participant,
                org_id=ORG_ID,
                project_id=PROJECT_ID,
                on_never_completing="succeed",
            )
        )

    assert payload["status"] == "success"
    progress = payload["progress"]
    assert (progress["completed"], progress["never_completing"]) == (False, True)
    assert progress["never_completing_reason"] == "the participant is no longer in the project (removed)"
    assert progress["activities_completed"] is None
    output = capfd.readouterr()
    assert (
        f"Learnifier participant {participant} of project {PROJECT_ID} (organization unit {ORG_ID}) can "
        "never complete: the participant is no longer in the project (removed); the wait ends as done, as "
        "on_never_completing='succeed' asks"
    ) in output.out + output.err


def test_an_unknown_participation_external_id_is_gone_when_asked(learnifier_conn):
    payload = first_event(trigger(participation_external_id="nobody", on_never_completing="succeed"))

    assert payload["status"] == "success"
    assert payload["progress"]["never_completing_reason"] == (
        "Learnifier knows no participation with this external id (it was removed)"
    )


def test_an_unknown_project_still_fires_error_when_gone_participants_succeed(learnifier_conn):
    payload = first_event(
        trigger(participant_id="3001", project_external_id="no-such-course", on_never_completing="succeed")
    )

    assert payload["status"] == "error"
    assert "GET /extproject answered 404" in payload["message"]
