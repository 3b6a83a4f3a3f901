"""The demo's simulated course progress starts only once the enrollment task has finished.

An enrollment reads the project's participants while it adds and activates them one by one; a
read that finds everyone enrolled so far activated must not make anyone complete the course.
"""

from __future__ import annotations

import importlib.util
import threading
import time
from typing import TYPE_CHECKING, Any

import requests

from learnifier_simulator import LearnifierSimulator, seed
from tests.example_dags.conftest import REPO

if TYPE_CHECKING:
    from types import ModuleType

PROJECT = "race-course"


def load_demo() -> ModuleType:
    spec = importlib.util.spec_from_file_location("learnifier_demo", REPO / "scripts" / "demo.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def read_participants(simulator: LearnifierSimulator, project: dict[str, Any]) -> None:
    response = requests.get(
        f"{simulator.base_url}/orgunits/{project['orgId']}/projects/{project['id']}/participants",
        auth=(simulator.key, simulator.secret),
        verify=simulator.ca_file,
        timeout=10,
    )
    response.raise_for_status()


def wait_until_seen(progress: Any, reads: int) -> None:
    """Wait for the progress thread to have looked at ``reads`` reads (an event, not a duration)."""
    deadline = time.monotonic() + 30
    while progress.reads_seen < reads:
        assert time.monotonic() < deadline, "the progress thread did not look at the read"
        time.sleep(0.01)


def test_no_progress_while_the_enrollment_runs_even_when_all_enrolled_so_far_are_active():
    demo = load_demo()
    enrollment_finished = threading.Event()
    with LearnifierSimulator(seed="demo") as simulator:
        state = simulator.state
        org = str(seed.DEMO_ORG_UNIT_ID)
        project_id = state.add_project(
            org, {"name": "Race", "designId": seed.SECURITY_AWARENESS_DESIGN_ID, "externalId": PROJECT}
        )["id"]
        project = {"orgId": org, "id": project_id}
        with demo.CourseProgress(simulator, PROJECT, enrollment_finished.is_set) as progress:
            # Enrolling: each person is added and activated, then the operator reads the list.
            for number, email in enumerate(("a@acme.example", "b@acme.example", "c@acme.example"), 1):
                location = state.add_participant(org, str(project_id), {"email": email})
                state.activate_participant(org, str(project_id), location.rsplit("/", 1)[-1])
                read_participants(simulator, project)
                wait_until_seen(progress, number)
            assert progress.completed == []
            assert all(p["activitiesCompleted"] == 0 for p in state.list_participants(org, str(project_id)))

            enrollment_finished.set()
            read_participants(simulator, project)  # the completion sensor's first check
            wait_until_seen(progress, 4)
        assert len(progress.completed) == 2
