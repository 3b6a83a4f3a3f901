"""
A daily Learnifier progress report, published as an Asset.

**learnifier_progress_report** runs every day. It writes the progress of every participant of
every project of an organization unit to a dated CSV file (one row per participant: project,
user, external ids, activation, activities completed and total, completion share, first and last
access, expiration, error state). The file is written atomically: readers never see half a
report. The task declares the file as the Asset `learnifier_daily_progress_report`, so each
successful run emits an asset event whose `extra` is the report's summary, with its `path`; the
`learnifier_progress_summary` example is scheduled on it.

**Settings.** The `org_id` param names the organization unit (its default, 1001, is the Learnifier
simulator's `demo` seed, `make demo`). Reports go to the `report_dir` param (a directory or an
object store prefix such as `s3://bucket/learnifier`; set its default for your deployment). The
connection is `learnifier_default`. Written for Airflow 3 (the Task SDK,
`airflow.sdk`).
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Asset, Param

from airflow_provider_learnifier.operators.reporting import LearnifierProgressReportOperator

#: The report, as an Asset. Its identity is fixed when the DAG is parsed, while the file of each
#: run is dated: each asset event's ``extra["path"]`` names the file that run wrote.
PROGRESS_REPORT = Asset(name="learnifier_daily_progress_report")

with DAG(
    dag_id="learnifier_progress_report",
    description="Daily export of the progress of every participant of an organization unit",
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["learnifier", "example"],
    params={
        "org_id": Param(1001, type="integer", description="Id of the organization unit to report."),
        "report_dir": Param(
            "/tmp/learnifier-reports", minLength=1, description="Directory or object store prefix."
        ),
    },
):
    # [START howto_operator_learnifier_progress_report]
    LearnifierProgressReportOperator(
        task_id="write_report",
        # One file per day; CSV, or JSON Lines for a path ending in .jsonl.
        path="{{ params.report_dir }}/learnifier-progress-{{ dag_run.run_after | ds }}.csv",
        org_id="{{ params.org_id }}",  # every project of the org unit; or project_ids / project_external_ids
        asset=PROGRESS_REPORT,  # each run emits an asset event, its extra the summary with the path
        learnifier_conn_id="learnifier_default",  # see the learnifier_enrollment example
    )
    # [END howto_operator_learnifier_progress_report]
