"""Which Airflow is installed, and the connection form for the Airflow lines that need it.

Airflow's public classes come from ``airflow.providers.common.compat.sdk``, which finds each one
where the installed Airflow keeps it (the Task SDK on Airflow 3, the older modules on 2.11). This
module holds only what that package does not: the version flags, a ``BaseHook`` that
describes the connection form on Airflow below 3.2, and two names that common-compat has only from
1.23 on, which needs Python 3.11: :func:`mask_secret` and a :func:`get_async_connection` that
never masks synchronously on the triggerer's event loop. On Python 3.10 the newest common-compat
is 1.20, so these two are found here for every common-compat the provider allows.

The connection form is described once, in the provider info's ``ui-field-behaviour`` and
``conn-fields``. Airflow 3.2 and newer read it from there (and warn when a hook still defines
``get_ui_field_behaviour()`` or ``get_connection_form_widgets()``); Airflow 2.11, 3.0 and 3.1 build
the form only from those two hook classmethods. Below 3.2, :data:`BaseHook` is therefore a thin
subclass of Airflow's that gives each hook with a ``conn_type`` these two methods, derived from
the provider info: one source of truth for every Airflow line.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING, Any

from airflow import __version__ as _airflow_version
from packaging.version import Version

if TYPE_CHECKING:
    from airflow.sdk import Connection

__all__ = [
    "AIRFLOW_VERSION",
    "AIRFLOW_V_3_0_PLUS",
    "AIRFLOW_V_3_2_PLUS",
    "BaseHook",
    "get_async_connection",
    "mask_secret",
]

#: The installed Airflow's version, without pre-release or local parts.
AIRFLOW_VERSION = Version(Version(_airflow_version).base_version)
#: Whether the installed Airflow is 3.0 or newer.
AIRFLOW_V_3_0_PLUS = Version("3.0.0") <= AIRFLOW_VERSION
#: Whether the installed Airflow reads the connection form from the provider info (3.2+).
AIRFLOW_V_3_2_PLUS = Version("3.2.0") <= AIRFLOW_VERSION


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
    becomes an integer field with its bounds, a ``boolean`` one a check box, a ``password`` format a
    password field (hidden like the connection's password), and anything else (numbers too) a text
    field that the hook parses.
    """
    from flask_appbuilder.fieldwidgets import BS3PasswordFieldWidget, BS3TextFieldWidget
    from flask_babel import lazy_gettext
    from wtforms import BooleanField, IntegerField, PasswordField, StringField
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
        elif schema.get("format") == "password":
            widgets[name] = PasswordField(label, description=description, widget=BS3PasswordFieldWidget())
        else:
            widgets[name] = StringField(label, description=description, widget=BS3TextFieldWidget())
    return widgets


if TYPE_CHECKING:
    from airflow.sdk import BaseHook
else:
    from airflow.providers.common.compat.sdk import BaseHook as _AirflowBaseHook

    BaseHook = _AirflowBaseHook if AIRFLOW_V_3_2_PLUS else _hook_base(_AirflowBaseHook)


#: Where Airflow keeps ``mask_secret``, newest first: the places common-compat 1.23 looks.
MASK_SECRET_MODULES = (
    "airflow.sdk.log",
    "airflow.sdk.execution_time.secrets_masker",
    "airflow.utils.log.secrets_masker",
)


def find_mask_secret(compat_sdk: ModuleType | Any) -> Callable[..., None]:
    """``compat_sdk.mask_secret`` (common-compat 1.23+), else the installed Airflow's own.

    :param compat_sdk: ``airflow.providers.common.compat.sdk`` (a parameter so tests can hand in
        one without the name, as common-compat 1.20, the newest on Python 3.10, is).
    """
    try:
        return compat_sdk.mask_secret
    except AttributeError:
        pass
    for module_name in MASK_SECRET_MODULES:
        try:
            return importlib.import_module(module_name).mask_secret
        except (ImportError, AttributeError):
            continue
    raise ImportError(f"no mask_secret in common-compat's sdk nor in any of {', '.join(MASK_SECRET_MODULES)}")


@functools.cache
def _mask_secret() -> Callable[..., None]:
    from airflow.providers.common.compat import sdk

    return find_mask_secret(sdk)


def mask_secret(secret: Any, name: str | None = None) -> None:
    """Have Airflow mask ``secret`` in every log and rendered field (its ``mask_secret``).

    Looked up at the first call, not at import: importing an operator stays cheap.
    """
    _mask_secret()(secret, name)


async def get_async_connection(conn_id: str) -> Connection:
    """The connection ``conn_id``, looked up from a coroutine (a trigger's ``run``).

    Below Airflow 3.3.2, ``BaseHook.aget_connection`` (3.1+) masks the connection's secrets with a
    synchronous call to the task supervisor, which fails (``DeadlockImminentError``) while another
    coroutine of the triggerer's loop waits on it; there, as on Airflow 2.11 and 3.0, which have no
    ``aget_connection``, the synchronous lookup runs in a worker thread. From 3.3.2 on
    (``Connection.aextra_dejson`` marks it) common-compat's ``get_async_connection`` is used.
    common-compat 1.23 does the same, but older releases (the newest on Python 3.10 is 1.20) call
    ``aget_connection`` on every Airflow that has it.
    """
    from airflow.providers.common.compat.sdk import BaseHook
    from airflow.providers.common.compat.sdk import Connection as _Connection

    if hasattr(_Connection, "aextra_dejson"):
        from airflow.providers.common.compat.connection import (
            get_async_connection as _compat_get_async_connection,
        )

        return await _compat_get_async_connection(conn_id)
    from asgiref.sync import sync_to_async

    return await sync_to_async(BaseHook.get_connection)(conn_id)
