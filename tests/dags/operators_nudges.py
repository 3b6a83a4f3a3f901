"""A DAG that nudges the not-started participants of the demo organization unit by email.

The ledger's directory comes from ``params.ledger``; mail goes through ``smtp_default``.
"""

from __future__ import annotations

import pendulum

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2
    from airflow import DAG

from airflow_provider_learnifier.operators.nudges import LearnifierNudgeOperator

with DAG(
    dag_id="operators_nudges",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    params={"ledger": "/tmp/learnifier-nudge-ledger"},
    tags=["learnifier", "test"],
):
    LearnifierNudgeOperator(
        task_id="nudge",
        selector=[{"org_id": "1001", "states": {"not_started": {"days": 7}}}],
        ledger_path="{{ params.ledger }}",
        max_nudges=10,
    )
