"""A DAG of the deployment test (``tests/integration/``): login links, made and logged carelessly.

``deployment_login_links`` reads the activated participants of ``params.project_external_id``
and makes a login link for each with LearnifierLoginLinkOperator. Its ``on_link`` logs every
link, as a careless DAG author might: the hook masks a link the moment it arrives, so the task
log must show ``***`` where the link would be. The deployment test checks that no link reached
any log.
"""

from __future__ import annotations

import logging
from typing import Any

import pendulum
from airflow.sdk import DAG, task

from airflow_provider_learnifier.operators.participants import LearnifierLoginLinkOperator

#: What ``log_link`` writes before the (masked) link; the deployment test looks for it.
LOGGED_LINK_PREFIX = "Login link for participant"


def log_link(participant_id: str, link: str) -> None:
    """Log the link (do not do this in a real DAG: hand it to the person instead)."""
    logging.getLogger("airflow.task").info("%s %s: %s", LOGGED_LINK_PREFIX, participant_id, link)


with DAG(
    dag_id="deployment_login_links",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    params={"project_external_id": "acme-security-awareness-2026"},
    tags=["learnifier", "test"],
):

    @task
    def activated_participants(params: dict[str, Any]) -> list[str]:
        from airflow_provider_learnifier.hooks.learnifier import LearnifierHook

        with LearnifierHook() as hook:
            project = hook.get_project_by_external_id(params["project_external_id"])
            participants = hook.list_participants(project["orgId"], project["id"])
        return [str(p["id"]) for p in participants if p.get("activated")]

    LearnifierLoginLinkOperator(
        task_id="login_links",
        participant_ids=activated_participants(),
        project_external_id="{{ params.project_external_id }}",
        on_link=log_link,
    )
