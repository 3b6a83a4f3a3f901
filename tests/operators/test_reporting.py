"""LearnifierProgressReportOperator: report content, streaming memory, atomic writes and the asset outlet.

The content tests run the DAGs of ``tests/dags/reporting_progress.py`` through real task
execution against the simulator, and compare the report with rows built independently from the
simulator's state. The memory test runs the simulator in a child process, so that only the
operator's own allocations are traced.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import os
import subprocess
import sys
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import Asset, ObjectStoragePath

from airflow_provider_learnifier.hooks.learnifier import LearnifierHook
from airflow_provider_learnifier.operators.reporting import (
    COLUMNS,
    LearnifierProgressReportOperator,
    asset_uri,
    write_atomically,
)
from learnifier_simulator import seed
from tests.completion_helpers import assert_failed_with

REPORT_ASSET_URI = "file:///learnifier-tests/progress-report"
CONSUMER_DAG_ID = "reporting_progress_consumer"

# ---------------------------------------------------------------------- test data


@pytest.fixture
def account(learnifier_conn) -> dict[str, Any]:
    """Projects and participants in two org units, with progress advanced in the simulator.

    Org unit 1001 (the demo seed's) holds the onboarding project plus "security" and "conduct";
    a second org unit holds "globex". Some participants are activated, some advanced, some done.
    """
    sim = learnifier_conn
    with LearnifierHook() as hook:
        org = seed.DEMO_ORG_UNIT_ID
        security = hook.create_project(
            org,
            name="Security 2026",
            design_id=seed.SECURITY_AWARENESS_DESIGN_ID,
            external_id="security-2026",
        )
        conduct = hook.create_project(
            org, name="Conduct 2026", design_id=seed.CODE_OF_CONDUCT_DESIGN_ID, external_id="conduct-2026"
        )
        globex_org = hook.create_org_unit(display_name="Globex", external_id="globex")["ouId"]
        globex = hook.create_project(
            globex_org,
            name="Globex Onboarding",
            design_id=seed.ONBOARDING_DESIGN_ID,
            external_id="globex-onb",
        )
        grace = hook.create_user(
            primary_email="grace@example.com", external_id="hr-grace", first_name="Grace"
        )
        linus = hook.create_user(primary_email="linus@example.com", external_id="hr-linus")

        def enroll(project: dict[str, Any], activate: bool, **user: str) -> str:
            participant_id = hook.add_participant(project["orgId"], project["id"], **user)
            assert participant_id is not None
            if activate:
                hook.activate_participant(project["orgId"], project["id"], participant_id)
            return participant_id

        onboarding = hook.get_project(org, seed.DEMO_PROJECT_ID)
        enroll(onboarding, True, user_id=seed.DEMO_ADMIN_USER_ID, external_id="part-admin-onb")
        ada = enroll(onboarding, True, email="ada@example.com")
        enroll(onboarding, True, user_id=grace, external_id="part-grace-onb")
        enroll(onboarding, False, user_id=linus)
        enroll(security, True, user_id=grace)
        linus_security = enroll(security, True, user_id=linus)
        enroll(security, False, email="ada@example.com")
        enroll(conduct, False, user_id=seed.DEMO_ADMIN_USER_ID)
        enroll(globex, True, user_id=linus, external_id="part-linus-globex")

    sim.advance_progress(project_id=seed.DEMO_PROJECT_ID, activities=2)
    sim.advance_progress(participant_id=ada, complete=True)
    sim.advance_progress(project_id=security["id"], activities=1)
    sim.advance_progress(participant_id=linus_security, complete=True)
    sim.advance_progress(project_id=globex["id"], complete=True)
    return {
        "org_id": org,
        "onboarding": seed.DEMO_PROJECT_ID,
        "security": security["id"],
        "conduct": conduct["id"],
        "globex_org": globex_org,
        "globex": globex["id"],
    }


def expected_rows(sim, project_ids: list[int]) -> list[dict[str, Any]]:
    """The report rows of ``project_ids``, built from the simulator's state, not by the operator's code."""
    snapshot = sim.state.snapshot()
    users = {user["id"]: user for user in snapshot["users"]}
    projects = {project["id"]: project for project in snapshot["projects"]}
    rows = []
    for project_id in project_ids:
        project = projects[project_id]
        for part in snapshot["participants"]:
            if part["projectId"] != project_id:
                continue
            user = users[part["userId"]]
            rows.append(
                {
                    "project_id": str(project_id),
                    "project_name": project["name"],
                    "project_external_id": project.get("externalId"),
                    "org_id": str(project["orgId"]),
                    "participant_id": str(part["id"]),
                    "user_id": part["userId"],
                    "user_external_id": user.get("externalId"),
                    "user_email": user.get("primaryEmail"),
                    "participation_external_id": part.get("externalId"),
                    "activated": part["activated"],
                    "activities_completed": part["activitiesCompleted"],
                    "activities_total": part["activitiesTotal"],
                    "completion_share": part["activitiesCompleted"] / part["activitiesTotal"],
                    "first_access": part.get("firstAccess"),
                    "last_access": part.get("lastAccess"),
                    "expiration": part.get("expiration"),
                    "in_error": False,
                    "error_message": None,
                    "data_error": None,
                }
            )
    return rows


def expected_summary(
    rows: list[dict[str, Any]], projects: int, path: str, report_format: str
) -> dict[str, Any]:
    activated = [row for row in rows if row["activated"]]
    completed = [row for row in activated if row["activities_completed"] == row["activities_total"]]
    return {
        "path": path,
        "format": report_format,
        "projects": projects,
        "rows": len(rows),
        "activated": len(activated),
        "completed": len(completed),
        "completion_share": len(completed) / len(activated),
        "bad_rows": 0,
    }


def as_csv_cells(row: dict[str, Any]) -> dict[str, str]:
    def cell(value: Any) -> str:
        if value is None:
            return ""
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)

    return {column: cell(value) for column, value in row.items()}


def read_report(path: Path, report_format: str) -> list[dict[str, Any]]:
    """Read a report back, checking the columns and their order."""
    text = path.read_text(encoding="utf-8")
    if report_format == "csv":
        lines = text.splitlines()
        assert lines[0] == ",".join(COLUMNS)
        reader = csv.DictReader(text.splitlines(keepends=True))
        return list(reader)
    rows = [json.loads(line) for line in text.splitlines()]
    assert text.endswith("\n") or not text
    for row in rows:
        assert list(row) == list(COLUMNS)
    return rows


def summary_of(dag_run) -> dict[str, Any]:
    return dag_run.get_task_instance("report").xcom_pull(task_ids="report")


# ---------------------------------------------------------------------- content through real task runs

SELECTIONS = {
    "one_project": (
        {"org_id": 1001, "project_ids": 2001},
        ["onboarding"],
    ),
    "project_ids": (
        {"org_id": 1001, "project_ids": ["{conduct}", 2001, "{conduct}"]},
        ["conduct", "onboarding"],
    ),
    "external_ids_across_org_units": (
        {"project_external_ids": ["globex-onb", "security-2026", "acme-onboarding-2024"]},
        ["globex", "security", "onboarding"],
    ),
    "org_unit": (
        {"org_id": 1001},
        ["onboarding", "security", "conduct"],
    ),
}


def _conf(account: dict[str, Any], selection: dict[str, Any], path: str) -> dict[str, Any]:
    def fill(value: Any) -> Any:
        if isinstance(value, list):
            return [fill(item) for item in value]
        if isinstance(value, str) and value.startswith("{"):
            return account[value.strip("{}")]
        return value

    return {"path": path, **{name: fill(value) for name, value in selection.items()}}


@pytest.mark.parametrize("report_format", ["csv", "jsonl"])
@pytest.mark.parametrize("selection", list(SELECTIONS))
def test_report_content_matches_the_simulator_state(
    account, learnifier_conn, run_dag, tmp_path, selection, report_format
):
    arguments, project_names = SELECTIONS[selection]
    target = tmp_path / "out" / f"progress.{report_format}"
    # JSON Lines goes to a file:// URL, CSV to a plain path: both are ObjectStoragePaths inside.
    path = f"file://{target}" if report_format == "jsonl" else str(target)

    dag_id = "reporting_progress_org_unit" if selection == "org_unit" else "reporting_progress"
    dag_run = run_dag(dag_id, _conf(account, arguments, path))

    assert dag_run.state == "success"
    rows = expected_rows(learnifier_conn, [account[name] for name in project_names])
    assert rows, "the selection must have participants for the test to mean anything"
    written = read_report(target, report_format)
    if report_format == "csv":
        assert written == [as_csv_cells(row) for row in rows]
    else:
        assert written == rows
    assert summary_of(dag_run) == expected_summary(rows, len(project_names), path, report_format)
    assert sorted(os.listdir(target.parent)) == [target.name]


def test_report_values_after_progress(account, learnifier_conn, run_dag, tmp_path):
    """Spot-check the figures themselves, not only their agreement with the state."""
    target = tmp_path / "progress.jsonl"
    dag_run = run_dag("reporting_progress", {"path": str(target), "org_id": 1001, "project_ids": [2001]})
    assert dag_run.state == "success"
    by_email = {row["user_email"]: row for row in read_report(target, "jsonl")}
    assert set(by_email) == {
        seed.DEMO_ADMIN_EMAIL,
        "ada@example.com",
        "grace@example.com",
        "linus@example.com",
    }
    admin, ada, linus = (
        by_email[seed.DEMO_ADMIN_EMAIL],
        by_email["ada@example.com"],
        by_email["linus@example.com"],
    )
    assert (admin["activities_completed"], admin["activities_total"], admin["completion_share"]) == (
        2,
        5,
        0.4,
    )
    assert admin["user_external_id"] == seed.DEMO_ADMIN_EXTERNAL_ID
    assert admin["participation_external_id"] == "part-admin-onb"
    assert (ada["activities_completed"], ada["completion_share"]) == (5, 1.0)
    assert ada["user_external_id"] is None
    assert (
        linus["activated"],
        linus["activities_completed"],
        linus["first_access"],
        linus["expiration"],
    ) == (
        False,
        0,
        None,
        None,
    )
    for row in (admin, ada):
        for column in ("first_access", "last_access", "expiration"):
            assert row[column].endswith("Z") and len(row[column]) == len("2026-01-01T00:00:00.000Z")
    assert summary_of(dag_run) | {"path": None} == {
        "path": None,
        "format": "jsonl",
        "projects": 1,
        "rows": 4,
        "activated": 3,
        "completed": 1,
        "completion_share": 1 / 3,
        "bad_rows": 0,
    }


def test_lists_rendered_as_text_are_read_back(account, learnifier_conn, run_dag, tmp_path):
    """Without native rendering, a list param arrives as "['a', 'b']" and a null org as "None"."""
    target = tmp_path / "progress.csv"
    conf = {"path": str(target), "project_external_ids": ["conduct-2026", "security-2026"]}
    dag_run = run_dag("reporting_progress_text", conf)
    assert dag_run.state == "success"
    rows = expected_rows(learnifier_conn, [account["conduct"], account["security"]])
    assert read_report(target, "csv") == [as_csv_cells(row) for row in rows]


# ---------------------------------------------------------------------- the asset


def test_the_asset_outlet_is_declared_and_its_event_carries_the_summary(account, run_dag, tmp_path):
    from airflow.utils.session import create_session
    from sqlalchemy import delete, select

    from tests.compat import AIRFLOW_V_3_0_PLUS, AssetDagRunQueue, AssetEvent, AssetModel, DagBag

    # Airflow 2 calls assets datasets, in its tables too.
    asset_id = "asset_id" if AIRFLOW_V_3_0_PLUS else "dataset_id"
    dags = DagBag(str(Path(__file__).parents[1] / "dags"))
    for dag_id in ("reporting_progress", "reporting_progress_org_unit"):
        assert dags.get_dag(dag_id).get_task("report").outlets == [Asset(REPORT_ASSET_URI)]
    with create_session() as session:
        session.execute(delete(AssetDagRunQueue))

    target = tmp_path / "progress.csv"
    dag_run = run_dag("reporting_progress_org_unit", {"path": str(target), "org_id": 1001})

    assert dag_run.state == "success"
    with create_session() as session:
        asset = session.scalar(select(AssetModel).where(AssetModel.uri == REPORT_ASSET_URI))
        assert asset is not None
        events = session.scalars(
            select(AssetEvent).where(
                getattr(AssetEvent, asset_id) == asset.id, AssetEvent.source_run_id == dag_run.run_id
            )
        ).all()
        assert [event.extra for event in events] == [summary_of(dag_run)]
        assert events[0].extra["path"] == str(target)
        # The scheduler would now run the DAG scheduled on the asset.
        queued = session.scalars(
            select(AssetDagRunQueue.target_dag_id).where(getattr(AssetDagRunQueue, asset_id) == asset.id)
        )
        assert CONSUMER_DAG_ID in set(queued)


def test_asset_true_derives_the_asset_from_a_fixed_path(tmp_path):
    local = LearnifierProgressReportOperator(task_id="a", path=str(tmp_path / "r.csv"), org_id=1, asset=True)
    assert local.outlets == [Asset(f"file://{tmp_path}/r.csv")]
    url = LearnifierProgressReportOperator(
        task_id="b", path=f"file://{tmp_path}/r.jsonl", org_id=1, asset=True
    )
    assert url.outlets == [Asset(f"file://{tmp_path}/r.jsonl")]
    given = LearnifierProgressReportOperator(
        task_id="c", path=str(tmp_path / "r.csv"), org_id=1, asset="s3://bucket/reports/r.csv"
    )
    assert given.outlets == [Asset("s3://bucket/reports/r.csv")]
    assert LearnifierProgressReportOperator(task_id="d", path=str(tmp_path / "r.csv"), org_id=1).outlets == []
    with pytest.raises(ValueError, match="asset=True needs a path without templates"):
        LearnifierProgressReportOperator(task_id="e", path="/reports/{{ ds }}.csv", org_id=1, asset=True)


def test_asset_uri_never_holds_the_connection_id():
    path = ObjectStoragePath("s3://aws_reports@bucket/reports/progress.csv")
    # Airflow 3 keeps the connection id in an attribute, Airflow 2 in the storage options.
    conn_id = path.conn_id if hasattr(path, "conn_id") else path.storage_options["conn_id"]
    assert conn_id == "aws_reports"
    assert asset_uri(path) == "s3://bucket/reports/progress.csv"
    assert asset_uri(ObjectStoragePath("/data/progress.csv")) == "file:///data/progress.csv"


def test_a_localhost_file_url_is_the_absolute_local_path(account, learnifier_conn, tmp_path, monkeypatch):
    """RFC 8089: file://localhost/abs/x.csv is /abs/x.csv, for the file written and the asset alike."""
    monkeypatch.chdir(tmp_path)
    target = tmp_path / "out" / "p.csv"
    operator = LearnifierProgressReportOperator(
        task_id="report", path=f"file://localhost{target}", org_id=1001, project_ids=2001, asset=True
    )
    assert operator.outlets == [Asset(f"file://{target}")]

    summary = operator.execute({})

    assert summary["path"] == f"file://{target}"
    assert read_report(target, "csv")
    assert sorted(os.listdir(tmp_path)) == ["out"], "nothing under the working directory's localhost/"


@pytest.mark.parametrize("path", ["file://reports/progress.csv", "FILE://server/share/p.csv"])
def test_a_file_url_naming_another_host_is_refused(tmp_path, monkeypatch, path):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match=r"names the host .*RFC 8089"):
        LearnifierProgressReportOperator(task_id="parsed", path=path, org_id=1001, asset=True)
    templated = LearnifierProgressReportOperator(task_id="rendered", path="{{ params.path }}", org_id=1001)
    templated.path = path  # as rendered when the task runs
    with pytest.raises(ValueError, match="names the host"):
        templated.execute({})
    assert os.listdir(tmp_path) == []


