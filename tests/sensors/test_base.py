"""What both Learnifier sensors share: deferring, resuming from the trigger's event, timing out."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time

import pytest
from airflow.providers.common.compat.sdk import AirflowException, AirflowSensorTimeout, AirflowSkipException

from airflow_provider_learnifier.completion import ProjectCompletionCheck
from airflow_provider_learnifier.exceptions import LearnifierWaitError
from airflow_provider_learnifier.sensors.projects import LearnifierProjectCompletionSensor
from airflow_provider_learnifier.triggers.base import LearnifierCompletionTrigger
from tests.compat import ExecutorSafeguard, TaskDeferred
from tests.completion_helpers import ORG_ID, PROJECT_ID, enroll, polls


@pytest.fixture(autouse=True)
def _execute_outside_the_task_runner(monkeypatch):
    monkeypatch.setattr(ExecutorSafeguard, "test_mode", True)


def sensor(**kwargs) -> LearnifierProjectCompletionSensor:
    return LearnifierProjectCompletionSensor(
        **{"task_id": "wait", "org_id": ORG_ID, "project_id": PROJECT_ID, "poke_interval": 0.1} | kwargs
    )


def test_success_event_returns_the_progress_as_xcom():
    progress = {"completed": 2, "activated": 2, "done": True}

    result = sensor().execute_complete({}, {"status": "success", "message": "done", "progress": progress})

    assert result == progress


def test_timeout_event_fails_with_the_message_of_the_progress():
    event = {"status": "timeout", "message": "Timed out: 7 of 10 activated participant(s) completed (70%)"}

    with pytest.raises(AirflowSensorTimeout, match=r"7 of 10 activated participant\(s\) completed \(70%\)"):
        sensor().execute_complete({}, event | {"progress": {}})


ERROR_EVENT = {"status": "error", "message": "LearnifierAuthError: answered 401", "progress": None}


def test_error_event_fails_with_the_reason():
    with pytest.raises(LearnifierWaitError, match="LearnifierAuthError: answered 401") as failure:
        sensor().execute_complete({}, ERROR_EVENT)

    assert not isinstance(failure.value, AirflowException), "soft_fail would skip an AirflowException"


@pytest.mark.parametrize("event", [None, {}, "success"])
def test_an_event_without_status_fails(event):
    with pytest.raises(LearnifierWaitError, match="fired without a status"):
        sensor().execute_complete({}, event)


@pytest.mark.parametrize("event", [ERROR_EVENT, None])
def test_soft_fail_does_not_skip_an_error_event_on_resuming(event):
    """Airflow's resume_execution turns any AirflowException into a skip under soft_fail."""
    with pytest.raises(LearnifierWaitError):
        sensor(soft_fail=True).resume_execution("execute_complete", {"event": event}, {})


def test_soft_fail_skips_a_timeout_event_on_resuming():
    event = {"status": "timeout", "message": "Timed out", "progress": {}}

    with pytest.raises(AirflowSkipException):
        sensor(soft_fail=True).resume_execution("execute_complete", {"event": event}, {})


def test_never_fail_skips_an_error_event_as_in_poke_mode():
    with pytest.raises(AirflowSkipException):
        sensor(never_fail=True).resume_execution("execute_complete", {"event": ERROR_EVENT}, {})


def test_deferrable_defaults_to_the_airflow_option():
    assert sensor().deferrable is False  # the option's default, in this test session
    code = (
        "from airflow_provider_learnifier.sensors import participants, projects\n"
        "print(projects.LearnifierProjectCompletionSensor(task_id='a', org_id=1, project_id=2).deferrable)\n"
        "print(participants.LearnifierParticipantCompletedSensor(task_id='b', participation_external_id='x')"
        ".deferrable)\n"
    )
    env = {**os.environ, "AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE": "True"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)

    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[-2:] == ["True", "True"]


def test_poke_mode_timeout_fails_with_the_progress_reached(learnifier_conn):
    ids = enroll(2)
    learnifier_conn.advance_progress(participant_id=ids[0], complete=True)

    with pytest.raises(AirflowSensorTimeout) as failure:
        sensor(timeout=0.3).execute({})

    assert str(failure.value) == (
        f"Timed out after 0.3 s waiting for Learnifier project {PROJECT_ID} (organization unit {ORG_ID}): "
        "1 of 2 activated participant(s) completed (50%); needs all of them"
    )
    assert polls(learnifier_conn) >= 3


