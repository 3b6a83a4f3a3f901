"""example_dags/learnifier_participant_completion.py: a new hire enrolled, waited for (deferred), recorded."""

from __future__ import annotations

import json

from learnifier_simulator import seed
from tests.example_dags.conftest import (
    AIRFLOW3_ONLY,
    complete_course_once_waited_for,
    participants_of,
    task_states,
    xcom,
)

pytestmark = AIRFLOW3_ONLY

#: The params' defaults.
PROJECT_EXTERNAL_ID = "acme-onboarding-2026"
EMPLOYEE_ID = "E1009"


def test_the_new_hire_is_enrolled_waited_for_until_they_complete_and_recorded(
    learnifier_conn, run_example_dag, tmp_path, caplog
):
    sim = learnifier_conn

    with complete_course_once_waited_for(sim, PROJECT_EXTERNAL_ID, participants=1) as waited:
        dag_run = run_example_dag("learnifier_participant_completion", {"report_dir": str(tmp_path)})

    assert dag_run.state == "success", task_states(dag_run)
    # The project, made from the Onboarding design; the new hire, a user with their names, in it.
    project = next(p for p in sim.state.snapshot()["projects"] if p.get("externalId") == PROJECT_EXTERNAL_ID)
    assert (project["orgId"], project["designId"], project["name"]) == (
        seed.DEMO_ORG_UNIT_ID,
        seed.ONBOARDING_DESIGN_ID,
        "Acme Onboarding 2026",
    )
    (participant,) = participants_of(sim, PROJECT_EXTERNAL_ID)
    user = participant["user"]
    assert (user["externalId"], user["primaryEmail"], user["firstName"], user["lastName"]) == (
        EMPLOYEE_ID,
        "noah.petersen@acme.example",
        "Noah",
        "Petersen",
    )
    assert participant["activated"]
    assert participant["activitiesCompleted"] == seed.ONBOARDING_ACTIVITIES
    # The sensor waited for this participant, deferred, past a first check that found them unfinished.
    assert waited["polls"] >= 2
    assert "[DAG TEST] running trigger in line" in caplog.text
    progress = xcom(dag_run, "wait_for_completion")
    assert (str(progress["participant_id"]), progress["completed"]) == (str(participant["id"]), True)
    # The training record.
    record_path = tmp_path / "training-records" / f"{EMPLOYEE_ID}-{PROJECT_EXTERNAL_ID}.json"
    record = json.loads(record_path.read_text(encoding="utf-8"))
    assert xcom(dag_run, "record_completion") == {**record, "path": str(record_path)}
    assert {key: value for key, value in record.items() if key != "recorded_at"} == {
        "employee_id": EMPLOYEE_ID,
        "email": "noah.petersen@acme.example",
        "course": "Acme Onboarding 2026",
        "project_external_id": PROJECT_EXTERNAL_ID,
        "participant_id": str(participant["id"]),
        "activities_completed": seed.ONBOARDING_ACTIVITIES,
        "activities_total": seed.ONBOARDING_ACTIVITIES,
    }

    # A second run finds the new hire enrolled and done: nothing changes but the record's time.
    before = sim.state.snapshot()
    again = run_example_dag("learnifier_participant_completion", {"report_dir": str(tmp_path)})

    assert again.state == "success", task_states(again)
    assert xcom(again, "create_project")["reused"] is True
    assert xcom(again, "enroll")["counts"]["already_enrolled"] == 1
    for kind in ("users", "projects", "participants"):
        assert sim.state.snapshot()[kind] == before[kind], kind
