"""The progress report and progress summary examples: the daily report, its asset, the summary DAG on it."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_learnifier.hooks.learnifier import LearnifierHook
from airflow_provider_learnifier.operators.reporting import COLUMNS
from learnifier_simulator import seed
from tests.example_dags.conftest import AIRFLOW3_ONLY, read_csv, task_states, xcom

pytestmark = AIRFLOW3_ONLY

ASSET_NAME = "learnifier_daily_progress_report"
SUMMARY_DAG_ID = "learnifier_progress_summary"


@pytest.fixture
def account(learnifier_conn) -> dict[str, Any]:
    """Two more projects in the demo org unit and one in another, with participants at every stage."""
    sim = learnifier_conn
    org = seed.DEMO_ORG_UNIT_ID
    with LearnifierHook() as hook:
        security = hook.create_project(
            org, name="Security 2026", design_id=seed.SECURITY_AWARENESS_DESIGN_ID, external_id="sec-2026"
        )
        conduct = hook.create_project(org, name="Conduct 2026", design_id=seed.CODE_OF_CONDUCT_DESIGN_ID)
        other_org = hook.create_org_unit(display_name="Globex", external_id="globex")["ouId"]
        other = hook.create_project(other_org, name="Globex Onboarding", design_id=seed.ONBOARDING_DESIGN_ID)

        def enroll(project: dict[str, Any], email: str, activate: bool = True) -> str:
            participant_id = hook.add_participant(project["orgId"], project["id"], email=email)
            assert participant_id is not None
            if activate:
                hook.activate_participant(project["orgId"], project["id"], participant_id)
            return participant_id

        onboarding = hook.get_project(org, seed.DEMO_PROJECT_ID)
        done = enroll(onboarding, "ann@example.com")
        enroll(onboarding, "ben@example.com")
        enroll(onboarding, "cid@example.com", activate=False)
        halfway = enroll(security, "ann@example.com")
        finished = enroll(security, "dee@example.com")
        enroll(conduct, "ben@example.com", activate=False)
        enroll(other, "eve@example.com")
    sim.advance_progress(participant_id=done, complete=True)
    sim.advance_progress(participant_id=halfway, activities=2)
    sim.advance_progress(participant_id=finished, complete=True)
    sim.advance_progress(project_id=other["id"], complete=True)
    return {"org_id": org, "projects": {seed.DEMO_PROJECT_ID, security["id"], conduct["id"]}}


def expected_summary(sim, project_ids: set[int]) -> list[dict[str, str]]:
    """The summary rows, computed from the simulator's state (not from the report)."""
    snapshot = sim.state.snapshot()
    rows = []
    for project in snapshot["projects"]:
        if project["id"] not in project_ids:
            continue
        participants = [p for p in snapshot["participants"] if p["projectId"] == project["id"]]
        if not participants:
            continue
        activated = [p for p in participants if p["activated"]]
        completed = [p for p in activated if p["activitiesCompleted"] >= p["activitiesTotal"]]
        share = round(len(completed) / len(activated), 4) if activated else 0.0
        rows.append(
            {
                "project_id": str(project["id"]),
                "project_name": project["name"],
                "project_external_id": project.get("externalId") or "",
                "participants": str(len(participants)),
                "activated": str(len(activated)),
                "completed": str(len(completed)),
                "completion_share": str(share),
            }
        )
    return rows


def clear_queue_of_asset() -> None:
    from airflow.models.asset import AssetDagRunQueue, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import delete, select

    with create_session() as session:
        ids = select(AssetModel.id).where(AssetModel.name == ASSET_NAME)
        # No in-session sync of the deleted rows: SQLAlchemy 1.4 (Airflow 3.0) cannot evaluate the subquery.
        session.execute(
            delete(AssetDagRunQueue)
            .where(AssetDagRunQueue.asset_id.in_(ids))
            .execution_options(synchronize_session=False)
        )


def asset_events_and_queue(run_id: str) -> tuple[list[dict[str, Any]], set[str]]:
    from airflow.models.asset import AssetDagRunQueue, AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        asset = session.scalar(select(AssetModel).where(AssetModel.name == ASSET_NAME))
        assert asset is not None
        events = session.scalars(
            select(AssetEvent).where(AssetEvent.asset_id == asset.id, AssetEvent.source_run_id == run_id)
        ).all()
        queued = session.scalars(
            select(AssetDagRunQueue.target_dag_id).where(AssetDagRunQueue.asset_id == asset.id)
        ).all()
        return [event.extra for event in events], set(queued)


def test_daily_report_publishes_the_asset_and_the_summary_dag_reads_it(
    account, learnifier_conn, run_example_dag, tmp_path, monkeypatch
):
    sim = learnifier_conn
    reports = tmp_path / "reports"
    clear_queue_of_asset()

    dag_run = run_example_dag("learnifier_progress_report", {"report_dir": str(reports)})

    assert dag_run.state == "success", task_states(dag_run)
    report = reports / f"learnifier-progress-{dag_run.run_after:%Y-%m-%d}.csv"
    with report.open(encoding="utf-8") as handle:
        assert handle.readline().strip() == ",".join(COLUMNS)
    rows = read_csv(report)
    snapshot = sim.state.snapshot()
    participants = {
        str(p["id"]): p for p in snapshot["participants"] if p["projectId"] in account["projects"]
    }
    assert sorted(row["participant_id"] for row in rows) == sorted(participants)  # not the other org's
    for row in rows:
        participant = participants[row["participant_id"]]
        assert row["project_id"] == str(participant["projectId"])
        assert row["org_id"] == str(account["org_id"])
        assert row["activated"] == ("true" if participant["activated"] else "false")
        assert int(row["activities_completed"]) == participant["activitiesCompleted"]
        assert float(row["completion_share"]) == pytest.approx(
            participant["activitiesCompleted"] / participant["activitiesTotal"]
        )
    shares = sorted(float(row["completion_share"]) for row in rows)
    assert shares == [0.0, 0.0, 0.0, 0.5, 1.0, 1.0]
    summary = xcom(dag_run, "write_report")
    assert (summary["rows"], summary["projects"], summary["activated"], summary["completed"]) == (6, 3, 4, 2)
    events, queued = asset_events_and_queue(dag_run.run_id)
    assert events == [summary]
    assert SUMMARY_DAG_ID in queued  # the scheduler would now run the summary DAG

    # The summary DAG, started by hand, summarises the newest report: the one just written.
    summary_run = run_example_dag(SUMMARY_DAG_ID)

    assert summary_run.state == "success", task_states(summary_run)
    summary_file = reports / f"{report.stem}-summary.csv"
    assert xcom(summary_run, "summarise")["summary"] == str(summary_file)
    assert read_csv(summary_file) == expected_summary(sim, account["projects"])
    by_name = {row["project_name"]: row for row in read_csv(summary_file)}
    assert by_name["Security 2026"]["completion_share"] == "0.5"
    assert by_name["Acme Onboarding 2024"]["completion_share"] == "0.5"
    assert by_name["Conduct 2026"]["completion_share"] == "0.0"
