"""LearnifierParticipantCompletedSensor run by Airflow (``dag.test()``) in each mode, against the simulator.

The DAGs are in ``tests/dags/sensors_participants.py``; their params name the participant.
"""

from __future__ import annotations

import json

import pytest

from airflow_provider_learnifier.hooks.learnifier import LearnifierHook
from airflow_provider_learnifier.sensors.participants import LearnifierParticipantCompletedSensor
from tests.completion_helpers import (
    ACTIVITIES,
    ORG_ID,
    PROJECT_ID,
    RESCHEDULE_BROKEN_ON_AIRFLOW_3_0,
    advance_after_polls,
    after_polls,
    assert_failed_with,
    enroll,
    polls,
    with_counts_as,
    with_participants_changed,
)


def xcom(dag_run) -> dict:
    value = dag_run.get_task_instance("wait").xcom_pull(task_ids="wait")
    assert json.loads(json.dumps(value)) == value
    return value


@pytest.mark.parametrize(
    "arguments",
    [
        {"participant_id": "3001"},
        {"participant_id": "3001", "project_id": PROJECT_ID},
        {"participation_external_id": "person-0", "org_id": ORG_ID},
        {"participation_external_id": "person-0", "min_share": 2},
        {"participation_external_id": "person-0", "on_never_completing": "skip"},
        {"participation_external_id": "person-0", "on_never_completing": True},
    ],
)
def test_wrong_arguments_are_refused_when_the_dag_is_parsed(arguments):
    with pytest.raises(ValueError):
        LearnifierParticipantCompletedSensor(task_id="wait", **arguments)


def test_templated_fields_cover_every_name_and_the_threshold():
    assert set(LearnifierParticipantCompletedSensor.template_fields) == {
        "learnifier_conn_id",
        "participant_id",
        "org_id",
        "project_id",
        "project_external_id",
        "participation_external_id",
        "min_share",
        "poll_interval",
    }


def test_deferrable_waits_in_the_trigger_until_the_participant_completes(learnifier_conn, run_dag, caplog):
    _, second = enroll(2)
    with advance_after_polls(learnifier_conn, 3, participant_id=second, complete=True):
        dag_run = run_dag("sensors_participant_deferrable", {"participant_id": second})

    assert dag_run.state == "success"
    assert polls(learnifier_conn) >= 4  # the sensor's first check, then the trigger's
    assert "[DAG TEST] running trigger in line" in caplog.text
    progress = xcom(dag_run)
    assert progress["participant_id"] == int(second)
    assert progress["activities_completed"] == progress["activities_total"] == ACTIVITIES
    assert progress["completed"] is True


@RESCHEDULE_BROKEN_ON_AIRFLOW_3_0
def test_reschedule_mode_by_participation_external_id_with_a_share(learnifier_conn, run_dag):
    enroll(2)
    with advance_after_polls(learnifier_conn, 2, path="/extparticipation", activities=2):
        dag_run = run_dag(
            "sensors_participant_reschedule_by_external_id",
            {"participation_external_id": "person-1", "min_share": 0.4},
        )

    assert dag_run.state == "success"
    progress = xcom(dag_run)
    assert progress["participation_external_id"] == "person-1"
    assert progress["activities_completed"] == 2
    assert progress["share"] == 0.4


def test_poke_mode_timeout_fails_with_the_progress_reached(learnifier_conn, run_dag, capfd):
    (participant,) = enroll(1)
    learnifier_conn.advance_progress(participant_id=participant, activities=4)

    dag_run = run_dag("sensors_participant_poke_timeout", {"participant_id": participant})

    output = capfd.readouterr()
    assert dag_run.state == "failed"
    assert (
        f"AirflowSensorTimeout: Timed out after 1 s waiting for Learnifier participant {participant} of "
        f"project {PROJECT_ID} (organization unit {ORG_ID}): 4 of 5 activities completed (80%); "
        "needs all of them"
    ) in output.out


