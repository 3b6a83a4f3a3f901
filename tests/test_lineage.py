"""OpenLineage: the datasets the report and enroll operators declare, and the names they use.

The operators run against the simulator; their lineage is read through the OpenLineage provider's
own ``DefaultExtractor``, as the provider's listener reads it after a task. All but the import
check need ``apache-airflow-providers-openlineage`` (the ``openlineage`` extra, which ``make venv``
installs) and are skipped without it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from unittest import mock
from urllib.parse import urlsplit

import pytest
from airflow.providers.common.compat.sdk import ObjectStoragePath

from airflow_provider_learnifier.exceptions import LearnifierNotFoundError
from airflow_provider_learnifier.hooks.learnifier import LearnifierHook
from airflow_provider_learnifier.lineage import file_dataset, learnifier_namespace, project_dataset
from airflow_provider_learnifier.operators.participants import LearnifierEnrollOperator
from airflow_provider_learnifier.operators.reporting import LearnifierProgressReportOperator
from learnifier_simulator import seed
from tests.compat import modules_imported_by

ORG = seed.DEMO_ORG_UNIT_ID
PROJECT = seed.DEMO_PROJECT_ID


def test_importing_the_operators_loads_no_openlineage():
    loaded = modules_imported_by(
        "airflow_provider_learnifier.operators.participants",
        "airflow_provider_learnifier.operators.reporting",
    )
    assert "airflow_provider_learnifier.operators.reporting" in loaded
    assert [m for m in loaded if "openlineage" in m or m == "airflow_provider_learnifier.lineage"] == []


# The rest needs the OpenLineage provider.


@pytest.fixture
def openlineage_provider() -> None:
    pytest.importorskip("airflow.providers.openlineage.extractors")


@pytest.fixture
def extract(openlineage_provider):
    """Read an operator's lineage as the OpenLineage provider does after the task."""
    from airflow.providers.openlineage.extractors.base import DefaultExtractor

    def read(operator: Any) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
        lineage = DefaultExtractor(operator).extract_on_complete(mock.MagicMock())
        assert lineage is not None, "the provider could not read the operator's lineage"
        return (
            [(dataset.namespace, dataset.name) for dataset in lineage.inputs],
            [(dataset.namespace, dataset.name) for dataset in lineage.outputs],
        )

    return read


def namespace_of(sim: Any) -> str:
    return "learnifier://" + urlsplit(sim.base_url).netloc


def test_names_follow_the_naming_spec(openlineage_provider):
    assert learnifier_namespace("https://learnifier.com") == "learnifier://learnifier.com"
    assert learnifier_namespace("https://Acme.Learnifier.com:443/api") == "learnifier://acme.learnifier.com"
    assert learnifier_namespace("https://127.0.0.1:8443") == "learnifier://127.0.0.1:8443"
    assert learnifier_namespace("http://[::1]:9000") == "learnifier://[::1]:9000"
    assert project_dataset("https://learnifier.com", "1001", "2001") == (
        "learnifier://learnifier.com",
        "org/1001/project/2001",
    )
    assert file_dataset("/data/report.csv") == ("file", "/data/report.csv")
    assert file_dataset(Path("/data/report.csv")) == ("file", "/data/report.csv")
    assert file_dataset(ObjectStoragePath("file:///data/report.csv")) == ("file", "/data/report.csv")
    # The connection id is not part of the name; fsspec's "gcs" is the spec's "gs".
    assert file_dataset(ObjectStoragePath("s3://aws_reports@bucket/hr/report.csv")) == (
        "s3://bucket",
        "hr/report.csv",
    )
    assert file_dataset(ObjectStoragePath("gcs://bucket/report.jsonl")) == ("gs://bucket", "report.jsonl")


# ---------------------------------------------------------------------- the progress report


@pytest.fixture
def second_project(learnifier_conn) -> str:
    with LearnifierHook() as hook:
        project = hook.create_project(
            ORG, name="Security 2026", design_id=seed.SECURITY_AWARENESS_DESIGN_ID, external_id="sec-2026"
        )
    return str(project["id"])


def test_the_report_declares_the_projects_it_read_and_the_file_it_wrote(
    learnifier_conn, second_project, extract, tmp_path
):
    target = tmp_path / "progress.csv"
    operator = LearnifierProgressReportOperator(
        task_id="report", path=str(target), org_id=ORG, project_ids=[PROJECT, second_project]
    )
    operator.execute({})

    namespace = namespace_of(learnifier_conn)
    assert extract(operator) == (
        [(namespace, f"org/{ORG}/project/{PROJECT}"), (namespace, f"org/{ORG}/project/{second_project}")],
        [("file", str(target))],
    )


