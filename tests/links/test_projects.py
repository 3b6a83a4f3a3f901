"""The "Learnifier project" extra link: registered, on the right operators, and its URL for a run."""

from __future__ import annotations

from typing import Any
from unittest import mock

import pytest
from airflow.providers.common.compat.sdk import XCom

from airflow_provider_learnifier.get_provider_info import get_provider_info
from airflow_provider_learnifier.links.projects import PROJECT_XCOM_KEY, LearnifierProjectLink
from airflow_provider_learnifier.operators.participants import (
    LearnifierEnrollOperator,
    LearnifierLoginLinkOperator,
)
from airflow_provider_learnifier.operators.projects import (
    LearnifierCreateProjectOperator,
    LearnifierDeleteProjectOperator,
    LearnifierUpdateProjectOperator,
)
from learnifier_simulator import seed

LINK_NAME = "Learnifier project"


def test_the_link_is_registered_in_the_provider_info():
    assert get_provider_info()["extra-links"] == [
        "airflow_provider_learnifier.links.projects.LearnifierProjectLink"
    ]
    assert LearnifierProjectLink().name == LINK_NAME


@pytest.mark.parametrize(
    ("operator", "has_link"),
    [
        (LearnifierCreateProjectOperator, True),
        (LearnifierUpdateProjectOperator, True),
        (LearnifierEnrollOperator, True),
        (LearnifierDeleteProjectOperator, False),
        (LearnifierLoginLinkOperator, False),
    ],
)
def test_operators_that_create_or_act_on_a_project_carry_the_link(operator, has_link):
    names = [link.name for link in operator.operator_extra_links]
    assert (LINK_NAME in names) is has_link


def _serialized_task(dag_id: str, task_id: str) -> Any:
    from airflow.models.serialized_dag import SerializedDagModel

    dag = SerializedDagModel.get_dag(dag_id)
    assert dag is not None
    return dag.get_task(task_id)


def test_the_link_of_a_run_points_at_the_project_admin_url(learnifier_conn, run_dag):
    sim = learnifier_conn
    dag_run = run_dag("operators_enroll", {"roster": [{"email": "link@example.com"}]})
    ti = dag_run.get_task_instance("enroll")
    expected = f"{sim.base_url}/admin/projects/{seed.DEMO_PROJECT_ID}"

    assert ti.xcom_pull(task_ids="enroll", key=PROJECT_XCOM_KEY) == {
        "org_id": str(seed.DEMO_ORG_UNIT_ID),
        "project_id": str(seed.DEMO_PROJECT_ID),
        "admin_url": expected,
    }
    # What the UI shows: the serialized task's link, read back from the run's XCom.
    task = _serialized_task("operators_enroll", "enroll")
    assert LINK_NAME in task.extra_links
    assert task.get_extra_links(ti, LINK_NAME) == expected


def test_each_run_links_to_its_own_project(learnifier_conn, run_dag):
    sim = learnifier_conn
    dag_run = run_dag("operators_projects", {"project_external_id": "linked-2026"})
    created = dag_run.get_task_instance("create").xcom_pull(task_ids="create")
    task = _serialized_task("operators_projects", "update")

    url = task.get_extra_links(dag_run.get_task_instance("update"), LINK_NAME)

    assert url == f"{sim.base_url}/admin/projects/{created['project_id']}" == created["admin_url"]
    assert created["project_id"] != str(seed.DEMO_PROJECT_ID)


@pytest.mark.parametrize(
    ("stored", "expected"),
    [
        (
            {"admin_url": "https://learnifier.example/admin/projects/7"},
            "https://learnifier.example/admin/projects/7",
        ),
        ({"admin_url": "javascript:alert(1)"}, ""),
        ({"admin_url": None}, ""),
        (None, ""),
        ("https://not-a-mapping.example", ""),
    ],
)
def test_get_link_returns_only_http_urls(stored, expected):
    with mock.patch.object(XCom, "get_value", return_value=stored) as get_value:
        link = LearnifierProjectLink().get_link(mock.sentinel.operator, ti_key=mock.sentinel.ti_key)
    assert link == expected
    get_value.assert_called_once_with(ti_key=mock.sentinel.ti_key, key=PROJECT_XCOM_KEY)


def test_persist_stores_the_project_for_the_link():
    ti = mock.MagicMock()
    LearnifierProjectLink.persist(
        {"ti": ti}, {"orgId": 1001, "id": 2001, "adminUrl": "https://x/admin/projects/2001"}
    )
    ti.xcom_push.assert_called_once_with(
        key=PROJECT_XCOM_KEY,
        value={"org_id": "1001", "project_id": "2001", "admin_url": "https://x/admin/projects/2001"},
    )
