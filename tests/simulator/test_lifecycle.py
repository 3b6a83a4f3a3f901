"""Starting and stopping simulators, their settings, seeds and connections, and what they import."""

from __future__ import annotations

import ast
import json
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

import learnifier_simulator as simulator_package
from learnifier_simulator import LearnifierSimulator, seed


def test_stop_frees_the_port() -> None:
    first = LearnifierSimulator(tls=False)
    first.start()
    port = first.port
    first.stop()

    with LearnifierSimulator(tls=False, port=port) as second:
        response = requests.get(f"{second.base_url}/orgunits", auth=(second.key, second.secret))

    assert second.port == port
    assert response.status_code == 200


def test_stop_closes_idle_connections_and_waits_promptly() -> None:
    sim = LearnifierSimulator(tls=False)
    sim.start()
    session = requests.Session()
    session.get(f"{sim.base_url}/orgunits", auth=(sim.key, sim.secret))  # leaves a keep-alive connection

    started = time.perf_counter()
    sim.stop()
    stopped_in = time.perf_counter() - started

    assert stopped_in < 1.0
    with pytest.raises(requests.ConnectionError):
        session.get(f"{sim.base_url}/orgunits", auth=(sim.key, sim.secret), timeout=2)
    session.close()


def test_stop_cuts_a_long_latency_short(monkeypatch: pytest.MonkeyPatch) -> None:
    sim = LearnifierSimulator(tls=False, latency=30.0)
    sim.start()
    outcome: list[BaseException] = []
    waiting = threading.Event()
    pause = sim._dispatcher._pause

    def observed_pause(seconds: float) -> bool:
        waiting.set()
        return pause(seconds)

    monkeypatch.setattr(sim._dispatcher, "_pause", observed_pause)

    def call() -> None:
        try:
            requests.get(f"{sim.base_url}/orgunits", auth=(sim.key, sim.secret), timeout=10)
        except requests.RequestException as error:
            outcome.append(error)

    caller = threading.Thread(target=call)
    caller.start()
    assert waiting.wait(10), "the request did not reach its latency wait"
    sim.stop()
    caller.join(timeout=10)

    assert not caller.is_alive()  # well before the 30 s latency: stop ended the wait
    assert outcome and isinstance(outcome[0], requests.ConnectionError)


def test_a_simulator_starts_and_stops_only_once() -> None:
    sim = LearnifierSimulator(tls=False)
    with sim, pytest.raises(RuntimeError):
        sim.start()
    with pytest.raises(RuntimeError):
        sim.start()
    sim.stop()  # harmless


def test_a_busy_port_fails_the_start_and_leaves_no_certificates() -> None:
    with LearnifierSimulator(tls=False) as running:
        blocked = LearnifierSimulator(port=running.port)
        with pytest.raises(OSError):
            blocked.start()

    assert blocked.ca_file is not None
    assert not Path(blocked.ca_file).parent.exists()


def test_an_unstarted_simulator_has_no_address() -> None:
    sim = LearnifierSimulator()

    with pytest.raises(RuntimeError):
        _ = sim.base_url
    assert repr(sim) == "<LearnifierSimulator not running>"
    sim.stop()  # harmless


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "example.com", "::"])
def test_only_loopback_hosts_are_allowed(host: str) -> None:
    with pytest.raises(ValueError, match="loopback"):
        LearnifierSimulator(host=host)


def test_unknown_seeds_are_refused() -> None:
    with pytest.raises(ValueError, match="seed"):
        LearnifierSimulator(seed="big")


def test_without_a_seed_only_the_course_designs_exist() -> None:
    snapshot = LearnifierSimulator(seed=None).state.snapshot()

    assert [design["name"] for design in snapshot["courseDesigns"]] == [
        "Onboarding",
        "Security Awareness",
        "Code of Conduct",
    ]
    assert all(not records for name, records in snapshot.items() if name != "courseDesigns")


def test_the_demo_seed_matches_its_constants() -> None:
    snapshot = LearnifierSimulator(seed="demo").state.snapshot()

    [org_unit] = snapshot["orgUnits"]
    [project] = snapshot["projects"]
    [admin] = snapshot["users"]
    assert (org_unit["id"], org_unit["externalId"], org_unit["name"]) == (
        seed.DEMO_ORG_UNIT_ID,
        seed.DEMO_ORG_UNIT_EXTERNAL_ID,
        seed.DEMO_ORG_UNIT_NAME,
    )
    assert (project["id"], project["externalId"], project["orgId"]) == (
        seed.DEMO_PROJECT_ID,
        seed.DEMO_PROJECT_EXTERNAL_ID,
        seed.DEMO_ORG_UNIT_ID,
    )
    assert project["teamMembers"][0]["userid"] == admin["id"] == seed.DEMO_ADMIN_USER_ID
    assert snapshot["globalUserGroups"][0]["id"] == seed.DEMO_GLOBAL_USER_GROUP_ID
    assert snapshot["userGroups"][0]["groupId"] == seed.DEMO_USER_GROUP_ID


def test_new_ids_follow_the_seeded_ones(sim: LearnifierSimulator) -> None:
    org = sim.state.add_org_unit({"displayName": "Globex"})
    project = sim.state.add_project(str(seed.DEMO_ORG_UNIT_ID), {"name": "P", "designId": 101})

    assert org == {"ouId": seed.DEMO_ORG_UNIT_ID + 1}
    assert project["id"] == seed.DEMO_PROJECT_ID + 1


def test_the_connection_json_points_at_the_simulator(sim: LearnifierSimulator) -> None:
    connection = json.loads(sim.connection_json({"timeout": 5, "verify": "/override.pem"}))
    default = json.loads(sim.connection_json())

    assert default == {
        "conn_type": "learnifier",
        "host": sim.base_url,
        "login": "sim-key",
        "password": "sim-secret",
        "extra": {"verify": sim.ca_file},
    }
    assert connection["extra"] == {"verify": "/override.pem", "timeout": 5}


def test_custom_credentials() -> None:
    with LearnifierSimulator("my-key", "my secret:with colon", tls=False) as sim:
        accepted = requests.get(f"{sim.base_url}/orgunits", auth=("my-key", "my secret:with colon"))
        refused = requests.get(f"{sim.base_url}/orgunits", auth=("sim-key", "sim-secret"))

    assert (accepted.status_code, refused.status_code) == (200, 401)


def test_the_listening_socket_is_closed_after_stop() -> None:
    with LearnifierSimulator(tls=False) as sim:
        port = sim.port

    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0


def test_the_simulator_does_not_import_airflow() -> None:
    code = (
        "import sys\n"
        "from learnifier_simulator import LearnifierSimulator\n"
        "import learnifier_simulator.__main__\n"
        "with LearnifierSimulator() as sim: pass\n"
        "leaked = sorted(name for name in sys.modules if name == 'airflow' or name.startswith('airflow.'))\n"
        "assert not leaked, leaked\n"
    )

    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_only_the_tls_module_imports_cryptography() -> None:
    importers = set()
    for module in Path(simulator_package.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(module.read_text())):
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(name.split(".")[0] == "cryptography" for name in names):
                importers.add(module.name)

    assert importers == {"tls.py"}