def test_a_whole_org_unit_report_declares_every_project_and_no_request_is_made_for_lineage(
    learnifier_conn, second_project, extract, tmp_path
):
    target = ObjectStoragePath((tmp_path / "progress.jsonl").as_uri())
    operator = LearnifierProgressReportOperator(task_id="report", path=target, org_id=ORG)
    operator.execute({})
    requests_before = len(learnifier_conn.exchanges)
    assert requests_before > 0

    inputs, outputs = extract(operator)

    snapshot = learnifier_conn.state.snapshot()
    in_org = sorted(str(p["id"]) for p in snapshot["projects"] if p["orgId"] == ORG)
    assert len(in_org) >= 2
    assert sorted(name.rsplit("/", 1)[-1] for _, name in inputs) == in_org
    assert {namespace for namespace, _ in inputs} == {namespace_of(learnifier_conn)}
    assert outputs == [("file", str(tmp_path / "progress.jsonl"))]
    assert len(learnifier_conn.exchanges) == requests_before


def test_a_failed_report_declares_no_output(learnifier_conn, extract, tmp_path):
    operator = LearnifierProgressReportOperator(
        task_id="report", path=str(tmp_path / "p.csv"), org_id=ORG, project_ids=[PROJECT, 999999]
    )
    with pytest.raises(LearnifierNotFoundError, match="999999"):
        operator.execute({})

    inputs, outputs = extract(operator)
    assert inputs == [(namespace_of(learnifier_conn), f"org/{ORG}/project/{PROJECT}")]
    assert outputs == []


def test_an_operator_that_never_ran_declares_nothing(extract, tmp_path):
    operator = LearnifierProgressReportOperator(task_id="report", path=str(tmp_path / "p.csv"), org_id=ORG)
    assert extract(operator) == ([], [])


# ---------------------------------------------------------------------- enrollment


def _context() -> dict[str, Any]:
    return {"ti": mock.MagicMock()}


def test_enrolling_a_roster_file_declares_it_and_the_project(learnifier_conn, extract, tmp_path):
    roster = tmp_path / "people.csv"
    roster.write_text("email\nanna@example.com\n", encoding="utf-8")
    operator = LearnifierEnrollOperator(
        task_id="enroll", roster=str(roster), project_external_id=seed.DEMO_PROJECT_EXTERNAL_ID
    )
    assert operator.execute(_context())["enrolled"] == ["anna@example.com"]

    assert extract(operator) == (
        [("file", str(roster))],
        [(namespace_of(learnifier_conn), f"org/{ORG}/project/{PROJECT}")],
    )


def test_an_object_storage_roster_is_declared_by_its_path(learnifier_conn, extract, tmp_path):
    roster = tmp_path / "people.jsonl"
    roster.write_text('{"email": "bo@example.com"}\n', encoding="utf-8")
    operator = LearnifierEnrollOperator(
        task_id="enroll", roster=ObjectStoragePath(roster.as_uri()), org_id=ORG, project_id=PROJECT
    )
    operator.execute(_context())

    assert extract(operator)[0] == [("file", str(roster))]


@pytest.mark.parametrize(
    "roster",
    [[{"email": "cleo@example.com"}], "email\ncleo@example.com\n", '[{"email": "cleo@example.com"}]'],
    ids=["list", "csv-text", "json-text"],
)
def test_an_inline_roster_is_no_input(learnifier_conn, extract, roster):
    operator = LearnifierEnrollOperator(task_id="enroll", roster=roster, org_id=ORG, project_id=PROJECT)
    operator.execute(_context())

    assert extract(operator) == ([], [(namespace_of(learnifier_conn), f"org/{ORG}/project/{PROJECT}")])


def test_a_dry_run_writes_to_no_project(learnifier_conn, extract, tmp_path):
    roster = tmp_path / "people.csv"
    roster.write_text("email\ndag@example.com\n", encoding="utf-8")
    operator = LearnifierEnrollOperator(
        task_id="enroll", roster=str(roster), org_id=ORG, project_id=PROJECT, dry_run=True
    )
    operator.execute(_context())

    assert extract(operator) == ([("file", str(roster))], [])
