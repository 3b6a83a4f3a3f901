"""A team moves to a Learnifier organization unit of its own, with its own staff group.

Acme's Nordic team becomes a unit of its own: the DAG creates the unit (or finds it by its external
id) and sets its client number, makes sure each mover has a user at home in it, creates its staff
group, adds the movers and only then removes them from the group they leave. A rerun changes nothing.
The params' defaults match the simulator's `demo` seed (`make demo`); the connection is the
operators' default, `learnifier_default`. Written for Airflow 3 (`airflow.sdk`).
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import DAG, Param, task

from airflow_provider_learnifier.operators import org_units, user_groups, users

#: The new unit's id and the movers' {email: user_id}, from the XCom of the tasks that know them.
UNIT_ID = "{{ ti.xcom_pull(task_ids='create_org_unit')['org_id'] }}"
MOVER_IDS = "{{ ti.xcom_pull(task_ids='upsert_movers')['user_ids'] }}"
MOVERS = ["maria.lindqvist@acme.example", "johan.berg@acme.example", "sara.holm@acme.example"]

with DAG(
    dag_id="learnifier_org_unit_move",
    schedule=None,
    doc_md=__doc__,
    tags=["learnifier", "example"],
    params={
        "parent_org_id": Param(1001, type="integer", description="Id of the unit the team leaves."),
        "parent_group_id": Param(4001, type="integer", description="Id of the staff group they leave."),
        "unit_name": Param("Acme Nordic", type="string", description="Name of the new unit and its group."),
        "unit_external_id": Param("acme-nordic", type="string", description="External id of the new unit."),
        "movers": Param(MOVERS, type="array", description="Emails of the people who move."),
    },
):
    # [START howto_operator_learnifier_create_org_unit]
    create_org_unit = org_units.LearnifierCreateOrgUnitOperator(
        task_id="create_org_unit",
        display_name="{{ params.unit_name }}",
        external_id="{{ params.unit_external_id }}",  # found by it when it exists: reruns are safe
        parent="{{ params.parent_org_id }}",
        country="se",
    )
    # [END howto_operator_learnifier_create_org_unit]
    # [START howto_operator_learnifier_update_org_unit]
    update_org_unit = org_units.LearnifierUpdateOrgUnitOperator(
        task_id="update_org_unit", org_id=UNIT_ID, client_number="C-" + UNIT_ID
    )  # only the fields given change
    # [END howto_operator_learnifier_update_org_unit]

    @task
    def movers_as_users(unit: dict[str, Any], params: dict[str, Any]) -> list[dict[str, Any]]:
        """The movers as rows for the upsert: found by email, the new unit their home unit."""
        return [{"email": email, "home_org": unit["org_id"]} for email in params["movers"]]

    rows = movers_as_users(create_org_unit.output)
    upsert = users.LearnifierUpsertUsersOperator(task_id="upsert_movers", users=rows, match_by=["email"])
    # [START howto_operator_learnifier_create_user_group]
    create_user_group = user_groups.LearnifierCreateUserGroupOperator(
        task_id="create_user_group", name="{{ params.unit_name }} Staff", org_id=UNIT_ID
    )  # a group of that name in the unit is reused
    # [END howto_operator_learnifier_create_user_group]
    # [START howto_operator_learnifier_add_user_group_members]
    add_to_unit_group = user_groups.LearnifierAddUserGroupMembersOperator(
        task_id="add_to_unit_group",
        org_id=UNIT_ID,
        group_id="{{ ti.xcom_pull(task_ids='create_user_group')['group_id'] }}",
        user_ids=MOVER_IDS,  # the upsert's {email: user_id}; members already are left alone
    )
    # [END howto_operator_learnifier_add_user_group_members]
    # [START howto_operator_learnifier_remove_user_group_members]
    remove_from_parent_group = user_groups.LearnifierRemoveUserGroupMembersOperator(
        task_id="remove_from_parent_group",
        org_id="{{ params.parent_org_id }}",
        group_id="{{ params.parent_group_id }}",
        user_ids=MOVER_IDS,  # the same users; non-members are left alone
    )
    # [END howto_operator_learnifier_remove_user_group_members]
    create_org_unit >> [update_org_unit, create_user_group]
    [create_user_group, upsert] >> add_to_unit_group >> remove_from_parent_group  # added, then removed
