"""Wait for one participant to complete a course, in the triggerer."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_learnifier.exceptions import LearnifierNotFoundError
from airflow_provider_learnifier.progress import completion_share, is_completed
from airflow_provider_learnifier.triggers.base import (
    CompletionCheck,
    CompletionStatus,
    LearnifierCompletionTrigger,
    share_threshold,
)

if TYPE_CHECKING:
    from airflow_provider_learnifier.hooks.learnifier import JsonObject, LearnifierHook

IdLike = str | int


def check_participant_naming(
    *,
    participant_id: IdLike | None,
    org_id: IdLike | None,
    project_id: IdLike | None,
    project_external_id: str | None,
    participation_external_id: str | None,
) -> None:
    """Check that exactly one way of naming the participant is given.

    Either ``participation_external_id`` alone, or ``participant_id`` with its project given by
    ``org_id`` and ``project_id`` or by ``project_external_id``.

    :raises ValueError: otherwise.
    """
    by_project_ids = org_id is not None and project_id is not None and project_external_id is None
    by_project_external_id = org_id is None and project_id is None and project_external_id is not None
    if participation_external_id is not None:
        if participant_id is None and org_id is None and project_id is None and project_external_id is None:
            return
    elif participant_id is not None and (by_project_ids or by_project_external_id):
        return
    raise ValueError(
        "name the participant either by participation_external_id alone, or by participant_id with "
        "its project given by org_id and project_id, or by project_external_id"
    )


class ParticipantCompletionCheck(CompletionCheck):
    """Has one participant completed (at least ``min_share`` of) the course's activities?

    Name the participant by ``participation_external_id`` (``GET /extparticipation``), or by
    ``participant_id`` in a project named by ``org_id`` and ``project_id`` or by
    ``project_external_id`` (the project's participants list). See
    :func:`~airflow_provider_learnifier.progress.is_completed` for when a participant counts as
    completed.

    :param min_share: the share of the activities that counts as completed, above 0 and at most 1.
    :raises ValueError: for a wrong combination of names or a threshold out of range.
    """

    def __init__(
        self,
        *,
        participant_id: IdLike | None = None,
        org_id: IdLike | None = None,
        project_id: IdLike | None = None,
        project_external_id: str | None = None,
        participation_external_id: str | None = None,
        min_share: float = 1.0,
    ) -> None:
        check_participant_naming(
            participant_id=participant_id,
            org_id=org_id,
            project_id=project_id,
            project_external_id=project_external_id,
            participation_external_id=participation_external_id,
        )
        self.participant_id = participant_id
        self.org_id = org_id
        self.project_id = project_id
        self.project_external_id = project_external_id
        self.participation_external_id = participation_external_id
        self.min_share = share_threshold("min_share", min_share)

    def describe(self) -> str:
        if self.participation_external_id is not None:
            return f"participation {self.participation_external_id!r}"
        if self.project_external_id is not None:
            return f"participant {self.participant_id} of project {self.project_external_id!r}"
        project = f"project {self.project_id} (organization unit {self.org_id})"
        return f"participant {self.participant_id} of {project}"

    def __call__(self, hook: LearnifierHook) -> CompletionStatus:
        participant = self._fetch(hook)
        share = completion_share(participant)
        completed = is_completed(participant, self.min_share)
        progress = {
            "participant_id": participant.get("id", self.participant_id),
            "project_id": participant.get("projectId", self.project_id),
            "org_id": self.org_id,
            "project_external_id": self.project_external_id,
            "participation_external_id": self.participation_external_id,
            "user_id": participant.get("userId"),
            "activated": bool(participant.get("activated")),
            "in_error": bool(participant.get("inError")),
            "activities_completed": participant.get("activitiesCompleted") or 0,
            "activities_total": participant.get("activitiesTotal") or 0,
            "share": share,
            "min_share": self.min_share,
            "completed": completed,
        }
        message = (
            f"{progress['activities_completed']} of {progress['activities_total']} activities completed "
            f"({share:.0%}); {self._needed()}"
        )
        if progress["in_error"]:
            message += (
                f"; the participation is in error: {participant.get('errorMessage') or 'no reason given'}"
            )
        return CompletionStatus(done=completed, message=message, progress=progress)

    def _needed(self) -> str:
        return "needs all of them" if self.min_share >= 1 else f"needs {self.min_share:.0%}"

    def _fetch(self, hook: LearnifierHook) -> JsonObject:
        if self.participation_external_id is not None:
            return hook.get_participation_by_external_id(self.participation_external_id)
        if self.org_id is None or self.project_id is None:
            project = hook.resolve_project(external_id=self.project_external_id)
            self.org_id, self.project_id = project["orgId"], project["id"]
        for participant in hook.list_participants(self.org_id, self.project_id):
            if str(participant.get("id")) == str(self.participant_id):
                return participant
        raise LearnifierNotFoundError(
            f"Learnifier project {self.project_id} (organization unit {self.org_id}) has no participant "
            f"{self.participant_id}",
            operation="list_participants",
            method="GET",
        )


class LearnifierParticipantCompletedTrigger(LearnifierCompletionTrigger):
    """Fire when one participant has completed a course, polling Learnifier without blocking.

    Takes the participant's names and ``min_share`` of :class:`ParticipantCompletionCheck`, and
    ``learnifier_conn_id``, ``poll_interval`` and ``end_time`` of
    :class:`~airflow_provider_learnifier.triggers.base.LearnifierCompletionTrigger`.
    """

    def __init__(
        self,
        *,
        participant_id: IdLike | None = None,
        org_id: IdLike | None = None,
        project_id: IdLike | None = None,
        project_external_id: str | None = None,
        participation_external_id: str | None = None,
        min_share: float = 1.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.participant_id = participant_id
        self.org_id = org_id
        self.project_id = project_id
        self.project_external_id = project_external_id
        self.participation_external_id = participation_external_id
        self.min_share = min_share
        self.make_check()  # fail at construction, not in the triggerer, for wrong arguments

    def check_kwargs(self) -> dict[str, Any]:
        return {
            "participant_id": self.participant_id,
            "org_id": self.org_id,
            "project_id": self.project_id,
            "project_external_id": self.project_external_id,
            "participation_external_id": self.participation_external_id,
            "min_share": self.min_share,
        }

    def make_check(self) -> ParticipantCompletionCheck:
        return ParticipantCompletionCheck(**self.check_kwargs())
