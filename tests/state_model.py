"""An independent model of the participant states, written from the guide, for tests to check against.

It reads a participation as Learnifier sent it (API names, ISO 8601 text with ``Z``) and says which
states it is in; it shares no code with ``airflow_provider_learnifier.participant_states``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any


def _when(participation: Mapping[str, Any], name: str) -> datetime | None:
    value = participation.get(name)
    if value in (None, ""):
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def _count(participation: Mapping[str, Any], name: str) -> float:
    value = participation.get(name)
    return 0 if value in (None, "") else float(value)


def model_states(
    participation: Mapping[str, Any],
    as_of: datetime,
    days: Mapping[str, float],
    due: datetime | None = None,
) -> set[str]:
    """The states a participation is in at ``as_of``.

    :param days: the states looked for, each with its ``days`` (ignored where a state takes none).
    :param due: the course's due date.
    """
    first_activation = _when(participation, "firstActivation")
    last_activation = _when(participation, "lastActivation")
    first_access = _when(participation, "firstAccess")
    last_access = _when(participation, "lastAccess")
    expiration = _when(participation, "expiration")
    activated = participation.get("activated")
    if activated is None:
        # The spec: accessLink is null while the participation is not activated.
        link = participation.get("accessLink")
        activated = first_activation is not None or last_activation is not None or bool(link)
    in_error = participation.get("inError") is True
    total = _count(participation, "activitiesTotal")
    completed = total > 0 and _count(participation, "activitiesCompleted") >= total
    expired = expiration is not None and expiration <= as_of
    usable = activated and not in_error and not expired

    states = set()
    if "completed" in days and completed:
        states.add("completed")
    if "in_error" in days and in_error:
        states.add("in_error")
    if completed:
        return states
    if "overdue" in days and activated and due is not None and as_of >= due:
        states.add("overdue")
    if not usable:
        return states
    activation = first_activation or last_activation
    never_accessed = first_access is None and last_access is None
    if (
        "not_started" in days
        and never_accessed
        and activation is not None
        and activation + timedelta(days=days["not_started"]) <= as_of
    ):
        states.add("not_started")
    latest = last_access or first_access
    if "stalled" in days and latest is not None and latest + timedelta(days=days["stalled"]) <= as_of:
        states.add("stalled")
    if (
        "expiring" in days
        and expiration is not None
        and as_of < expiration
        and expiration - timedelta(days=days["expiring"]) <= as_of
    ):
        states.add("expiring")
    return states
