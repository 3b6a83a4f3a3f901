"""The provider metadata Airflow reads: schema-valid and registered through the entry point."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import airflow
import jsonschema

from airflow_provider_learnifier import __version__
from airflow_provider_learnifier.get_provider_info import get_provider_info

AIRFLOW_DIR = Path(airflow.__file__).parent


def test_provider_info_validates_against_airflow_schema():
    schema = json.loads((AIRFLOW_DIR / "provider_info.schema.json").read_text())
    jsonschema.validate(get_provider_info(), schema)


def test_connection_types_validate_against_provider_yaml_definition():
    provider_yaml_schema = json.loads((AIRFLOW_DIR / "provider.yaml.schema.json").read_text())
    connection_types_schema = {
        **provider_yaml_schema["properties"]["connection-types"],
        "definitions": provider_yaml_schema.get("definitions", {}),
    }
    jsonschema.validate(get_provider_info()["connection-types"], connection_types_schema)


def test_package_name_equals_distribution_name_and_version_matches():
    info = get_provider_info()
    assert info["package-name"] == "airflow-provider-learnifier"
    assert info["versions"] == [__version__]


def test_entry_point_returns_the_provider_info():
    (entry_point,) = [
        ep
        for ep in entry_points(group="apache_airflow_provider")
        if ep.dist.name == "airflow-provider-learnifier"
    ]
    assert entry_point.load()() == get_provider_info()


def test_every_declared_module_and_class_imports():
    info = get_provider_info()
    for section in ("hooks", "operators", "sensors", "triggers"):
        for entry in info.get(section, []):
            for module in entry["python-modules"]:
                __import__(module)
    for connection_type in info["connection-types"]:
        module, _, name = connection_type["hook-class-name"].rpartition(".")
        hook_class = getattr(__import__(module, fromlist=[name]), name)
        assert hook_class.conn_type == connection_type["connection-type"]
        assert hook_class.hook_name == connection_type["hook-name"]
    for link in info.get("extra-links", []):
        module, _, name = link.rpartition(".")
        getattr(__import__(module, fromlist=[name]), name)


def airflow_cli_json(tmp_path: Path, *commands: list[str]) -> list[Any]:
    """Run Airflow CLI commands side by side, each with its own Airflow home; return their JSON output.

    Each command starts a whole Airflow: on two cores, two at once take the time of one.
    """
    airflow_cli = str(Path(sys.executable).with_name("airflow"))
    processes = []
    for number, command in enumerate(commands):
        env = {
            **os.environ,
            "AIRFLOW_HOME": str(tmp_path / f"home-{number}"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            # Airflow 3.0 logs its plugins' setup to stdout at INFO, before the JSON.
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "ERROR",
        }
        processes.append(
            subprocess.Popen(
                [airflow_cli, *command, "--output", "json"],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    outputs = []
    for process in processes:
        stdout, stderr = process.communicate(timeout=180)
        assert process.returncode == 0, stderr[-3000:]
        outputs.append(json.loads(stdout))
    return outputs


def test_airflow_cli_lists_the_provider_its_hook_and_its_triggers(tmp_path):
    providers, hooks, triggers = airflow_cli_json(
        tmp_path, ["providers", "list"], ["providers", "hooks"], ["providers", "triggers"]
    )
    (ours,) = [p for p in providers if p["package_name"] == "airflow-provider-learnifier"]
    assert ours["version"] == __version__
    (hook,) = [h for h in hooks if h["connection_type"] == "learnifier"]
    assert hook["class"] == "airflow_provider_learnifier.hooks.learnifier.LearnifierHook"
    assert hook["conn_id_attribute_name"] == "learnifier_conn_id"
    # Every trigger module, the event trigger's too on Airflow 2.11 (where it imports but refuses
    # to be made): test_every_declared_module_and_class_imports imports each one listed.
    listed = sorted(t["class"] for t in triggers if t["package_name"] == "airflow-provider-learnifier")
    assert listed == sorted(get_provider_info()["triggers"][0]["python-modules"])
    assert "airflow_provider_learnifier.triggers.events" in listed
