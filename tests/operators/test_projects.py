"""The project operators against the simulator: create (idempotent by external id), update, delete."""

from __future__ import annotations

import json
from typing import Any
from unittest import mock

import pytest

from airflow_provider_learnifier.exceptions import LearnifierNotFoundError, LearnifierRefusedError
from airflow_provider_learnifier.hooks.learnifier import LearnifierHook
from airflow_provider_learnifier.operators._base import LearnifierInputError
from airflow_provider_learnifier.operators.projects import (
    LearnifierCreateProjectOperator,
    LearnifierDeleteProjectOperator,
    LearnifierProjectNotEmptyError,
    LearnifierUpdateProjectOperator,
)
from airflow_provider_learnifier.simulator import seed
from tests.openapi_contract import validate_all

ORG = seed.DEMO_ORG_UNIT_ID


def projects(sim: Any) -> list[dict[str, Any]]:
    return sim.state.snapshot()["projects"]


def xcom(dag_run: Any, task_id: str) -> Any:
    value = dag_run.get_task_instance(task_id).xcom_pull(task_ids=task_id)
    assert json.loads(json.dumps(value)) == value
    return value


def _context() -> dict[str, Any]:
    return {"ti": mock.MagicMock()}


def test_create_reuse_and_update_a_project_from_params_and_xcom(learnifier_conn, run_dag, openapi_spec):
    sim = learnifier_conn
    dag_run = run_dag("operators_projects")

    assert dag_run.state == "success"
    created, again, updated = (xcom(dag_run, task) for task in ("create", "create_again", "update"))
    (project,) = [p for p in projects(sim) if p.get("externalId") == "security-2026"]
    assert created == {
        "org_id": str(ORG),
        "project_id": str(project["id"]),
        "name": "Security Awareness 2026",
        "external_id": "security-2026",
        "design_id": str(seed.SECURITY_AWARENESS_DESIGN_ID),
        "status": "NEW",
        "admin_url": f"{sim.base_url}/admin/projects/{project['id']}",
        "reused": False,
    }
    assert again == {**created, "reused": True}
    assert updated["updated_fields"] == ["name", "status", "user_title"]
    assert (updated["name"], updated["status"]) == ("Security Awareness 2026 (running)", "ACTIVATED")
    assert (project["name"], project["status"], project["userTitle"]) == (
        "Security Awareness 2026 (running)",
        "ACTIVATED",
        "Stay safe",
    )
    assert (project["note"], project["timezone"]) == ("created by a test", "Europe/Stockholm")
    assert len(projects(sim)) == 2
    creates = [e for e in sim.exchanges if e.method == "POST" and e.path.endswith("/projects")]
    assert len(creates) == 1
    validate_all(openapi_spec, sim.exchanges)


def test_a_rerun_creates_no_second_project_and_sends_no_unchanged_update(learnifier_conn, run_dag):
    sim = learnifier_conn
    run_dag("operators_projects")
    sim.clear_exchanges()

    dag_run = run_dag("operators_projects")

    assert xcom(dag_run, "create")["reused"] is True
    # The name template appends "(running)" to the current name, so only the name changes.
    assert xcom(dag_run, "update")["updated_fields"] == ["name"]
    assert [e.method for e in sim.exchanges if e.method != "GET"] == ["PATCH"]
    assert len(projects(sim)) == 2


def test_a_lost_create_answer_finds_the_project_by_external_id(learnifier_conn):
    sim = learnifier_conn
    sim.inject(drop="after", method="POST", path=f"/orgunits/{ORG}/projects")
    operator = LearnifierCreateProjectOperator(
        task_id="create",
        name="Conduct",
        org_id=ORG,
        design_id=seed.CODE_OF_CONDUCT_DESIGN_ID,
        external_id="c-1",
    )
    result = operator.execute(_context())

    assert result["reused"] is False
    assert [p["id"] for p in projects(sim) if p.get("externalId") == "c-1"] == [int(result["project_id"])]