def test_a_relative_file_url_is_refused():
    with pytest.raises(ValueError, match="is relative"):
        LearnifierProgressReportOperator(task_id="report", path="file:reports/p.csv", org_id=1001)


def test_hash_and_question_mark_are_percent_encoded_in_the_asset_uri(account, learnifier_conn, tmp_path):
    def outlet(name: str) -> str:
        operator = LearnifierProgressReportOperator(
            task_id="report", path=str(tmp_path / name), org_id=1001, project_ids=2001, asset=True
        )
        (asset,) = operator.outlets
        return asset.uri

    uris = {name: outlet(name) for name in ("team#1.csv", "team#2.csv", "team?1.csv", "team%231.csv")}

    assert uris["team#1.csv"] == f"file://{tmp_path}/team%231.csv"
    assert uris["team?1.csv"] == f"file://{tmp_path}/team%3F1.csv"
    assert uris["team%231.csv"] == f"file://{tmp_path}/team%25231.csv"
    assert len(set(uris.values())) == 4, "two reports never share one asset"
    LearnifierProgressReportOperator(
        task_id="report", path=str(tmp_path / "team#1.csv"), org_id=1001, project_ids=2001
    ).execute({})
    assert os.listdir(tmp_path) == ["team#1.csv"]


# ---------------------------------------------------------------------- atomic writes


