"""A real Airflow 3 deployment on loopback: started, driven by REST, stopped.

The deployment tests (``tests/integration``) and the demo's event-driven phase (``demo.py``) run
one each.

:class:`AirflowDeployment` makes a throwaway ``AIRFLOW_HOME`` (SQLite metadata database,
LocalExecutor), migrates the database, then starts the api-server, scheduler, dag-processor and
triggerer as separate processes, each in its own process group, with its output in
``<home>/components/<name>.out``. Given a database URL, a Celery broker and worker names, it runs
the CeleryExecutor instead, with one ``airflow celery worker`` per name (component
``celery-<name>``): the distributed deployment of ``make test-distributed``, on the PostgreSQL and
Redis servers of ``scripts/local_services.py``. :meth:`AirflowDeployment.stop` ends every process group it
started (SIGTERM, then SIGKILL), and then any process left that runs with this home in its
environment: it is used as a context manager, so that happens on failure too (and on Ctrl-C, or
on SIGTERM where it raises ``SystemExit``).

The REST API is Airflow 3's ``/api/v2``, with a JWT from ``/auth/token`` for the simple auth
manager's ``admin`` user, whose generated password the api-server writes to
``<home>/simple_auth_manager_passwords.json.generated``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import requests

COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
#: The component name of a Celery worker is this and the worker's name.
CELERY_WORKER_PREFIX = "celery-"
#: What a Celery worker logs once it consumes from the broker.
CELERY_READY = re.compile(r"@\S+ ready\.")
AIRFLOW_CLI = str(Path(sys.executable).with_name("airflow"))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until(condition: Callable[[], Any], timeout: float, what: str, interval: float = 0.5) -> Any:
    """Call ``condition`` until it returns something true; return that.

    :raises TimeoutError: naming ``what`` when ``timeout`` seconds pass first.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


def airflow_processes(home: Path) -> list[int]:
    """The processes but this one running with ``home`` as AIRFLOW_HOME in their environment."""
    marker = f"AIRFLOW_HOME={home}\0".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            status = (entry / "status").read_text()
        except OSError:
            continue
        if marker in environ and "State:\tZ" not in status:
            found.append(int(entry.name))
    return found


_Started = TypeVar("_Started", bound="StartedWhileEntered")


