"""A DAG of the hostile-input tests (``tests/reliability/test_hostile_input.py``): one try, no retries.

``reliability_hostile_enroll`` enrolls ``params.roster`` (a list) in ``params.project_external_id``
with LearnifierEnrollOperator, so that bad connections and bad answers are seen as Airflow runs
and logs them.
"""

from __future__ import annotations

import pendulum

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2
    from airflow import DAG

from airflow_provider_learnifier.operators.participants import LearnifierEnrollOperator

with DAG(
    dag_id="reliability_hostile_enroll",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    params={"roster": [], "project_external_id": "acme-onboarding-2024"},
    render_template_as_native_obj=True,
    tags=["learnifier", "test", "reliability"],
):
    LearnifierEnrollOperator(
        task_id="enroll",
        roster="{{ params.roster }}",
        project_external_id="{{ params.project_external_id }}",
        retries=0,
    )
