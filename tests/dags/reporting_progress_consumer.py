"""A DAG scheduled on the progress report's asset: it runs after each new report.

It reads the report of the run that triggered it from the asset event's ``extra``, which
LearnifierProgressReportOperator fills with its summary (``path``, ``format``, ``rows``, ...).
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import DAG, Asset, task

REPORT_ASSET = Asset(name="learnifier_progress_report", uri="file:///learnifier-tests/progress-report")

with DAG(
    dag_id="reporting_progress_consumer",
    schedule=[REPORT_ASSET],
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    is_paused_upon_creation=False,
    tags=["learnifier", "test"],
):

    @task
    def read_report(triggering_asset_events: Any = None) -> list[str]:
        """Return the paths of the reports that triggered this run."""
        events = (triggering_asset_events or {}).get(REPORT_ASSET, [])
        return [event.extra["path"] for event in events]

    read_report()
