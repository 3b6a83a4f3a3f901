"""Last year's Learnifier course run closes: deleted when nobody took it, else disabled.

At the turn of the year Acme retires last year's onboarding course run. **plan_closing** looks at
it: with no participants, **delete_project** deletes it (an unused run only clutters the
catalogue); when people took it, **disable_project** disables it instead, so nobody new can start
and their progress stays on record. A run that is deleted or disabled already is left alone, so
a rerun changes nothing. The param's default matches the simulator's `demo` seed (`make demo`);
the connection is `learnifier_default`. Written for Airflow 3 (`airflow.sdk`).
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import DAG, Param, task

from airflow_provider_learnifier.operators.projects import (
    LearnifierDeleteProjectOperator,
    LearnifierUpdateProjectOperator,
)

LEARNIFIER_CONN_ID = "learnifier_default"

with DAG(
    dag_id="learnifier_close_course",
    schedule=None,
    doc_md=__doc__,
    tags=["learnifier", "example"],
    params={
        "closed_project_external_id": Param(
            "acme-onboarding-2024",
            type="string",
            description="External id of last year's course run: deleted if nobody enrolled, else disabled.",
        ),
    },
):

    @task.branch
    def plan_closing(params: dict[str, Any]) -> str | None:
        """Delete the course run if it has no participants, else disable it; once done, leave it."""
        from airflow_provider_learnifier.exceptions import LearnifierNotFoundError
        from airflow_provider_learnifier.hooks.learnifier import LearnifierHook

        external_id = params["closed_project_external_id"]
        with LearnifierHook(LEARNIFIER_CONN_ID) as hook:
            try:
                project = hook.get_project_by_external_id(external_id)
            except LearnifierNotFoundError:
                print(f"No course run has the external id {external_id!r}: deleted already")
                return None  # skips both
            participants = hook.list_participants(project["orgId"], project["id"])
        if not participants:
            print(f"{project['name']!r} has no participants: deleting it")
            return "delete_project"
        if project.get("status") == "DISABLED":
            print(f"{project['name']!r} is disabled already")
            return None
        print(f"{project['name']!r} has {len(participants)} participant(s): disabling it, their records stay")
        return "disable_project"

    # [START howto_operator_learnifier_update_project]
    disable_project = LearnifierUpdateProjectOperator(
        task_id="disable_project",
        project_external_id="{{ params.closed_project_external_id }}",
        status="DISABLED",  # nobody new can be activated; the participants' progress stays
        note="Closed on {{ dag_run.run_after | ds }} by {{ dag.dag_id }}",
        learnifier_conn_id=LEARNIFIER_CONN_ID,
    )  # only the fields that differ from the project's are sent
    # [END howto_operator_learnifier_update_project]

    # [START howto_operator_learnifier_delete_project]
    delete_project = LearnifierDeleteProjectOperator(
        task_id="delete_project",
        project_external_id="{{ params.closed_project_external_id }}",
        missing_ok=True,  # a project that is gone already counts as deleted
        learnifier_conn_id=LEARNIFIER_CONN_ID,
    )
    # [END howto_operator_learnifier_delete_project]

    plan_closing() >> [disable_project, delete_project]
