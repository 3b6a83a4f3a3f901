"""
Summarise each new Learnifier progress report: completion per project, from the report's Asset.

**learnifier_progress_summary** is scheduled on the Asset `learnifier_daily_progress_report`
that the `learnifier_progress_report` example publishes: it runs after each new report, reads it
(the file named by the triggering asset event's `extra["path"]`), and writes the completion per
project into a second file next to it, `<report>-summary.csv`, counting completions as the
provider's sensors do (`progress.is_completed`). Started by hand, it summarises the newest
report. Written for Airflow 3 (the Task SDK, `airflow.sdk`).
"""

from __future__ import annotations

import csv
import io
from typing import Any

import pendulum
from airflow.sdk import DAG, Asset, ObjectStoragePath, task

from airflow_provider_learnifier.progress import is_completed

PROGRESS_REPORT = Asset(name="learnifier_daily_progress_report")  # learnifier_progress_report's
COLUMNS = ("project_id", "project_name", "project_external_id", "participants", "activated", "completed")

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
        if event.extra["format"] != "csv":
            raise ValueError(f"{report} is a {event.extra['format']} report; this summary reads CSV")

        # Row by row: memory grows with the number of projects, not of rows. (Through readline:
        # the file object of Airflow 3.0 cannot be iterated.)
        projects: dict[str, dict[str, Any]] = {}
        with report.open("r", encoding="utf-8", newline="") as handle:
            for row in csv.DictReader(iter(handle.readline, "")):
                project = projects.setdefault(
                    row["project_id"],
                    {column: row[column] for column in COLUMNS[:3]} | dict.fromkeys(COLUMNS[3:], 0),
                )
                project["participants"] += 1
                if row["activated"] == "true":
                    project["activated"] += 1
                    counts = {
                        "activitiesCompleted": row["activities_completed"],
                        "activitiesTotal": row["activities_total"],
                    }
                    project["completed"] += is_completed(counts)
        for project in projects.values():
            share = project["completed"] / project["activated"] if project["activated"] else 0.0
            project["completion_share"] = round(share, 4)
            print(f"{project['project_name']}: {project['completed']} of {project['activated']} completed")

        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=(*COLUMNS, "completion_share"), lineterminator="\n")
        writer.writeheader()
        writer.writerows(projects.values())
        summary = report.parent / f"{report.stem}-summary.csv"
        summary.write_text(text.getvalue(), encoding="utf-8")
        return {"report": str(report), "summary": str(summary), "projects": list(projects.values())}

    summarise()
