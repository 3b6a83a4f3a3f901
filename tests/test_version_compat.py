"""The compatibility module: every name resolves on the installed Airflow, from its current home."""

from __future__ import annotations

import subprocess
import sys
import warnings

import airflow
import pytest

from airflow_provider_learnifier import version_compat
from airflow_provider_learnifier.get_provider_info import get_provider_info
from airflow_provider_learnifier.hooks.learnifier import LearnifierHook

#: The Airflow names the provider imports from ``airflow.providers.common.compat.sdk``.
SDK_NAMES = [
    "AirflowException",
    "AirflowSensorTimeout",
    "AirflowSkipException",
    "Asset",
    "BaseHook",
    "BaseOperator",
    "BaseOperatorLink",
    "BaseSensorOperator",
    "Context",
    "ObjectStoragePath",
    "PokeReturnValue",
    "XCom",
    "conf",
    "mask_secret",
]


def test_every_name_the_provider_uses_resolves_without_deprecation_warnings():
    code = (
        "import warnings\n"
        "warnings.simplefilter('error', DeprecationWarning)\n"
        "warnings.simplefilter('error', PendingDeprecationWarning)\n"
        "from airflow.providers.common.compat import sdk\n"
        f"for name in {SDK_NAMES!r}:\n"
        "    getattr(sdk, name)\n"
        "from airflow_provider_learnifier import version_compat\n"
        "from airflow.providers.common.compat.connection import get_async_connection\n"
        "from airflow.triggers.base import BaseTrigger, TriggerEvent\n"
    )
    # A fresh interpreter, so that no other test has imported a name's module already (and so
    # that a deprecated path is really taken, and warns, if common-compat points at one).
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]


def test_version_flags_match_the_installed_airflow():
    major, minor, micro = version_compat.AIRFLOW_VERSION.release
    assert airflow.__version__.startswith(f"{major}.{minor}.{micro}")
    assert version_compat.AIRFLOW_V_3_0_PLUS is (major >= 3)
    assert version_compat.AIRFLOW_V_3_2_PLUS is ((major, minor) >= (3, 2))


def test_names_come_from_the_task_sdk_on_airflow_3():
    if not version_compat.AIRFLOW_V_3_0_PLUS:
        pytest.skip("Airflow 2 has no Task SDK")
    from airflow.providers.common.compat import sdk

    for name in ("BaseOperator", "BaseSensorOperator", "BaseOperatorLink", "Asset", "ObjectStoragePath"):
        assert getattr(sdk, name).__module__.startswith("airflow.sdk"), name


def test_the_hook_base_is_airflows_own_from_airflow_3_2():
    from airflow.providers.common.compat.sdk import BaseHook

    assert issubclass(version_compat.BaseHook, BaseHook)
    assert (version_compat.BaseHook is BaseHook) is version_compat.AIRFLOW_V_3_2_PLUS


def test_connection_form_methods_come_from_the_provider_info_below_airflow_3_2():
    connection_type = get_provider_info()["connection-types"][0]
    if version_compat.AIRFLOW_V_3_2_PLUS:
        # Airflow 3.2+ reads conn-fields and ui-field-behaviour from the provider info, and warns
        # about hooks that still define the methods.
        assert "get_ui_field_behaviour" not in LearnifierHook.__dict__
        assert "get_connection_form_widgets" not in LearnifierHook.__dict__
        return
    # Airflow 2.11, 3.0 and 3.1 look for the methods on the hook class itself.
    assert "get_ui_field_behaviour" in LearnifierHook.__dict__
    assert "get_connection_form_widgets" in LearnifierHook.__dict__
    behaviour = LearnifierHook.get_ui_field_behaviour()
    expected = connection_type["ui-field-behaviour"]
    assert behaviour == {
        "hidden_fields": expected["hidden-fields"],
        "relabeling": expected["relabeling"],
        "placeholders": expected["placeholders"],
    }
    try:
        import wtforms  # noqa: F401
    except ImportError:
        return  # Airflow 3.0/3.1 without FAB: tests/test_connection_form.py checks the mocked path
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # Flask-AppBuilder's own
        widgets = LearnifierHook.get_connection_form_widgets()
    assert sorted(widgets) == sorted(connection_type["conn-fields"])
    assert widgets["max_retries"].field_class.__name__ == "IntegerField"
    assert widgets["timeout"].field_class.__name__ == "StringField"