def test_an_unknown_participant_fails_clearly(learnifier_conn, run_dag, capfd):
    enroll(1)

    dag_run = run_dag("sensors_participant_poke", {"participant_id": "3999"})

    output = capfd.readouterr()
    assert dag_run.state == "failed"
    assert f"project {PROJECT_ID} (organization unit {ORG_ID}) has no participant 3999" in output.out


def test_counts_sent_as_numeric_strings_are_read_as_numbers(learnifier_conn, run_dag, monkeypatch):
    """The spec's own UserParticipationInfo example sends "3" and "5"."""
    (participant,) = enroll(1)
    learnifier_conn.advance_progress(participant_id=participant, complete=True)
    with_counts_as(learnifier_conn, monkeypatch, str)

    dag_run = run_dag("sensors_participant_poke", {"participant_id": participant})

    assert dag_run.state == "success"
    progress = xcom(dag_run)
    assert progress["activities_completed"] == progress["activities_total"] == ACTIVITIES
    assert progress["completed"] is True


EVERY_MODE = [
    "sensors_participant_poke",
    pytest.param("sensors_participant_reschedule", marks=RESCHEDULE_BROKEN_ON_AIRFLOW_3_0),
    "sensors_participant_deferrable",
]


@pytest.mark.parametrize("dag_id", EVERY_MODE)
def test_a_count_that_is_not_a_number_fails_naming_the_participant(
    learnifier_conn, run_dag, monkeypatch, capfd, dag_id
):
    """One participant's data is the sensor's whole answer: it fails with a typed error, in every mode."""
    (participant,) = enroll(1)
    with_counts_as(learnifier_conn, monkeypatch, lambda count: "n/a")

    dag_run = run_dag(dag_id, {"participant_id": participant})

    assert_failed_with(
        dag_run,
        capfd,
        f"LearnifierParticipantDataError: Learnifier sent participant {participant} (project {PROJECT_ID}) "
        "with activitiesTotal 'n/a', which is not a number",
    )


@pytest.mark.parametrize("dag_id", EVERY_MODE)
def test_a_participation_in_error_fails_at_once_with_the_reason(learnifier_conn, run_dag, capfd, dag_id):
    """The user cannot access the course: waiting until the timeout (30 s here) would be pointless."""
    (participant,) = enroll(1)
    put_in_error = lambda: learnifier_conn.set_participant_error(participant, "License expired")  # noqa: E731

    with after_polls(learnifier_conn, 2, put_in_error):
        dag_run = run_dag(dag_id, {"participant_id": participant})

    assert_failed_with(
        dag_run,
        capfd,
        f"LearnifierNeverCompletesError: Learnifier participant {participant} of project {PROJECT_ID} "
        f"(organization unit {ORG_ID}) can never complete: the participation is in error: License "
        "expired (0 of 5 activities completed (0%); needs all of them)",
    )


def test_an_expired_participation_fails_at_once(learnifier_conn, run_dag, capfd, monkeypatch):
    (participant,) = enroll(1)
    with_participants_changed(
        learnifier_conn, monkeypatch, lambda part: {"expiration": "2020-01-01T00:00:00Z"}
    )

    dag_run = run_dag("sensors_participant_poke", {"participant_id": participant})

    assert_failed_with(
        dag_run, capfd, "can never complete: the participation expired at 2020-01-01T00:00:00+00:00"
    )


def test_a_participant_id_rendered_as_none_is_refused_naming_it(learnifier_conn, run_dag, capfd):
    learnifier_conn.clear_exchanges()

    dag_run = run_dag("sensors_participant_poke", {"participant_id": None})

    assert_failed_with(dag_run, capfd, "rendered blank, so not given: participant_id ('None')")
    assert [x.path for x in learnifier_conn.exchanges] == []