def test_failure_mid_export_keeps_the_old_report_and_leaves_no_temporary_file(
    account, learnifier_conn, run_dag, tmp_path
):
    target = tmp_path / "progress.csv"
    target.write_text("the report of yesterday\n")
    third = f"/orgunits/1001/projects/{account['conduct']}/participants"
    learnifier_conn.inject(403, method="GET", path=third)  # not retried: fails the export
    learnifier_conn.clear_exchanges()

    dag_run = run_dag("reporting_progress_org_unit", {"path": str(target), "org_id": 1001})

    assert dag_run.state == "failed"
    fetched = [x.path for x in learnifier_conn.exchanges if x.path.endswith("/participants")]
    assert fetched == [
        f"/orgunits/1001/projects/{account['onboarding']}/participants",
        f"/orgunits/1001/projects/{account['security']}/participants",
        third,
    ], "two projects' rows were written before the failure"
    assert target.read_text() == "the report of yesterday\n"
    assert os.listdir(tmp_path) == ["progress.csv"]


def test_the_temporary_file_sits_next_to_the_target_until_the_move(
    account, learnifier_conn, tmp_path, mocker
):
    """Watch the directory while the export runs: old report in place, a hidden temp file beside it."""
    target = tmp_path / "progress.jsonl"
    target.write_text("old\n")
    seen: list[tuple[list[str], str]] = []
    original = LearnifierHook.list_participants

    def list_participants(self, org_id, project_id):
        seen.append((sorted(os.listdir(tmp_path)), target.read_text()))
        if len(seen) == 3:
            raise RuntimeError("the network went away")
        return original(self, org_id, project_id)

    mocker.patch.object(LearnifierHook, "list_participants", list_participants)
    operator = LearnifierProgressReportOperator(task_id="report", path=str(target), org_id=1001)

    with pytest.raises(RuntimeError, match="the network went away"):
        operator.execute({})

    for listing, content in seen:
        assert content == "old\n"
        assert len(listing) == 2 and "progress.jsonl" in listing
        (temporary,) = (name for name in listing if name != "progress.jsonl")
        assert temporary.startswith(".progress.jsonl.") and temporary.endswith(".tmp")
    assert os.listdir(tmp_path) == ["progress.jsonl"]
    assert target.read_text() == "old\n"


