"""Give the whole test session its own throwaway Airflow home, before anything imports Airflow.

Fixtures for tests that run DAGs through real Airflow task execution: ``airflow_db`` creates the
session's SQLite metadata database, ``run_dag`` runs a DAG of ``tests/dags`` with ``dag.test()``.

The suite runs on every Airflow version of the matrix (2.11, 3.0, newest 3.x; ``make matrix``).
A test of a feature that older Airflow versions lack is marked
``@pytest.mark.min_airflow("3.1", "reason")`` (or ``@pytest.mark.airflow3_only("reason")``, the
same for "3.0") and skipped there with that reason. Test-only Airflow names come from
``tests/compat.py``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

DAGS_FOLDER = Path(__file__).parent / "tests" / "dags"

_AIRFLOW_HOME = tempfile.mkdtemp(prefix="learnifier-tests-airflow-")
os.environ["AIRFLOW_HOME"] = _AIRFLOW_HOME
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(DAGS_FOLDER)
os.environ.pop("AIRFLOW_CONN_LEARNIFIER_DEFAULT", None)
# Airflow 2.11 warns at import that its timer metrics change unit in Airflow 3; opt in to the new unit.
os.environ.setdefault("AIRFLOW__METRICS__TIMER_UNIT_CONSISTENCY", "True")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "min_airflow(version, reason): the test exercises a feature that Airflow versions before "
        "`version` (e.g. '3.1') lack; it is skipped there with the reason.",
    )
    config.addinivalue_line(
        "markers", "airflow3_only(reason): min_airflow('3.0', reason): skipped on Airflow 2 with the reason."
    )


def pytest_runtest_setup(item: pytest.Item) -> None:
    marker = item.get_closest_marker("min_airflow")
    if marker is not None:
        version = marker.kwargs.get("version") or (marker.args[0] if marker.args else "")
        reason = marker.kwargs.get("reason") or (marker.args[1] if len(marker.args) > 1 else "")
    elif (marker := item.get_closest_marker("airflow3_only")) is not None:
        version = "3.0"
        reason = marker.kwargs.get("reason") or (marker.args[0] if marker.args else "")
    else:
        return
    from airflow_provider_learnifier.version_compat import AIRFLOW_VERSION

    if not version or not reason:
        raise pytest.UsageError(f'{item.nodeid}: give a reason: @pytest.mark.min_airflow("3.0", "reason")')
    needed = tuple(int(part) for part in str(version).split("."))
    if AIRFLOW_VERSION[: len(needed)] < needed:
        installed = ".".join(map(str, AIRFLOW_VERSION))
        pytest.skip(f"needs Airflow {version} or newer (installed: {installed}): {reason}")


@pytest.fixture(scope="session")
def airflow_db() -> str:
    """Create the session's Airflow metadata database (SQLite) once; return the Airflow home."""
    airflow_cli = str(Path(sys.executable).with_name("airflow"))
    subprocess.run([airflow_cli, "db", "migrate"], check=True, capture_output=True, timeout=300)
    return _AIRFLOW_HOME


@pytest.fixture
def run_dag(airflow_db: str) -> Callable[..., Any]:
    """Return ``run(dag_id, conf=None)``: run a DAG of ``tests/dags`` with ``dag.test()``, return its DagRun.

    Tasks run in this process (through the Task SDK on Airflow 3), so connections set with
    ``monkeypatch.setenv`` (``AIRFLOW_CONN_...``) reach them. Read results with
    ``dag_run.get_task_instance(task_id)`` and its ``xcom_pull``.
    """
    from tests.compat import AIRFLOW_V_3_0_PLUS, DagBag

    def run(dag_id: str, conf: dict[str, Any] | None = None) -> Any:
        bag = DagBag(str(DAGS_FOLDER))
        if AIRFLOW_V_3_0_PLUS:
            assert not bag.import_errors, bag.import_errors
        # On Airflow 2 some DAG files of tests/dags use Airflow 3 features and do not import;
        # only the DAG asked for must be there.
        dag = bag.get_dag(dag_id)
        assert dag is not None, f"no DAG {dag_id!r} in {DAGS_FOLDER}; import errors: {bag.import_errors}"
        # A wide console while the DAG runs: Airflow 3.0 prints a task's error as a rich traceback
        # wrapped at the console's width, and tests look for the error's message in the output.
        with mock.patch.dict(os.environ, {"COLUMNS": "2000"}):
            return dag.test(run_conf=conf)

    return run
