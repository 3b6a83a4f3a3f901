"""The one place that knows which Airflow version is installed.

Everything else in the provider imports Airflow's public classes from here, so that supporting
another Airflow line means changing this module only. The provider supports Airflow 2.11 and
every 3.x minor from 3.0 on.

Names are resolved on first use (PEP 562), so that a DAG file importing one operator does not pay
for the sensor, trigger and async-connection machinery it never touches. Each name has a list of
places to look, newest Airflow first; the first place that exists in the installed Airflow wins.
So Airflow 3 resolves names from the Task SDK (``airflow.sdk``) without touching a deprecated
path, and Airflow 2.11 (or 3.0, where a few names had not moved to the Task SDK yet) falls back
to the older modules. ``tests/test_version_compat.py`` checks every name on every Airflow version
of the matrix.

The connection form is described once, in the provider info's ``ui-field-behaviour`` and
``conn-fields``. Airflow 3.2 and newer read it from there (and warn when a hook still defines
``get_ui_field_behaviour()`` or ``get_connection_form_widgets()``); Airflow 2.11, 3.0 and 3.1 build
the form only from those two hook classmethods. Below 3.2, :data:`BaseHook` is therefore a thin
subclass of Airflow's that gives each hook with a ``conn_type`` these two methods, derived from
the provider info: one source of truth for every Airflow line.
"""

from __future__ import annotations

from datetime import datetime, timezone
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

    #: The installed Airflow's version as ``(major, minor, micro)``.
    AIRFLOW_VERSION: tuple[int, int, int]
    #: Whether the installed Airflow is 3.0 or newer.
    AIRFLOW_V_3_0_PLUS: bool
    #: Whether the installed Airflow reads the connection form from the provider info (3.2+).
    AIRFLOW_V_3_2_PLUS: bool

#: Where each name lives, newest Airflow first: ``"module"`` (same name) or ``"module:name"``.
#: Comments say which of the matrix's versions (2.11, 3.0, 3.3) use which place.
_LOCATIONS: dict[str, tuple[str, ...]] = {
    # 3.3 (Task SDK) | 2.11 and 3.0
    "AirflowException": ("airflow.sdk.exceptions", "airflow.exceptions"),
    "AirflowSensorTimeout": ("airflow.sdk.exceptions", "airflow.exceptions"),
    "AirflowSkipException": ("airflow.sdk.exceptions", "airflow.exceptions"),
    # 3.x | 2.11: assets were called datasets
    "Asset": ("airflow.sdk", "airflow.datasets:Dataset"),
    # 3.3 | 2.11 and 3.0 (below 3.2 the hook gets its connection form methods, see _hook_base)
    "BaseHook": ("airflow.sdk", "airflow.hooks.base"),
    # 3.x | 2.11
    "BaseOperator": ("airflow.sdk", "airflow.models.baseoperator"),
    "BaseOperatorLink": ("airflow.sdk", "airflow.models.baseoperatorlink"),
    "BaseSensorOperator": ("airflow.sdk", "airflow.sensors.base"),
    # every version
    "BaseTrigger": ("airflow.triggers.base",),
    # 3.x | 2.11
    "Context": ("airflow.sdk", "airflow.utils.context"),
    "ObjectStoragePath": ("airflow.sdk", "airflow.io.path"),
    "PokeReturnValue": ("airflow.sdk", "airflow.sensors.base"),
    # every version
    "TriggerEvent": ("airflow.triggers.base",),
    # 3.x | 2.11
    "XCom": ("airflow.sdk.execution_time.xcom", "airflow.models.xcom"),
    # 3.3 | 2.11 and 3.0
    "conf": ("airflow.sdk", "airflow.configuration"),
    # every version, from apache-airflow-providers-common-compat
    "get_async_connection": ("airflow.providers.common.compat.connection",),
    # 3.x | 2.11
    "mask_secret": ("airflow.sdk.log", "airflow.utils.log.secrets_masker"),
}

__all__ = [
    "AIRFLOW_VERSION",
    "AIRFLOW_V_3_0_PLUS",
    "AIRFLOW_V_3_2_PLUS",
    "AirflowException",
    "AirflowSensorTimeout",
    "AirflowSkipException",
    "Asset",
    "BaseHook",
    "BaseOperator",
    "BaseOperatorLink",
    "BaseSensorOperator",
    "BaseTrigger",
    "Context",
    "ObjectStoragePath",
    "PokeReturnValue",
    "TriggerEvent",
    "XCom",
    "conf",
    "get_async_connection",
    "mask_secret",
]


