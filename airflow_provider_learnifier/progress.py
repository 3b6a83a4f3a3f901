"""Participant and project progress, computed one way for sensors, triggers and reports."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any


def activity_count(participant: Mapping[str, Any], field: str) -> int | float:
    """Read an activity count (``activitiesCompleted`` or ``activitiesTotal``) of a participant.

    A number or a numeric string (the spec's own example sends ``"3"``) is read as a number,
    whole numbers as ``int``; an absent, ``null`` or empty count is 0.

    :raises LearnifierResponseError: for anything else (``"three"``, ``true``, ``NaN``), naming the
        participant, the field and the value.
    """
    value = participant.get(field)
    if value is None or (isinstance(value, str) and not value.strip()):
        return 0
    number: int | float | None = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str):
        text = value.strip()
        try:
            number = int(text)
        except ValueError:
            try:
                number = float(text)
            except ValueError:
                number = None
    if number is None or not math.isfinite(number):
        from airflow_provider_learnifier.exceptions import LearnifierResponseError

        raise LearnifierResponseError(
            f"Learnifier sent participant {participant.get('id')} (project {participant.get('projectId')}) "
            f"with {field} {value!r}, which is not a number"
        )
    return int(number) if isinstance(number, float) and number.is_integer() else number


def completion_share(participant: Mapping[str, Any]) -> float:
    """Share of a participant's activities completed, from 0.0 to 1.0 (0.0 when there are none).

    :raises LearnifierResponseError: for a count that is not a number (see :func:`activity_count`).
    """
    total = activity_count(participant, "activitiesTotal")
    completed = activity_count(participant, "activitiesCompleted")
    if total <= 0:
        return 0.0
    return min(1.0, max(0.0, completed / total))


def is_completed(participant: Mapping[str, Any], min_share: float = 1.0) -> bool:
    """Tell whether a participant completed at least ``min_share`` of the activities.

    With the default, that is ``activitiesCompleted >= activitiesTotal`` (and some activities).

    :raises LearnifierResponseError: for a count that is not a number (see :func:`activity_count`).
    """
    total = activity_count(participant, "activitiesTotal")
    if total <= 0:
        return False
    return completion_share(participant) >= min_share


@dataclass(frozen=True)
class ProjectProgress:
    """Progress of one project's activated participants.

    :param participants: all participants of the project.
    :param activated: the activated ones: the population that progress is measured on.
    :param completed: activated participants who completed (see :func:`is_completed`).
    """

    participants: int
    activated: int
    completed: int

    @property
    def share(self) -> float:
        """Completed share of the activated participants (0.0 when none are activated)."""
        return self.completed / self.activated if self.activated else 0.0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serializable summary, e.g. for XCom or a trigger event."""
        return {**asdict(self), "share": self.share}

    def __str__(self) -> str:
        return f"{self.completed} of {self.activated} activated participant(s) completed ({self.share:.0%})"


def project_progress(participants: Iterable[Mapping[str, Any]], min_share: float = 1.0) -> ProjectProgress:
    """Summarise a project's participants: how many are activated and how many of those completed."""
    total = activated = completed = 0
    for participant in participants:
        total += 1
        if participant.get("activated"):
            activated += 1
            completed += is_completed(participant, min_share)
    return ProjectProgress(participants=total, activated=activated, completed=completed)
