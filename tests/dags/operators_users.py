"""DAGs that run the users and user group operators against the simulator, inputs from params and XCom.

``operators_users``: upsert ``params.users``, create the user group ``params.group_name`` in
``params.org_external_id``, add every upserted user to it (ids from the upsert task's XCom,
group id from the create task's), then remove the users ``params.remove_external_ids`` name.
"""

from __future__ import annotations

import pendulum

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2
    from airflow import DAG

from airflow_provider_learnifier.operators.user_groups import (
    LearnifierAddUserGroupMembersOperator,
    LearnifierCreateUserGroupOperator,
    LearnifierRemoveUserGroupMembersOperator,
)
from airflow_provider_learnifier.operators.users import LearnifierUpsertUsersOperator

GROUP = "{{ ti.xcom_pull(task_ids='create_group')['group_id'] }}"

with DAG(
    dag_id="operators_users",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    params={"users": [], "org_external_id": "acme", "group_name": "Course takers", "remove_external_ids": []},
    render_template_as_native_obj=True,
    tags=["learnifier", "test"],
):
    upsert = LearnifierUpsertUsersOperator(task_id="upsert", users="{{ params.users }}")
    create_group = LearnifierCreateUserGroupOperator(
        task_id="create_group", name="{{ params.group_name }}", org_external_id="{{ params.org_external_id }}"
    )
    add = LearnifierAddUserGroupMembersOperator(
        task_id="add_members",
        org_external_id="{{ params.org_external_id }}",
        group_id=GROUP,
        user_ids="{{ ti.xcom_pull(task_ids='upsert')['user_ids'] }}",
    )
    remove = LearnifierRemoveUserGroupMembersOperator(
        task_id="remove_members",
        org_external_id="{{ params.org_external_id }}",
        group_id=GROUP,
        # Comma-separated text: the ids of the upserted users that params.remove_external_ids names.
        user_ids=(
            "{% set ids = ti.xcom_pull(task_ids='upsert')['user_ids'] %}"
            "{% for key in params.remove_external_ids %}{{ ids[key] }},{% endfor %}"
        ),
    )
    [upsert, create_group] >> add >> remove
