"""The one place that knows which Airflow version is installed.

Everything else in the provider imports Airflow's public classes from here, so that supporting
another Airflow line means changing this module only.

Names are resolved on first use (PEP 562), so that a DAG file importing one operator does not pay
for the sensor, trigger and async-connection machinery it never touches.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow.providers.common.compat.connection import get_async_connection
    from airflow.sdk import (
        Asset,
        BaseHook,
        BaseOperator,
        BaseOperatorLink,
        BaseSensorOperator,
        Context,
        ObjectStoragePath,
        PokeReturnValue,
        conf,
    )
    from airflow.sdk.exceptions import AirflowException, AirflowSensorTimeout, AirflowSkipException
    from airflow.sdk.execution_time.xcom import XCom
    from airflow.sdk.log import mask_secret
    from airflow.triggers.base import BaseTrigger, TriggerEvent

#: Where each name lives in the installed Airflow.
_LOCATIONS = {
    "AirflowException": "airflow.sdk.exceptions",
    "AirflowSensorTimeout": "airflow.sdk.exceptions",
    "AirflowSkipException": "airflow.sdk.exceptions",
    "Asset": "airflow.sdk",
    "BaseHook": "airflow.sdk",
    "BaseOperator": "airflow.sdk",
    "BaseOperatorLink": "airflow.sdk",
    "BaseSensorOperator": "airflow.sdk",
    "BaseTrigger": "airflow.triggers.base",
    "Context": "airflow.sdk",
    "ObjectStoragePath": "airflow.sdk",
    "PokeReturnValue": "airflow.sdk",
    "TriggerEvent": "airflow.triggers.base",
    "XCom": "airflow.sdk.execution_time.xcom",
    "conf": "airflow.sdk",
    "get_async_connection": "airflow.providers.common.compat.connection",
    "mask_secret": "airflow.sdk.log",
}

__all__ = sorted(_LOCATIONS)


def __getattr__(name: str) -> Any:
    try:
        module = _LOCATIONS[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value
