"""Give the whole test session its own throwaway Airflow home, before anything imports Airflow.

Fixtures for tests that run DAGs through real Airflow task execution: ``airflow_db`` creates the
session's SQLite metadata database, ``run_dag`` runs a DAG of ``tests/dags`` with ``dag.test()``.

The suite runs on every Airflow version of the matrix (2.11, 3.0, newest 3.x; ``make matrix``).
A test of a feature that older Airflow versions lack is marked
``@pytest.mark.min_airflow("3.1", "reason")`` (or ``@pytest.mark.airflow3_only("reason")``, the
same for "3.0") and skipped there with that reason; a test that hits a bug of one Airflow line is
marked ``@pytest.mark.not_on_airflow("3.0", "reason")``. Test-only Airflow names come from
``tests/compat.py``.
"""

from __future__ import annotations

import os
import shutil
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


def pytest_unconfigure(config: pytest.Config) -> None:
    """Remove the session's Airflow home: a test run leaves nothing behind in the temp folder."""
    shutil.rmtree(_AIRFLOW_HOME, ignore_errors=True)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "min_airflow(version, reason): the test exercises a feature that Airflow versions before "
        "`version` (e.g. '3.1') lack; it is skipped there with the reason.",
    )
    config.addinivalue_line(
        "markers", "airflow3_only(reason): min_airflow('3.0', reason): skipped on Airflow 2 with the reason."
    )
    config.addinivalue_line(
        "markers",
        "not_on_airflow(version, reason): the test hits a bug of one Airflow line (e.g. '3.0', any "
        "3.0.x); it is skipped there with the reason.",
    )


def _version_and_reason(marker: pytest.Mark, default_version: str | None = None) -> tuple[str, str]:
    args = list(marker.args) if default_version is None else [default_version, *marker.args]
    version = marker.kwargs.get("version") or (args[0] if args else "")
    reason = marker.kwargs.get("reason") or (args[1] if len(args) > 1 else "")
    if not version or not reason:
        raise pytest.UsageError(f"{marker.name}: give a version and a reason, e.g. ('3.0', 'reason')")
    return str(version), str(reason)


def pytest_runtest_setup(item: pytest.Item) -> None:
    from tests.compat import AIRFLOW_VERSION

    installed = ".".join(map(str, AIRFLOW_VERSION))
    for marker in item.iter_markers("not_on_airflow"):
        version, reason = _version_and_reason(marker)
        line = tuple(int(part) for part in version.split("."))
        if AIRFLOW_VERSION[: len(line)] == line:
            pytest.skip(f"not on Airflow {version} (installed: {installed}): {reason}")
    if (marker := item.get_closest_marker("min_airflow")) is not None:
        version, reason = _version_and_reason(marker)
    elif (marker := item.get_closest_marker("airflow3_only")) is not None:
        version, reason = _version_and_reason(marker, default_version="3.0")
    else:
        return
    needed = tuple(int(part) for part in version.split("."))
    if AIRFLOW_VERSION[: len(needed)] < needed:
        pytest.skip(f"needs Airflow {version} or newer (installed: {installed}): {reason}")


@pytest.fixture(scope="session", autouse=True)
def _operators_executable_from_any_thread() -> None:
    """Let tests call ``operator.execute()`` from threads of their own on Airflow 2.

    Airflow 2's ``ExecutorSafeguard`` keeps its callers in a thread-local that it fills only in the
    thread that imported it, so ``execute()`` from any other thread fails with AttributeError
    (Airflow 3 has no such check). The overlap tests run operators side by side in threads, as
    two workers would run them side by side; each thread now starts with no callers, as the main
    thread does.
    """
    import threading

    try:
        from airflow.models.baseoperator import ExecutorSafeguard  # type: ignore[attr-defined]
    except ImportError:  # Airflow 3
        return

    class _Callers(threading.local):
        def __init__(self) -> None:
            self.callers: dict[str, Any] = {}

    ExecutorSafeguard._sentinel = _Callers()


@pytest.fixture(scope="session")
def airflow_db() -> str:
    """Create the session's Airflow metadata database (SQLite) once; return the Airflow home."""
    airflow_cli = str(Path(sys.executable).with_name("airflow"))
    subprocess.run([airflow_cli, "db", "migrate"], check=True, capture_output=True, timeout=300)
    return _AIRFLOW_HOME


@pytest.fixture
def store_dags(airflow_db: str) -> Callable[..., None]:
    """Return ``store(bag, bundle="dags-folder")``: store a DagBag's DAGs as the DAG processor would.

    ``dag.test()`` of Airflow 3.3 stores the DAGs of its bundle itself. That of 2.11 and 3.0 does
    not, which leaves the DAGs' assets unknown (3.0 then fails a task whose outlet is an unknown
    asset) and no serialized DAG for the UI to read extra links from. ``store`` acts before 3.1
    only (3.1 and 3.2 are outside the matrix).
    """
    from tests.compat import AIRFLOW_V_3_0_PLUS, AIRFLOW_VERSION

    def store(bag: Any, bundle: str = "dags-folder") -> None:
        if AIRFLOW_VERSION >= (3, 1):
            return
        if AIRFLOW_V_3_0_PLUS:
            from airflow.dag_processing.bundles.manager import DagBundlesManager

            DagBundlesManager().sync_bundles_to_db()
            bag.sync_to_db(bundle, None)
        else:
            bag.sync_to_db()

    return store


@pytest.fixture
def run_dag(store_dags: Callable[..., None]) -> Callable[..., Any]:
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
        store_dags(bag)
        # On Airflow 2 some DAG files of tests/dags use Airflow 3 features and do not import;
        # only the DAG asked for must be there.
        dag = bag.get_dag(dag_id)
        assert dag is not None, f"no DAG {dag_id!r} in {DAGS_FOLDER}; import errors: {bag.import_errors}"
        # A wide console while the DAG runs: Airflow 3.0 prints a task's error as a rich traceback
        # wrapped at the console's width, and tests look for the error's message in the output.
        with mock.patch.dict(os.environ, {"COLUMNS": "2000"}):
            return dag.test(run_conf=conf)

    return run
