"""
Remove from a Learnifier course the people who left: a dry run first, then, when switched on, for real.

Whoever is in the course project but not on the roster (the HR export) has left. **plan_removals**
lists them, changing nothing; **check_plan** stops the run unless the `apply` param is on, and fails
it when the `max_removals` guard refused the plan (a truncated export must not empty a course);
**remove_leavers** removes them, given the roster of those who stay. See `docs/guides/enrollment.md`.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pendulum
from airflow.sdk import DAG, ObjectStoragePath, Param, task

from airflow_provider_learnifier.operators.participants import LearnifierEnrollOperator

ROSTER = "{{ params.roster or example_roster }}"  # else January's roster less two leavers, plus a hire

with DAG(
    dag_id="learnifier_offboarding",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["learnifier", "example"],
    user_defined_macros={"example_roster": str(Path(__file__).parent / "data" / "acme_roster_2026-03.csv")},
    params={
        "project_external_id": Param("acme-security-awareness-2026", description="The course project."),
        "roster": Param(None, type=["null", "string"], description="Path or URL of the roster CSV."),
        "apply": Param(False, type="boolean", description="Remove the leavers; off: only show the plan."),
        "max_removals": Param(10, type="integer", minimum=0, description="Refuse to remove more people."),
    },
):
    # [START howto_operator_learnifier_enroll_dry_run]
    plan_removals = LearnifierEnrollOperator(
        task_id="plan_removals",
        roster=ROSTER,
        project_external_id="{{ params.project_external_id }}",
        remove_missing=True,  # participants who are nobody on the roster are removed...
        dry_run=True,  # ...or, in a dry run, listed in the result's "removed"; nothing changes
        max_removals="{{ params.max_removals }}",  # more is refused (dry run: "removal_refused")
        activate=False,
    )
    # [END howto_operator_learnifier_enroll_dry_run]

    @task.short_circuit
    def check_plan(plan: dict[str, Any], params: dict[str, Any]) -> bool:
        """Log the plan; go on only with ``apply`` on and someone to remove; fail if the guard refused it."""
        print(f"To remove: {plan['removed'] or 'nobody'}; not in the course: {plan['enrolled']}")
        if plan.get("removal_refused"):
            raise ValueError(f"{plan['removal_refused']}; check the roster: {plan['would_remove']}")
        return bool(plan["removed"]) and params["apply"]

    @task
    def roster_of_stayers(plan: dict[str, Any], roster: str) -> list[dict[str, str]]:
        """The roster rows of the people in the course (the plan names them by external id, else email)."""
        rows = csv.DictReader(io.StringIO(ObjectStoragePath(roster).read_text(encoding="utf-8-sig")))
        in_course = set(plan["already_enrolled"])
        return [row for row in rows if (row.get("external_id") or row.get("email")) in in_course]

    stayers = roster_of_stayers(plan_removals.output, ROSTER)
    check_plan(plan_removals.output) >> stayers  # when check_plan says no, the rest is skipped

    # [START howto_operator_learnifier_enroll_remove_missing]
    remove_leavers = LearnifierEnrollOperator(
        task_id="remove_leavers",
        roster=stayers,  # everyone on it is in the course already: nobody is added
        project_external_id="{{ params.project_external_id }}",
        remove_missing=True,  # removes the participants who are not on the roster...
        max_removals="{{ params.max_removals }}",  # ...unless more than this: then nobody
        activate=False,
        create_missing_users=False,
    )
    # [END howto_operator_learnifier_enroll_remove_missing]
