"""
Remove from a Learnifier course the people who left: a dry run first, then, when switched on, for real.

The roster is the current HR export (a CSV like the one `learnifier_enrollment` reads). Whoever
participates in the course project but is no longer on it has left. The DAG

1. **plan_removals**: compares the project's participants with the roster, changing nothing
   (the enroll operator with `remove_missing` and `dry_run`); its result lists who would be
   removed, and who on the roster is not in the course yet;
2. **check_plan**: logs the plan and stops the run here (the rest is skipped) unless the run's
   `apply` param is on and someone is to be removed. It fails the run when the operator's
   mass-removal guard (`max_removals`, a param here) refused the plan: a truncated HR export
   must not empty a course;
3. **roster_of_stayers**: keeps the roster rows of people who are in the course, so that the
   next step removes and never adds (new people are `learnifier_enrollment`'s job);
4. **remove_leavers**: removes the participants who are not on that roster.

Trigger it with `apply` off (the default) to see the plan in the logs and in `plan_removals`'s
XCom, then with `apply` on to carry it out. Do not run it at the same time as
`learnifier_enrollment` on the same project: someone enrolled between the plan and the removal is
not on the stayers' roster, and would be removed.

**Settings.** Params name the project (by external id) and the roster; their defaults match the
Learnifier simulator's `demo` seed and `learnifier_enrollment`'s project (`make demo`): the
shipped roster `data/acme_roster_2026-03.csv` is the January roster less two leavers, plus one new
hire. For a deployment, pass the HR export as the `roster` param (its columns named like the
example's: people are matched by `external_id`, else `email`). The
connection is `learnifier_default`. Written for Airflow 3 (the Task SDK, `airflow.sdk`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pendulum
from airflow.sdk import DAG, Param, task

from airflow_provider_learnifier.operators.participants import LearnifierEnrollOperator

#: The Airflow connection to Learnifier (see the learnifier_enrollment example).
LEARNIFIER_CONN_ID = "learnifier_default"
#: The example roster shipped next to this file: the current HR export.
EXAMPLE_ROSTER = Path(__file__).parent / "data" / "acme_roster_2026-03.csv"
#: The roster, resolved when a task runs: the run's param, else the example.
ROSTER = "{{ params.roster or example_roster }}"

with DAG(
    dag_id="learnifier_offboarding",
    description="Remove the people who left from a Learnifier course: dry run, then for real",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["learnifier", "example"],
    user_defined_macros={"example_roster": str(EXAMPLE_ROSTER)},
    params={
        "project_external_id": Param(
            "acme-security-awareness-2026", type="string", description="External id of the course project."
        ),
        "roster": Param(
            None,
            type=["null", "string"],
            description="Path or URL of the current roster CSV. Empty: the example roster shipped "
            "with this DAG.",
        ),
        "apply": Param(
            False, type="boolean", description="Remove the leavers; off: only show who would be removed."
        ),
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
        learnifier_conn_id=LEARNIFIER_CONN_ID,
    )
    # [END howto_operator_learnifier_enroll_dry_run]

    @task.short_circuit
    def check_plan(plan: dict[str, Any], params: dict[str, Any]) -> bool:
        """Log the plan; go on only with ``apply`` on and someone to remove; fail if the guard refused it."""
        leavers, newcomers = plan["removed"], plan["enrolled"]
        print(f"Project {plan['project']['name']!r}: {len(plan['already_enrolled'])} people stay")
        print(f"Not in the course (left to learnifier_enrollment): {', '.join(newcomers) or 'nobody'}")
        print(f"Left the company, to remove: {', '.join(leavers) or 'nobody'}")
        if plan.get("removal_refused"):
            raise ValueError(f"{plan['removal_refused']}; check the roster: {plan['would_remove']}")
        if not leavers:
            return False
        if not params["apply"]:
            print("Dry run only: trigger with apply=true to remove them")
            return False
        return True

    @task
    def roster_of_stayers(plan: dict[str, Any], roster: str) -> list[dict[str, str]]:
        """The roster rows of the people in the course (the plan names them by external id, else email)."""
        import csv
        import io

        from airflow.sdk import ObjectStoragePath

        in_course = set(plan["already_enrolled"])
        rows = csv.DictReader(io.StringIO(ObjectStoragePath(roster).read_text(encoding="utf-8-sig")))
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
        learnifier_conn_id=LEARNIFIER_CONN_ID,
    )
    # [END howto_operator_learnifier_enroll_remove_missing]
