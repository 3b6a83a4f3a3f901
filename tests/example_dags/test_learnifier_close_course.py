"""example_dags/learnifier_close_course.py: last year's course run deleted if unused, else disabled."""

from __future__ import annotations

from airflow_provider_learnifier.hooks.learnifier import LearnifierHook
from learnifier_simulator import seed
from tests.example_dags.conftest import AIRFLOW3_ONLY, task_states, xcom

pytestmark = AIRFLOW3_ONLY


def test_an_unused_course_run_is_deleted_and_a_rerun_leaves_it_at_that(learnifier_conn, run_example_dag):
    sim = learnifier_conn

    dag_run = run_example_dag("learnifier_close_course")

    assert dag_run.state == "success", task_states(dag_run)
    # Nobody ever enrolled in last year's onboarding run (the demo seed's): deleted, not disabled.
    snapshot = sim.state.snapshot()
    assert seed.DEMO_PROJECT_ID not in {p["id"] for p in snapshot["projects"]}
    states = task_states(dag_run)
    assert (states["delete_project"], states["disable_project"]) == ("success", "skipped")
    assert xcom(dag_run, "delete_project")["deleted"] is True

    # Deleted already: a second run skips both and changes nothing.
    again = run_example_dag("learnifier_close_course")

    assert again.state == "success", task_states(again)
    assert task_states(again)["delete_project"] == task_states(again)["disable_project"] == "skipped"
    assert sim.state.snapshot() == snapshot


def test_a_course_run_someone_took_is_disabled_and_kept_and_a_rerun_leaves_it_alone(
    learnifier_conn, run_example_dag
):
    sim = learnifier_conn
    with LearnifierHook() as hook:
        user_id = hook.create_user(primary_email="maria.lindqvist@acme.example")
        participant = hook.add_participant(seed.DEMO_ORG_UNIT_ID, seed.DEMO_PROJECT_ID, user_id=user_id)
        hook.activate_participant(seed.DEMO_ORG_UNIT_ID, seed.DEMO_PROJECT_ID, participant)

    dag_run = run_example_dag("learnifier_close_course")

    assert dag_run.state == "success", task_states(dag_run)
    snapshot = sim.state.snapshot()
    # The course run had a participant: disabled and noted, kept with its participant.
    (project,) = [p for p in snapshot["projects"] if p["id"] == seed.DEMO_PROJECT_ID]
    assert project["status"] == "DISABLED"
    assert project["note"].startswith("Closed on ") and project["note"].endswith("by learnifier_close_course")
    assert [p["id"] for p in snapshot["participants"]] == [int(participant)]
    states = task_states(dag_run)
    assert (states["disable_project"], states["delete_project"]) == ("success", "skipped")
    assert xcom(dag_run, "disable_project")["updated_fields"] == ["note", "status"]

    # Disabled already: a second run leaves it alone.
    again = run_example_dag("learnifier_close_course")

    assert again.state == "success", task_states(again)
    assert task_states(again)["disable_project"] == task_states(again)["delete_project"] == "skipped"
    assert sim.state.snapshot() == snapshot
