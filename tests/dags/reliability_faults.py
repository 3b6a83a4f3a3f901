"""DAGs of the fault-injection suite (``tests/reliability/``), run with real Airflow task execution.

- ``reliability_enroll``: LearnifierEnrollOperator enrolls the roster file ``params.roster`` in
  the project ``params.project_external_id``, creating missing users and activating everyone.
- ``reliability_report``: LearnifierProgressReportOperator writes the progress of every project
  of organization unit ``params.org_id`` to ``params.path`` (default ``user_lookup="auto"``).

Both tasks have Airflow retries (:data:`ENROLL_RETRIES`, :data:`REPORT_RETRIES`): the suite
asserts that each fault case ends in the exact state within them. The retry delay is longer than
the simulator's slow answers, so a request that a timed-out attempt left in flight has landed
before the next attempt reads the state, as with Airflow's default delay of five minutes.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2
    from airflow import DAG

from airflow_provider_learnifier.operators.participants import LearnifierEnrollOperator
from airflow_provider_learnifier.operators.reporting import LearnifierProgressReportOperator

ENROLL_RETRIES = 8
REPORT_RETRIES = 5
RETRY_DELAY = timedelta(seconds=3)

START = pendulum.datetime(2026, 1, 1, tz="UTC")

with DAG(
    dag_id="reliability_enroll",
    schedule=None,
    start_date=START,
    catchup=False,
    params={"roster": "", "project_external_id": "acme-onboarding-2024"},
    tags=["learnifier", "test", "reliability"],
):
    LearnifierEnrollOperator(
        task_id="enroll",
        roster="{{ params.roster }}",
        project_external_id="{{ params.project_external_id }}",
        create_missing_users=True,
        activate=True,
        max_concurrency=8,
        retries=ENROLL_RETRIES,
        retry_delay=RETRY_DELAY,
    )

with DAG(
    dag_id="reliability_report",
    schedule=None,
    start_date=START,
    catchup=False,
    params={"path": "/tmp/learnifier-reliability-report.csv", "org_id": 1001},
    tags=["learnifier", "test", "reliability"],
):
    LearnifierProgressReportOperator(
        task_id="report",
        path="{{ params.path }}",
        org_id="{{ params.org_id }}",
        retries=REPORT_RETRIES,
        retry_delay=RETRY_DELAY,
    )
