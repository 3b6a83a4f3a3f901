"""DAGs that run LearnifierEnrollOperator (and login links) against the simulator.

Every operator input comes from ``params`` through templates, or from an upstream task's XCom:

- ``operators_enroll``: enroll ``params.roster`` (a list, or a file path/URL as text) in the
  project ``params.project_external_id``; ``max_concurrency`` 8.
- ``operators_enroll_by_id``: the same, naming the project by ``params.org_id`` and
  ``params.project_id``, with ``max_failures=2``.
- ``operators_enroll_sync`` and ``operators_enroll_sync_dry_run``: with ``remove_missing``.
- ``operators_enroll_existing_users_only``: ``create_missing_users=False``, ``activate=False``.
- ``operators_enroll_from_xcom``: a task builds the roster from params; the enroll operator
  takes it from XCom, and the login link operator takes the enrolled participant ids from the
  enroll operator's XCom.
"""

from __future__ import annotations

from typing import Any

import pendulum

try:
    from airflow.sdk import DAG, task
except ImportError:  # Airflow 2
    from airflow import DAG
    from airflow.decorators import task

from airflow_provider_learnifier.operators.participants import (
    LearnifierEnrollOperator,
    LearnifierLoginLinkOperator,
)

START = pendulum.datetime(2026, 1, 1, tz="UTC")
PARAMS: dict[str, Any] = {
    "roster": [],
    "project_external_id": "acme-onboarding-2024",
    "org_id": 1001,
    "project_id": 2001,
    "home_org": "",
}
BY_EXTERNAL_ID = {"project_external_id": "{{ params.project_external_id }}"}
BY_ID = {"org_id": "{{ params.org_id }}", "project_id": "{{ params.project_id }}"}

VARIANTS: dict[str, dict[str, Any]] = {
    "operators_enroll": {**BY_EXTERNAL_ID, "home_org": "{{ params.home_org }}"},
    "operators_enroll_by_id": {**BY_ID, "max_failures": 2},
    "operators_enroll_sync": {**BY_EXTERNAL_ID, "remove_missing": True},
    "operators_enroll_sync_dry_run": {**BY_EXTERNAL_ID, "remove_missing": True, "dry_run": True},
    "operators_enroll_existing_users_only": {
        **BY_EXTERNAL_ID,
        "create_missing_users": False,
        "activate": False,
    },
}

for dag_id, arguments in VARIANTS.items():
    with DAG(
        dag_id=dag_id,
        schedule=None,
        start_date=START,
        catchup=False,
        params=PARAMS,
        render_template_as_native_obj=True,
        tags=["learnifier", "test"],
    ):
        LearnifierEnrollOperator(
            task_id="enroll", roster="{{ params.roster }}", max_concurrency=8, **arguments
        )


with DAG(
    dag_id="operators_enroll_from_xcom",
    schedule=None,
    start_date=START,
    catchup=False,
    params={**PARAMS, "emails": []},
    tags=["learnifier", "test"],
):

    @task
    def build_roster(params: dict[str, Any]) -> list[dict[str, str]]:
        """Turn a list of emails into roster rows, as an HR extract task would."""
        return [{"Email": email, "First Name": email.split("@")[0].title()} for email in params["emails"]]

    enroll = LearnifierEnrollOperator(task_id="enroll", roster=build_roster(), **BY_EXTERNAL_ID)
    # Rendered without native types: the mapping arrives as text and is read back.
    LearnifierLoginLinkOperator(
        task_id="login_links",
        participant_ids="{{ ti.xcom_pull(task_ids='enroll')['participant_ids'] }}",
        org_id="{{ ti.xcom_pull(task_ids='enroll')['project']['org_id'] }}",
        project_id="{{ ti.xcom_pull(task_ids='enroll')['project']['project_id'] }}",
        push_links=False,
    ).set_upstream(enroll)
