"""What the hook tests share: hooks on fresh connections to a simulator."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from airflow_provider_learnifier.hooks.learnifier import LearnifierHook

if TYPE_CHECKING:
    from learnifier_simulator import LearnifierSimulator


@pytest.fixture
def sim(learnifier_simulator):
    """The session's simulator (HTTPS, with its own CA), under a short name."""
    return learnifier_simulator


@pytest.fixture
def no_sleep(mocker):
    """Replace the hook's sleep between retries, recording the requested waits."""
    return mocker.patch("airflow_provider_learnifier.hooks.learnifier.time.sleep")


@pytest.fixture
def make_hook(monkeypatch):
    """Return ``make(sim, **extra)``: a hook on a fresh connection to ``sim`` with the given extras."""
    made: list[LearnifierHook] = []

    def make(simulator: LearnifierSimulator, conn_id: str = "learnifier_test", **extra) -> LearnifierHook:
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", simulator.connection_json(extra=extra or None))
        hook = LearnifierHook(conn_id)
        made.append(hook)
        return hook

    yield make
    for hook in made:
        hook.close()
