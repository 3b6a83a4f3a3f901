"""DAGs that export Learnifier progress with LearnifierProgressReportOperator, every input from params.

``reporting_progress`` renders templates as native objects (lists stay lists, a null org stays
``None``); ``reporting_progress_text`` renders them as text, as most DAGs do, so the operator
reads lists back from strings such as ``"['a', 'b']"``. ``reporting_progress_org_unit`` leaves
``project_ids`` and ``project_external_ids`` out, so it reports every project of ``params.org_id``
(in the other two, a selection that renders empty is refused). ``reporting_progress_fail_on_bad_data``
is ``reporting_progress`` with ``on_bad_data="fail"``. All declare the report as the asset
``REPORT_ASSET``, which ``reporting_progress_consumer`` is scheduled on.
"""

from __future__ import annotations

import pendulum

try:
    from airflow.sdk import DAG, Asset
except ImportError:  # Airflow 2: assets were called datasets
    from airflow import DAG
    from airflow.datasets import Dataset as Asset

from airflow_provider_learnifier.operators.reporting import LearnifierProgressReportOperator

#: The report's asset: fixed when the DAG is parsed, while the file's path comes from params
#: (each asset event's ``extra["path"]`` names the file written).
REPORT_ASSET = Asset("file:///learnifier-tests/progress-report")

PARAMS = {
    "path": "/tmp/learnifier-progress-report.csv",
    "org_id": None,
    "project_ids": [],
    "project_external_ids": [],
}

for dag_id, native, on_bad_data in (
    ("reporting_progress", True, "warn"),
    ("reporting_progress_text", False, "warn"),
    ("reporting_progress_fail_on_bad_data", True, "fail"),
):
    with DAG(
        dag_id=dag_id,
        schedule=None,
        start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
        catchup=False,
        params=PARAMS,
        render_template_as_native_obj=native,
        tags=["learnifier", "test"],
    ):
        LearnifierProgressReportOperator(
            task_id="report",
            path="{{ params.path }}",
            org_id="{{ params.org_id }}",
            project_ids="{{ params.project_ids }}",
            project_external_ids="{{ params.project_external_ids }}",
            asset=REPORT_ASSET,
            on_bad_data=on_bad_data,
        )

with DAG(
    dag_id="reporting_progress_org_unit",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    params={"path": PARAMS["path"], "org_id": 1001},
    tags=["learnifier", "test"],
):
    LearnifierProgressReportOperator(
        task_id="report", path="{{ params.path }}", org_id="{{ params.org_id }}", asset=REPORT_ASSET
    )
