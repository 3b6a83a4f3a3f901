"""
Quickstart: enroll two people in a Learnifier course with the hook alone.

The DAG makes sure a course project exists (found by its external id, else created from a course
design), adds two people to it as participants, activates them, and prints the project's
participants with their progress. Running it twice changes nothing the second time.

Params name the connection, the organization unit (by external id), the course design, the
project's external id and the people; their defaults match the simulator's ``demo`` seed, so
``make demo`` runs this DAG against a local simulator.
"""

from __future__ import annotations

from typing import Any

import pendulum

# [START howto_portable_imports]
try:  # Airflow 3
    from airflow.sdk import Param, dag, task
except ImportError:  # Airflow 2.11
    from airflow.decorators import dag, task
    from airflow.models.param import Param
# [END howto_portable_imports]


@dag(
    dag_id="learnifier_quickstart",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["learnifier", "example"],
    doc_md=__doc__,
    params={
        "conn_id": Param("learnifier_default", type="string"),
        "org_external_id": Param("acme", type="string"),
        "design_name": Param("Onboarding", type="string"),
        "project_external_id": Param("quickstart-onboarding", type="string"),
        "people": Param(["ada@example.com", "grace@example.com"], type="array"),
    },
)
def learnifier_quickstart() -> None:
    # [START howto_hook_find_or_create_project]
    @task
    def ensure_project(params: dict[str, Any]) -> dict[str, Any]:
        """Find the project by external id, or create it from the named course design."""
        from airflow_provider_learnifier.exceptions import LearnifierNotFoundError
        from airflow_provider_learnifier.hooks.learnifier import LearnifierHook

        with LearnifierHook(params["conn_id"]) as hook:
            try:
                project = hook.get_project_by_external_id(params["project_external_id"])
            except LearnifierNotFoundError:
                org_unit = hook.get_org_unit_by_external_id(params["org_external_id"])
                design = next(d for d in hook.list_course_designs() if d["name"] == params["design_name"])
                project = hook.create_project(
                    org_unit["id"],
                    name=f"{params['design_name']} (quickstart)",
                    design_id=design["id"],
                    external_id=params["project_external_id"],
                )
        return {"org_id": project["orgId"], "project_id": project["id"], "name": project["name"]}

    # [END howto_hook_find_or_create_project]

    # [START howto_hook_enroll_and_activate]
    @task
    def enroll(project: dict[str, Any], params: dict[str, Any]) -> list[str]:
        """Add each person as a participant (reusing an existing one) and activate them."""
        from airflow_provider_learnifier.exceptions import LearnifierConflictError
        from airflow_provider_learnifier.hooks.learnifier import LearnifierHook

        participant_ids = []
        with LearnifierHook(params["conn_id"]) as hook:
            for email in params["people"]:
                try:
                    participant_id = hook.add_participant(
                        project["org_id"], project["project_id"], email=email
                    )
                except LearnifierConflictError as conflict:
                    participant_id = conflict.existing_id
                if participant_id is None:
                    raise RuntimeError(f"Learnifier did not say which participant {email} became")
                hook.activate_participant(project["org_id"], project["project_id"], participant_id)
                participant_ids.append(participant_id)
        return participant_ids

    # [END howto_hook_enroll_and_activate]

    # [START howto_hook_list_participants]
    @task
    def report(
        project: dict[str, Any], participant_ids: list[str], params: dict[str, Any]
    ) -> list[dict[str, Any]]:
        """Print the project's participants with their activation and progress."""
        from airflow_provider_learnifier.hooks.learnifier import LearnifierHook

        with LearnifierHook(params["conn_id"]) as hook:
            participants = hook.list_participants(project["org_id"], project["project_id"])
        rows = [
            {
                "participant": str(p["id"]),
                "user": p.get("userId"),
                "activated": bool(p.get("activated")),
                "progress": f"{p.get('activitiesCompleted', 0)}/{p.get('activitiesTotal', 0)}",
            }
            for p in participants
        ]
        print(f"Project {project['name']!r} ({project['project_id']}): {len(rows)} participant(s)")
        for row in rows:
            print(
                f"  participant {row['participant']}: activated={row['activated']} progress={row['progress']}"
            )
        missing = set(participant_ids) - {row["participant"] for row in rows}
        if missing:
            raise RuntimeError(f"participants {sorted(missing)} are missing from the project")
        return rows

    # [END howto_hook_list_participants]

    project = ensure_project()
    report(project, enroll(project))


learnifier_quickstart()