def test_a_failed_move_removes_the_temporary_file(tmp_path, mocker):
    target = ObjectStoragePath(str(tmp_path / "report.csv"))
    (tmp_path / "report.csv").write_text("old\n")
    mocker.patch.object(type(target.fs), "mv", side_effect=OSError("disk full"))

    with pytest.raises(OSError, match="disk full"):
        write_atomically(target, lambda handle: handle.write("new\n"))

    assert os.listdir(tmp_path) == ["report.csv"]
    assert (tmp_path / "report.csv").read_text() == "old\n"


def test_object_store_paths_are_written_through_a_temporary_object(tmp_path):
    """fsspec's in-memory file system stands in for S3 or GCS: no directories, no local rename."""
    from fsspec.implementations.memory import MemoryFileSystem

    from tests.compat import attach

    fs = MemoryFileSystem()
    attach("memory", fs=fs)
    target = ObjectStoragePath("memory://reports/progress.csv")
    fs.pipe_file("/reports/progress.csv", b"old\n")

    def fail(handle):
        handle.write("half a report")
        assert len(fs.ls("/reports")) == 2
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        write_atomically(target, fail)
    assert fs.ls("/reports", detail=False) == ["/reports/progress.csv"]
    assert fs.cat_file("/reports/progress.csv") == b"old\n"

    write_atomically(target, lambda handle: handle.write("new,report\n"))
    assert fs.ls("/reports", detail=False) == ["/reports/progress.csv"]
    assert fs.cat_file("/reports/progress.csv") == b"new,report\n"
    fs.rm("/reports", recursive=True)


def test_a_directory_target_is_refused(tmp_path):
    with pytest.raises(IsADirectoryError):
        write_atomically(ObjectStoragePath(str(tmp_path)), lambda handle: handle.write("x"))
    assert os.listdir(tmp_path) == []


