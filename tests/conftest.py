"""Shared test setup: Learnifier's OpenAPI description.

The simulator's fixtures come from its pytest plugin, which the ``learnifier-simulator``
distribution registers.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

OPENAPI_PATH = Path(__file__).parent / "data" / "openapi.json"

# Property-based tests: a few examples each in `make test` ("dev"), more in CI's property stage
# (HYPOTHESIS_PROFILE=ci). No example database: a run leaves no files; a failure prints its example.
_PROFILE = {
    "deadline": None,
    "database": None,
    "suppress_health_check": [HealthCheck.function_scoped_fixture],
}
settings.register_profile("dev", max_examples=10, **_PROFILE)
settings.register_profile("ci", max_examples=100, **_PROFILE)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


@pytest.fixture(scope="session")
def openapi_spec() -> dict[str, Any]:
    """Learnifier's OpenAPI 3.0 description, unedited."""
    return json.loads(OPENAPI_PATH.read_text(encoding="utf-8"))
