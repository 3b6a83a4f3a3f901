"""What the deployment tests check in the simulator and in what a deployment wrote."""

from __future__ import annotations

import base64
import csv
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from learnifier_simulator import LearnifierSimulator

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_DAGS = REPO / "example_dags"
ROSTER = EXAMPLE_DAGS / "data" / "acme_roster_2026-01.csv"
#: The example enrollment DAG, the course it enrolls the roster in, and its deferrable sensor.
ENROLLMENT_DAG_ID = "learnifier_enrollment"
ENROLLMENT_PROJECT = "acme-security-awareness-2026"
SENSOR_TASK = "wait_for_completion"
TRIGGER_CLASSPATH = "airflow_provider_learnifier.triggers.base.LearnifierCompletionTrigger"


def read_roster() -> list[dict[str, str]]:
    with ROSTER.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def project_participants(
    sim: LearnifierSimulator, external_id: str
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The one project with ``external_id``, and its participants."""
    snapshot = sim.state.snapshot()
    (project,) = [p for p in snapshot["projects"] if p.get("externalId") == external_id]
    participants = [p for p in snapshot["participants"] if p["projectId"] == project["id"]]
    return project, participants


def users_by_id(snapshot: dict[str, Any]) -> dict[str, str]:
    return {user["id"]: user.get("externalId") for user in snapshot["users"]}


def assert_roster_enrolled_once(
    sim: LearnifierSimulator, external_id: str, roster: list[dict[str, str]]
) -> None:
    """Everyone on the roster is a participant of the project once, activated once; no one else."""
    _project, participants = project_participants(sim, external_id)
    names = users_by_id(sim.state.snapshot())
    assert sorted(names[p["userId"]] for p in participants) == sorted(row["external_id"] for row in roster), (
        external_id
    )
    for participant in participants:
        assert participant["activated"], (external_id, participant["id"])
        assert participant["firstActivation"] == participant["lastActivation"], "activated twice"


def all_text(*folders: Path) -> dict[Path, str]:
    """Every file under the folders, as text."""
    texts = {}
    for folder in folders:
        for path in folder.rglob("*"):
            if path.is_file():
                texts[path] = path.read_bytes().decode("utf-8", errors="replace")
    return texts


def api_credentials(sim: LearnifierSimulator) -> dict[str, str]:
    """What must never be written anywhere: the API secret and its HTTP Basic value."""
    return {
        "the API secret": sim.secret,
        "the Basic authorization value": base64.b64encode(f"{sim.key}:{sim.secret}".encode()).decode(),
    }


def leaks(texts: dict[Any, str], forbidden: dict[str, str]) -> list[str]:
    """``"<what> in <where>"`` for each forbidden value found in a text."""
    return [
        f"{what} in {where}"
        for where, text in texts.items()
        for what, value in forbidden.items()
        if value in text
    ]
