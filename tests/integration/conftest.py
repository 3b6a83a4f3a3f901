"""The deployment test starts a real Airflow: it runs with ``make test-integration``, not ``make test``."""

from __future__ import annotations

import os
from typing import Any

import pytest

from tests.integration import SUMMARY_LINES

INTEGRATION_VARIABLE = "LEARNIFIER_INTEGRATION"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get(INTEGRATION_VARIABLE) == "1":
        return
    reason = f"starts a real Airflow: run it with 'make test-integration' ({INTEGRATION_VARIABLE}=1)"
    skip = pytest.mark.skip(reason=reason)
    for item in items:
        if "tests/integration/" in item.nodeid:
            item.add_marker(skip)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """Print how long the deployment took, and what it ran."""
    if SUMMARY_LINES:
        terminalreporter.section("Learnifier deployment test")
        for line in SUMMARY_LINES:
            terminalreporter.write_line(line)