def test_an_external_id_of_another_org_unit_is_refused(learnifier_conn):
    with LearnifierHook() as hook:
        other = hook.create_org_unit(display_name="Other")["ouId"]
    operator = LearnifierCreateProjectOperator(
        task_id="create",
        name="x",
        org_id=other,
        design_id=seed.ONBOARDING_DESIGN_ID,
        external_id=seed.DEMO_PROJECT_EXTERNAL_ID,
    )
    with pytest.raises(LearnifierInputError, match="belongs to project 2001 of org unit 1001"):
        operator.execute(_context())


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"design_name": "Juggling"}, "no enabled course design named 'Juggling'; the enabled designs are: "),
        ({}, "give design_id or design_name"),
        ({"design_id": 101, "design_name": "Onboarding"}, "give design_id or design_name"),
        ({"design_id": 101, "org_id": None}, "by org_id or by org_external_id"),
        ({"design_id": 101, "name": " "}, "needs a name"),
    ],
)
def test_bad_create_arguments_are_named(learnifier_conn, arguments, message):
    operator = LearnifierCreateProjectOperator(task_id="create", **{"name": "x", "org_id": ORG, **arguments})
    with pytest.raises(LearnifierInputError, match=message):
        operator.execute(_context())
    assert len(projects(learnifier_conn)) == 1


def test_design_names_match_case_insensitively(learnifier_conn):
    operator = LearnifierCreateProjectOperator(
        task_id="create", name="x", org_external_id="acme", design_name="code of conduct"
    )
    assert operator.execute(_context())["design_id"] == str(seed.CODE_OF_CONDUCT_DESIGN_ID)


def test_update_validates_its_input(learnifier_conn):
    with pytest.raises(LearnifierInputError, match="status must be one of NEW, ACTIVATED, DISABLED"):
        LearnifierUpdateProjectOperator(task_id="u", project_external_id="x", status="paused").execute(
            _context()
        )
    with pytest.raises(LearnifierInputError, match="no field to update"):
        LearnifierUpdateProjectOperator(task_id="u", project_external_id="x").execute(_context())
    with pytest.raises(LearnifierNotFoundError):
        LearnifierUpdateProjectOperator(task_id="u", project_external_id="nope", note="n").execute(_context())


# ---------------------------------------------------------------------- delete


def test_delete_an_empty_project(learnifier_conn, run_dag):
    sim = learnifier_conn
    dag_run = run_dag("operators_delete_project")

    assert dag_run.state == "success"
    assert xcom(dag_run, "delete") == {
        "org_id": str(ORG),
        "project_id": str(seed.DEMO_PROJECT_ID),
        "name": seed.DEMO_PROJECT_NAME,
        "deleted": True,
    }
    assert projects(sim) == []


def test_delete_fails_while_participants_remain(learnifier_conn, run_dag):
    sim = learnifier_conn
    with LearnifierHook() as hook:
        hook.add_participant(ORG, seed.DEMO_PROJECT_ID, user_id=seed.DEMO_ADMIN_USER_ID)

    dag_run = run_dag("operators_delete_project")

    assert dag_run.get_task_instance("delete").state == "failed"
    assert len(projects(sim)) == 1


def test_the_not_empty_error_says_how_many_participants_remain(learnifier_conn):
    with LearnifierHook() as hook:
        hook.add_participant(ORG, seed.DEMO_PROJECT_ID, user_id=seed.DEMO_ADMIN_USER_ID)
        hook.add_participant(ORG, seed.DEMO_PROJECT_ID, email="second@example.com")
    operator = LearnifierDeleteProjectOperator(
        task_id="delete", project_external_id=seed.DEMO_PROJECT_EXTERNAL_ID
    )

    with pytest.raises(LearnifierProjectNotEmptyError) as refused:
        operator.execute(_context())

    assert isinstance(refused.value, LearnifierRefusedError)
    assert refused.value.participants == 2
    assert refused.value.status == 406
    assert "it still has 2 participant(s)" in str(refused.value)
    assert "remove_missing=True" in str(refused.value)


def test_delete_of_a_missing_project(learnifier_conn):
    missing = LearnifierDeleteProjectOperator(task_id="delete", org_id=ORG, project_id=9999)
    with pytest.raises(LearnifierNotFoundError):
        missing.execute(_context())
    tolerated = LearnifierDeleteProjectOperator(
        task_id="delete", org_id=ORG, project_id=9999, missing_ok=True
    )
    assert tolerated.execute(_context()) == {
        "org_id": str(ORG),
        "project_id": "9999",
        "name": None,
        "deleted": False,
    }
