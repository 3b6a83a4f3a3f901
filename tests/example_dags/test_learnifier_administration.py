"""example_dags/learnifier_administration.py: the new unit, its staff group; last year's course run closed."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_learnifier.hooks.learnifier import LearnifierHook
from learnifier_simulator import seed
from tests.example_dags.conftest import AIRFLOW3_ONLY, task_states, xcom

pytestmark = AIRFLOW3_ONLY

#: The params' defaults.
MOVERS = ["maria.lindqvist@acme.example", "johan.berg@acme.example", "sara.holm@acme.example"]
UNIT_EXTERNAL_ID = "acme-nordic"


def unit_of(snapshot: dict[str, Any]) -> dict[str, Any]:
    (unit,) = [u for u in snapshot["orgUnits"] if u.get("externalId") == UNIT_EXTERNAL_ID]
    return unit


def members(snapshot: dict[str, Any], group_id: int) -> list[str]:
    (group,) = [g for g in snapshot["userGroups"] if g["groupId"] == group_id]
    return group["members"]


def user_ids_by_email(snapshot: dict[str, Any]) -> dict[str, str]:
    return {user["primaryEmail"]: user["id"] for user in snapshot["users"] if user.get("primaryEmail")}


def client_numbers_sent(sim, org_id: int) -> list[str]:
    return [
        e.request_json().get("clientNumber")
        for e in sim.exchanges
        if e.method == "PATCH" and e.path == f"/orgunits/{org_id}" and e.status is not None and e.status < 300
    ]


def test_on_the_demo_seed_it_makes_the_unit_and_its_group_and_deletes_the_unused_course_run(
    learnifier_conn, run_example_dag
):
    sim = learnifier_conn

    dag_run = run_example_dag("learnifier_administration")

    assert dag_run.state == "success", task_states(dag_run)
    snapshot = sim.state.snapshot()
    # The unit, under Acme Corp, with its client number made from its id.
    unit = unit_of(snapshot)
    assert (unit["name"], unit["parentId"]) == ("Acme Nordic", seed.DEMO_ORG_UNIT_ID)
    assert xcom(dag_run, "create_org_unit")["reused"] is False
    assert client_numbers_sent(sim, unit["id"]) == [f"C-{unit['id']}"]
    assert xcom(dag_run, "update_org_unit") == {
        "org_id": str(unit["id"]),
        "updated_fields": ["client_number"],
        "unchanged_fields": [],
    }
    # The movers have users now, at home in the unit, and are the members of its staff group.
    users = user_ids_by_email(snapshot)
    movers = [users[email] for email in MOVERS]
    assert {u["id"]: u["homeOrg"] for u in snapshot["users"] if u["id"] in movers} == dict.fromkeys(
        movers, unit["id"]
    )
    (group,) = [g for g in snapshot["userGroups"] if g["orgId"] == unit["id"]]
    assert group["name"] == "Acme Nordic Staff"
    assert sorted(group["members"]) == sorted(movers)
    # They were not in Acme Staff; its administrator stays.
    assert members(snapshot, seed.DEMO_USER_GROUP_ID) == [seed.DEMO_ADMIN_USER_ID]
    assert sorted(xcom(dag_run, "remove_from_parent_group")["not_members"]) == sorted(movers)
    # Nobody ever enrolled in last year's onboarding run: deleted, not disabled.
    assert seed.DEMO_PROJECT_ID not in {p["id"] for p in snapshot["projects"]}
    states = task_states(dag_run)
    assert (states["delete_project"], states["disable_project"]) == ("success", "skipped")
    assert xcom(dag_run, "delete_project")["deleted"] is True

    # A second run finds everything in place and changes nothing.
    again = run_example_dag("learnifier_administration")

    assert again.state == "success", task_states(again)
    assert sim.state.snapshot() == snapshot
    assert xcom(again, "create_org_unit")["reused"] is True
    assert xcom(again, "create_user_group")["reused"] is True
    assert sorted(xcom(again, "add_to_unit_group")["already_members"]) == sorted(movers)
    assert xcom(again, "add_to_unit_group")["added"] == []
    assert task_states(again)["delete_project"] == task_states(again)["disable_project"] == "skipped"


@pytest.fixture
def staff_and_course(learnifier_conn) -> dict[str, Any]:
    """The movers are users in Acme Staff, and someone took last year's onboarding course."""
    with LearnifierHook() as hook:
        movers = [hook.create_user(primary_email=email) for email in MOVERS]
        for user_id in movers:
            hook.add_user_group_member(seed.DEMO_ORG_UNIT_ID, seed.DEMO_USER_GROUP_ID, user_id)
        participant = hook.add_participant(seed.DEMO_ORG_UNIT_ID, seed.DEMO_PROJECT_ID, user_id=movers[0])
        hook.activate_participant(seed.DEMO_ORG_UNIT_ID, seed.DEMO_PROJECT_ID, participant)
    return {"movers": movers, "participant": participant}


def test_the_movers_leave_the_parent_group_and_a_course_run_with_participants_is_disabled(
    staff_and_course, learnifier_conn, run_example_dag
):
    sim = learnifier_conn
    movers = staff_and_course["movers"]

    dag_run = run_example_dag("learnifier_administration")

    assert dag_run.state == "success", task_states(dag_run)
    snapshot = sim.state.snapshot()
    unit = unit_of(snapshot)
    (group,) = [g for g in snapshot["userGroups"] if g["orgId"] == unit["id"]]
    assert sorted(group["members"]) == sorted(movers)
    assert members(snapshot, seed.DEMO_USER_GROUP_ID) == [seed.DEMO_ADMIN_USER_ID]
    assert sorted(xcom(dag_run, "remove_from_parent_group")["removed"]) == sorted(movers)
    assert xcom(dag_run, "upsert_movers")["counts"]["updated"] == len(MOVERS)  # their home unit
    # The course run had a participant: disabled and noted, kept with its participant.
    (project,) = [p for p in snapshot["projects"] if p["id"] == seed.DEMO_PROJECT_ID]
    assert project["status"] == "DISABLED"
    assert project["note"].startswith("Closed on ") and project["note"].endswith(
        "by learnifier_administration"
    )
    assert [p["id"] for p in snapshot["participants"]] == [int(staff_and_course["participant"])]
    states = task_states(dag_run)
    assert (states["disable_project"], states["delete_project"]) == ("success", "skipped")
    assert xcom(dag_run, "disable_project")["updated_fields"] == ["note", "status"]

    # Disabled already: a second run leaves it alone.
    again = run_example_dag("learnifier_administration")

    assert again.state == "success", task_states(again)
    assert task_states(again)["disable_project"] == task_states(again)["delete_project"] == "skipped"
    assert sim.state.snapshot() == snapshot
