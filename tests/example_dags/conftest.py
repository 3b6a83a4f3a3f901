"""Running the DAGs of ``example_dags/`` with ``dag.test()`` against the simulator.

The test session's DAGs folder is ``tests/dags`` (root ``conftest.py``), and ``dag.test()`` writes
the DAG it runs to the metadata database from a configured DAG bundle. So ``run_example_dag``
adds ``example_dags/`` as a second bundle (``[dag_processor] dag_bundle_config_list``, read anew
by each bundle manager) while the test runs: the example files are run where they are, as a
deployment would parse them, with no copies or wrappers.
"""

from __future__ import annotations

import csv
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from learnifier_simulator import LearnifierSimulator

#: The example DAGs use the Task SDK (``airflow.sdk``): their tests run on Airflow 3 only.
AIRFLOW3_ONLY = pytest.mark.airflow3_only(
    "the example DAGs are written with the Airflow 3 Task SDK (airflow.sdk)"
)

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_DAGS = REPO / "example_dags"
#: The example rosters: the January HR export, and the March one (two left, one joined).
ROSTER_JANUARY = EXAMPLE_DAGS / "data" / "acme_roster_2026-01.csv"
ROSTER_MARCH = EXAMPLE_DAGS / "data" / "acme_roster_2026-03.csv"
#: The project of learnifier_enrollment and learnifier_offboarding (their default).
PROJECT_EXTERNAL_ID = "acme-security-awareness-2026"

BUNDLES = [
    {"name": "dags-folder", "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle", "kwargs": {}},
    {
        "name": "learnifier-example-dags",
        "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
        "kwargs": {"path": str(EXAMPLE_DAGS)},
    },
]


def read_csv(path: Path | str) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def example_dag_bag() -> Any:
    """A DagBag of ``example_dags/``."""
    from tests.compat import DagBag

    return DagBag(str(EXAMPLE_DAGS))


@pytest.fixture
def example_dags_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``example_dags/`` a DAG bundle."""
    monkeypatch.setenv("AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST", json.dumps(BUNDLES))


@pytest.fixture
def run_example_dag(store_dags: Callable[..., None], example_dags_configured: None) -> Callable[..., Any]:
    """Return ``run(dag_id, conf=None)``: run an example DAG with ``dag.test()``; return its DagRun.

    A DAG with a ``poll_interval`` param checks every 0.2 s unless ``conf`` says otherwise, and
    its sensors give up after 60 s instead of the weeks a real course takes.
    """

    def run(dag_id: str, conf: dict[str, Any] | None = None) -> Any:
        bag = example_dag_bag()
        assert not bag.import_errors, bag.import_errors
        store_dags(bag, bundle="learnifier-example-dags")
        dag = bag.get_dag(dag_id)
        assert dag is not None, f"no DAG {dag_id!r} in {EXAMPLE_DAGS}"
        for task in dag.tasks:
            if task.task_type.endswith("Sensor"):
                task.timeout = 60
        fast = {"poll_interval": 0.2} if "poll_interval" in dag.params else {}
        return dag.test(run_conf=fast | (conf or {}))

    return run


def xcom(dag_run: Any, task_id: str) -> Any:
    return dag_run.get_task_instance(task_id).xcom_pull(task_ids=task_id)


def task_states(dag_run: Any) -> dict[str, str]:
    return {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances()}


def participants_of(sim: LearnifierSimulator, project_external_id: str) -> list[dict[str, Any]]:
    """The participants of a project, each with its user's ``user`` record."""
    snapshot = sim.state.snapshot()
    project = next(p for p in snapshot["projects"] if p.get("externalId") == project_external_id)
    users = {user["id"]: user for user in snapshot["users"]}
    return [
        {**participant, "user": users[participant["userId"]]}
        for participant in snapshot["participants"]
        if participant["projectId"] == project["id"]
    ]


@contextmanager
def complete_course_once_waited_for(
    sim: LearnifierSimulator, project_external_id: str, participants: int
) -> Iterator[dict[str, Any]]:
    """Complete everyone's course once the project was checked with its ``participants`` all activated.

    So the completion sensor's first check always finds the course unfinished, whatever the
    timing, and the wait can only end by checking again. Yields a dict that gets ``"polls"``: the
    reads of the project's participants from the first one that found everyone activated.
    """
    outcome: dict[str, Any] = {}
    stop = threading.Event()

    def polls(path: str, since: int = 0) -> list[Any]:
        return [x for x in sim.exchanges[since:] if x.method == "GET" and x.path == path]

    def act() -> None:
        deadline = time.monotonic() + 120
        path = baseline = None
        while not stop.wait(0.02) and time.monotonic() < deadline:
            project = next(
                (p for p in sim.state.snapshot()["projects"] if p.get("externalId") == project_external_id),
                None,
            )
            if project is None:
                continue
            path = f"/orgunits/{project['orgId']}/projects/{project['id']}/participants"
            current = sim.state.list_participants(str(project["orgId"]), str(project["id"]))
            if baseline is None:
                if len(current) == participants and all(p["activated"] for p in current):
                    baseline = len(sim.exchanges)  # no check after this point has seen progress
                continue
            if polls(path, baseline):
                sim.advance_progress(project_id=project["id"], complete=True)
                outcome["baseline"], outcome["path"] = baseline, path
                return

    thread = threading.Thread(target=act, daemon=True)
    thread.start()
    try:
        yield outcome
    finally:
        stop.set()
        thread.join()
    assert "path" in outcome, "the project was never checked with everyone activated"
    outcome["polls"] = len(polls(outcome["path"], outcome["baseline"]))
