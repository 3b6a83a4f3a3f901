"""Shared test setup: the simulator's fixtures and Learnifier's OpenAPI description."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

pytest_plugins = ["airflow_provider_learnifier.simulator.pytest_plugin"]

OPENAPI_PATH = Path(__file__).parent / "data" / "openapi.json"


@pytest.fixture(scope="session")
def openapi_spec() -> dict[str, Any]:
    """Learnifier's OpenAPI 3.0 description, unedited."""
    return json.loads(OPENAPI_PATH.read_text(encoding="utf-8"))
