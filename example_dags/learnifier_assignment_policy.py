"""
Keep everyone in the right Learnifier courses, as a policy declares: plan, approve, apply.

`learnifier_assignment_policy.yaml` says who must take which (existing) course, and where leavers
are removed. **plan** reads the HR export and Learnifier, changes nothing, logs and writes the plan.
A plan that only adds goes straight to **apply**; one that removes people waits for a person to
**approve** it (Airflow 3.1+), or, before 3.1, stops: a run with the plan's id as `approved_plan_id`
applies it. **apply** refuses a plan whose policy, roster or courses changed since it was made.
See `docs/guides/assignment-policy.md`.
"""

from __future__ import annotations

from pathlib import Path

import pendulum

try:
    from airflow.sdk import DAG, Param, task
except ImportError:  # Airflow 2.11
    from airflow import DAG
    from airflow.decorators import task
    from airflow.models.param import Param

from airflow_provider_learnifier.operators.policy import LearnifierPolicyApplyOperator as Apply
from airflow_provider_learnifier.operators.policy import LearnifierPolicyPlanOperator as Plan

try:  # Airflow 3.1+: the standard provider's human-in-the-loop approval
    from airflow.providers.standard.operators.hitl import ApprovalOperator
except Exception:  # older Airflow: the module is missing or refuses to load
    ApprovalOperator = None

DATA = Path(__file__).parent
INPUTS = {  # what plan and apply read: equal inputs give equal plan ids
    "policy": "{{ params.policy }}",
    "roster": "{{ params.roster }}",
    "reference_date": "{{ params.reference_date }}",  # relative dates (-90d) count from it
}
PLAN = "ti.xcom_pull(task_ids='plan')"

with DAG(
    dag_id="learnifier_assignment_policy",
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["learnifier", "example"],
    params={
        "policy": Param(str(DATA / "learnifier_assignment_policy.yaml"), description="The policy file."),
        "roster": Param(str(DATA / "data" / "acme_hr_2026-01.csv"), description="HR export path or URL."),
        "plan_dir": Param("/tmp/learnifier-plans", description="Where full plans are written."),
        "reference_date": Param(None, type=["null", "string"], description="Default: the logical date."),
        "approved_plan_id": Param("", type="string", description="Apply this plan (Airflow < 3.1)."),
    },
):
    # [START howto_operator_learnifier_policy_plan_approve_apply]
    plan = Plan(task_id="plan", **INPUTS, plan_path="{{ params.plan_dir }}/{{ run_id }}.json")

    @task.branch
    def review(summary: dict, params: dict) -> str | None:
        """Adds only, or approved already: apply. Removals: approve (3.1+), else stop here."""
        if not summary["totals"]["remove"] or params["approved_plan_id"] == summary["plan_id"]:
            return "apply"
        return "approve" if ApprovalOperator is not None else None

    approved = "{{ " + PLAN + "['plan_id'] }}"  # what was approved is what is applied
    apply = Apply(task_id="apply", **INPUTS, plan_id=approved, trigger_rule="none_failed_min_one_success")
    decide = review(plan.output)
    decide >> apply
    if ApprovalOperator is not None:
        approve = ApprovalOperator(
            task_id="approve",
            subject="Learnifier plan {{ " + PLAN + "['plan_id'] }} removes people",
            body="{% for c in " + PLAN + "['courses'] %}- {{ c.name }}: {{ c.counts }}\n{% endfor %}",
        )
        decide >> approve >> apply
    # [END howto_operator_learnifier_policy_plan_approve_apply]
