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

LAZY_NAMES = sorted(set(version_compat.__all__) - {"AIRFLOW_VERSION", "AIRFLOW_V_3_0_PLUS"})


def test_all_lists_exactly_the_names_it_provides():
    assert sorted(version_compat.__all__) == sorted(
        [*version_compat._LOCATIONS, "AIRFLOW_VERSION", "AIRFLOW_V_3_0_PLUS"]
    )


def test_every_name_resolves_without_deprecation_warnings():
    code = (
        "import warnings\n"
        "warnings.simplefilter('error', DeprecationWarning)\n"
        "warnings.simplefilter('error', PendingDeprecationWarning)\n"
        "from airflow_provider_learnifier import version_compat\n"
        f"for name in {LAZY_NAMES!r}:\n"
        "    getattr(version_compat, name)\n"
    )
    # A fresh interpreter, so that no other test has imported a name's module already (and so
    # that a deprecated path is really taken, and warns, if the table points at one).
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]


def test_version_matches_the_installed_airflow():
    major, minor, micro = version_compat.AIRFLOW_VERSION
    assert airflow.__version__.startswith(f"{major}.{minor}.{micro}")
    assert version_compat.AIRFLOW_V_3_0_PLUS is (major >= 3)


def test_names_come_from_the_task_sdk_on_airflow_3():
    if not version_compat.AIRFLOW_V_3_0_PLUS:
        pytest.skip("Airflow 2 has no Task SDK")
    for name in ("BaseOperator", "BaseSensorOperator", "BaseOperatorLink", "Asset", "ObjectStoragePath"):
        assert getattr(version_compat, name).__module__.startswith("airflow.sdk"), name


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'NoSuchThing'"):
        version_compat.NoSuchThing  # noqa: B018


def test_the_first_place_that_exists_wins(monkeypatch):
    monkeypatch.setitem(
        version_compat._LOCATIONS,
        "Probe",
        ("airflow_no_such_module.sub", "airflow.no_such_module", "airflow:no_such", "airflow:__version__"),
    )
    assert version_compat._resolve("Probe") == airflow.__version__


def test_a_name_found_nowhere_says_which_airflow_is_supported(monkeypatch):
    monkeypatch.setitem(version_compat._LOCATIONS, "Probe", ("airflow.no_such_module",))
    with pytest.raises(ImportError, match=r"Airflow 2\.11 and 3\.0 or newer"):
        version_compat._resolve("Probe")


def test_connection_form_comes_from_the_provider_info_on_airflow_2_only():
    connection_type = get_provider_info()["connection-types"][0]
    if version_compat.AIRFLOW_V_3_0_PLUS:
        # Airflow 3 reads conn-fields and ui-field-behaviour from the provider info, and warns
        # about hooks that still define the methods.
        assert "get_ui_field_behaviour" not in LearnifierHook.__dict__
        assert "get_connection_form_widgets" not in LearnifierHook.__dict__
        return
    behaviour = LearnifierHook.get_ui_field_behaviour()
    expected = connection_type["ui-field-behaviour"]
    assert behaviour == {
        "hidden_fields": expected["hidden-fields"],
        "relabeling": expected["relabeling"],
        "placeholders": expected["placeholders"],
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # Flask-AppBuilder's own
        widgets = LearnifierHook.get_connection_form_widgets()
    assert sorted(widgets) == sorted(connection_type["conn-fields"])
    assert widgets["max_retries"].field_class.__name__ == "IntegerField"
    assert widgets["timeout"].field_class.__name__ == "StringField"


def test_the_airflow_2_web_server_sees_the_connection_form():
    if version_compat.AIRFLOW_V_3_0_PLUS:
        pytest.skip("Airflow 3 takes the form from the provider info (tests/test_get_provider_info.py)")
    from airflow.providers_manager import ProvidersManager

    manager = ProvidersManager()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        behaviours = manager.field_behaviours
        widgets = manager.connection_form_widgets
    assert behaviours["learnifier"]["hidden_fields"] == ["schema", "port"]
    assert {"extra__learnifier__timeout", "extra__learnifier__max_retries"} <= set(widgets)
