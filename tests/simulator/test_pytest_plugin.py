"""The pytest plugin's fixtures."""

from __future__ import annotations

import json
import os
from pathlib import Path

import requests

from learnifier_simulator import LearnifierSimulator, seed


def test_learnifier_simulator_is_a_running_demo_over_https(learnifier_simulator: LearnifierSimulator) -> None:
    sim = learnifier_simulator

    response = requests.get(
        f"{sim.base_url}/orgunits", auth=(sim.key, sim.secret), verify=sim.ca_file, timeout=10
    )

    assert sim.base_url.startswith("https://")
    assert response.json()["orgUnits"][0]["id"] == seed.DEMO_ORG_UNIT_ID


def test_learnifier_conn_sets_the_default_connection(learnifier_conn: LearnifierSimulator) -> None:
    connection = json.loads(os.environ["AIRFLOW_CONN_LEARNIFIER_DEFAULT"])

    assert connection["host"] == learnifier_conn.base_url
    assert (connection["login"], connection["password"]) == (learnifier_conn.key, learnifier_conn.secret)
    assert Path(connection["extra"]["verify"]).read_text().startswith("-----BEGIN CERTIFICATE-----")
