"""A real Airflow 3 deployment schedules the example ``learnifier_on_completion`` DAG on completions.

The asset ``learnifier_onboarding_completions`` is watched by a ``LearnifierCompletionEventTrigger``
in the triggerer, polling every 2 seconds as the connection's ``poll_interval`` extra says. The test
opens the example's course (``acme-onboarding-2026``) in the simulator and enrolls four people, one
of whom completed before the watcher started (the baseline: never handed over). Then
one completes while the triggerer runs; the triggerer is stopped, one completes while it is down,
and it is started again; and the last one completes. It asserts:

- one asset event per completion after the baseline, each completion once (Airflow 3.3 keeps the
  trigger's hand-over record in the asset's state store; on older Airflow the completion made
  while the triggerer was down is not handed over, as documented);
- one certificate record per completion, named by the event's dedupe key, in the folder the
  ``learnifier_certificate_dir`` Variable names, and every DAG run scheduled by those events
  succeeded.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from airflow_provider_learnifier.hooks.learnifier import LearnifierHook
from learnifier_simulator import LearnifierSimulator
from learnifier_simulator import seed as sim_seed
from scripts.airflow_deployment import AirflowDeployment, wait_until
from tests.compat import AIRFLOW_VERSION
from tests.integration import SUMMARY_LINES

if TYPE_CHECKING:
    import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_DAGS = REPO / "example_dags"
DAG_ID = "learnifier_on_completion"
ASSET = "learnifier_onboarding_completions"
ORG_ID = sim_seed.DEMO_ORG_UNIT_ID
#: The example's course, which the test opens in the simulator.
PROJECT_EXTERNAL_ID = "acme-onboarding-2026"
DEADLINE_SECONDS = 150


def _open_the_course_and_enroll(
    sim: LearnifierSimulator, count: int, monkeypatch: pytest.MonkeyPatch
) -> tuple[str, list[str]]:
    """Open the example's course, enroll ``count`` people in it: the project id and their ids."""
    monkeypatch.setenv("AIRFLOW_CONN_LEARNIFIER_DEFAULT", sim.connection_json())
    ids = []
    with LearnifierHook() as hook:
        project = hook.create_project(
            ORG_ID,
            name="Acme Onboarding 2026",
            design_id=sim_seed.ONBOARDING_DESIGN_ID,
            external_id=PROJECT_EXTERNAL_ID,
        )
        project_id = str(project["id"])
        for number in range(count):
            participant_id = hook.add_participant(
                ORG_ID, project_id, email=f"grad{number}@example.com", external_id=f"grad-{number}"
            )
            hook.activate_participant(ORG_ID, project_id, participant_id)
            ids.append(str(participant_id))
    return project_id, ids


def certificate(payload: dict[str, Any]) -> str:
    """The file name the example DAG gives a completion's certificate record."""
    return f"{quote(payload['dedupe_key'], safe='')}.json"


def _polls(sim: LearnifierSimulator, project_id: str) -> int:
    path = f"/orgunits/{ORG_ID}/projects/{project_id}/participants"
    return sum(1 for exchange in sim.exchanges if exchange.method == "GET" and exchange.path == path)


def test_completions_schedule_one_run_each_across_a_triggerer_restart(simulator, tmp_path, monkeypatch):
    sim = simulator
    started = time.monotonic()
    project_id, (before, first, while_down, last) = _open_the_course_and_enroll(sim, 4, monkeypatch)
    sim.advance_progress(participant_id=before, complete=True)
    home = tmp_path / "airflow-home"
    folder = home / "certificates"
    deployment = AirflowDeployment(
        home,
        bundles={"learnifier-example-dags": EXAMPLE_DAGS},
        env={
            "AIRFLOW_CONN_LEARNIFIER_DEFAULT": sim.connection_json(extra={"poll_interval": 2}),
            "AIRFLOW_VAR_LEARNIFIER_CERTIFICATE_DIR": str(folder),
        },
    )
    with deployment:
        deployment.wait_until_serving()
        deployment.wait_for_dag(DAG_ID)
        deployment.unpause(DAG_ID)

        def polled(more: int) -> None:
            start = _polls(sim, project_id)
            wait_until(
                lambda: _polls(sim, project_id) >= start + more,
                DEADLINE_SECONDS,
                f"{more} polls of the project",
            )

        def events() -> list[dict[str, Any]] | None:
            found = deployment.asset_events(ASSET)
            return None if found is None else [event["extra"]["payload"] for event in found]

        def handed_over(count: int) -> list[dict[str, Any]]:
            return wait_until(
                lambda: (found := events()) is not None and len(found) >= count and found,
                DEADLINE_SECONDS,
                f"{count} events",
            )

        polled(2)  # the watcher runs and took its baseline
        sim.advance_progress(participant_id=first, complete=True)
        handed_over(1)
        polled(7)  # the hand-over enters the stored record 10 s after the event (RECORD_DELAY)
        deployment.restart(
            "triggerer", lambda: sim.advance_progress(participant_id=while_down, complete=True)
        )
        polled(2)
        sim.advance_progress(participant_id=last, complete=True)
        expected = [first, while_down, last] if AIRFLOW_VERSION >= (3, 3, 0) else [first, last]
        handed_over(len(expected))
        polled(3)  # no more events come
        payloads = handed_over(len(expected))

        def certificates() -> list[str]:
            return sorted(path.name for path in folder.glob("*.json")) if folder.exists() else []

        def settled_runs() -> tuple[list[dict[str, Any]], list[dict[str, Any]]] | None:
            runs = deployment.dag_runs(DAG_ID)
            if not runs or any(run["state"] not in ("success", "failed") for run in runs):
                return None
            consumed = [
                event["extra"]["payload"]
                for run in runs
                for event in deployment.upstream_asset_events(DAG_ID, run["dag_run_id"])
            ]
            return (runs, consumed) if certificates() == sorted(map(certificate, consumed)) else None

        runs, consumed = wait_until(settled_runs, DEADLINE_SECONDS, "the runs to write the certificates")

    assert sorted(payload["participant_id"] for payload in payloads) == sorted(expected)
    assert len({payload["dedupe_key"] for payload in payloads}) == len(payloads)
    assert all(run["state"] == "success" for run in runs), runs
    # Each run consumed events of this asset, each event once. Airflow's scheduler may leave an event
    # that lands while it creates a run to the next run (none comes here): at most the last one.
    consumed_ids = [payload["participant_id"] for payload in consumed]
    assert all(payload in payloads for payload in consumed)
    assert sorted(set(consumed_ids)) == sorted(consumed_ids)
    assert first in consumed_ids and len(consumed_ids) >= len(expected) - 1
    record = json.loads((folder / certificate(consumed[0])).read_text())
    assert record == consumed[0]
    SUMMARY_LINES.append(
        f"event-driven: {len(payloads)} completion events, {len(runs)} DAG run(s) consumed {len(consumed)}, "
        "triggerer restarted once, "
        f"in {time.monotonic() - started:.0f} s"
    )
