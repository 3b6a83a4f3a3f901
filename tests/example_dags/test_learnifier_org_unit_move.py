"""example_dags/learnifier_org_unit_move.py: the new unit, its staff group, the movers moved into it."""

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


def test_on_the_demo_seed_it_makes_the_unit_and_its_staff_group_and_a_rerun_changes_nothing(
    learnifier_conn, run_example_dag
):
    sim = learnifier_conn

    dag_run = run_example_dag("learnifier_org_unit_move")

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

    # A second run finds everything in place and changes nothing.
    again = run_example_dag("learnifier_org_unit_move")

    assert again.state == "success", task_states(again)
    assert sim.state.snapshot() == snapshot
    assert xcom(again, "create_org_unit")["reused"] is True
    assert xcom(again, "create_user_group")["reused"] is True
    assert sorted(xcom(again, "add_to_unit_group")["already_members"]) == sorted(movers)
    assert xcom(again, "add_to_unit_group")["added"] == []


@pytest.fixture
def staff(learnifier_conn) -> list[str]:
    """The movers are users already, in Acme Staff: the ids of their users."""
    with LearnifierHook() as hook:
        movers = [hook.create_user(primary_email=email) for email in MOVERS]
        for user_id in movers:
            hook.add_user_group_member(seed.DEMO_ORG_UNIT_ID, seed.DEMO_USER_GROUP_ID, user_id)
    return movers


def test_the_movers_join_the_new_group_before_they_leave_the_parent_group(
    staff, learnifier_conn, run_example_dag
):
    sim = learnifier_conn
    before = len(sim.exchanges)

    dag_run = run_example_dag("learnifier_org_unit_move")

    assert dag_run.state == "success", task_states(dag_run)
    snapshot = sim.state.snapshot()
    unit = unit_of(snapshot)
    (group,) = [g for g in snapshot["userGroups"] if g["orgId"] == unit["id"]]
    assert sorted(group["members"]) == sorted(staff)
    assert members(snapshot, seed.DEMO_USER_GROUP_ID) == [seed.DEMO_ADMIN_USER_ID]
    assert sorted(xcom(dag_run, "remove_from_parent_group")["removed"]) == sorted(staff)
    assert xcom(dag_run, "upsert_movers")["counts"]["updated"] == len(MOVERS)  # their home unit
    # Added first, removed second: nobody is ever in neither group.
    writes = [(e.method, e.path) for e in sim.exchanges[before:] if e.method in ("POST", "DELETE")]
    added = [n for n, (method, path) in enumerate(writes) if method == "POST" and path.endswith("/members")]
    removed = [n for n, (method, path) in enumerate(writes) if method == "DELETE" and "/members/" in path]
    assert len(added) == len(removed) == len(MOVERS)
    assert max(added) < min(removed)