# ---------------------------------------------------------------------- users


@pytest.mark.parametrize("user_lookup", ["get", "scan", "auto"])
def test_each_user_is_looked_up_once(account, learnifier_conn, tmp_path, user_lookup):
    learnifier_conn.clear_exchanges()
    target = tmp_path / "progress.csv"
    operator = LearnifierProgressReportOperator(
        task_id="report", path=str(target), org_id=1001, user_lookup=user_lookup, scan_page_size=2
    )
    summary = operator.execute({})

    rows = read_report(target, "csv")
    distinct_users = {row["user_id"] for row in rows}
    assert summary["rows"] == len(rows) == 8 and len(distinct_users) == 4
    assert all(row["user_email"] for row in rows)
    user_gets = [x for x in learnifier_conn.exchanges if x.operation == ("GET", "/users/{userid}")]
    user_pages = [x for x in learnifier_conn.exchanges if x.operation == ("GET", "/users")]
    fetched_one_by_one = [x.path.rsplit("/", 1)[1] for x in user_gets]
    account_users = len(learnifier_conn.state.snapshot()["users"])
    if user_lookup == "get":
        assert sorted(fetched_one_by_one) == sorted(distinct_users)
        assert user_pages == []
    elif user_lookup == "auto":
        # One page's worth (scan_page_size) fetched one by one, then the rest from a scan.
        assert len(fetched_one_by_one) == len(set(fetched_one_by_one)) == 2
        assert len(user_pages) == math.ceil(account_users / 2)
    else:
        assert user_gets == []
        # X-More says when the last page was read: no empty page is asked for.
        assert len(user_pages) == math.ceil(account_users / 2)


def test_the_user_cache_is_bounded(account, learnifier_conn, tmp_path):
    learnifier_conn.clear_exchanges()
    operator = LearnifierProgressReportOperator(
        task_id="report", path=str(tmp_path / "p.csv"), org_id=1001, max_cached_users=1
    )
    operator.execute({})
    user_gets = [x for x in learnifier_conn.exchanges if x.operation == ("GET", "/users/{userid}")]
    # 8 rows of 4 users across 3 projects; with one cached user, most rows refetch.
    assert 4 < len(user_gets) <= 8


# ---------------------------------------------------------------------- what the API sends


def test_unusual_api_values_are_normalised(account, learnifier_conn, tmp_path, monkeypatch):
    """Timestamps with offsets, epoch milliseconds, float counts and an error state, over real HTTP."""
    participant = {
        "id": 9001,
        "projectId": account["conduct"],
        "userId": seed.DEMO_ADMIN_USER_ID,
        "activated": True,
        "inError": True,
        "errorMessage": "License expired",
        "activitiesCompleted": 2.0,
        "activitiesTotal": 3.0,
        "firstAccess": "2026-03-01T10:00:00+02:00",
        "lastAccess": 1772359200123,
        "expiration": "2027-01-01",
    }
    monkeypatch.setattr(learnifier_conn.state, "list_participants", lambda org_id, project_id: [participant])
    target = tmp_path / "p.jsonl"
    LearnifierProgressReportOperator(
        task_id="report", path=str(target), project_external_ids="conduct-2026"
    ).execute({})

    (row,) = read_report(target, "jsonl")
    assert row | {"user_id": None} == {
        "project_id": str(account["conduct"]),
        "project_name": "Conduct 2026",
        "project_external_id": "conduct-2026",
        "org_id": "1001",
        "participant_id": "9001",
        "user_id": None,
        "user_external_id": seed.DEMO_ADMIN_EXTERNAL_ID,
        "user_email": seed.DEMO_ADMIN_EMAIL,
        "participation_external_id": None,
        "activated": True,
        "activities_completed": 2,
        "activities_total": 3,
        "completion_share": 2 / 3,
        "first_access": "2026-03-01T08:00:00.000Z",
        "last_access": "2026-03-01T10:00:00.123Z",
        "expiration": "2027-01-01T00:00:00.000Z",
        "in_error": True,
        "error_message": "License expired",
        "data_error": None,
    }


def test_a_listing_that_leaves_activated_out_is_read_by_activation_time_and_access_link(
    account, learnifier_conn, tmp_path, monkeypatch
):
    base = {"projectId": account["conduct"], "userId": seed.DEMO_ADMIN_USER_ID, "activitiesTotal": 3}
    participants = [
        base | {"id": 9001, "lastActivation": "2026-03-01T10:00:00Z", "activitiesCompleted": 3},
        base | {"id": 9002, "accessLink": "https://learn.example.com/access/9002"},
        base | {"id": 9003, "activated": None},
    ]
    monkeypatch.setattr(learnifier_conn.state, "list_participants", lambda org_id, project_id: participants)
    target = tmp_path / "p.csv"
    summary = LearnifierProgressReportOperator(
        task_id="report", path=str(target), project_external_ids="conduct-2026"
    ).execute({})

    rows = read_report(target, "csv")
    assert [(row["participant_id"], row["activated"]) for row in rows] == [
        ("9001", "true"),
        ("9002", "true"),
        ("9003", "false"),
    ]
    assert (summary["activated"], summary["completed"]) == (2, 1)


def _one_participant(learnifier_conn, monkeypatch, project_id: int, **counts: Any) -> None:
    participant = {"id": 9001, "projectId": project_id, "userId": seed.DEMO_ADMIN_USER_ID, "activated": True}
    monkeypatch.setattr(
        learnifier_conn.state, "list_participants", lambda org_id, project_id: [participant | counts]
    )