def _airflow_version() -> tuple[int, int, int]:
    """The installed Airflow's ``(major, minor, micro)``, ignoring pre-release and local parts."""
    from airflow import __version__ as version

    numbers = []
    for part in version.split(".")[:3]:
        digits = ""
        for char in part:
            if not char.isdigit():
                break
            digits += char
        numbers.append(int(digits or 0))
    while len(numbers) < 3:
        numbers.append(0)
    return numbers[0], numbers[1], numbers[2]


def _module_missing(error: ModuleNotFoundError, module: str) -> bool:
    """Tell whether ``error`` says that ``module`` (or a package above it) does not exist."""
    missing = error.name or ""
    return module == missing or module.startswith(missing + ".")


def _resolve(name: str) -> Any:
    """Find ``name`` in the first of its places that the installed Airflow has."""
    return find_in_places(name, _LOCATIONS[name])


def find_in_places(name: str, places: tuple[str, ...]) -> Any:
    """Find ``name`` in the first of ``places`` (``"module"`` or ``"module:attribute"``) that exists.

    Also used by the test suite's ``tests/compat.py`` for the Airflow internals tests touch.

    :raises ImportError: when none of the places exists in the installed Airflow.
    """
    for place in places:
        module_name, _, attribute = place.partition(":")
        try:
            module = import_module(module_name)
        except ModuleNotFoundError as err:
            if _module_missing(err, module_name):
                continue
            raise
        try:
            return getattr(module, attribute or name)
        except AttributeError:
            continue
    raise ImportError(
        f"{name} is in none of {', '.join(places)}: this Airflow version is not supported "
        "by airflow-provider-learnifier (supported: Airflow 2.11 and 3.0 or newer)"
    )


#: The task state store key under which a sensor keeps the start of its first try (Airflow 3.3+).
FIRST_TRY_START_KEY = "learnifier_first_try_start"


def first_try_start(context: Any, retries: int | None) -> datetime | None:
    """When the first try of this task instance started, so that retries share one deadline.

    Airflow's reschedule mode counts ``timeout`` from the first try's start; this gives deferrable
    waits the same rule. The first try is the one after the latest clear,
    ``max_tries - retries + 1``, as Airflow computes it. Where each Airflow line keeps it:

    - Airflow 3.3 and newer: the task state store (``context["task_state_store"]``), which
      outlives retries: the first try writes its start there and later tries read it.
    - Airflow 2.x: the metadata database, which a worker reaches: the task instance history
      (``TaskInstanceHistory``) holds the start of every earlier try. Not in database isolation
      mode (the internal API), where a worker has no database session.
    - Airflow 3.0 to 3.2: nowhere a task can reach. The Task SDK gives a worker no per-task store
      that outlives a retry: a new try clears the task's XComs, the task instance gets a new id
      and its reschedule records are deleted (so reschedule mode restarts its timeout on a retry
      there too), and the execution API does not expose the task instance history. So it is the
      start of this try, and each retry waits ``timeout`` again.

    :return: an aware datetime, or ``None`` without a task instance in ``context`` (a task run
        outside Airflow's task runner).
    """
    ti = context.get("ti") if hasattr(context, "get") else None
    if ti is None:
        return None
    start = getattr(ti, "start_date", None) or datetime.now(timezone.utc)
    first_try = int(getattr(ti, "max_tries", 0) or 0) - int(retries or 0) + 1
    if "task_state_store" in context:
        store = context["task_state_store"]
        kept = store.get(FIRST_TRY_START_KEY)
        if isinstance(kept, dict) and kept.get("first_try") == first_try and kept.get("start"):
            return datetime.fromisoformat(str(kept["start"]))
        store.set(FIRST_TRY_START_KEY, {"first_try": first_try, "start": start.isoformat()})
        return start
    if not __getattr__("AIRFLOW_V_3_0_PLUS") and int(getattr(ti, "try_number", 0) or 0) > first_try:
        earlier = _earlier_try_start(ti, first_try)
        if earlier is not None and earlier < start:
            return earlier
    return start


def _earlier_try_start(ti: Any, first_try: int) -> datetime | None:
    """Airflow 2.x: the start of the earliest try from ``first_try`` on before this one, from the
    task instance history; ``None`` where the worker has no database (database isolation mode).

    From ``first_try`` on, not only ``first_try``: as Airflow's reschedule mode does, so that a
    try whose record is missing does not restart the deadline.
    """
    from airflow.api_internal.internal_api_call import InternalApiConfig

    if InternalApiConfig.get_use_internal_api():
        return None
    from airflow.models.taskinstancehistory import TaskInstanceHistory
    from airflow.utils.session import create_session
    from sqlalchemy import select

    history = TaskInstanceHistory
    with create_session() as session:
        started: datetime | None = session.scalar(
            select(history.start_date)
            .where(
                history.dag_id == ti.dag_id,
                history.task_id == ti.task_id,
                history.run_id == ti.run_id,
                history.map_index == ti.map_index,
                history.try_number >= first_try,
                history.try_number < ti.try_number,
                history.start_date.is_not(None),
            )
            .order_by(history.try_number)
            .limit(1)
        )
    return started


