"""
Onboard a new hire: enroll them in the onboarding course, wait until they complete it, record it.

HR triggers a run for each new employee (from its system through Airflow's REST API, or in the
UI), the person in the run's params. The DAG

1. **create_project**: finds this year's onboarding course project by its external id, or creates
   it from the course design;
2. **enroll**: makes sure the new hire is a Learnifier user (created with their name and locale
   when they have none), a participant of the project, and activated;
3. **wait_for_completion**: waits, deferred to the triggerer so that no worker slot is held, until
   the new hire has completed every activity of the course;
4. **record_completion**: writes their training record, a small JSON file that HR's system picks
   up (`training-records/<employee id>-<project>.json`), and says who completed what.

A second run for the same person changes nothing in Learnifier: it finds them enrolled and, once
they have completed the course, writes their record again.

**Settings.** The params name the organization unit, the course design and project, and the new
hire; their defaults match the Learnifier simulator's `demo` seed (`make demo`): the new hire is
Noah Petersen, who joined in March (`data/acme_roster_2026-03.csv`). Records go to the
`report_dir` param (a directory or an object store prefix), else `learnifier-reports` under
AIRFLOW_HOME. The connection is
`learnifier_default`. Written for Airflow 3 (the Task SDK, `airflow.sdk`).
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from typing import Any

import pendulum
from airflow.sdk import DAG, ObjectStoragePath, Param, task

from airflow_provider_learnifier.operators.participants import LearnifierEnrollOperator
from airflow_provider_learnifier.operators.projects import LearnifierCreateProjectOperator
from airflow_provider_learnifier.sensors.participants import LearnifierParticipantCompletedSensor

#: The Airflow connection to Learnifier (see the learnifier_enrollment example).
LEARNIFIER_CONN_ID = "learnifier_default"
#: Where records go unless the ``report_dir`` param says otherwise: under AIRFLOW_HOME, never next
#: to the DAG files.
DEFAULT_REPORT_DIR = os.path.join(
    os.environ.get("AIRFLOW_HOME") or os.path.expanduser("~/airflow"), "learnifier-reports"
)
REPORT_DIR = "{{ params.report_dir or default_report_dir }}"

with DAG(
    dag_id="learnifier_participant_completion",
    description="Enroll a new hire in the onboarding course, wait until they complete it, record it",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    doc_md=__doc__,
    tags=["learnifier", "example"],
    user_defined_macros={"default_report_dir": DEFAULT_REPORT_DIR},
    params={
        "org_external_id": Param(
            "acme", type="string", description="External id of the organization unit the course runs in."
        ),
        "design_name": Param(
            "Onboarding", type="string", description="Name of the course design the project uses."
        ),
        "project_external_id": Param(
            "acme-onboarding-2026",
            type="string",
            description="External id of the onboarding project: found by it, or created with it.",
        ),
        "project_name": Param(
            "Acme Onboarding 2026", type="string", description="Name of a project created by the run."
        ),
        "employee_id": Param(
            "E1009",
            type="string",
            minLength=1,
            description="The new hire's employee number: their external id in Learnifier.",
        ),
        "email": Param("noah.petersen@acme.example", type="string", description="The new hire's email."),
        "first_name": Param("Noah", type="string", description="The new hire's first name."),
        "last_name": Param("Petersen", type="string", description="The new hire's last name."),
        "locale": Param("en", type="string", description="The new hire's language, e.g. en or sv."),
        "poll_interval": Param(
            60 * 60,
            type="number",
            exclusiveMinimum=0,
            description="Seconds between two completion checks: onboarding takes days, so hourly.",
        ),
        "report_dir": Param(
            None,
            type=["null", "string"],
            description="Directory or object store prefix of the training records. Empty: "
            "learnifier-reports under AIRFLOW_HOME.",
        ),
    },
):
    create_project = LearnifierCreateProjectOperator(
        task_id="create_project",
        name="{{ params.project_name }}",
        org_external_id="{{ params.org_external_id }}",
        design_name="{{ params.design_name }}",
        external_id="{{ params.project_external_id }}",  # reused when it exists: reruns are safe
        learnifier_conn_id=LEARNIFIER_CONN_ID,
    )

    enroll = LearnifierEnrollOperator(
        task_id="enroll",
        # A roster of one, from the params (each value is templated).
        roster=[
            {
                "external_id": "{{ params.employee_id }}",
                "email": "{{ params.email }}",
                "first_name": "{{ params.first_name }}",
                "last_name": "{{ params.last_name }}",
                "locale": "{{ params.locale }}",
            }
        ],
        project_external_id="{{ params.project_external_id }}",
        activate=True,
        learnifier_conn_id=LEARNIFIER_CONN_ID,
    )

    # [START howto_sensor_learnifier_participant_completed]
    wait_for_completion = LearnifierParticipantCompletedSensor(
        task_id="wait_for_completion",
        # enroll's result maps each person (by external id) to their participant id.
        participant_id="{{ ti.xcom_pull(task_ids='enroll')['participant_ids'][params.employee_id] }}",
        project_external_id="{{ params.project_external_id }}",
        deferrable=True,  # waits in the triggerer: no worker slot is held for weeks
        poll_interval="{{ params.poll_interval }}",
        timeout=60 * 24 * 3600,  # onboarding takes two months at most; then the task fails
        learnifier_conn_id=LEARNIFIER_CONN_ID,
    )
    # [END howto_sensor_learnifier_participant_completed]

    @task
    def record_completion(
        progress: dict[str, Any], enrollment: dict[str, Any], report_dir: str, params: dict[str, Any]
    ) -> dict[str, Any]:
        """Write the new hire's training record for HR, and say who completed what; return the record."""
        record = {
            "employee_id": params["employee_id"],
            "email": params["email"],
            "course": enrollment["project"]["name"],
            "project_external_id": params["project_external_id"],
            "participant_id": str(progress["participant_id"]),
            "activities_completed": progress["activities_completed"],
            "activities_total": progress["activities_total"],
            "recorded_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        name = f"{params['employee_id']}-{params['project_external_id']}.json"
        path = ObjectStoragePath(report_dir) / "training-records" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        print(
            f"{params['first_name']} {params['last_name']} ({params['employee_id']}) completed "
            f"{record['course']!r}: {record['activities_completed']} of {record['activities_total']} "
            f"activities. Training record: {path}"
        )
        return {**record, "path": str(path)}

    create_project >> enroll >> wait_for_completion
    record_completion(wait_for_completion.output, enroll.output, REPORT_DIR)
