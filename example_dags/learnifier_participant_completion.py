"""
Onboard a new hire: enroll them in the onboarding course, wait until they complete it, record it.

HR triggers a run per new employee, the person in the `new_hire` param. **enroll** makes them an
activated participant of the onboarding project (**create_project** makes it if missing);
**wait_for_completion** waits, deferred, until they have completed it; **record_completion** writes
their training record, `training-records/<employee id>-<project>.json` under `report_dir`, for HR.
"""

from __future__ import annotations

import json

import pendulum
from airflow.sdk import DAG, ObjectStoragePath, Param, task

from airflow_provider_learnifier.operators.participants import LearnifierEnrollOperator
from airflow_provider_learnifier.operators.projects import LearnifierCreateProjectOperator
from airflow_provider_learnifier.sensors.participants import LearnifierParticipantCompletedSensor

PROJECT = "acme-onboarding-2026"  # the onboarding course project's external id
ROSTER = "[{{ params.new_hire | tojson }}]"  # a roster of one: the new hire, a roster row
NOAH = {
    "external_id": "E1009",
    "email": "noah.petersen@acme.example",
    "first_name": "Noah",
    "last_name": "Petersen",
    "locale": "en",
}  # a new hire of March (data/acme_roster_2026-03.csv); external_id is the employee number
with DAG(
    dag_id="learnifier_participant_completion",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    doc_md=__doc__,
    tags=["learnifier", "example"],
    params={
        "new_hire": Param(NOAH, type="object", description="The new hire, a roster row."),
        "poll_interval": Param(3600, type="number", description="Seconds between completion checks."),
        "report_dir": Param("/tmp/learnifier-reports", description="Directory or object store prefix."),
    },
):
    create_project = LearnifierCreateProjectOperator(
        task_id="create_project",
        name="Acme Onboarding 2026",
        org_external_id="acme",
        design_name="Onboarding",
        external_id=PROJECT,  # reused when it exists: reruns are safe
    )
    enroll = LearnifierEnrollOperator(task_id="enroll", roster=ROSTER, project_external_id=PROJECT)
    # [START howto_sensor_learnifier_participant_completed]
    wait_for_completion = LearnifierParticipantCompletedSensor(
        task_id="wait_for_completion",
        participant_id="{{ ti.xcom_pull('enroll')['participant_ids'][params.new_hire.external_id] }}",
        project_external_id=PROJECT,
        deferrable=True,  # waits in the triggerer: no worker slot is held for weeks
        poll_interval="{{ params.poll_interval }}",
        timeout=60 * 24 * 3600,  # onboarding takes two months at most; then the task fails
    )
    # [END howto_sensor_learnifier_participant_completed]
    create_project >> enroll >> wait_for_completion

    @task
    def record_completion(progress: dict, enrollment: dict, params: dict) -> dict:
        """Write the new hire's training record for HR; return it, with its path."""
        record = {
            "employee_id": params["new_hire"]["external_id"],
            "email": params["new_hire"]["email"],
            "course": enrollment["project"]["name"],
            "project_external_id": PROJECT,
            "participant_id": str(progress["participant_id"]),
            "activities_completed": progress["activities_completed"],
            "activities_total": progress["activities_total"],
            "recorded_at": pendulum.now("UTC").isoformat(timespec="seconds"),
        }
        name = f"{params['new_hire']['external_id']}-{PROJECT}.json"
        path = ObjectStoragePath(params["report_dir"], "training-records", name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        return {**record, "path": str(path)}

    record_completion(wait_for_completion.output, enroll.output)
