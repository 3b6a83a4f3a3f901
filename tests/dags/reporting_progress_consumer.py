"""A DAG scheduled on the progress report's asset: it runs after each new report.

It reads the report of the run that triggered it from the asset event's ``extra``, which
LearnifierProgressReportOperator fills with its summary (``path``, ``format``, ``rows``, ...).
"""

from __future__ import annotations

from typing import Any

import pendulum

try:
    from airflow.sdk import DAG, Asset, task
except ImportError:  # Airflow 2: assets were called datasets
    from airflow import DAG
    from airflow.datasets import Dataset as Asset
    from airflow.decorators import task

REPORT_ASSET = Asset("file:///learnifier-tests/progress-report")

with DAG(
    dag_id="reporting_progress_consumer",
    schedule=[REPORT_ASSET],
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    is_paused_upon_creation=False,
    tags=["learnifier", "test"],
):

    @task
    def read_report(**context: Any) -> list[str]:
        """Return the paths of the reports that triggered this run."""
        if "triggering_asset_events" in context:
            events = context["triggering_asset_events"][REPORT_ASSET]
        else:  # Airflow 2: dataset events, keyed by the URI
            events = context["triggering_dataset_events"][REPORT_ASSET.uri]
        return [event.extra["path"] for event in events]

    read_report()
