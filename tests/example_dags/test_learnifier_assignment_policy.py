"""example_dags/learnifier_assignment_policy.py against the simulator: plan, then apply.

January's HR export only adds people, so the run goes straight from the plan to the apply. March's
removes some (two left, one is no longer a recent Sales hire): the run applies it only once that
plan is approved; here by ``approved_plan_id``, the way of Airflows without the human-in-the-loop
ApprovalOperator (that one waits for a person, which a test cannot be).
"""

from __future__ import annotations

import json
from typing import Any
from unittest import mock

import pytest

from airflow_provider_learnifier.hooks.learnifier import LearnifierHook
from airflow_provider_learnifier.operators.policy import LearnifierPolicyPlanOperator
from learnifier_simulator import seed
from tests.compat import AIRFLOW_VERSION, DagBag
from tests.example_dags.conftest import AIRFLOW3_ONLY, EXAMPLE_DAGS, participants_of, task_states, xcom

DAG_FILE = EXAMPLE_DAGS / "learnifier_assignment_policy.py"
POLICY = EXAMPLE_DAGS / "learnifier_assignment_policy.yaml"
JANUARY = EXAMPLE_DAGS / "data" / "acme_hr_2026-01.csv"
MARCH = EXAMPLE_DAGS / "data" / "acme_hr_2026-03.csv"
COURSES = {
    "acme-code-of-conduct-2026": seed.CODE_OF_CONDUCT_DESIGN_ID,
    "acme-sales-onboarding-2026": seed.ONBOARDING_DESIGN_ID,
    "acme-people-leaders-2026": seed.ONBOARDING_DESIGN_ID,
}


def create_courses() -> None:
    """The policy's courses: a policy assigns people to courses that exist."""
    with LearnifierHook() as hook:
        for external_id, design_id in COURSES.items():
            hook.create_project(
                seed.DEMO_ORG_UNIT_ID, name=external_id, design_id=design_id, external_id=external_id
            )


def enrolled(sim: Any, course: str) -> dict[str, bool]:
    return {p["user"]["externalId"]: p["activated"] for p in participants_of(sim, course)}


def test_the_dag_parses_on_every_airflow_with_the_approval_step_only_where_airflow_has_it(airflow_db):
    bag = DagBag(str(DAG_FILE))
    assert bag.import_errors == {}
    dag = bag.get_dag("learnifier_assignment_policy")
    assert len(DAG_FILE.read_text().splitlines()) <= 80
    if AIRFLOW_VERSION >= (3, 1):
        assert dag.get_task("approve").downstream_task_ids == {"apply"}
        assert dag.get_task("review").downstream_task_ids == {"approve", "apply"}
    else:
        assert "approve" not in dag.task_ids
        assert dag.get_task("review").downstream_task_ids == {"apply"}


@AIRFLOW3_ONLY
def test_adds_go_straight_through_and_removals_wait_for_approval(learnifier_conn, run_example_dag, tmp_path):
    sim = learnifier_conn
    create_courses()
    january = {"roster": str(JANUARY), "plan_dir": str(tmp_path), "reference_date": "2026-01-31"}

    dag_run = run_example_dag("learnifier_assignment_policy", january)

    assert dag_run.state == "success", task_states(dag_run)
    plan = xcom(dag_run, "plan")
    assert {c["course"]: c["counts"] for c in plan["courses"]} == {
        "acme-code-of-conduct-2026": {"add": 8, "activate": 0, "remove": 0, "keep": 0},
        "acme-sales-onboarding-2026": {"add": 2, "activate": 0, "remove": 0, "keep": 0},
        "acme-people-leaders-2026": {"add": 3, "activate": 0, "remove": 0, "keep": 0},
    }
    if AIRFLOW_VERSION >= (3, 1):
        assert task_states(dag_run)["approve"] == "skipped"
    assert xcom(dag_run, "apply")["plan_id"] == plan["plan_id"]
    assert enrolled(sim, "acme-sales-onboarding-2026") == {"E2002": True, "E2003": True}
    assert enrolled(sim, "acme-people-leaders-2026") == {"acme-admin": False, "E2004": False, "E2006": False}
    (written,) = tmp_path.glob("*.json")
    assert json.loads(written.read_text())["plan_id"] == plan["plan_id"]

    # March: two left, one joined, and E2002 is no longer a recent hire. The plan removes people.
    march = {**january, "roster": str(MARCH), "reference_date": "2026-03-31"}
    expected = LearnifierPolicyPlanOperator(
        task_id="plan", policy=str(POLICY), roster=str(MARCH), reference_date="2026-03-31"
    ).execute({"ti": mock.MagicMock()})
    assert expected["totals"]["remove"] == 3
    if AIRFLOW_VERSION < (3, 1):
        stopped = run_example_dag("learnifier_assignment_policy", march)
        assert task_states(stopped)["apply"] == "skipped"
        assert "E2008" in enrolled(sim, "acme-code-of-conduct-2026")

    dag_run = run_example_dag(
        "learnifier_assignment_policy", {**march, "approved_plan_id": expected["plan_id"]}
    )

    assert dag_run.state == "success", task_states(dag_run)
    assert {c["course"]: c["counts"] for c in xcom(dag_run, "apply")["courses"]} == {
        "acme-code-of-conduct-2026": {"add": 1, "activate": 0, "remove": 2, "keep": 6},
        "acme-sales-onboarding-2026": {"add": 1, "activate": 0, "remove": 1, "keep": 1},
        "acme-people-leaders-2026": {"add": 1, "activate": 0, "remove": 0, "keep": 3},
    }
    assert set(enrolled(sim, "acme-code-of-conduct-2026")) == {
        "acme-admin", "E2002", "E2003", "E2004", "E2005", "E2006", "E2009"
    }  # fmt: skip
    assert enrolled(sim, "acme-sales-onboarding-2026") == {"E2003": True, "E2009": True}


@pytest.mark.parametrize("roster", [JANUARY, MARCH])
def test_the_example_policy_is_valid_for_its_rosters(roster, capsys):
    from airflow_provider_learnifier.policy.__main__ import main

    assert main(["validate", str(POLICY), "--roster", str(roster)]) == 0
