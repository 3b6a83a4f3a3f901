"""DAG files import sensors constantly: importing one must not load the trigger machinery."""

from __future__ import annotations

from tests.compat import modules_imported_by


def test_importing_the_sensors_loads_no_trigger_hook_or_http_module():
    loaded = modules_imported_by(
        "airflow_provider_learnifier.sensors.participants", "airflow_provider_learnifier.sensors.projects"
    )
    assert [m for m in loaded if "trigger" in m] == []
    assert "airflow_provider_learnifier.hooks.learnifier" not in loaded
    assert "requests" not in loaded
