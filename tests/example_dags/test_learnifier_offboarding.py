"""example_dags/learnifier_offboarding.py: the dry run, the removal behind the `apply` switch, the guard."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_learnifier.hooks.learnifier import LearnifierHook
from learnifier_simulator import seed
from tests.example_dags.conftest import (
    AIRFLOW3_ONLY,
    PROJECT_EXTERNAL_ID,
    ROSTER_JANUARY,
    ROSTER_MARCH,
    participants_of,
    read_csv,
    task_states,
    xcom,
)

pytestmark = AIRFLOW3_ONLY

LEAVERS = sorted(
    {r["external_id"] for r in read_csv(ROSTER_JANUARY)} - {r["external_id"] for r in read_csv(ROSTER_MARCH)}
)
NEWCOMERS = sorted(
    {r["external_id"] for r in read_csv(ROSTER_MARCH)} - {r["external_id"] for r in read_csv(ROSTER_JANUARY)}
)


@pytest.fixture
def enrolled(learnifier_conn) -> dict[str, Any]:
    """The January roster enrolled and activated in the project, as learnifier_enrollment leaves it."""
    with LearnifierHook() as hook:
        project = hook.create_project(
            seed.DEMO_ORG_UNIT_ID,
            name="Acme Security Awareness 2026",
            design_id=seed.SECURITY_AWARENESS_DESIGN_ID,
            external_id=PROJECT_EXTERNAL_ID,
        )
        for row in read_csv(ROSTER_JANUARY):
            if row["external_id"] == seed.DEMO_ADMIN_EXTERNAL_ID:
                user_id = seed.DEMO_ADMIN_USER_ID
            else:
                user_id = hook.create_user(primary_email=row["email"], external_id=row["external_id"])
            participant_id = hook.add_participant(project["orgId"], project["id"], user_id=user_id)
            hook.activate_participant(project["orgId"], project["id"], participant_id)
    return project


def in_course(sim) -> list[str]:
    return sorted(p["user"]["externalId"] for p in participants_of(sim, PROJECT_EXTERNAL_ID))


def test_the_roster_files_tell_the_story():
    assert LEAVERS == ["E1004", "E1007"]
    assert NEWCOMERS == ["E1009"]


def test_by_default_it_is_a_dry_run_that_changes_nothing(enrolled, learnifier_conn, run_example_dag):
    sim = learnifier_conn
    before = sim.state.snapshot()

    dag_run = run_example_dag("learnifier_offboarding")

    assert dag_run.state == "success", task_states(dag_run)
    plan = xcom(dag_run, "plan_removals")
    assert plan["dry_run"] is True
    assert plan["removed"] == LEAVERS
    assert plan["enrolled"] == NEWCOMERS
    assert len(plan["already_enrolled"]) == 6
    states = task_states(dag_run)
    assert (states["roster_of_stayers"], states["remove_leavers"]) == ("skipped", "skipped")
    after = sim.state.snapshot()
    for kind in ("users", "participants"):
        assert after[kind] == before[kind], kind


def test_with_apply_it_removes_the_leavers_and_adds_nobody(enrolled, learnifier_conn, run_example_dag):
    sim = learnifier_conn
    users_before = sim.state.snapshot()["users"]

    dag_run = run_example_dag("learnifier_offboarding", {"apply": True})

    assert dag_run.state == "success", task_states(dag_run)
    stayers = sorted({row["external_id"] for row in read_csv(ROSTER_MARCH)} - set(NEWCOMERS))
    assert in_course(sim) == stayers
    assert all(p["activated"] for p in participants_of(sim, PROJECT_EXTERNAL_ID))
    removal = xcom(dag_run, "remove_leavers")
    assert (removal["dry_run"], removal["removed"], removal["enrolled"]) == (False, LEAVERS, [])
    # The leavers lost their place in the course, not their Learnifier accounts; the newcomer got none.
    assert sim.state.snapshot()["users"] == users_before


def test_more_removals_than_max_removals_fail_the_run_before_any(enrolled, learnifier_conn, run_example_dag):
    dag_run = run_example_dag("learnifier_offboarding", {"apply": True, "max_removals": 1})

    assert dag_run.state == "failed"
    states = task_states(dag_run)
    assert states["check_plan"] == "failed"
    assert states["remove_leavers"] != "success"
    assert len(in_course(learnifier_conn)) == 8