def _hook_base(airflow_base_hook: type) -> type:
    """Below Airflow 3.2, a ``BaseHook`` whose subclasses describe their connection form to the UI.

    Airflow 2.11, 3.0 and 3.1 read the form only from methods in the hook class's own ``__dict__``
    (Airflow 3.0 and 3.1 call them with WTForms mocked out in the API server), so they are set on
    each subclass that has a ``conn_type`` listed in the provider info.
    """

    class BaseHook(airflow_base_hook):
        """Airflow's ``BaseHook``, plus connection form methods for each hook from the provider info."""

        def __init_subclass__(cls, **kwargs: Any) -> None:
            super().__init_subclass__(**kwargs)
            connection_type = _connection_type_info(getattr(cls, "conn_type", None))
            if connection_type is None:
                return
            if "get_ui_field_behaviour" not in cls.__dict__:
                behaviour = _ui_field_behaviour(connection_type)
                cls.get_ui_field_behaviour = classmethod(lambda _cls: behaviour)
            if "get_connection_form_widgets" not in cls.__dict__:
                fields = connection_type.get("conn-fields", {})
                cls.get_connection_form_widgets = classmethod(lambda _cls: _connection_form_widgets(fields))

    return BaseHook


def _connection_type_info(conn_type: str | None) -> dict[str, Any] | None:
    """The provider info's ``connection-types`` entry for ``conn_type``, if it has one."""
    if not conn_type:
        return None
    from airflow_provider_learnifier.get_provider_info import get_provider_info

    for connection_type in get_provider_info().get("connection-types", []):
        if connection_type.get("connection-type") == conn_type:
            return dict(connection_type)
    return None


def _ui_field_behaviour(connection_type: dict[str, Any]) -> dict[str, Any]:
    """The ``get_ui_field_behaviour()`` answer, from the provider info's ``ui-field-behaviour``."""
    behaviour = connection_type.get("ui-field-behaviour", {})
    return {
        "hidden_fields": list(behaviour.get("hidden-fields", [])),
        "relabeling": dict(behaviour.get("relabeling", {})),
        "placeholders": dict(behaviour.get("placeholders", {})),
    }


def _connection_form_widgets(fields: dict[str, Any]) -> dict[str, Any]:
    """The ``get_connection_form_widgets()`` answer, from the provider info's ``conn-fields``.

    Airflow below 3.2 accepts only string, integer, password and boolean fields: an ``integer`` schema
    becomes an integer field with its bounds, a ``boolean`` one a check box, and anything else
    (numbers too) a text field that the hook parses.
    """
    from flask_appbuilder.fieldwidgets import BS3TextFieldWidget
    from flask_babel import lazy_gettext
    from wtforms import BooleanField, IntegerField, StringField
    from wtforms.validators import NumberRange, Optional

    widgets: dict[str, Any] = {}
    for name, spec in fields.items():
        schema = spec.get("schema", {})
        types = schema.get("type", "string")
        types = {types} if isinstance(types, str) else set(types)
        label = lazy_gettext(spec.get("label", name))
        description = spec.get("description", "")
        if "integer" in types:
            bounds = NumberRange(min=schema.get("minimum"), max=schema.get("maximum"))
            widgets[name] = IntegerField(
                label,
                description=description,
                validators=[Optional(strip_whitespace=True), bounds],
                widget=BS3TextFieldWidget(),
            )
        elif "boolean" in types:
            widgets[name] = BooleanField(label, description=description)
        else:
            widgets[name] = StringField(label, description=description, widget=BS3TextFieldWidget())
    return widgets


def __getattr__(name: str) -> Any:
    if name == "AIRFLOW_VERSION":
        value: Any = _airflow_version()
    elif name == "AIRFLOW_V_3_0_PLUS":
        value = __getattr__("AIRFLOW_VERSION") >= (3, 0, 0)
    elif name == "AIRFLOW_V_3_2_PLUS":
        value = __getattr__("AIRFLOW_VERSION") >= (3, 2, 0)
    elif name in _LOCATIONS:
        value = _resolve(name)
        if name == "BaseHook" and not __getattr__("AIRFLOW_V_3_2_PLUS"):
            value = _hook_base(value)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