def test_poke_mode_returns_the_progress_when_done(learnifier_conn):
    enroll(2)
    learnifier_conn.advance_progress(complete=True)

    result = sensor(min_completed_share="0.5").execute({})

    assert result["done"] is True
    assert result["completed"] == 2
    assert json.loads(json.dumps(result)) == result


def test_deferrable_returns_at_once_when_already_done(learnifier_conn):
    enroll(1)
    learnifier_conn.advance_progress(complete=True)

    result = sensor(deferrable=True).execute({})

    assert result["done"] is True
    assert polls(learnifier_conn) == 1


def test_deferrable_defers_to_the_trigger_with_the_rendered_arguments(learnifier_conn):
    enroll(1)
    before = time.time()

    with pytest.raises(TaskDeferred) as deferred:
        sensor(
            deferrable=True, timeout=600, poke_interval=5, min_completed_share=0.5, min_share="0.8"
        ).execute({})

    trigger = deferred.value.trigger
    assert type(trigger) is LearnifierCompletionTrigger
    assert isinstance(trigger.check, ProjectCompletionCheck)
    assert deferred.value.method_name == "execute_complete"
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_provider_learnifier.triggers.base.LearnifierCompletionTrigger"
    assert before + 600 <= kwargs.pop("end_time") <= time.time() + 600
    assert kwargs == {
        "check": {
            "classpath": "airflow_provider_learnifier.completion.ProjectCompletionCheck",
            "kwargs": {
                "org_id": ORG_ID,
                "project_id": PROJECT_ID,
                "project_external_id": None,
                "min_completed_share": 0.5,
                "min_share": 0.8,
                "count_never_completing": True,
            },
        },
        "learnifier_conn_id": "learnifier_default",
        "poll_interval": 5.0,
        "max_consecutive_failures": 10,
    }


def test_a_rendered_poll_interval_replaces_poke_interval_for_the_trigger(learnifier_conn):
    enroll(1)

    with pytest.raises(TaskDeferred) as deferred:
        sensor(deferrable=True, timeout=600, poke_interval=5, poll_interval="0.5").execute({})

    assert deferred.value.trigger.serialize()[1]["poll_interval"] == 0.5


@pytest.mark.parametrize("blank", [None, "", "None"])
def test_a_blank_poll_interval_keeps_poke_interval(learnifier_conn, blank):
    enroll(1)

    with pytest.raises(TaskDeferred) as deferred:
        sensor(deferrable=True, timeout=600, poke_interval=5, poll_interval=blank).execute({})

    assert deferred.value.trigger.serialize()[1]["poll_interval"] == 5.0


@pytest.mark.parametrize("wrong", ["0", "-1", "soon", "inf", "nan", 0])
def test_a_poll_interval_that_is_no_positive_number_fails_before_any_request(learnifier_conn, wrong):
    with pytest.raises(ValueError, match="poll_interval must be a positive number of seconds"):
        sensor(deferrable=True, poll_interval=wrong).execute({})

    assert polls(learnifier_conn) == 0


def test_a_deferred_timeout_fails_with_the_progress_reached(learnifier_conn):
    """The whole deferrable path without the scheduler: defer, run the trigger, resume."""
    ids = enroll(2)
    learnifier_conn.advance_progress(participant_id=ids[0], complete=True)
    waiting = sensor(deferrable=True, timeout=0.3)
    with pytest.raises(TaskDeferred) as deferred:
        waiting.execute({})

    async def run_trigger():
        return (await anext(deferred.value.trigger.run())).payload

    event = asyncio.run(run_trigger())

    with pytest.raises(AirflowSensorTimeout, match=r"1 of 2 activated participant\(s\) completed \(50%\)"):
        waiting.execute_complete({}, event)


def test_an_unknown_project_fails_before_deferring(learnifier_conn):
    with pytest.raises(AirflowException, match="404"):
        sensor(project_id=2999, deferrable=True).execute({})
