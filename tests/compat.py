"""Airflow names the tests use, from wherever the installed Airflow keeps them.

The provider imports Airflow through ``airflow.providers.common.compat.sdk``; this is the same
idea for test-only names (Airflow internals that tests poke at), so that the
suite runs on every Airflow version of the matrix (2.11, 3.0 and the newest 3.x). Import from
here instead of ``airflow.sdk...`` when a test needs one of these names::

    from tests.compat import ExecutorSafeguard, TaskDeferred

Tests of a feature that older Airflow versions lack are marked
``@pytest.mark.min_airflow("3.0", "what older versions lack")`` and skipped there with that
reason (the marker is registered in the root ``conftest.py``).
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from airflow_provider_learnifier import version_compat

AIRFLOW_V_3_0_PLUS = version_compat.AIRFLOW_V_3_0_PLUS
#: The installed Airflow's ``(major, minor, micro)``, to compare with tuples such as ``(3, 1)``.
AIRFLOW_VERSION: tuple[int, ...] = version_compat.AIRFLOW_VERSION.release

#: Where each name lives, newest Airflow first: ``"module"`` (same name) or ``"module:name"``.
_LOCATIONS: dict[str, tuple[str, ...]] = {
    # Airflow 2 called assets datasets
    "AssetDagRunQueue": ("airflow.models.asset", "airflow.models.dataset:DatasetDagRunQueue"),
    "AssetEvent": ("airflow.models.asset", "airflow.models.dataset:DatasetEvent"),
    "AssetModel": ("airflow.models.asset", "airflow.models.dataset:DatasetModel"),
    "Connection": ("airflow.sdk.definitions.connection", "airflow.models.connection"),
    "DagBag": ("airflow.dag_processing.dagbag", "airflow.models.dagbag"),
    "ExecutorSafeguard": ("airflow.sdk.bases.operator", "airflow.models.baseoperator"),
    "TaskDeferred": ("airflow.sdk.exceptions", "airflow.exceptions"),
    "attach": ("airflow.sdk.io", "airflow.io.store"),
    "deserialize": ("airflow.sdk.serde", "airflow.serialization.serde"),
    "import_string": (
        "airflow.sdk.module_loading",
        "airflow.sdk._shared.module_loading",
        "airflow.utils.module_loading",
    ),
    "serialize": ("airflow.sdk.serde", "airflow.serialization.serde"),
}

__all__ = sorted([*_LOCATIONS, "AIRFLOW_VERSION", "AIRFLOW_V_3_0_PLUS"])


def find_in_places(name: str, places: tuple[str, ...]) -> Any:
    """Find ``name`` in the first of ``places`` (``"module"`` or ``"module:attribute"``) that exists."""
    for place in places:
        module_name, _, attribute = place.partition(":")
        try:
            module = import_module(module_name)
        except ModuleNotFoundError as err:
            missing = err.name or ""
            if module_name == missing or module_name.startswith(missing + "."):
                continue
            raise
        try:
            return getattr(module, attribute or name)
        except AttributeError:
            continue
    raise ImportError(f"{name} is in none of {', '.join(places)}")


def __getattr__(name: str) -> Any:
    if name not in _LOCATIONS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = find_in_places(name, _LOCATIONS[name])
    globals()[name] = value
    return value


_IMPORT_PROBE = """
import json, sys
try:
    from airflow.sdk import BaseOperator
except ImportError:  # Airflow 2
    from airflow.models.baseoperator import BaseOperator
before = set(sys.modules)
for name in sys.argv[1:]:
    __import__(name)
print(json.dumps(sorted(set(sys.modules) - before)))
"""


def modules_imported_by(*modules: str) -> list[str]:
    """The modules that importing ``modules`` loads in a fresh interpreter, beyond Airflow's
    ``BaseOperator`` (which every DAG file loads anyway): what a DAG file pays for them."""
    import json
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-c", _IMPORT_PROBE, *modules],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])
