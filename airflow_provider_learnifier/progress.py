"""Participant and project progress, computed one way for sensors, triggers and reports."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any


def completion_share(participant: Mapping[str, Any]) -> float:
    """Share of a participant's activities completed, from 0.0 to 1.0 (0.0 when there are none)."""
    total = participant.get("activitiesTotal") or 0
    completed = participant.get("activitiesCompleted") or 0
    if total <= 0:
        return 0.0
    return min(1.0, max(0.0, completed / total))


def is_completed(participant: Mapping[str, Any], min_share: float = 1.0) -> bool:
    """Tell whether a participant completed at least ``min_share`` of the activities.

    With the default, that is ``activitiesCompleted >= activitiesTotal`` (and some activities).
    """
    total = participant.get("activitiesTotal") or 0
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
