"""The command line: run as a process, wait for its ready file, call it, stop it with SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest
import requests

from learnifier_simulator import SpecVariants, seed
from learnifier_simulator.__main__ import build_parser, spec_variants

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

MODULE = "learnifier_simulator"

RunCli = Callable[..., "subprocess.Popen[str]"]


def wait_for(path: Path, process: subprocess.Popen[str], timeout: float = 20.0) -> dict[str, Any]:
    """Wait until ``process`` writes its ready file, and return the file's content."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the simulator did not get ready"
        time.sleep(0.02)
    return json.loads(path.read_text())


@pytest.fixture
def run_cli(tmp_path: Path) -> Iterator[RunCli]:
    """Start the command line with some arguments; processes still running at the end are killed."""
    processes: list[subprocess.Popen[str]] = []

    def run(*arguments: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            [sys.executable, "-m", MODULE, *arguments],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **(env or {})},
        )
        processes.append(process)
        return process

    yield run
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.communicate()


def test_the_cli_serves_until_sigterm(run_cli: RunCli, tmp_path: Path) -> None:
    ready_file = tmp_path / "ready.json"
    process = run_cli("--ready-file", str(ready_file), "--seed", "demo")

    ready = wait_for(ready_file, process)
    connection = json.loads(ready["connection"])
    response = requests.get(
        f"{ready['base_url']}/extorgunit",
        params={"extid": seed.DEMO_ORG_UNIT_EXTERNAL_ID},
        auth=(connection["login"], connection["password"]),
        verify=ready["ca_file"],
        timeout=10,
    )
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=10)

    assert response.json()["id"] == seed.DEMO_ORG_UNIT_ID
    assert ready["pid"] == process.pid
    assert connection == {
        "conn_type": "learnifier",
        "host": ready["base_url"],
        "login": "sim-key",
        "password": "sim-secret",
        "extra": {"verify": ready["ca_file"]},
    }
    assert process.returncode == 0, stderr
    assert not ready_file.exists()
    assert f"listening on {ready['base_url']}" in stdout
    assert f"CA certificate: {ready['ca_file']}" in stdout
    export = f"export AIRFLOW_CONN_LEARNIFIER_DEFAULT='{ready['connection']}'"
    assert export in stdout.splitlines()
    assert [line for line in stdout.splitlines() if "sim-secret" in line] == [export]


def test_the_cli_takes_credentials_from_the_environment(run_cli: RunCli, tmp_path: Path) -> None:
    ready_file = tmp_path / "ready.json"
    process = run_cli(
        "--http",
        "--seed",
        "none",
        "--ready-file",
        str(ready_file),
        env={"LEARNIFIER_SIM_KEY": "env-key", "LEARNIFIER_SIM_SECRET": "env-secret"},
    )

    ready = wait_for(ready_file, process)
    org_units = requests.get(f"{ready['base_url']}/orgunits", auth=("env-key", "env-secret"), timeout=10)
    process.send_signal(signal.SIGINT)
    process.communicate(timeout=10)

    assert ready["base_url"].startswith("http://127.0.0.1:")
    assert ready["ca_file"] is None
    assert org_units.json() == {"orgUnits": []}
    assert process.returncode == 0


def test_the_cli_injects_faults_and_latency(run_cli: RunCli, tmp_path: Path) -> None:
    ready_file = tmp_path / "ready.json"
    process = run_cli("--http", "--error-rate", "1", "--latency-ms", "50", "--ready-file", str(ready_file))

    ready = wait_for(ready_file, process)
    started = time.perf_counter()
    response = requests.get(f"{ready['base_url']}/orgunits", auth=("sim-key", "sim-secret"), timeout=10)
    elapsed = time.perf_counter() - started
    process.terminate()
    process.communicate(timeout=10)

    assert response.status_code in (500, 502, 503)
    assert elapsed >= 0.05