class StartedWhileEntered:
    """Started on entering a ``with`` block, stopped on leaving it, or at once when starting fails."""

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self: _Started) -> _Started:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class AirflowDeployment(StartedWhileEntered):
    """Airflow 3 on loopback in ``home``.

    :param home: the throwaway AIRFLOW_HOME (created).
    :param bundles: DAG bundles, ``{name: folder}``: each folder is parsed where it is.
    :param env: more environment variables for every component (connections, DAG settings).
    :param output_dir: where each component's output goes (default ``<home>/components``).
    :param database_url: the metadata database's SQLAlchemy URL (default: SQLite in ``home``).
    :param celery_broker_url: the Celery broker; with ``celery_workers``, the CeleryExecutor runs
        the tasks instead of the LocalExecutor, and the Celery results go to ``database_url``.
    :param celery_workers: the Celery workers' names: each runs one task at a time, as
        ``<name>@<host>``.
    """

    def __init__(
        self,
        home: Path,
        bundles: dict[str, Path],
        env: dict[str, str],
        output_dir: Path | None = None,
        *,
        database_url: str | None = None,
        celery_broker_url: str | None = None,
        celery_workers: Sequence[str] = (),
    ) -> None:
        if bool(celery_workers) != bool(celery_broker_url):
            raise ValueError("Celery workers need a broker, and a broker needs workers")
        self.home = home
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.output_dir = output_dir or home / "components"
        self.components = list(COMPONENTS) + [f"{CELERY_WORKER_PREFIX}{name}" for name in celery_workers]
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self._token: str | None = None
        #: Polls that the api-server did not answer within a request's timeout.
        self.slow_answers = 0
        from cryptography.fernet import Fernet

        bundle_list = [
            {
                "name": name,
                "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
                "kwargs": {"path": str(folder), "refresh_interval": 5},
            }
            for name, folder in bundles.items()
        ]
        self.env = {name: value for name, value in os.environ.items() if not name.startswith("AIRFLOW")}
        self.env.update(
            {
                "AIRFLOW_HOME": str(home),
                "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
                "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
                # One worker slot: a sensor that held one would stop every other task.
                "AIRFLOW__CORE__PARALLELISM": "1",
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                # Only the DAGs the test triggers run (trigger() unpauses them), not scheduled examples.
                "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
                "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.base_url}/execution/",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
                "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": json.dumps(bundle_list),
                "AIRFLOW__API__HOST": "127.0.0.1",
                "AIRFLOW__API__PORT": str(self.port),
                "AIRFLOW__API__BASE_URL": self.base_url,
                "AIRFLOW__API__WORKERS": "1",
                "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
                "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
                # Airflow 3.0 leaves the issuer unset, and the PyJWT our constraints pin (2.15)
                # refuses to sign a token without one: the REST login answered 500.
                "AIRFLOW__API_AUTH__JWT_ISSUER": "learnifier-deployment",
                "AIRFLOW__METRICS__TIMER_UNIT_CONSISTENCY": "True",
                "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
                "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            }
        )
        #: Each component's own variables, over ``env``.
        self.component_env: dict[str, dict[str, str]] = {}
        if database_url:
            self.env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = database_url
        if celery_workers:
            self._configure_celery(str(celery_broker_url), database_url, celery_workers)
        self.env.update(env)

    def _configure_celery(self, broker_url: str, database_url: str | None, workers: Sequence[str]) -> None:
        self.env.update(
            {
                "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
                "AIRFLOW__CORE__PARALLELISM": str(4 * len(workers)),
                "AIRFLOW__CELERY__BROKER_URL": broker_url,
                # The log servers listen on free ports: others may run on this machine.
                "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            }
        )
        if database_url:
            self.env["AIRFLOW__CELERY__RESULT_BACKEND"] = f"db+{database_url}"
        for name in workers:
            self.component_env[f"{CELERY_WORKER_PREFIX}{name}"] = {
                "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port())
            }

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        self.output_dir.mkdir(parents=True, exist_ok=True)
        migrate = subprocess.run(
            [AIRFLOW_CLI, "db", "migrate"],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=180,
            start_new_session=True,
        )
        if migrate.returncode != 0:
            output = f"{migrate.stdout[-3000:]}\n{migrate.stderr[-3000:]}"
            raise RuntimeError(f"airflow db migrate failed:\n{output}")
        for name in self.components:
            self._start_component(name)

    def _start_component(self, name: str) -> None:
        command = [AIRFLOW_CLI, name]
        if name == "api-server":
            command += ["--host", "127.0.0.1", "--port", str(self.port), "--workers", "1"]
        elif name.startswith(CELERY_WORKER_PREFIX):
            worker = name.removeprefix(CELERY_WORKER_PREFIX)
            command = [
                AIRFLOW_CLI,
                "celery",
                "worker",
                "--celery-hostname",
                f"{worker}@%h",
                "--concurrency",
                "1",
            ]
        # Appended to: a restarted component's output follows its earlier output.
        with (self.output_dir / f"{name}.out").open("ab") as output:
            self.processes[name] = subprocess.Popen(
                command,
                env=self.env | self.component_env.get(name, {}),
                stdout=output,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    def restart(self, name: str, between: Callable[[], Any] = lambda: None) -> None:
        """Stop one component (SIGTERM, then SIGKILL), call ``between()``, and start it again."""
        process = self.processes[name]
        self._signal_group(process, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._signal_group(process, signal.SIGKILL)
            process.wait(timeout=10)
        between()
        self._start_component(name)

    def stop(self) -> None:
        """End every process group started, then any straggler with this home in its environment."""
        for process in reversed(list(self.processes.values())):
            self._signal_group(process, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for process in self.processes.values():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self._signal_group(process, signal.SIGKILL)
                process.wait(timeout=10)
        # Children that made process groups of their own (task supervisors, for one).
        for pid in self.stragglers():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    @staticmethod
    def _signal_group(process: subprocess.Popen[bytes], sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)

    def stragglers(self) -> list[int]:
        """Processes still running with this deployment's AIRFLOW_HOME in their environment."""
        return airflow_processes(self.home)

    def version(self) -> str:
        return str(self.api("GET", "/version").json().get("version"))

    def crashed(self) -> dict[str, int]:
        """Components that exited, with their exit codes."""
        return {name: code for name, p in self.processes.items() if (code := p.poll()) is not None}

    def output(self, name: str, tail: int | None = 4000) -> str:
        """A component's output: its last ``tail`` characters, or all of it (``None``)."""
        path = self.output_dir / f"{name}.out"
        text = path.read_text(errors="replace") if path.exists() else ""
        return text[-tail:] if tail else text

    def diagnostics(self) -> str:
        parts = [f"crashed components: {self.crashed()}"]
        parts += [f"--- {name} output (tail) ---\n{self.output(name, 3000)}" for name in self.components]
        return "\n".join(parts)

    # ------------------------------------------------------------------ the REST API

    def wait_until_serving(self, timeout: float = 120) -> None:
        def healthy() -> bool:
            if self.crashed():
                raise RuntimeError(f"an Airflow component exited:\n{self.diagnostics()}")
            try:
                return requests.get(f"{self.base_url}/api/v2/monitor/health", timeout=5).status_code == 200
            except requests.RequestException:
                return False

        wait_until(healthy, timeout, "the api-server to answer")

    def celery_workers(self) -> list[str]:
        return [name for name in self.components if name.startswith(CELERY_WORKER_PREFIX)]

    def wait_until_workers_ready(self, timeout: float = 180) -> None:
        """Wait until every Celery worker has said it is ready (consuming from the broker)."""

        def all_ready() -> bool:
            if self.crashed():
                raise RuntimeError(f"an Airflow component exited:\n{self.diagnostics()}")
            return all(CELERY_READY.search(self.output(name, tail=None)) for name in self.celery_workers())

        wait_until(all_ready, timeout, "the Celery workers to be ready")

    @property
    def token(self) -> str:
        if self._token is None:
            password_file = self.home / "simple_auth_manager_passwords.json.generated"
            wait_until(password_file.exists, 60, f"{password_file}")
            password = json.loads(password_file.read_text())["admin"]
            response = requests.post(
                f"{self.base_url}/auth/token", json={"username": "admin", "password": password}, timeout=30
            )
            response.raise_for_status()
            self._token = response.json()["access_token"]
        return self._token

    def _patient(self, condition: Callable[[], Any]) -> Callable[[], Any]:
        """``condition``, answering ``None`` (not yet) when the api-server does not answer in time.

        A poll waits for an event: on a busy machine one request of it may take longer than its
        timeout, and the next poll is asked anyway (until the wait's own deadline).
        """

        def polled() -> Any:
            try:
                return condition()
            except requests.Timeout:
                self.slow_answers += 1
                return None

        return polled

    def api(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token}"}
        url = f"{self.base_url}/api/v2{path}"
        return requests.request(method, url, headers=headers, timeout=30, **kwargs)

    def wait_for_dag(self, dag_id: str, timeout: float = 120) -> dict[str, Any]:
        def parsed() -> dict[str, Any] | None:
            if self.crashed():
                raise RuntimeError(f"an Airflow component exited:\n{self.diagnostics()}")
            response = self.api("GET", f"/dags/{dag_id}")
            return response.json() if response.status_code == 200 else None

        return wait_until(self._patient(parsed), timeout, f"the dag-processor to parse {dag_id}")

    def import_errors(self) -> list[dict[str, Any]]:
        response = self.api("GET", "/importErrors")
        response.raise_for_status()
        return response.json()["import_errors"]

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None) -> str:
        self.unpause(dag_id)
        body = {"logical_date": None, "conf": conf or {}}
        response = self.api("POST", f"/dags/{dag_id}/dagRuns", json=body)
        response.raise_for_status()
        return response.json()["dag_run_id"]

    def unpause(self, dag_id: str) -> None:
        self.api("PATCH", f"/dags/{dag_id}", json={"is_paused": False}).raise_for_status()

    def asset_events(self, asset_name: str) -> list[dict[str, Any]] | None:
        """The asset's events (the first 100), or ``None`` when Airflow cannot list them just now."""
        response = self.api("GET", "/assets/events", params={"name_pattern": asset_name, "limit": 100})
        if response.status_code == 500:
            return None  # Airflow 3.3.2 answers 500 while a run made from an event has not started
        response.raise_for_status()
        return list(response.json()["asset_events"])

    def dag_runs(self, dag_id: str) -> list[dict[str, Any]]:
        response = self.api("GET", f"/dags/{dag_id}/dagRuns")
        response.raise_for_status()
        return list(response.json()["dag_runs"])

    def upstream_asset_events(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        """The asset events a run was made from."""
        response = self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/upstreamAssetEvents")
        response.raise_for_status()
        return list(response.json()["asset_events"])

    def dag_run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        response = self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}")
        response.raise_for_status()
        return response.json()

    def task_instance(self, dag_id: str, run_id: str, task_id: str) -> dict[str, Any]:
        response = self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}")
        response.raise_for_status()
        return response.json()

    def task_instances(self, dag_id: str, run_id: str) -> dict[str, str | None]:
        return {ti["task_id"]: ti["state"] for ti in self.task_instance_list(dag_id, run_id)}

    def task_instance_list(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        """Every task instance of the run (each map index of a mapped task), as the REST API shows it."""
        response = self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances", params={"limit": 100})
        response.raise_for_status()
        return list(response.json()["task_instances"])

    def add_connection(self, conn_id: str, connection: dict[str, Any]) -> None:
        """Store a connection in the metadata database (its password and extra encrypted)."""
        fields = {key: value for key, value in connection.items() if key != "extra"}
        body = {"connection_id": conn_id, **fields}
        if "extra" in connection:
            body["extra"] = json.dumps(connection["extra"])
        self.api("POST", "/connections", json=body).raise_for_status()

    def wait_for_deferral(
        self, dag_id: str, run_id: str, task_id: str, timeout: float
    ) -> tuple[dict[str, Any], list[str | None]]:
        """Wait until the task is deferred with a trigger that a triggerer picked up.

        :return: the task instance then, and every state it was seen in, in order.
        :raises AssertionError: when it fails first, or ``timeout`` passes; with the task states.
        """
        seen: list[str | None] = []

        def deferred_with_trigger() -> dict[str, Any] | None:
            instance = self.task_instance(dag_id, run_id, task_id)
            seen.append(instance["state"])
            if instance["state"] in ("failed", "upstream_failed"):
                raise AssertionError(f"{task_id} ended {instance['state']}: {self.diagnostics()}")
            if instance["state"] == "deferred" and instance.get("triggerer_job") and instance.get("trigger"):
                return instance
            return None

        try:
            instance = wait_until(
                self._patient(deferred_with_trigger), timeout, f"{task_id} to defer", interval=1
            )
        except TimeoutError:
            states = self.task_instances(dag_id, run_id)
            raise AssertionError(f"task states {states}\n{self.diagnostics()}") from None
        return instance, seen

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float) -> dict[str, Any]:
        def finished() -> dict[str, Any] | None:
            if self.crashed():
                raise RuntimeError(f"an Airflow component exited:\n{self.diagnostics()}")
            run = self.dag_run(dag_id, run_id)
            return run if run["state"] in ("success", "failed") else None

        try:
            return wait_until(
                self._patient(finished), timeout, f"the run {run_id} of {dag_id} to finish", interval=1
            )
        except TimeoutError as error:
            states = self.task_instances(dag_id, run_id)
            raise TimeoutError(f"{error}; task states {states}\n{self.diagnostics()}") from None
