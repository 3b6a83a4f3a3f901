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

VERSION_FLAGS = {"AIRFLOW_VERSION", "AIRFLOW_V_3_0_PLUS", "AIRFLOW_V_3_2_PLUS"}
LAZY_NAMES = sorted(set(version_compat.__all__) - VERSION_FLAGS)


def test_all_lists_exactly_the_names_it_provides():
    assert sorted(version_compat.__all__) == sorted([*version_compat._LOCATIONS, *VERSION_FLAGS])


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
    assert version_compat.AIRFLOW_V_3_2_PLUS is ((major, minor) >= (3, 2))


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