def test_the_cli_counts_requests_but_records_nothing_by_default(run_cli: RunCli, tmp_path: Path) -> None:
    ready_file = tmp_path / "ready.json"
    process = run_cli("--http", "--ready-file", str(ready_file))

    ready = wait_for(ready_file, process)
    auth = ("sim-key", "sim-secret")
    for _ in range(3):
        requests.get(f"{ready['base_url']}/orgunits", auth=auth, timeout=10)
    counts = requests.get(f"{ready['base_url']}/_simulator/requests", auth=auth, timeout=10).json()
    recorded = requests.get(f"{ready['base_url']}/_simulator/exchanges", auth=auth, timeout=10).json()
    process.terminate()
    process.communicate(timeout=10)

    assert counts == {"total": 3, "byOperation": {"GET /orgunits": 3}}
    assert recorded == {"recording": False, "maxExchanges": 1000, "exchanges": []}


def test_the_cli_records_the_newest_exchanges_on_request(run_cli: RunCli, tmp_path: Path) -> None:
    ready_file = tmp_path / "ready.json"
    process = run_cli("--http", "--record", "--max-exchanges", "2", "--ready-file", str(ready_file))

    ready = wait_for(ready_file, process)
    auth = ("sim-key", "sim-secret")
    for extid in ("a", "b", "c"):
        requests.get(f"{ready['base_url']}/extorgunit", params={"extid": extid}, auth=auth, timeout=10)
    recorded = requests.get(f"{ready['base_url']}/_simulator/exchanges", auth=auth, timeout=10).json()
    process.terminate()
    process.communicate(timeout=10)

    assert (recorded["recording"], recorded["maxExchanges"]) == (True, 2)
    assert [exchange["query"] for exchange in recorded["exchanges"]] == [{"extid": ["b"]}, {"extid": ["c"]}]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--host", "0.0.0.0"], "--host must be a loopback address"),
        (["--error-rate", "2"], "error_rate must be between 0 and 1"),
        (["--seed", "big"], "invalid choice"),
        (["--record", "--max-exchanges", "-1"], "max_exchanges must be None or a non-negative integer"),
        (["--users-page-cap", "0"], "users_page_cap must be at least 1"),
    ],
)
def test_the_cli_refuses_bad_options(run_cli: RunCli, arguments: list[str], message: str) -> None:
    process = run_cli(*arguments)
    _, stderr = process.communicate(timeout=20)

    assert process.returncode == 2
    assert message in stderr


@pytest.mark.parametrize(
    ("arguments", "variants"),
    [
        ([], None),
        (["--spec-variants", "7"], SpecVariants.all(7)),
        (["--spec-variants", "7", "--users-page-cap", "20"], SpecVariants.all(7, users_page_cap=20)),
        (["--users-page-cap", "100"], SpecVariants(users_page_cap=100)),
        (["--ignore-undeclared-fields"], SpecVariants(ignore_undeclared_fields=True)),
        (
            ["--users-page-cap", "5", "--no-paging-headers"],
            SpecVariants(users_page_cap=5, paging_headers=False),
        ),
    ],
    ids=["none", "all", "all-with-cap", "page-cap", "undeclared", "no-headers"],
)
def test_the_cli_options_choose_the_spec_variants(
    arguments: list[str], variants: SpecVariants | None
) -> None:
    assert spec_variants(build_parser().parse_args(arguments)) == variants


def test_the_cli_serves_spec_variants(run_cli: RunCli, tmp_path: Path) -> None:
    ready_file = tmp_path / "ready.json"
    process = run_cli(
        "--http", "--spec-variants", "3", "--users-page-cap", "1", "--ready-file", str(ready_file)
    )

    ready = wait_for(ready_file, process)
    auth = ("sim-key", "sim-secret")
    added = requests.post(
        f"{ready['base_url']}/users", json={"primaryEmail": "b@example.com"}, auth=auth, timeout=10
    )
    page = requests.get(f"{ready['base_url']}/users", params={"limit": 5}, auth=auth, timeout=10)
    process.terminate()
    process.communicate(timeout=10)

    assert 200 <= added.status_code < 300
    assert 200 <= page.status_code < 300
    assert len(page.json()) == 1
    assert {name: page.headers[name] for name in ("X-Limit", "X-Size", "X-More")} == {
        "X-Limit": "1",
        "X-Size": "1",
        "X-More": "true",
    }
