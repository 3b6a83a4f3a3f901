"""
A daily Learnifier progress report, published as an Asset, and a DAG that summarises each report.

**learnifier_progress_report** runs every day. It writes the progress of every participant of
every project of an organization unit to a dated CSV file (one row per participant: project,
user, external ids, activation, activities completed and total, completion share, first and last
access, expiration, error state). The file is written atomically: readers never see half a
report. The task declares the file as the Asset `learnifier_daily_progress_report`, so each
successful run emits an asset event whose `extra` is the report's summary, with its `path`.

**learnifier_progress_summary** is scheduled on that Asset: it runs after each new report, reads
it (the file named by the triggering event), and writes the completion per project into a
second file next to it, `<report>-summary.csv`. Started by hand, it summarises the newest report.

**Settings.** The `org_id` param names the organization unit (its default, 1001, is the Learnifier
simulator's `demo` seed, `make demo`). Reports go to the `report_dir` param, else the Airflow
Variable `learnifier_report_dir` (a directory or an object store prefix such as
`s3://bucket/learnifier`), else `learnifier-reports` under AIRFLOW_HOME. The connection is
`learnifier_default`. Written for Airflow 3 (the Task SDK, `airflow.sdk`).
"""

from __future__ import annotations

import csv
import io
import os
from typing import Any

import pendulum
from airflow.sdk import DAG, Asset, ObjectStoragePath, Param, task

from airflow_provider_learnifier.operators.reporting import LearnifierProgressReportOperator

#: The Airflow connection to Learnifier (see the learnifier_enrollment example).
LEARNIFIER_CONN_ID = "learnifier_default"
#: Where reports go unless the ``report_dir`` param or the ``learnifier_report_dir`` Variable
#: says otherwise: under AIRFLOW_HOME, never next to the DAG files.
DEFAULT_REPORT_DIR = os.path.join(
    os.environ.get("AIRFLOW_HOME") or os.path.expanduser("~/airflow"), "learnifier-reports"
)
REPORT_DIR = "{{ params.report_dir or var.value.get('learnifier_report_dir', default_report_dir) }}"

#: The report, as an Asset. Its identity is fixed when the DAG is parsed, while the file of each
#: run is dated: each asset event's ``extra["path"]`` names the file that run wrote.
PROGRESS_REPORT = Asset(name="learnifier_daily_progress_report")

#: The columns of the summary file.
SUMMARY_COLUMNS = (
    "project_id",
    "project_name",
    "project_external_id",
    "participants",
    "activated",
    "completed",
    "completion_share",
)

with DAG(
    dag_id="learnifier_progress_report",
    description="Daily export of the progress of every participant of an organization unit",
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["learnifier", "example"],
    user_defined_macros={"default_report_dir": DEFAULT_REPORT_DIR},
    params={
        "org_id": Param(1001, type="integer", description="Id of the organization unit to report."),
        "report_dir": Param(
            None,
            type=["null", "string"],
            description="Directory or object store prefix of the report. Empty: the Airflow Variable "
            "learnifier_report_dir, else learnifier-reports under AIRFLOW_HOME.",
        ),
    },
):
    # [START howto_operator_learnifier_progress_report]
    LearnifierProgressReportOperator(
        task_id="write_report",
        # One file per day; CSV, or JSON Lines for a path ending in .jsonl.
        path=REPORT_DIR + "/learnifier-progress-{{ dag_run.run_after | ds }}.csv",
        org_id="{{ params.org_id }}",  # every project of the org unit; or project_ids / project_external_ids
        asset=PROGRESS_REPORT,  # each run emits an asset event, its extra the summary with the path
        learnifier_conn_id=LEARNIFIER_CONN_ID,
    )
    # [END howto_operator_learnifier_progress_report]


# [START howto_operator_learnifier_progress_report_asset]
with DAG(
    dag_id="learnifier_progress_summary",
    description="Completion per project of each new Learnifier progress report",
    schedule=[PROGRESS_REPORT],  # runs after each new report
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    is_paused_upon_creation=False,  # it only reads reports: let it follow them as soon as it is deployed
    doc_md=__doc__,
    tags=["learnifier", "example"],
):

    @task(inlets=[PROGRESS_REPORT])
    def summarise(triggering_asset_events: Any = None, inlet_events: Any = None) -> dict[str, Any]:
        """Write the completion per project of the report into ``<report>-summary.csv``; return it."""
        # The report of the run that triggered this one; when started by hand, the newest report.
        events = list(triggering_asset_events[PROGRESS_REPORT]) if triggering_asset_events else []
        event = events[-1] if events else inlet_events[PROGRESS_REPORT][-1]
        # The event's extra is the report operator's summary: path, format, projects, rows, ...
        report = ObjectStoragePath(event.extra["path"])
        # [END howto_operator_learnifier_progress_report_asset]
        print(f"Summarising {report} ({event.extra['rows']} rows of {event.extra['projects']} projects)")

        if event.extra["format"] != "csv":
            raise ValueError(f"{report} is a {event.extra['format']} report; this summary reads CSV")

        # Read the report row by row: memory grows with the number of projects, not of rows.
        # (Line by line through readline: the file object of Airflow 3.0 cannot be iterated.)
        projects: dict[str, dict[str, Any]] = {}
        with report.open("r", encoding="utf-8", newline="") as handle:
            for row in csv.DictReader(iter(handle.readline, "")):
                project = projects.setdefault(
                    row["project_id"],
                    {
                        "project_id": row["project_id"],
                        "project_name": row["project_name"],
                        "project_external_id": row["project_external_id"],
                        "participants": 0,
                        "activated": 0,
                        "completed": 0,
                    },
                )
                project["participants"] += 1
                if row["activated"] == "true":
                    project["activated"] += 1
                    done, total = int(row["activities_completed"]), int(row["activities_total"])
                    project["completed"] += total > 0 and done >= total
        for project in projects.values():
            share = project["completed"] / project["activated"] if project["activated"] else 0.0
            project["completion_share"] = round(share, 4)

        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=SUMMARY_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(projects.values())
        summary = report.parent / f"{report.stem}-summary.csv"
        summary.write_text(text.getvalue(), encoding="utf-8")
        for project in projects.values():
            print(
                f"{project['project_name']}: {project['completed']} of {project['activated']} activated "
                f"participant(s) completed ({project['completion_share']:.0%})"
            )
        return {"report": str(report), "summary": str(summary), "projects": list(projects.values())}

    summarise()
