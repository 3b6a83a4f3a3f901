"""The compatibility module: every name resolves on the installed Airflow, from its current home."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import types
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
        "version_compat.find_mask_secret(sdk)\n"
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


# mask_secret and get_async_connection: common-compat has the first, and the second's guard, only from
# 1.23 (Python 3.11+); the provider allows 1.20, the newest on Python 3.10. The lowest stage of CI
# (Python 3.10, common-compat 1.20) takes the fallbacks for real; these tests take each branch on
# every Airflow of the matrix.


def test_mask_secret_is_common_compats_where_common_compat_has_it():
    def compat_mask_secret(secret, name=None):
        pass

    assert version_compat.find_mask_secret(types.SimpleNamespace(mask_secret=compat_mask_secret)) is (
        compat_mask_secret
    )


def test_without_common_compats_mask_secret_airflows_own_is_found_where_common_compat_1_23_looks():
    from airflow.providers.common.compat import sdk

    found = version_compat.find_mask_secret(types.SimpleNamespace())

    assert found.__name__ == "mask_secret"
    if hasattr(sdk, "mask_secret"):
        # common-compat 1.23+: the fallback finds the very function common-compat gives.
        assert found is sdk.mask_secret
    else:
        # common-compat below 1.23 (Python 3.10): the provider's mask_secret is this one.
        assert version_compat.find_mask_secret(sdk) is found


def test_mask_secret_makes_airflow_mask_the_value():
    from airflow.providers.common.compat.sdk import redact

    secret = "compat-check-s3cr3t-4711"
    version_compat.mask_secret(secret)

    assert secret not in str(redact(f"token={secret}"))


def _set_connection(conn_id, monkeypatch):
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{conn_id.upper()}",
        json.dumps({"conn_type": "learnifier", "host": "learnifier.example", "password": "pw"}),
    )


def test_get_async_connection_finds_the_connection(monkeypatch):
    _set_connection("compat_async_lookup", monkeypatch)

    connection = asyncio.run(version_compat.get_async_connection("compat_async_lookup"))

    assert (connection.conn_id, connection.host) == ("compat_async_lookup", "learnifier.example")


def test_get_async_connection_looks_up_in_a_worker_thread_below_airflow_3_3_2(monkeypatch):
    """Where ``aget_connection`` would mask synchronously on the loop, it is never called."""
    from airflow.providers.common.compat.sdk import BaseHook, Connection

    _set_connection("compat_thread_lookup", monkeypatch)
    monkeypatch.delattr(Connection, "aextra_dejson", raising=False)

    async def masks_synchronously(*args, **kwargs):
        raise AssertionError("aget_connection called where it masks synchronously")

    monkeypatch.setattr(BaseHook, "aget_connection", classmethod(masks_synchronously), raising=False)
    threads = []
    sync_lookup = BaseHook.get_connection.__func__

    def recording_lookup(cls, conn_id):
        threads.append(threading.current_thread())
        return sync_lookup(cls, conn_id)

    monkeypatch.setattr(BaseHook, "get_connection", classmethod(recording_lookup))

    async def look_up():
        return threading.current_thread(), await version_compat.get_async_connection("compat_thread_lookup")

    loop_thread, connection = asyncio.run(look_up())

    assert connection.host == "learnifier.example"
    assert len(threads) == 1
    assert threads[0] is not loop_thread


def test_get_async_connection_is_common_compats_from_airflow_3_3_2(monkeypatch):
    """``Connection.aextra_dejson`` (Airflow 3.3.2+) marks an ``aget_connection`` masking asynchronously."""
    from airflow.providers.common.compat import connection as compat_connection
    from airflow.providers.common.compat.sdk import Connection

    async def aextra_dejson(self):
        return {}

    if not hasattr(Connection, "aextra_dejson"):
        monkeypatch.setattr(Connection, "aextra_dejson", aextra_dejson, raising=False)
    asked = []

    async def compat_get_async_connection(conn_id, hook=None):
        asked.append(conn_id)
        return "the connection common-compat found"

    monkeypatch.setattr(compat_connection, "get_async_connection", compat_get_async_connection)

    found = asyncio.run(version_compat.get_async_connection("compat_lookup"))

    assert (found, asked) == ("the connection common-compat found", ["compat_lookup"])
