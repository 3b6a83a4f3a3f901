"""Rules for arguments and connection extras that the hook, operators, sensors and triggers share.

Written once here: the default connection id, and what a number of seconds (a poll interval, a
request deadline) may be. Rules for ids live in :mod:`airflow_provider_learnifier.ids`. Importing
this module is cheap (the standard library only): operators import it when a DAG file is parsed.
"""

from __future__ import annotations

import math
from typing import Any

#: The Airflow connection every hook, operator, sensor and trigger uses unless told otherwise
#: (``LearnifierHook.default_conn_name``); see ``docs/connection.md``.
DEFAULT_CONN_ID = "learnifier_default"


def positive_number(value: Any) -> float | None:
    """``value`` as a positive, finite number, or ``None`` when it is not one.

    A number or its text (a rendered template, a connection extra) counts; a boolean, ``NaN``,
    an infinity, zero and anything negative do not.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        number = float(value)
    except (ValueError, OverflowError):
        return None
    return number if number > 0 and math.isfinite(number) else None


def positive_seconds(name: str, value: Any, *, text: bool = True) -> float:
    """Read a number of seconds that must be positive and finite (see :func:`positive_number`).

    :param name: the argument or extra, as the error names it (``"poll_interval"``,
        ``"extra 'request_deadline'"``).
    :param text: whether the number may come as text: yes for templated arguments and connection
        extras, no for a trigger's arguments (which are never rendered).
    :raises ValueError: ``"<name> must be a positive number of seconds, not <value>"``.
    """
    seconds = None if isinstance(value, str) and not text else positive_number(value)
    if seconds is None:
        raise ValueError(f"{name} must be a positive number of seconds, not {value!r}")
    return seconds
