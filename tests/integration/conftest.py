"""The deployment test starts a real Airflow: it runs with ``make test-integration``, not ``make test``."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from typing import Any

import pytest

from learnifier_simulator import LearnifierSimulator
from tests.integration import SUMMARY_LINES

INTEGRATION_VARIABLE = "LEARNIFIER_INTEGRATION"
#: The distributed deployment (marked ``distributed``) runs with ``make test-distributed`` alone.
DISTRIBUTED_VARIABLE = "LEARNIFIER_DISTRIBUTED"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reason = f"starts a real Airflow: run it with 'make test-integration' ({INTEGRATION_VARIABLE}=1)"
    distributed_reason = (
        "starts Airflow on PostgreSQL, Redis and Celery workers: run it with "
        f"'make test-distributed' ({DISTRIBUTED_VARIABLE}=1)"
    )
    for item in items:
        if "tests/integration/" not in item.nodeid:
            continue
        if item.get_closest_marker("distributed"):
            if os.environ.get(DISTRIBUTED_VARIABLE) != "1":
                item.add_marker(pytest.mark.skip(reason=distributed_reason))
        elif os.environ.get(INTEGRATION_VARIABLE) != "1":
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture
def simulator() -> Iterator[LearnifierSimulator]:
    """The simulator, with an API key and secret made for this run, so that a leak cannot be a coincidence."""
    run = secrets.token_hex(6)
    with LearnifierSimulator(
        key=f"it-key-{run}", secret=f"it-secret-{run}-{secrets.token_urlsafe(12)}"
    ) as sim:
        yield sim


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """Print how long the deployment took, and what it ran."""
    if SUMMARY_LINES:
        terminalreporter.section("Learnifier deployment test")
        for line in SUMMARY_LINES:
            terminalreporter.write_line(line)
