"""Fixtures for the simulator's tests."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from tests.simulator.client import ApiClient

if TYPE_CHECKING:
    from collections.abc import Iterator

    from learnifier_simulator import LearnifierSimulator


@pytest.fixture
def sim(learnifier_simulator: LearnifierSimulator) -> LearnifierSimulator:
    """A running simulator with the demo seed."""
    return learnifier_simulator


@pytest.fixture
def api(sim: LearnifierSimulator, openapi_spec: dict[str, Any]) -> Iterator[ApiClient]:
    """A contract-checking client of ``sim``."""
    client = ApiClient(sim, openapi_spec)
    yield client
    client.session.close()
