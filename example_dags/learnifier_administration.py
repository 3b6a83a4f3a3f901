"""
Yearly Learnifier administration: a team moves to an organization unit of its own; last year's course closes.

At the turn of the year Acme's Nordic team becomes a unit of its own, and last year's onboarding
course run is retired. The DAG

1. **create_org_unit**: creates the team's organization unit under the one it leaves, or finds it
   by its external id when an earlier run made it;
2. **update_org_unit**: gives the unit its client number. Acme numbers its units `C-<unit id>`
   (Acme Corp is `C-1001`), so the number can only be set once Learnifier has given the unit an id;
3. **movers_as_users**, **upsert_movers**: make sure everyone who moves has a Learnifier user
   (found by email, else created), with the new unit as their home unit;
4. **create_user_group**: creates the unit's staff group, or reuses it;
5. **add_to_unit_group**: adds the movers to it;
6. **remove_from_parent_group**: then removes them from the staff group of the unit they leave.
   Added first, removed second: nobody is ever in neither group.

Meanwhile, **plan_closing** looks at last year's course run. When it has no participants,
**delete_project** deletes it: an unused run only clutters the catalogue. When people took it,
**disable_project** disables it instead: nobody new can start, and their progress stays on record.
A run that is deleted or disabled already is left alone.

Every step is idempotent: a rerun finds the unit, the group and its members in place and the
course run closed, and changes nothing.

**Settings.** The params name the unit the team leaves and its staff group, the new unit, the
people who move (by email) and the course run to close; their defaults match the Learnifier
simulator's `demo` seed (`make demo`). The connection is `learnifier_default`. Written for
Airflow 3 (the Task SDK, `airflow.sdk`).
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import DAG, Param, task

from airflow_provider_learnifier.operators.org_units import (
    LearnifierCreateOrgUnitOperator,
    LearnifierUpdateOrgUnitOperator,
)
from airflow_provider_learnifier.operators.projects import (
    LearnifierDeleteProjectOperator,
    LearnifierUpdateProjectOperator,
)
from airflow_provider_learnifier.operators.user_groups import (
    LearnifierAddUserGroupMembersOperator,
    LearnifierCreateUserGroupOperator,
    LearnifierRemoveUserGroupMembersOperator,
)
from airflow_provider_learnifier.operators.users import LearnifierUpsertUsersOperator

#: The Airflow connection to Learnifier (see the learnifier_enrollment example).
LEARNIFIER_CONN_ID = "learnifier_default"
#: The new unit's id, from the result create_org_unit leaves in XCom.
UNIT_ID = "{{ ti.xcom_pull(task_ids='create_org_unit')['org_id'] }}"

with DAG(
    dag_id="learnifier_administration",
    description="Move a team to a Learnifier organization unit of its own; close last year's course run",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["learnifier", "example"],
    params={
        "parent_org_id": Param(
            1001,
            type="integer",
            description="Id of the organization unit the team leaves: the new unit's parent.",
        ),
        "parent_group_id": Param(
            4001,
            type="integer",
            description="Id of the staff group, in the unit the team leaves, that they leave.",
        ),
        "unit_name": Param(
            "Acme Nordic",
            type="string",
            description="Name of the new organization unit; its staff group is named after it.",
        ),
        "unit_external_id": Param(
            "acme-nordic",
            type="string",
            description="External id of the new organization unit: found by it, or created with it.",
        ),
        "unit_country": Param("se", type="string", description="Country code of the new organization unit."),
        "movers": Param(
            ["maria.lindqvist@acme.example", "johan.berg@acme.example", "sara.holm@acme.example"],
            type="array",
            items={"type": "string"},
            description="Emails of the people who move to the new unit.",
        ),
        "closed_project_external_id": Param(
            "acme-onboarding-2024",
            type="string",
            description="External id of last year's course run: deleted if nobody enrolled, else disabled.",
        ),
    },
):
    # [START howto_operator_learnifier_create_org_unit]
    create_org_unit = LearnifierCreateOrgUnitOperator(
        task_id="create_org_unit",
        display_name="{{ params.unit_name }}",
        external_id="{{ params.unit_external_id }}",  # found by it when it exists: reruns are safe
        parent="{{ params.parent_org_id }}",
        country="{{ params.unit_country }}",
        learnifier_conn_id=LEARNIFIER_CONN_ID,
    )
    # [END howto_operator_learnifier_create_org_unit]

    # [START howto_operator_learnifier_update_org_unit]
    update_org_unit = LearnifierUpdateOrgUnitOperator(
        task_id="update_org_unit",
        org_id=UNIT_ID,  # create_org_unit's: "{{ ti.xcom_pull(task_ids='create_org_unit')['org_id'] }}"
        client_number="C-" + UNIT_ID,  # only the fields given change
        learnifier_conn_id=LEARNIFIER_CONN_ID,
    )
    # [END howto_operator_learnifier_update_org_unit]

    @task
    def movers_as_users(unit: dict[str, Any], params: dict[str, Any]) -> list[dict[str, Any]]:
        """The people who move, as rows for the upsert: found by email, the new unit their home unit."""
        return [{"email": email, "home_org": unit["org_id"]} for email in params["movers"]]

    upsert_movers = LearnifierUpsertUsersOperator(
        task_id="upsert_movers",
        users=movers_as_users(create_org_unit.output),
        match_by=("email",),
        learnifier_conn_id=LEARNIFIER_CONN_ID,
    )

    # [START howto_operator_learnifier_create_user_group]
    create_user_group = LearnifierCreateUserGroupOperator(
        task_id="create_user_group",
        name="{{ params.unit_name }} Staff",  # a group of that name in the unit is reused
        org_id=UNIT_ID,  # the new unit, by the id in create_org_unit's XCom
        learnifier_conn_id=LEARNIFIER_CONN_ID,
    )
    # [END howto_operator_learnifier_create_user_group]

    # [START howto_operator_learnifier_add_user_group_members]
    add_to_unit_group = LearnifierAddUserGroupMembersOperator(
        task_id="add_to_unit_group",
        org_id=UNIT_ID,  # the new unit, by the id in create_org_unit's XCom
        group_id="{{ ti.xcom_pull(task_ids='create_user_group')['group_id'] }}",
        # The upsert's {email: user_id} mapping; users who are members already are left alone.
        user_ids="{{ ti.xcom_pull(task_ids='upsert_movers')['user_ids'] }}",
        learnifier_conn_id=LEARNIFIER_CONN_ID,
    )
    # [END howto_operator_learnifier_add_user_group_members]

    # [START howto_operator_learnifier_remove_user_group_members]
    remove_from_parent_group = LearnifierRemoveUserGroupMembersOperator(
        task_id="remove_from_parent_group",
        org_id="{{ params.parent_org_id }}",
        group_id="{{ params.parent_group_id }}",
        # The same users; those who are not members are left alone.
        user_ids="{{ ti.xcom_pull(task_ids='upsert_movers')['user_ids'] }}",
        learnifier_conn_id=LEARNIFIER_CONN_ID,
    )
    # [END howto_operator_learnifier_remove_user_group_members]

    create_org_unit >> [update_org_unit, create_user_group]
    [create_user_group, upsert_movers] >> add_to_unit_group >> remove_from_parent_group

    @task.branch
    def plan_closing(params: dict[str, Any]) -> str | None:
        """Delete last year's course run if it has no participants, else disable it; once done, leave it."""
        from airflow_provider_learnifier.exceptions import LearnifierNotFoundError
        from airflow_provider_learnifier.hooks.learnifier import LearnifierHook

        external_id = params["closed_project_external_id"]
        with LearnifierHook(LEARNIFIER_CONN_ID) as hook:
            try:
                project = hook.get_project_by_external_id(external_id)
            except LearnifierNotFoundError:
                print(f"No course run has the external id {external_id!r}: deleted already")
                return None  # skips both
            participants = hook.list_participants(project["orgId"], project["id"])
        if not participants:
            print(f"{project['name']!r} has no participants: deleting it")
            return "delete_project"
        if project.get("status") == "DISABLED":
            print(f"{project['name']!r} is disabled already")
            return None
        print(
            f"{project['name']!r} has {len(participants)} participant(s): disabling it, keeping their records"
        )
        return "disable_project"

    # [START howto_operator_learnifier_update_project]
    disable_project = LearnifierUpdateProjectOperator(
        task_id="disable_project",
        project_external_id="{{ params.closed_project_external_id }}",
        status="DISABLED",  # nobody new can be activated; the participants' progress stays
        note="Closed on {{ dag_run.run_after | ds }} by {{ dag.dag_id }}",
        learnifier_conn_id=LEARNIFIER_CONN_ID,
    )  # only the fields that differ from the project's are sent
    # [END howto_operator_learnifier_update_project]

    # [START howto_operator_learnifier_delete_project]
    delete_project = LearnifierDeleteProjectOperator(
        task_id="delete_project",
        project_external_id="{{ params.closed_project_external_id }}",
        missing_ok=True,  # a project that is gone already counts as deleted
        learnifier_conn_id=LEARNIFIER_CONN_ID,
    )
    # [END howto_operator_learnifier_delete_project]

    plan_closing() >> [disable_project, delete_project]
