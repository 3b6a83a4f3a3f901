"""example_dags/learnifier_quickstart.py, run end to end against the simulator."""

from __future__ import annotations

from typing import Any

from learnifier_simulator import seed
from tests.example_dags.conftest import AIRFLOW3_ONLY, participants_of, task_states, xcom

pytestmark = AIRFLOW3_ONLY


def test_quickstart_makes_the_project_and_enrolls_two_people_and_a_rerun_changes_nothing(
    learnifier_conn, run_example_dag
):
    dag_run = run_example_dag("learnifier_quickstart")

    assert dag_run.state == "success", task_states(dag_run)
    project = next(
        p
        for p in learnifier_conn.state.snapshot()["projects"]
        if p.get("externalId") == "quickstart-onboarding"
    )
    assert (project["orgId"], project["designId"]) == (seed.DEMO_ORG_UNIT_ID, seed.ONBOARDING_DESIGN_ID)
    participants = participants_of(learnifier_conn, "quickstart-onboarding")
    assert sorted(p["user"]["primaryEmail"] for p in participants) == ["ada@example.com", "grace@example.com"]
    assert all(p["activated"] for p in participants)
    rows = xcom(dag_run, "report")
    assert sorted(row["participant"] for row in rows) == sorted(str(p["id"]) for p in participants)
    assert {row["progress"] for row in rows} == {f"0/{seed.ONBOARDING_ACTIVITIES}"}
    assert all(row["activated"] for row in rows)

    # The second run finds the project and its participants (a 409 names each) and adds nothing;
    # activating them again only renews their access.
    renewed = ("lastActivation", "expiration")
    before = without(learnifier_conn.state.snapshot(), renewed)
    again = run_example_dag("learnifier_quickstart")

    assert again.state == "success", task_states(again)
    assert without(learnifier_conn.state.snapshot(), renewed) == before
    assert xcom(again, "report") == rows


def without(snapshot: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    """The snapshot with ``fields`` left out of its participants."""
    participants = [{k: v for k, v in p.items() if k not in fields} for p in snapshot["participants"]]
    return snapshot | {"participants": participants}