def test_a_bad_timestamp_leaves_its_cell_empty_with_a_warning(
    account, learnifier_conn, run_dag, tmp_path, monkeypatch, capfd
):
    _one_participant(
        learnifier_conn,
        monkeypatch,
        account["conduct"],
        firstAccess="2026-02-30T10:00:00Z",
        lastAccess="20260301T100000Z",
        expiration="9999-12-31T23:59:59-05:00",
    )
    target = tmp_path / "p.jsonl"

    dag_run = run_dag("reporting_progress", {"path": str(target), "project_external_ids": ["conduct-2026"]})

    output = capfd.readouterr()
    assert dag_run.state == "success"
    (row,) = read_report(target, "jsonl")
    assert (row["first_access"], row["last_access"], row["expiration"]) == (
        None,
        "2026-03-01T10:00:00.000Z",
        None,
    )
    assert row["data_error"].startswith("firstAccess '2026-02-30T10:00:00Z' is not an ISO 8601 timestamp")
    assert row["data_error"].endswith(
        "; expiration '9999-12-31T23:59:59-05:00' is not a timestamp of the years 1 to 9999 in UTC"
    )
    assert (summary_of(dag_run)["rows"], summary_of(dag_run)["bad_rows"]) == (1, 1)
    logged = output.out + output.err
    assert f"Project {account['conduct']}, participant 9001: firstAccess '2026-02-30T10:00:00Z'" in logged
    assert (
        f"Project {account['conduct']}, participant 9001: expiration '9999-12-31T23:59:59-05:00' is not a "
        "timestamp of the years 1 to 9999 in UTC; the expiration cell is left empty"
    ) in logged


@pytest.mark.parametrize("flag", ["false", 1])
def test_an_in_error_flag_that_is_no_boolean_leaves_its_cell_empty_and_is_named(
    flag, account, learnifier_conn, tmp_path, monkeypatch
):
    _one_participant(learnifier_conn, monkeypatch, account["conduct"], inError=flag)
    target = tmp_path / "p.jsonl"

    LearnifierProgressReportOperator(
        task_id="report", path=str(target), project_external_ids="conduct-2026"
    ).execute({})

    (row,) = read_report(target, "jsonl")
    assert row["in_error"] is None
    assert row["data_error"] == f"inError {flag!r} is not a boolean"


def test_json_lines_escape_the_line_separators_that_line_splitters_break_on(
    account, learnifier_conn, tmp_path, monkeypatch
):
    message = "License\u2028expired\u0085see\u2029HR\x1c"
    _one_participant(learnifier_conn, monkeypatch, account["conduct"], inError=True, errorMessage=message)
    target = tmp_path / "p.jsonl"

    LearnifierProgressReportOperator(
        task_id="report", path=str(target), project_external_ids="conduct-2026"
    ).execute({})

    (line,) = target.read_text(encoding="utf-8").splitlines()
    assert json.loads(line)["error_message"] == message


def test_activity_counts_sent_as_numeric_strings_are_read_as_numbers(
    account, learnifier_conn, tmp_path, monkeypatch
):
    """The spec's own UserParticipationInfo example sends "3" and "5"."""
    _one_participant(
        learnifier_conn, monkeypatch, account["conduct"], activitiesCompleted="3", activitiesTotal=" 5 "
    )
    target = tmp_path / "p.jsonl"

    summary = LearnifierProgressReportOperator(
        task_id="report", path=str(target), project_external_ids="conduct-2026"
    ).execute({})

    (row,) = read_report(target, "jsonl")
    assert (row["activities_completed"], row["activities_total"], row["completion_share"]) == (3, 5, 0.6)
    assert (summary["activated"], summary["completed"]) == (1, 0)


@pytest.mark.parametrize("report_format", ["csv", "jsonl"])
@pytest.mark.parametrize("total", ["five", True, "NaN", [5]])
def test_a_count_that_is_not_a_number_is_a_bad_row_and_the_report_goes_on(
    account, learnifier_conn, run_dag, tmp_path, monkeypatch, capfd, total, report_format
):
    """Participant 9001 has a count that is no number; 9002, in the same project, is reported as usual."""
    good = {"id": 9002, "userId": seed.DEMO_ADMIN_USER_ID, "activated": True, "activitiesTotal": 4}
    bad = {"id": 9001, "userId": seed.DEMO_ADMIN_USER_ID, "activated": True, "activitiesTotal": total}
    served = [bad | {"activitiesCompleted": 4}, good | {"activitiesCompleted": 4}]
    monkeypatch.setattr(learnifier_conn.state, "list_participants", lambda org_id, project_id: served)
    target = tmp_path / f"p.{report_format}"

    dag_run = run_dag("reporting_progress", {"path": str(target), "project_external_ids": ["conduct-2026"]})

    output = capfd.readouterr()
    assert dag_run.state == "success"
    bad_row, good_row = read_report(target, report_format)
    problem = f"activitiesTotal {total!r} is not a number"
    if report_format == "csv":
        cells = ("4", "", "", problem)
        assert (good_row["activities_total"], good_row["data_error"]) == ("4", "")
    else:
        cells = (4, None, None, problem)
        assert (good_row["activities_total"], good_row["data_error"]) == (4, None)
    columns = ("activities_completed", "activities_total", "completion_share", "data_error")
    assert tuple(bad_row[column] for column in columns) == cells
    summary = summary_of(dag_run)
    assert (summary["rows"], summary["bad_rows"], summary["activated"], summary["completed"]) == (2, 1, 2, 1)
    assert (
        f"Project {account['conduct']}, participant 9001: {problem}; the activities_total and "
        "completion_share cells are left empty"
    ) in output.out + output.err


