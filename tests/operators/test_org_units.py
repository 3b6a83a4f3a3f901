"""The org unit operators against the simulator: create (reused on 409 by external id) and update."""

from __future__ import annotations

import importlib
import json
import types
from typing import Any
from unittest import mock

import pytest

from airflow_provider_learnifier.exceptions import LearnifierConflictError, LearnifierInputError
from airflow_provider_learnifier.operators.org_units import (
    LearnifierCreateOrgUnitOperator,
    LearnifierUpdateOrgUnitOperator,
)
from learnifier_simulator import LearnifierSimulator, seed
from tests.openapi_contract import validate_all

ORG_ID = seed.DEMO_ORG_UNIT_ID


def org_units(sim: Any) -> list[dict[str, Any]]:
    return sim.state.snapshot()["orgUnits"]


def xcom(dag_run: Any, task_id: str) -> Any:
    value = dag_run.get_task_instance(task_id).xcom_pull(task_ids=task_id)
    assert json.loads(json.dumps(value)) == value
    return value


def _context() -> dict[str, Any]:
    return {"ti": mock.MagicMock()}


def test_create_reuse_and_update_from_params_and_xcom(learnifier_conn, run_dag, openapi_spec):
    sim = learnifier_conn
    dag_run = run_dag("operators_org_units")

    assert dag_run.state == "success"
    created, again, updated = (xcom(dag_run, task) for task in ("create", "create_again", "update"))
    (unit,) = [u for u in org_units(sim) if u.get("externalId") == "globex"]
    assert created == {
        "org_id": str(unit["id"]),
        "display_name": "Globex",
        "external_id": "globex",
        "reused": False,
    }
    assert again == {**created, "reused": True, "differs": {}}
    assert updated == {
        "org_id": str(unit["id"]),
        "updated_fields": ["country", "display_name"],
        "unchanged_fields": [],
    }
    assert (unit["name"], unit["parentId"]) == ("Globex Nordics", seed.DEMO_ORG_UNIT_ID)
    assert len(org_units(sim)) == 2
    validate_all(openapi_spec, sim.exchanges)


def test_a_conflict_without_external_id_or_reuse_fails(learnifier_conn):
    duplicate_number = LearnifierCreateOrgUnitOperator(
        task_id="create", display_name="Copy", client_number=seed.DEMO_ORG_UNIT_CLIENT_NUMBER
    )
    with pytest.raises(LearnifierConflictError):
        duplicate_number.execute(_context())
    no_reuse = LearnifierCreateOrgUnitOperator(
        task_id="create",
        display_name="Acme",
        external_id=seed.DEMO_ORG_UNIT_EXTERNAL_ID,
        reuse_existing=False,
    )
    with pytest.raises(LearnifierConflictError):
        no_reuse.execute(_context())
    assert len(org_units(learnifier_conn)) == 1


def test_a_conflict_on_the_client_number_is_not_mistaken_for_the_external_id(learnifier_conn):
    operator = LearnifierCreateOrgUnitOperator(
        task_id="create",
        display_name="New",
        external_id="new-ext",
        client_number=seed.DEMO_ORG_UNIT_CLIENT_NUMBER,
    )
    with pytest.raises(LearnifierConflictError, match="clientNumber"):
        operator.execute(_context())


def test_a_lost_create_answer_finds_the_unit_by_external_id(learnifier_conn):
    sim = learnifier_conn
    sim.inject(drop="after", method="POST", path="/orgunits")
    result = LearnifierCreateOrgUnitOperator(
        task_id="create", display_name="Initech", external_id="initech"
    ).execute(_context())
    assert result["reused"] is False
    assert [u["id"] for u in org_units(sim) if u.get("externalId") == "initech"] == [int(result["org_id"])]


def test_a_500_on_create_is_checked_then_sent_once_more(learnifier_conn):
    """A 5xx may have been applied: read, then send again. Before, a 500 failed the task."""
    sim = learnifier_conn
    sim.inject(status=500, method="POST", path="/orgunits")
    result = LearnifierCreateOrgUnitOperator(
        task_id="create", display_name="Initech", external_id="initech"
    ).execute(_context())

    assert [u["id"] for u in org_units(sim) if u.get("externalId") == "initech"] == [int(result["org_id"])]
    assert [e.status for e in sim.exchanges if e.method == "POST"] == [500, 200]


def test_a_502_on_create_with_an_external_id_is_sent_again_because_learnifier_deduplicates_it(
    learnifier_conn,
):
    """Learnifier may still be creating it, but a second copy can only meet a 409. Before, it failed."""
    sim = learnifier_conn
    sim.inject(status=502, method="POST", path="/orgunits")
    result = LearnifierCreateOrgUnitOperator(
        task_id="create", display_name="Initech", external_id="initech"
    ).execute(_context())

    assert result["reused"] is False
    assert [u["id"] for u in org_units(sim) if u.get("externalId") == "initech"] == [int(result["org_id"])]


