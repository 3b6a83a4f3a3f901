"""Quickstart: with the Learnifier hook alone, make sure a course project exists and enroll two people.

The project is found by its external id, else created from a course design. Each person is added and
activated, unless they were already (activating again renews their access), then printed with their
progress: a rerun changes nothing. Defaults: the simulator's demo seed; connection learnifier_default.
"""

from __future__ import annotations

from datetime import datetime

from airflow_provider_learnifier.exceptions import LearnifierConflictError, LearnifierNotFoundError
from airflow_provider_learnifier.hooks.learnifier import LearnifierHook

# [START howto_portable_imports]
try:  # Airflow 3
    from airflow.sdk import Param, dag, task
except ImportError:  # Airflow 2.11
    from airflow.decorators import dag, task
    from airflow.models.param import Param
# [END howto_portable_imports]


@dag(
    schedule=None,
    start_date=datetime(2026, 1, 1),
    tags=["learnifier", "example"],
    doc_md=__doc__,
    params={
        "org_external_id": Param("acme", type="string"),
        "design_name": Param("Onboarding", type="string"),
        "project_external_id": Param("quickstart-onboarding", type="string"),
        "people": Param(["ada@example.com", "grace@example.com"], type="array"),
    },
)
def learnifier_quickstart() -> None:
    @task
    def enroll(params: dict) -> dict:
        ext_id = params["project_external_id"]
        with LearnifierHook() as hook:
            # [START howto_hook_find_or_create_project]
            try:
                project = hook.get_project_by_external_id(ext_id)
            except LearnifierNotFoundError:
                org_id = hook.get_org_unit_by_external_id(params["org_external_id"])["id"]
                design = next(d for d in hook.list_course_designs() if d["name"] == params["design_name"])
                name = f"{design['name']} (quickstart)"
                project = hook.create_project(org_id, name=name, design_id=design["id"], external_id=ext_id)
            # [END howto_hook_find_or_create_project]
            # [START howto_hook_enroll_and_activate]
            participants = hook.list_participants(project["orgId"], project["id"])
            activated = {str(p["id"]) for p in participants if p.get("activated")}
            for email in params["people"]:
                try:
                    participant_id = hook.add_participant(project["orgId"], project["id"], email=email)
                except LearnifierConflictError as conflict:  # a participant already
                    participant_id = conflict.existing_id
                if participant_id is None:
                    raise RuntimeError(f"Learnifier did not say which participant {email} became")
                if str(participant_id) not in activated:
                    hook.activate_participant(project["orgId"], project["id"], participant_id)
            # [END howto_hook_enroll_and_activate]
        return project

    # [START howto_hook_list_participants]
    @task
    def report(project: dict) -> list[dict]:
        rows = []
        with LearnifierHook() as hook:
            for p in hook.list_participants(project["orgId"], project["id"]):
                done = f"{p.get('activitiesCompleted', 0)}/{p.get('activitiesTotal', 0)}"  # activities
                rows.append({"participant": str(p["id"]), "activated": p.get("activated"), "progress": done})
        print(f"Project {project['name']!r} ({project['id']}):", *rows, sep="\n  ")
        return rows

    # [END howto_hook_list_participants]
    report(enroll())


learnifier_quickstart()
