"""A DAG of the distributed deployment test: one roster enrolled in several courses, one task each.

``deployment_mapped_enrollment`` upserts the example roster's users, then creates a course project
per external id of ``COURSES`` and enrolls the roster in each: ``create_project`` and ``enroll``
are mapped over the courses, so that the CeleryExecutor hands their task instances to several
workers at once (``tests/integration/test_distributed_deployment.py``).

Each ``enroll`` instance first waits, at most ``RENDEZVOUS_SECONDS``, until two of them have
started (a file each in the run's ``rendezvous_dir``). An enroll takes half a second, and a worker
may spend five more after a task before it takes the next: without the wait, the other worker
could take all four while the first was still busy. Each worker runs one task at a time, so while
the first instance waits, the second can only start on the other worker: the two workers then
enroll into one account at once.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pendulum
from airflow.sdk import DAG

from airflow_provider_learnifier.operators.participants import LearnifierEnrollOperator
from airflow_provider_learnifier.operators.projects import LearnifierCreateProjectOperator
from airflow_provider_learnifier.operators.users import LearnifierUpsertUsersOperator

#: The courses' external ids: one mapped ``create_project`` and ``enroll`` task instance each.
COURSES = [f"acme-distributed-{number}" for number in range(1, 5)]
ROSTER = str(Path(__file__).resolve().parents[3] / "example_dags" / "data" / "acme_roster_2026-01.csv")
#: How long an ``enroll`` instance waits for a second one to start; then it goes on alone.
RENDEZVOUS_SECONDS = 120


class RendezvousEnrollOperator(LearnifierEnrollOperator):
    """Enrolls once a second instance of the task has started too (or ``RENDEZVOUS_SECONDS`` passed)."""

    def execute(self, context: Any) -> Any:
        folder = Path(context["params"]["rendezvous_dir"])
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{context['ti'].map_index}.started").touch()
        deadline = time.monotonic() + RENDEZVOUS_SECONDS
        while len(list(folder.glob("*.started"))) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        return super().execute(context)


with DAG(
    dag_id="deployment_mapped_enrollment",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["learnifier", "test"],
    params={"rendezvous_dir": ""},
):
    upsert_users = LearnifierUpsertUsersOperator(task_id="upsert_users", users=ROSTER)
    create_project = LearnifierCreateProjectOperator.partial(
        task_id="create_project", org_external_id="acme", design_name="Security Awareness"
    ).expand_kwargs([{"name": f"Acme course {course}", "external_id": course} for course in COURSES])
    enroll = RendezvousEnrollOperator.partial(
        task_id="enroll", roster=ROSTER, activate=True, create_missing_users=False
    ).expand(project_external_id=COURSES)
    [upsert_users, create_project] >> enroll
