"""DAG files import sensors constantly: importing one must not load the trigger machinery."""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = """
import json, sys
try:
    from airflow.sdk import BaseOperator
except ImportError:  # Airflow 2
    from airflow.models.baseoperator import BaseOperator
before = set(sys.modules)
import airflow_provider_learnifier.sensors.participants
import airflow_provider_learnifier.sensors.projects
print(json.dumps(sorted(set(sys.modules) - before)))
"""


def test_importing_the_sensors_loads_no_trigger_hook_or_http_module():
    result = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120, check=True
    )
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert [m for m in loaded if "trigger" in m] == []
    assert "airflow_provider_learnifier.hooks.learnifier" not in loaded
    assert "requests" not in loaded
