"""Give the whole test session its own throwaway Airflow home, before anything imports Airflow.

Fixtures for tests that run DAGs through real Airflow task execution: ``airflow_db`` creates the
session's SQLite metadata database, ``run_dag`` runs a DAG of ``tests/dags`` with ``dag.test()``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

DAGS_FOLDER = Path(__file__).parent / "tests" / "dags"

_AIRFLOW_HOME = tempfile.mkdtemp(prefix="learnifier-tests-airflow-")
os.environ["AIRFLOW_HOME"] = _AIRFLOW_HOME
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(DAGS_FOLDER)
os.environ.pop("AIRFLOW_CONN_LEARNIFIER_DEFAULT", None)


@pytest.fixture(scope="session")
def airflow_db() -> str:
    """Create the session's Airflow metadata database (SQLite) once; return the Airflow home."""
    airflow_cli = str(Path(sys.executable).with_name("airflow"))
    subprocess.run([airflow_cli, "db", "migrate"], check=True, capture_output=True, timeout=300)
    return _AIRFLOW_HOME


@pytest.fixture
def run_dag(airflow_db: str) -> Callable[..., Any]:
    """Return ``run(dag_id, conf=None)``: run a DAG of ``tests/dags`` with ``dag.test()``, return its DagRun.

    Tasks run in this process through the Task SDK, so connections set with ``monkeypatch.setenv``
    (``AIRFLOW_CONN_...``) reach them. Read results with ``dag_run.get_task_instance(task_id)``
    and its ``xcom_pull``.
    """
    from airflow.dag_processing.dagbag import DagBag

    def run(dag_id: str, conf: dict[str, Any] | None = None) -> Any:
        bag = DagBag(str(DAGS_FOLDER))
        assert not bag.import_errors, bag.import_errors
        dag = bag.get_dag(dag_id)
        assert dag is not None, f"no DAG {dag_id!r} in {DAGS_FOLDER}"
        return dag.test(run_conf=conf)

    return run
