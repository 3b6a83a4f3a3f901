"""A DAG of the distributed deployment test: one roster enrolled in several courses, one task each.

``deployment_mapped_enrollment`` upserts the example roster's users, then creates a course project
per external id of ``COURSES`` and enrolls the roster in each: ``create_project`` and ``enroll``
are mapped over the courses, so that the CeleryExecutor hands their task instances to several
workers at once (``tests/integration/test_distributed_deployment.py``).
"""

from __future__ import annotations

from pathlib import Path

import pendulum
from airflow.sdk import DAG

from airflow_provider_learnifier.operators.participants import LearnifierEnrollOperator
from airflow_provider_learnifier.operators.projects import LearnifierCreateProjectOperator
from airflow_provider_learnifier.operators.users import LearnifierUpsertUsersOperator

#: The courses' external ids: one mapped ``create_project`` and ``enroll`` task instance each.
COURSES = [f"acme-distributed-{number}" for number in range(1, 5)]
ROSTER = str(Path(__file__).resolve().parents[3] / "example_dags" / "data" / "acme_roster_2026-01.csv")

with DAG(
    dag_id="deployment_mapped_enrollment",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["learnifier", "test"],
):
    upsert_users = LearnifierUpsertUsersOperator(task_id="upsert_users", users=ROSTER)
    create_project = LearnifierCreateProjectOperator.partial(
        task_id="create_project", org_external_id="acme", design_name="Security Awareness"
    ).expand_kwargs([{"name": f"Acme course {course}", "external_id": course} for course in COURSES])
    enroll = LearnifierEnrollOperator.partial(
        task_id="enroll", roster=ROSTER, activate=True, create_missing_users=False
    ).expand(project_external_id=COURSES)
    [upsert_users, create_project] >> enroll
