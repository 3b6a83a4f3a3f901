"""example_dags/learnifier_quickstart.py, run end to end against the simulator."""

from __future__ import annotations

from airflow_provider_learnifier.hooks.learnifier import LearnifierHook
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

    # The second run finds the project and its participants (a 409 names each) and changes
    # nothing: those activated already are not activated again, which would renew their access.
    before = learnifier_conn.state.snapshot()
    again = run_example_dag("learnifier_quickstart")

    assert again.state == "success", task_states(again)
    assert learnifier_conn.state.snapshot() == before
    assert xcom(again, "report") == rows


def test_a_rerun_activates_who_an_earlier_run_added_but_did_not_activate_and_only_them(
    learnifier_conn, run_example_dag
):
    assert run_example_dag("learnifier_quickstart", {"people": ["grace@example.com"]}).state == "success"
    # Ada was added by a run that stopped before it activated her.
    project = next(
        p
        for p in learnifier_conn.state.snapshot()["projects"]
        if p.get("externalId") == "quickstart-onboarding"
    )
    with LearnifierHook() as hook:
        hook.add_participant(project["orgId"], project["id"], email="ada@example.com")
    grace_before = next(
        p
        for p in participants_of(learnifier_conn, "quickstart-onboarding")
        if p["user"]["primaryEmail"] == "grace@example.com"
    )

    again = run_example_dag("learnifier_quickstart")

    assert again.state == "success", task_states(again)
    after = {p["user"]["primaryEmail"]: p for p in participants_of(learnifier_conn, "quickstart-onboarding")}
    assert after["ada@example.com"]["activated"]
    assert after["grace@example.com"] == grace_before  # not activated again
