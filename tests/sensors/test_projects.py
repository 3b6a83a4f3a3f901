"""LearnifierProjectCompletionSensor run by Airflow (``dag.test()``) in each mode, against the simulator.

The DAGs are in ``tests/dags/sensors_projects.py``; their params name the project and thresholds.
"""

from __future__ import annotations

import json

import pytest
from airflow.providers.common.compat.sdk import AirflowSensorTimeout

from airflow_provider_learnifier.sensors.projects import LearnifierProjectCompletionSensor
from airflow_provider_learnifier.version_compat import AIRFLOW_V_3_0_PLUS
from tests.completion_helpers import (
    ORG_ID,
    PARTICIPANTS_PATH,
    PROJECT_EXTERNAL_ID,
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


def reschedules(task_instance) -> int:
    from airflow.models.taskreschedule import TaskReschedule
    from airflow.utils.session import create_session
    from sqlalchemy import and_, func, select

    if hasattr(TaskReschedule, "ti_id"):
        condition = TaskReschedule.ti_id == task_instance.id
    else:  # Airflow 2 keys reschedules by the task instance's dag, task and run ids
        condition = and_(
            TaskReschedule.dag_id == task_instance.dag_id,
            TaskReschedule.task_id == task_instance.task_id,
            TaskReschedule.run_id == task_instance.run_id,
        )
    with create_session() as session:
        return session.scalar(select(func.count()).where(condition))


def xcom(dag_run) -> dict:
    value = dag_run.get_task_instance("wait").xcom_pull(task_ids="wait")
    assert json.loads(json.dumps(value)) == value
    return value


@pytest.mark.parametrize(
    "arguments",
    [
        {"project_id": PROJECT_ID},
        {"org_id": ORG_ID, "project_external_id": PROJECT_EXTERNAL_ID},
        {"org_id": ORG_ID, "project_id": PROJECT_ID, "min_completed_share": 1.5},
        {"project_external_id": PROJECT_EXTERNAL_ID, "min_share": 0},
    ],
)
def test_wrong_arguments_are_refused_when_the_dag_is_parsed(arguments):
    with pytest.raises(ValueError):
        LearnifierProjectCompletionSensor(task_id="wait", **arguments)


def test_deferrable_waits_in_the_trigger_until_the_project_completes(learnifier_conn, run_dag, caplog):
    ids = enroll(3)
    learnifier_conn.advance_progress(participant_id=ids[0], complete=True)
    with advance_after_polls(learnifier_conn, 3, project_id=PROJECT_ID, complete=True):
        dag_run = run_dag("sensors_project_deferrable", {"min_completed_share": 1.0})

    assert dag_run.state == "success"
    assert polls(learnifier_conn) >= 4  # the sensor's first check, then the trigger's
    assert "[DAG TEST] running trigger in line" in caplog.text
    assert xcom(dag_run) == {
        "org_id": str(ORG_ID),  # rendered from a template
        "project_id": str(PROJECT_ID),
        "project_external_id": None,
        "participants": 3,
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


@RESCHEDULE_BROKEN_ON_AIRFLOW_3_0
def test_reschedule_mode_frees_the_worker_between_checks(learnifier_conn, run_dag):
    enroll(2)
    with advance_after_polls(learnifier_conn, 2, project_id=PROJECT_ID, activities=3):
        dag_run = run_dag(
            "sensors_project_reschedule_by_external_id", {"min_share": 0.6, "min_completed_share": 0.5}
        )

    task_instance = dag_run.get_task_instance("wait")
    assert dag_run.state == "success"
    assert reschedules(task_instance) >= 2
    assert xcom(dag_run)["completed"] == 2
    assert xcom(dag_run)["project_id"] == PROJECT_ID  # resolved from the external id


def test_poke_mode_with_a_fraction_of_participants(learnifier_conn, run_dag):
    ids = enroll(4)
    with advance_after_polls(learnifier_conn, 2, participant_id=ids[2], complete=True):
        learnifier_conn.advance_progress(participant_id=ids[0], complete=True)
        dag_run = run_dag("sensors_project_poke", {"min_completed_share": 0.5})

    assert dag_run.state == "success"
    assert xcom(dag_run)["completed"] == 2
    assert xcom(dag_run)["share"] == 0.5


@pytest.mark.parametrize(
    "dag_id",
    [
        "sensors_project_deferrable_timeout",
        pytest.param("sensors_project_reschedule_timeout", marks=RESCHEDULE_BROKEN_ON_AIRFLOW_3_0),
    ],
)
def test_timeout_fails_the_task_with_the_progress_reached(learnifier_conn, run_dag, capfd, dag_id):
    ids = enroll(3)
    learnifier_conn.advance_progress(participant_id=ids[0], complete=True)
    learnifier_conn.advance_progress(participant_id=ids[1], complete=True)

    dag_run = run_dag(dag_id)

    output = capfd.readouterr()
    assert dag_run.state == "failed"
    assert dag_run.get_task_instance("wait").state == "failed"
    assert "AirflowSensorTimeout: Timed out" in output.out + output.err
    assert (
        f"waiting for Learnifier project {PROJECT_ID} (organization unit {ORG_ID}): "
        "2 of 3 activated participant(s) completed (67%); needs all of them"
    ) in output.out + output.err


@pytest.mark.parametrize("dag_id", ["sensors_project_poke_soft_fail", "sensors_project_deferrable_soft_fail"])
def test_soft_fail_still_fails_on_a_learnifier_error(learnifier_conn, run_dag, capfd, dag_id):
    """A 401 after the first check ends FAILED in both modes: soft_fail is for timeouts only."""
    enroll(1)
    unauthorized = lambda: learnifier_conn.inject(401, times=1000, method="GET", path=PARTICIPANTS_PATH)  # noqa: E731

    with after_polls(learnifier_conn, 1, unauthorized):
        dag_run = run_dag(dag_id)

    output = capfd.readouterr()
    assert dag_run.get_task_instance("wait").state == "failed"
    assert dag_run.state == "failed"
    assert "LearnifierAuthError" in output.out + output.err


def test_soft_fail_skips_on_a_deferred_timeout(learnifier_conn, run_dag):
    enroll(1)

    dag_run = run_dag("sensors_project_deferrable_soft_fail_timeout")

    assert dag_run.get_task_instance("wait").state == "skipped"


def mark_running_as_a_worker_does(monkeypatch) -> None:
    """Airflow 2's ``dag.test()`` runs a task without marking it running, as a worker does first;
    so a failed try is not recorded in the task instance history, where the retry finds the first
    try's start. Take that step of the worker here."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils import timezone
    from airflow.utils.state import TaskInstanceState

    run_raw_task = TaskInstance._run_raw_task

    def marked_running(ti, *args, session, **kwargs):
        if not ti.next_method:  # a new try starts now; a resumed one keeps its start
            ti.start_date = timezone.utcnow()
        ti.set_state(TaskInstanceState.RUNNING, session=session)
        return run_raw_task(ti, *args, session=session, **kwargs)

    monkeypatch.setattr(TaskInstance, "_run_raw_task", marked_running)


@pytest.mark.not_on_airflow(
    "3.0",
    "the Task SDK of Airflow 3.0 gives a task no store that outlives a retry (Airflow 2 keeps the "
    "first try's start in the task instance history, Airflow 3.3 in the task state store)",
)
def test_a_retry_after_an_error_event_keeps_the_first_tries_deadline(learnifier_conn, run_dag, monkeypatch):
    """Each try checks once, defers, and its trigger meets a 401: two deferrals, one deadline."""
    from learnifier_simulator.messages import ApiError

    enroll(1)
    list_participants = learnifier_conn.state.list_participants
    calls = []

    def poke_answers_trigger_fails(org_id, project_id):
        calls.append(project_id)
        if len(calls) % 2 == 0:  # the 2nd and 4th calls: the triggers' checks
            raise ApiError(401, "The key is no longer valid")
        return list_participants(org_id, project_id)

    monkeypatch.setattr(learnifier_conn.state, "list_participants", poke_answers_trigger_fails)
    deadlines = []
    make_trigger = LearnifierProjectCompletionSensor.make_trigger

    def recording_make_trigger(sensor, end_time):
        deadlines.append(end_time)
        return make_trigger(sensor, end_time)

    monkeypatch.setattr(LearnifierProjectCompletionSensor, "make_trigger", recording_make_trigger)
    if not AIRFLOW_V_3_0_PLUS:
        mark_running_as_a_worker_does(monkeypatch)

    dag_run = run_dag("sensors_project_deferrable_retry")

    assert dag_run.state == "failed"
    assert dag_run.get_task_instance("wait").try_number == 2
    assert len(deadlines) == 2
    assert deadlines[1] == deadlines[0], "the retry got a deadline of its own"


def test_a_project_with_counts_as_numeric_strings_completes(learnifier_conn, run_dag, monkeypatch):

    enroll(2)
    learnifier_conn.advance_progress(complete=True)
    with_counts_as(learnifier_conn, monkeypatch, str)

    dag_run = run_dag("sensors_project_poke")

    assert dag_run.state == "success"
    assert (xcom(dag_run)["completed"], xcom(dag_run)["activated"]) == (2, 2)


def with_unreadable_counts(learnifier_conn, monkeypatch, participant_id: str) -> None:
    """Serve one participant with activity counts that are no numbers."""
    with_participants_changed(
        learnifier_conn,
        monkeypatch,
        lambda part: {"activitiesTotal": "five"} if str(part["id"]) == participant_id else {},
    )


@pytest.mark.parametrize(
    "dag_id",
    [
        "sensors_project_poke",
        pytest.param("sensors_project_reschedule_by_external_id", marks=RESCHEDULE_BROKEN_ON_AIRFLOW_3_0),
        "sensors_project_deferrable",
    ],
)
def test_a_participant_with_unreadable_counts_counts_as_not_completed_and_is_named(
    learnifier_conn, run_dag, monkeypatch, capfd, dag_id
):
    """One participant's bad data never crashes the poll: the others still decide the project."""
    ids = enroll(3)
    learnifier_conn.advance_progress(participant_id=ids[0], complete=True)
    with_unreadable_counts(learnifier_conn, monkeypatch, ids[2])

    with advance_after_polls(learnifier_conn, 2, participant_id=ids[1], complete=True):
        dag_run = run_dag(dag_id, {"min_completed_share": 0.6})

    output = capfd.readouterr()
    assert dag_run.state == "success"
    progress = xcom(dag_run)
    assert (progress["completed"], progress["activated"], progress["unreadable"]) == (2, 3, 1)
    assert (
        f"Learnifier sent participant {ids[2]} (project {PROJECT_ID}) with activitiesTotal 'five', which "
        "is not a number; counted as not completed"
    ) in output.out + output.err


def test_unreadable_participants_keep_the_whole_project_out_of_reach(
    learnifier_conn, run_dag, monkeypatch, capfd
):
    ids = enroll(2)
    learnifier_conn.advance_progress(participant_id=ids[0], complete=True)
    with_unreadable_counts(learnifier_conn, monkeypatch, ids[1])

    dag_run = run_dag("sensors_project_deferrable_timeout")

    assert_failed_with(
        dag_run,
        capfd,
        "1 of 2 activated participant(s) completed (50%); 1 with activity counts that are no numbers, "
        "counted as not completed; needs all of them",
    )


def test_never_completing_participants_can_be_left_out_of_the_share(learnifier_conn, run_dag):
    ids = enroll(3)
    learnifier_conn.advance_progress(participant_id=ids[0], complete=True)
    learnifier_conn.advance_progress(participant_id=ids[1], complete=True)
    learnifier_conn.set_participant_error(ids[2], "License expired")

    dag_run = run_dag("sensors_project_poke_without_never_completing")

    assert dag_run.state == "success"
    progress = xcom(dag_run)
    assert (progress["completed"], progress["activated"], progress["never_completing"]) == (2, 3, 1)
    assert progress["count_never_completing"] is False


def test_never_completing_participants_are_named_when_they_keep_the_share_out_of_reach(
    learnifier_conn, run_dag, capfd
):
    ids = enroll(3)
    learnifier_conn.advance_progress(participant_id=ids[0], complete=True)
    learnifier_conn.advance_progress(participant_id=ids[1], complete=True)
    learnifier_conn.set_participant_error(ids[2], "License expired")

    dag_run = run_dag("sensors_project_deferrable_timeout")

    assert_failed_with(
        dag_run,
        capfd,
        "2 of 3 activated participant(s) completed (67%); 1 can never complete (in error or expired); "
        "needs all of them",
    )


def test_a_name_rendered_as_none_is_not_sent_as_an_id(learnifier_conn, run_dag, capfd):
    """A param left at null renders "None": before, GET /extproject?extid=None answered 404."""
    learnifier_conn.clear_exchanges()

    dag_run = run_dag("sensors_project_deferrable_by_external_id", {"project_external_id": None})

    assert_failed_with(
        dag_run,
        capfd,
        "name the project either by org_id and project_id, or by project_external_id alone; "
        "rendered blank, so not given: project_external_id ('None')",
    )
    assert [x.path for x in learnifier_conn.exchanges] == []


def test_an_empty_project_is_not_complete(learnifier_conn, monkeypatch):
    from tests.compat import ExecutorSafeguard

    monkeypatch.setattr(ExecutorSafeguard, "test_mode", True)
    enroll(1, activated=False)
    sensor = LearnifierProjectCompletionSensor(
        task_id="wait",
        project_external_id=PROJECT_EXTERNAL_ID,
        min_completed_share=0.1,
        poke_interval=0.05,
        timeout=0.2,
    )

    with pytest.raises(
        AirflowSensorTimeout,
        match=r"0 of 0 activated participant\(s\) completed \(0%\); needs 10% \(no activated",
    ):
        sensor.execute({})


def test_an_unknown_project_fails_clearly(learnifier_conn, run_dag, capfd):
    dag_run = run_dag("sensors_project_deferrable_by_external_id", {"project_external_id": "no-such-course"})

    output = capfd.readouterr()
    assert dag_run.state == "failed"
    assert (
        "LearnifierNotFoundError: Learnifier has no project with the external id 'no-such-course' "
        "(Learnifier get_project_by_external_id: GET /extproject answered 404"
    ) in output.out
