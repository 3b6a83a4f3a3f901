"""
Enroll an HR roster in a Learnifier course, wait until they complete it, and report their progress.

**upsert_users** creates or updates a user per person of the roster (an HR export, CSV);
**create_project** finds the course project or creates it from its design; **enroll** adds and
activates everyone; **wait_for_completion** waits (deferred) until all have completed the course;
**write_report** writes their progress. Reruns change nothing. See `docs/guides/enrollment.md`.
"""

from __future__ import annotations

from pathlib import Path

import pendulum
from airflow.sdk import DAG, Param

from airflow_provider_learnifier.operators.participants import LearnifierEnrollOperator
from airflow_provider_learnifier.operators.projects import LearnifierCreateProjectOperator
from airflow_provider_learnifier.operators.reporting import LearnifierProgressReportOperator
from airflow_provider_learnifier.operators.users import LearnifierUpsertUsersOperator
from airflow_provider_learnifier.sensors.projects import LearnifierProjectCompletionSensor

# [START howto_connection_learnifier]
default_args = {"learnifier_conn_id": "learnifier_default"}  # the connection of every task of the DAG
# [END howto_connection_learnifier]
PROJECT = "acme-security-awareness-2026"  # the course project's external id
EXAMPLE_ROSTER = str(Path(__file__).parent / "data" / "acme_roster_2026-01.csv")  # an HR export

with DAG(
    dag_id="learnifier_enrollment",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    default_args=default_args,
    doc_md=__doc__,
    tags=["learnifier", "example"],
    params={
        "roster": Param(EXAMPLE_ROSTER, description="Path or URL of the roster CSV."),
        "report_dir": Param("/tmp/learnifier-reports", description="Directory or object store prefix."),
        "poll_interval": Param(1800, type="number", description="Seconds between completion checks."),
    },
):
    # [START howto_operator_learnifier_upsert_users]
    upsert_users = LearnifierUpsertUsersOperator(
        task_id="upsert_users",
        users="{{ params.roster }}",  # a CSV path or URL, a JSON text, or a list of dicts from XCom
    )
    # [END howto_operator_learnifier_upsert_users]
    # [START howto_operator_learnifier_create_project]
    create_project = LearnifierCreateProjectOperator(
        task_id="create_project",
        name="Acme Security Awareness 2026",
        org_external_id="acme",
        design_name="Security Awareness",
        external_id=PROJECT,  # reused when it exists: reruns are safe
    )
    # [END howto_operator_learnifier_create_project]
    # [START howto_operator_learnifier_enroll]
    enroll = LearnifierEnrollOperator(
        task_id="enroll",
        roster="{{ params.roster }}",
        project_external_id=PROJECT,
        activate=True,
        create_missing_users=False,  # upsert_users made them, with their names and locales
    )
    # [END howto_operator_learnifier_enroll]
    # [START howto_sensor_learnifier_project_completion]
    wait_for_completion = LearnifierProjectCompletionSensor(
        task_id="wait_for_completion",
        project_external_id=PROJECT,
        min_completed_share=1.0,  # of the activated participants
        deferrable=True,  # waits in the triggerer: no worker slot is held for weeks
        poll_interval="{{ params.poll_interval }}",  # seconds
        timeout=30 * 24 * 3600,  # a course runs for weeks; then the task fails
    )
    # [END howto_sensor_learnifier_project_completion]
    write_report = LearnifierProgressReportOperator(
        task_id="write_report",
        path="{{ params.report_dir }}/" + PROJECT + "-progress.csv",
        project_external_ids=PROJECT,
    )
    [upsert_users, create_project] >> enroll >> wait_for_completion >> write_report