@pytest.mark.parametrize(
    ("participant", "message"),
    [
        (
            {"activitiesCompleted": "some", "activitiesTotal": 5},
            "participant 9001: activitiesCompleted 'some' is not a number (on_bad_data='fail')",
        ),
        (
            {"lastAccess": "2026-02-30T10:00:00Z"},
            "participant 9001: lastAccess '2026-02-30T10:00:00Z' is not an ISO 8601 timestamp",
        ),
        (
            {"expiration": "9999-12-31T23:59:59-05:00"},
            "participant 9001: expiration '9999-12-31T23:59:59-05:00' is not a timestamp of the years 1 "
            "to 9999 in UTC (on_bad_data='fail')",
        ),
    ],
)
def test_on_bad_data_fail_fails_the_report_naming_project_and_participant(
    account, learnifier_conn, run_dag, tmp_path, monkeypatch, capfd, participant, message
):
    _one_participant(learnifier_conn, monkeypatch, account["conduct"], **participant)
    target = tmp_path / "p.csv"
    target.write_text("the previous report\n", encoding="utf-8")

    dag_run = run_dag(
        "reporting_progress_fail_on_bad_data", {"path": str(target), "project_external_ids": ["conduct-2026"]}
    )

    assert_failed_with(
        dag_run,
        capfd,
        f"LearnifierParticipantDataError: Learnifier project {account['conduct']} (organization unit 1001), "
        + message,
    )
    assert os.listdir(tmp_path) == ["p.csv"]
    assert target.read_text(encoding="utf-8") == "the previous report\n"


def test_on_bad_data_fail_raises_a_typed_error_with_the_details(
    account, learnifier_conn, tmp_path, monkeypatch
):
    from airflow_provider_learnifier.exceptions import LearnifierParticipantDataError

    _one_participant(learnifier_conn, monkeypatch, account["conduct"], firstAccess="20261399")
    operator = LearnifierProgressReportOperator(
        task_id="report",
        path=str(tmp_path / "p.csv"),
        project_external_ids="conduct-2026",
        on_bad_data="fail",
    )

    with pytest.raises(LearnifierParticipantDataError) as failure:
        operator.execute({})

    error = failure.value
    assert (error.participant_id, error.project_id, error.field) == (
        "9001",
        str(account["conduct"]),
        "firstAccess",
    )
    assert os.listdir(tmp_path) == []


# ---------------------------------------------------------------------- arguments


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"path": "reports/p.csv", "org_id": 1}, "is relative"),
        ({"path": "/reports/p.txt", "org_id": 1}, "cannot tell the report format"),
        ({"path": "/reports/", "org_id": 1}, "names a directory"),
        ({"path": "/reports/p.csv", "file_format": "xlsx"}, "file_format"),
        ({"path": "/reports/p.csv", "user_lookup": "all"}, "user_lookup"),
        ({"path": "/reports/p.csv", "max_cached_users": -1}, "max_cached_users"),
        ({"path": "/reports/p.csv", "on_bad_data": "skip"}, "on_bad_data must be 'warn' or 'fail'"),
    ],
)
def test_bad_arguments_fail_when_the_dag_is_parsed(arguments, message):
    with pytest.raises(ValueError, match=message):
        LearnifierProgressReportOperator(task_id="report", **arguments)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({}, "name the projects"),
        ({"project_ids": [1, 2]}, "project_ids need the org_id"),
        ({"org_id": 1, "project_ids": "[1, 2]]"}, "neither one id nor a list"),
        ({"org_id": 1, "project_external_ids": {"a": 1}}, "must be an id or a list"),
        ({"org_id": "None", "project_external_ids": "None"}, "name the projects"),
    ],
)
def test_bad_selections_fail_before_anything_is_written(tmp_path, arguments, message):
    target = tmp_path / "p.csv"
    operator = LearnifierProgressReportOperator(task_id="report", path=str(target), **arguments)
    with pytest.raises(ValueError, match=message):
        operator.execute({})
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(
    "selection",
    [
        {"project_ids": []},
        {"project_ids": "[]"},
        {"project_ids": "None"},
        {"project_ids": None, "project_external_ids": []},
        {"project_ids": ["None", None], "project_external_ids": "None"},
    ],
)
def test_an_empty_selection_is_refused_not_widened_to_the_org_unit(
    account, learnifier_conn, tmp_path, selection
):
    target = tmp_path / "p.csv"
    learnifier_conn.clear_exchanges()
    operator = LearnifierProgressReportOperator(task_id="report", path=str(target), org_id=1001, **selection)

    with pytest.raises(ValueError, match="name no project: an empty selection is refused"):
        operator.execute({})

    assert os.listdir(tmp_path) == []
    assert not [x for x in learnifier_conn.exchanges if x.path.endswith("/participants")]


@pytest.mark.parametrize("dag_id", ["reporting_progress", "reporting_progress_text"])
def test_templates_rendering_an_empty_selection_fail_the_task(account, run_dag, tmp_path, dag_id):
    """The params default to empty lists: rendered ("[]" as text, [] natively), they name no project."""
    target = tmp_path / "p.csv"

    dag_run = run_dag(dag_id, {"path": str(target), "org_id": 1001})

    assert dag_run.state == "failed"
    assert os.listdir(tmp_path) == []


