"""example_dags/learnifier_quickstart.py, run end to end against the simulator."""

from __future__ import annotations

from learnifier_simulator import seed
from tests.example_dags.conftest import AIRFLOW3_ONLY, participants_of, xcom

pytestmark = AIRFLOW3_ONLY


def test_quickstart_makes_the_project_and_enrolls_two_people(learnifier_conn, run_example_dag):
    dag_run = run_example_dag("learnifier_quickstart")

    assert dag_run.state == "success"
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
