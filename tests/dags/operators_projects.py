"""DAGs that run the project and org unit operators against the simulator, inputs from params and XCom.

- ``operators_projects``: create a project from a course design named in params (by external
  id, so a second create reuses it), then update it with values from params and the first
  task's XCom.
- ``operators_delete_project``: delete the project ``params.org_id``/``params.project_id``.
- ``operators_org_units``: create an org unit, create it again (reused), then update it by the
  id the first task returned.
- ``operators_conn_from_params``: create an org unit through the connection named in params.
"""

from __future__ import annotations

import pendulum

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2
    from airflow import DAG

from airflow_provider_learnifier.operators.org_units import (
    LearnifierCreateOrgUnitOperator,
    LearnifierUpdateOrgUnitOperator,
)
from airflow_provider_learnifier.operators.projects import (
    LearnifierCreateProjectOperator,
    LearnifierDeleteProjectOperator,
    LearnifierUpdateProjectOperator,
)

START = pendulum.datetime(2026, 1, 1, tz="UTC")

with DAG(
    dag_id="operators_projects",
    schedule=None,
    start_date=START,
    catchup=False,
    params={
        "org_external_id": "acme",
        "design_name": "Security Awareness",
        "project_external_id": "security-2026",
        "name": "Security Awareness 2026",
        "note": "created by a test",
        "status": "activated",
        "user_title": "Stay safe",
    },
    tags=["learnifier", "test"],
):
    create = LearnifierCreateProjectOperator(
        task_id="create",
        name="{{ params.name }}",
        org_external_id="{{ params.org_external_id }}",
        design_name="{{ params.design_name }}",
        external_id="{{ params.project_external_id }}",
        note="{{ params.note }}",
        timezone="Europe/Stockholm",
    )
    create_again = LearnifierCreateProjectOperator(
        task_id="create_again",
        name="{{ params.name }}",
        org_external_id="{{ params.org_external_id }}",
        design_name="{{ params.design_name }}",
        external_id="{{ params.project_external_id }}",
    )
    update = LearnifierUpdateProjectOperator(
        task_id="update",
        org_id="{{ ti.xcom_pull(task_ids='create')['org_id'] }}",
        project_id="{{ ti.xcom_pull(task_ids='create')['project_id'] }}",
        name="{{ ti.xcom_pull(task_ids='create')['name'] }} (running)",
        status="{{ params.status }}",
        user_title="{{ params.user_title }}",
    )
    create >> create_again >> update

with DAG(
    dag_id="operators_delete_project",
    schedule=None,
    start_date=START,
    catchup=False,
    params={"org_id": 1001, "project_id": 2001},
    tags=["learnifier", "test"],
):
    LearnifierDeleteProjectOperator(
        task_id="delete", org_id="{{ params.org_id }}", project_id="{{ params.project_id }}", retries=0
    )

with DAG(
    dag_id="operators_org_units",
    schedule=None,
    start_date=START,
    catchup=False,
    params={
        "display_name": "Globex",
        "external_id": "globex",
        "client_number": "C-2002",
        "parent": 1001,
        "new_name": "Globex Nordics",
        "country": "no",
    },
    tags=["learnifier", "test"],
):
    create_unit = LearnifierCreateOrgUnitOperator(
        task_id="create",
        display_name="{{ params.display_name }}",
        external_id="{{ params.external_id }}",
        client_number="{{ params.client_number }}",
        parent="{{ params.parent }}",
    )
    create_unit_again = LearnifierCreateOrgUnitOperator(
        task_id="create_again",
        display_name="{{ params.display_name }}",
        external_id="{{ params.external_id }}",
    )
    update_unit = LearnifierUpdateOrgUnitOperator(
        task_id="update",
        org_id="{{ ti.xcom_pull(task_ids='create')['org_id'] }}",
        display_name="{{ params.new_name }}",
        country="{{ params.country }}",
    )
    create_unit >> create_unit_again >> update_unit

with DAG(
    dag_id="operators_conn_from_params",
    schedule=None,
    start_date=START,
    catchup=False,
    params={"conn_id": "learnifier_default", "display_name": "Initech"},
    tags=["learnifier", "test"],
):
    LearnifierCreateOrgUnitOperator(
        task_id="create",
        display_name="{{ params.display_name }}",
        learnifier_conn_id="{{ params.conn_id }}",
    )