def test_an_external_id_of_another_org_unit_is_refused(account, learnifier_conn, tmp_path):
    target = tmp_path / "p.csv"
    target.write_text("old\n")
    operator = LearnifierProgressReportOperator(
        task_id="report", path=str(target), org_id=1001, project_external_ids=["security-2026", "globex-onb"]
    )
    with pytest.raises(ValueError, match="belongs to organization unit"):
        operator.execute({})
    assert os.listdir(tmp_path) == ["p.csv"] and target.read_text() == "old\n"


def test_template_fields_and_cheap_import():
    assert set(LearnifierProgressReportOperator.template_fields) == {
        "path",
        "org_id",
        "project_ids",
        "project_external_ids",
        "learnifier_conn_id",
        "states",
        "html_path",
    }
    code = (
        "import sys\n"
        "try:\n"
        "    import airflow.sdk\n"
        "except ImportError:  # Airflow 2\n"
        "    import airflow.models.baseoperator\n"
        "before = set(sys.modules)\n"
        "import airflow_provider_learnifier.operators.reporting\n"
        "new = set(sys.modules) - before\n"
        "bad = [m for m in new if m.split('.')[0] in ('requests', 'urllib3', 'csv', 'pendulum', 'fsspec')\n"
        "       or m == 'airflow_provider_learnifier.hooks.learnifier']\n"
        "print(bad)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert result.stdout.strip().splitlines()[-1] == "[]"


# ---------------------------------------------------------------------- memory

_SIMULATOR_SCRIPT = r"""
import json, sys
from datetime import datetime, timedelta, timezone
from learnifier_simulator import LearnifierSimulator
from learnifier_simulator.models import OrgUnit, Participant, Project, User

sizes, per_project = json.loads(sys.argv[1]), int(sys.argv[2])
start = datetime(2026, 1, 5, 8, 0, tzinfo=timezone.utc)
with LearnifierSimulator(seed=None, tls=True) as sim:
    users = [User(f"user-{n:04d}", start, primary_email=f"u{n}@example.com", external_id=f"hr-{n}")
             for n in range(per_project)]
    records, project_id, participant_id = list(users), 2001, 3001
    for org_id, count in sizes.items():
        records.append(OrgUnit(int(org_id), f"Org {org_id}"))
        for _ in range(count):
            records.append(Project(project_id, int(org_id), 101, f"Course {project_id}", start, 5,
                                   external_id=f"course-{project_id}", status="ACTIVATED"))
            for n, user in enumerate(users):
                records.append(Participant(participant_id, project_id, user.id, 5,
                                           external_id=f"p-{participant_id}",
                                           activated=n % 3 != 0, activities_completed=n % 6,
                                           first_access=start + timedelta(hours=n),
                                           last_access=start + timedelta(days=1, hours=n),
                                           expiration=start + timedelta(days=365)))
                participant_id += 1
            project_id += 1
    sim.state.add_records(*records)
    print(sim.connection_json(), flush=True)
    sys.stdin.read()
"""


@pytest.fixture
def big_account(monkeypatch) -> Iterator[None]:
    """Org units 1501 (20 projects), 1502 (200) and 1503 (1), 20 participants each, in a child process."""
    sizes = {"1501": 20, "1502": 200, "1503": 1}
    child = subprocess.Popen(
        [sys.executable, "-c", _SIMULATOR_SCRIPT, json.dumps(sizes), "20"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        monkeypatch.setenv("AIRFLOW_CONN_LEARNIFIER_DEFAULT", child.stdout.readline())
        yield
    finally:
        assert child.stdin is not None
        child.stdin.close()
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def _peak_bytes(org_id: int, path: Path) -> tuple[int, dict[str, Any]]:
    operator = LearnifierProgressReportOperator(task_id="report", path=str(path), org_id=org_id)
    tracemalloc.reset_peak()
    start = tracemalloc.get_traced_memory()[0]
    summary = operator.execute({})
    return tracemalloc.get_traced_memory()[1] - start, summary


def test_memory_does_not_grow_with_the_number_of_projects(big_account, tmp_path):
    # pytest keeps every log record it captures; the operator logs a line per project, which
    # would measure pytest's memory (on Airflow 2, where task loggers reach pytest's handler).
    logging.disable(logging.INFO)
    tracemalloc.start()
    try:
        _peak_bytes(1503, tmp_path / "warm-up.csv")  # first-use allocations: imports, TLS, pools
        peak_20, summary_20 = _peak_bytes(1501, tmp_path / "p20.csv")
        peak_200, summary_200 = _peak_bytes(1502, tmp_path / "p200.csv")
    finally:
        tracemalloc.stop()
        logging.disable(logging.NOTSET)

    assert (summary_20["rows"], summary_200["rows"]) == (400, 4000)
    assert summary_200["projects"] == 200
    report_200 = (tmp_path / "p200.csv").stat().st_size
    # Holding the rows would cost far more than the file itself; the one thing that grows is
    # the org unit's project list, which the API answers in one piece (~1 KB a project).
    assert peak_200 - peak_20 < 300_000 < report_200, (peak_20, peak_200, report_200)
    assert math.isclose(summary_200["completion_share"], summary_20["completion_share"])