def test_an_unfinished_share_is_never_printed_as_100_percent(learnifier_conn, run_dag, capfd, monkeypatch):
    (participant,) = enroll(1)
    with_participants_changed(
        learnifier_conn, monkeypatch, lambda part: {"activitiesCompleted": 999, "activitiesTotal": 1000}
    )

    dag_run = run_dag("sensors_participant_poke_timeout", {"participant_id": participant})

    assert_failed_with(dag_run, capfd, "999 of 1000 activities completed (99%); needs all of them")


@pytest.mark.parametrize(
    "dag_id",
    [
        "sensors_participant_poke_never_completing_succeeds",
        pytest.param(
            "sensors_participant_reschedule_never_completing_succeeds", marks=RESCHEDULE_BROKEN_ON_AIRFLOW_3_0
        ),
        "sensors_participant_deferrable_never_completing_succeeds",
    ],
)
def test_a_participation_in_error_ends_the_wait_as_done_when_asked(learnifier_conn, run_dag, capfd, dag_id):
    (participant,) = enroll(1)
    put_in_error = lambda: learnifier_conn.set_participant_error(participant, "License expired")  # noqa: E731

    with after_polls(learnifier_conn, 2, put_in_error):
        dag_run = run_dag(dag_id, {"participant_id": participant})

    output = capfd.readouterr()
    assert dag_run.state == "success"
    progress = xcom(dag_run)
    assert (progress["completed"], progress["in_error"], progress["never_completing"]) == (False, True, True)
    assert progress["never_completing_reason"] == "the participation is in error: License expired"
    assert (progress["activities_completed"], progress["activities_total"]) == (0, ACTIVITIES)
    assert (
        f"Learnifier participant {participant} of project {PROJECT_ID} (organization unit {ORG_ID}) can "
        "never complete: the participation is in error: License expired"
    ) in output.out + output.err
    assert "the wait ends as done, as on_never_completing='succeed' asks" in output.out + output.err


def test_an_expired_participation_ends_the_wait_as_done_when_asked(learnifier_conn, run_dag, monkeypatch):
    (participant,) = enroll(1)
    with_participants_changed(
        learnifier_conn, monkeypatch, lambda part: {"expiration": "2020-01-01T00:00:00Z"}
    )

    dag_run = run_dag("sensors_participant_poke_never_completing_succeeds", {"participant_id": participant})

    assert dag_run.state == "success"
    assert (
        xcom(dag_run)["never_completing_reason"] == "the participation expired at 2020-01-01T00:00:00+00:00"
    )


def test_a_removed_participation_ends_the_wait_as_done_when_asked(learnifier_conn, run_dag):
    """Named by external id: GET /extparticipation answers 404 once the participant is removed."""
    (participant,) = enroll(1)

    def remove() -> None:
        with LearnifierHook() as hook:
            hook.delete_participant(ORG_ID, PROJECT_ID, participant)

    with after_polls(learnifier_conn, 2, remove, path="/extparticipation"):
        dag_run = run_dag(
            "sensors_participant_deferrable_by_external_id_never_completing_succeeds",
            {"participation_external_id": "person-0"},
        )

    assert dag_run.state == "success"
    progress = xcom(dag_run)
    assert (progress["completed"], progress["never_completing"]) == (False, True)
    assert progress["never_completing_reason"] == (
        "Learnifier knows no participation with this external id (it was removed)"
    )


def test_a_completed_participant_is_done_whatever_on_never_completing_says(learnifier_conn, run_dag):
    """A participation in error after completing all activities has completed: the wait succeeds."""
    (participant,) = enroll(1)
    learnifier_conn.advance_progress(participant_id=participant, complete=True)
    learnifier_conn.set_participant_error(participant, "License expired")

    dag_run = run_dag(
        "sensors_participant_deferrable_never_completing_succeeds", {"participant_id": participant}
    )

    assert dag_run.state == "success"
    assert (xcom(dag_run)["completed"], xcom(dag_run)["never_completing"]) == (True, False)
