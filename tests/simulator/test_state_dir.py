"""``--state-dir``: the CA, certificate, port and data outlive a restart of the simulator."""

from __future__ import annotations

import hashlib
import json
import signal
from datetime import timedelta
from typing import TYPE_CHECKING

import requests
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from learnifier_simulator import LearnifierSimulator, persistence
from learnifier_simulator.seed import seeded_state
from learnifier_simulator.state import SimulatorState
from learnifier_simulator.tls import VALIDITY
from tests.simulator.test_cli import run_cli as run_cli  # the fixture
from tests.simulator.test_cli import wait_for

if TYPE_CHECKING:
    from pathlib import Path

    from tests.simulator.test_cli import RunCli

AUTH = ("sim-key", "sim-secret")


def ca_fingerprint(ca_file: str) -> str:
    certificate = x509.load_pem_x509_certificate(open(ca_file, "rb").read())  # noqa: SIM115
    return hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).hexdigest()


def start(run_cli: RunCli, state_dir: Path, ready_file: Path) -> tuple[object, dict]:
    process = run_cli("--state-dir", str(state_dir), "--ready-file", str(ready_file))
    return process, wait_for(ready_file, process)


def stop(process) -> None:
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=20) == 0, process.communicate()


def test_a_restart_keeps_the_ca_the_connection_and_the_data(run_cli, tmp_path):
    state_dir, ready_file = tmp_path / "state", tmp_path / "ready.json"
    process, first = start(run_cli, state_dir, ready_file)
    created = requests.post(
        f"{first['base_url']}/orgunits",
        json={"displayName": "Kept across restarts", "externalId": "kept"},
        auth=AUTH,
        verify=first["ca_file"],
        timeout=10,
    )
    assert created.status_code == 200, created.text
    stop(process)

    process, second = start(run_cli, state_dir, ready_file)
    assert ca_fingerprint(second["ca_file"]) == ca_fingerprint(first["ca_file"])
    assert second["connection"] == first["connection"]
    # The connection printed at the first start still works, CA file and all.
    connection = json.loads(first["connection"])
    org_units = requests.get(
        f"{connection['host']}/extorgunit",
        params={"extid": "kept"},
        auth=(connection["login"], connection["password"]),
        verify=connection["extra"]["verify"],
        timeout=10,
    )
    assert org_units.status_code == 200, org_units.text
    assert org_units.json()["name"] == "Kept across restarts"
    stop(process)


def test_the_state_directory_is_private(tmp_path):
    state_dir = tmp_path / "state"
    with LearnifierSimulator(state_dir=state_dir):
        pass
    assert state_dir.stat().st_mode & 0o777 == 0o700
    assert {path.name for path in state_dir.iterdir()} == {
        "ca.pem",
        "server.pem",
        "server-key.pem",
        "port",
        "data.json",
    }


def test_saved_data_loads_back_to_the_same_state(tmp_path):
    original = seeded_state("demo")
    original.add_org_unit({"displayName": "Extra", "externalId": "extra"})
    persistence.save_state(tmp_path, original)
    loaded = SimulatorState()
    assert persistence.load_state(tmp_path, loaded)
    assert loaded.snapshot() == original.snapshot()
    assert loaded.next_ids() == original.next_ids()


def test_no_saved_data_leaves_the_state_alone(tmp_path):
    state = SimulatorState()
    assert not persistence.load_state(tmp_path, state)
    assert state.records() == []


def test_certificates_near_their_expiry_are_made_anew(tmp_path, monkeypatch):
    kept = persistence.certificates(tmp_path)
    assert persistence.certificates(tmp_path) == kept
    first = ca_fingerprint(str(kept.ca_file))
    assert ca_fingerprint(str(persistence.certificates(tmp_path).ca_file)) == first
    monkeypatch.setattr(persistence, "RENEW_BEFORE", VALIDITY + timedelta(days=1))
    assert ca_fingerprint(str(persistence.certificates(tmp_path).ca_file)) != first
