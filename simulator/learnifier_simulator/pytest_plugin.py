"""Pytest fixtures that run the Learnifier API simulator.

pytest loads them wherever the simulator is installed, through the ``pytest11`` entry point of
the ``learnifier-simulator`` distribution.

``learnifier_simulator`` is a fresh simulator with the ``demo`` seed over HTTPS for each test;
``learnifier_conn`` also points the ``learnifier_default`` Airflow connection at it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from learnifier_simulator.runner import LearnifierSimulator

if TYPE_CHECKING:
    from collections.abc import Iterator

#: The environment variable that defines the ``learnifier_default`` connection.
DEFAULT_CONNECTION_VARIABLE = "AIRFLOW_CONN_LEARNIFIER_DEFAULT"


@pytest.fixture
def learnifier_simulator() -> Iterator[LearnifierSimulator]:
    """A running simulator with the ``demo`` seed, served over HTTPS, stopped after the test."""
    with LearnifierSimulator(seed="demo", tls=True) as simulator:
        yield simulator


@pytest.fixture
def learnifier_conn(
    learnifier_simulator: LearnifierSimulator, monkeypatch: pytest.MonkeyPatch
) -> LearnifierSimulator:
    """The running simulator, with ``AIRFLOW_CONN_LEARNIFIER_DEFAULT`` set to its connection."""
    monkeypatch.setenv(DEFAULT_CONNECTION_VARIABLE, learnifier_simulator.connection_json())
    return learnifier_simulator
