"""DAGs that plan and apply an assignment policy against the simulator.

- ``operators_policy_mapped``: plan the policy file ``params.policy`` for ``params.roster``, then
  apply it with one mapped task per course, each given its course's plan id.
"""

from __future__ import annotations

from typing import Any

import pendulum

try:
    from airflow.sdk import DAG, task
except ImportError:  # Airflow 2
    from airflow import DAG
    from airflow.decorators import task

from airflow_provider_learnifier.operators.policy import (
    LearnifierPolicyApplyOperator,
    LearnifierPolicyPlanOperator,
)

START = pendulum.datetime(2026, 1, 1, tz="UTC")

with DAG(
    dag_id="operators_policy_mapped",
    schedule=None,
    start_date=START,
    catchup=False,
    params={"policy": "", "roster": []},
    render_template_as_native_obj=True,
    tags=["learnifier", "test"],
):
    plan = LearnifierPolicyPlanOperator(
        task_id="plan", policy="{{ params.policy }}", roster="{{ params.roster }}"
    )

    @task
    def approved_courses(summary: dict[str, Any]) -> list[dict[str, str]]:
        """One mapped apply per course, each bound to its course's plan."""
        return [{"course": course["course"], "plan_id": course["plan_id"]} for course in summary["courses"]]

    LearnifierPolicyApplyOperator.partial(
        task_id="apply", policy="{{ params.policy }}", roster="{{ params.roster }}"
    ).expand_kwargs(approved_courses(plan.output))