def test_a_lost_create_answer_without_external_id_is_settled_by_the_new_units(learnifier_conn):
    """Before, the task failed although the unit was made, and a retry made a second one."""
    sim = learnifier_conn
    sim.inject(drop="after", method="POST", path="/orgunits")
    result = LearnifierCreateOrgUnitOperator(task_id="create", display_name="Initech").execute(_context())

    assert [u["id"] for u in org_units(sim) if u["name"] == "Initech"] == [int(result["org_id"])]
    assert len([e for e in sim.exchanges if e.method == "POST"]) == 1


def test_a_parent_rendered_none_is_not_sent(learnifier_conn, run_dag):
    """A template that renders ``None`` gives no parent: ``"parent": "None"`` would be refused."""
    sim = learnifier_conn
    dag_run = run_dag("operators_org_units", {"parent": None})

    assert dag_run.get_task_instance("create").state == "success"
    (unit,) = [u for u in org_units(sim) if u.get("externalId") == "globex"]
    assert "parentId" not in unit
    create = next(e for e in sim.exchanges if e.method == "POST")
    assert "parent" not in json.loads(create.body)


def test_update_by_external_id_and_bad_input(learnifier_conn):
    sim = learnifier_conn
    operator = LearnifierUpdateOrgUnitOperator(
        task_id="update", org_external_id="acme", display_name="Acme AB"
    )
    assert operator.execute(_context()) == {
        "org_id": str(seed.DEMO_ORG_UNIT_ID),
        "updated_fields": ["display_name"],
        "unchanged_fields": [],
    }
    assert org_units(sim)[0]["name"] == "Acme AB"

    with pytest.raises(LearnifierInputError, match="no field to update"):
        LearnifierUpdateOrgUnitOperator(task_id="update", org_id=1001, caller="x").execute(_context())
    with pytest.raises(LearnifierInputError, match="exactly one"):
        LearnifierUpdateOrgUnitOperator(task_id="update", display_name="x").execute(_context())
    with pytest.raises(LearnifierInputError, match="needs a display_name"):
        LearnifierCreateOrgUnitOperator(task_id="create", display_name="").execute(_context())


def test_the_connection_id_is_templated(learnifier_conn, run_dag, monkeypatch):
    """The connection named in params is used: each team or tenant can have its own account."""
    with LearnifierSimulator(seed="demo") as tenant_b:
        monkeypatch.setenv("AIRFLOW_CONN_LEARNIFIER_TENANT_B", tenant_b.connection_json())
        dag_run = run_dag("operators_conn_from_params", {"conn_id": "learnifier_tenant_b"})
        assert dag_run.state == "success"
        names_b = [unit["name"] for unit in tenant_b.state.snapshot()["orgUnits"]]
    names_default = [unit["name"] for unit in learnifier_conn.state.snapshot()["orgUnits"]]
    assert "Initech" in names_b
    assert "Initech" not in names_default


def test_every_operator_templates_its_connection_id():
    from airflow.providers.common.compat.sdk import BaseOperator

    from airflow_provider_learnifier.get_provider_info import get_provider_info

    (operators,) = get_provider_info()["operators"]
    classes = [
        value
        for module in operators["python-modules"]
        for value in vars(importlib.import_module(module)).values()
        # Not a type alias such as dict[str, Any]: on Python 3.10 it passes isinstance(..., type).
        if isinstance(value, type)
        and not isinstance(value, types.GenericAlias)
        and issubclass(value, BaseOperator)
        and value.__module__ == module
    ]
    assert len(classes) >= 12
    assert [cls.__name__ for cls in classes if "learnifier_conn_id" not in cls.template_fields] == []


def test_an_update_that_changes_nothing_sends_nothing(learnifier_conn):
    """An update that changes nothing sends no PATCH and lists no field as updated."""
    sim = learnifier_conn
    name = org_units(sim)[0]["name"]
    sim.clear_exchanges()

    result = LearnifierUpdateOrgUnitOperator(task_id="update", org_id=ORG_ID, display_name=name).execute(
        _context()
    )

    assert result == {"org_id": str(ORG_ID), "updated_fields": [], "unchanged_fields": ["display_name"]}
    assert not [e for e in sim.exchanges if e.method == "PATCH"]


def test_an_org_unit_is_never_made_its_own_parent(learnifier_conn):
    sim = learnifier_conn
    sim.clear_exchanges()
    with pytest.raises(LearnifierInputError, match="cannot be its own parent"):
        LearnifierUpdateOrgUnitOperator(task_id="update", org_id=ORG_ID, parent=str(ORG_ID)).execute(
            _context()
        )
    assert not [e for e in sim.exchanges if e.method == "PATCH"]


def test_a_reused_unit_that_differs_from_what_was_asked_says_so_in_the_result(learnifier_conn):
    first = LearnifierCreateOrgUnitOperator(task_id="c", display_name="Sales", external_id="sales").execute(
        _context()
    )
    again = LearnifierCreateOrgUnitOperator(
        task_id="c", display_name="Sales EMEA", external_id="sales", parent=ORG_ID
    ).execute(_context())

    assert again["reused"] and again["org_id"] == first["org_id"]
    assert again["differs"] == {
        "display_name": {"asked": "Sales EMEA", "found": "Sales"},
        "parent": {"asked": str(ORG_ID), "found": None},
    }
