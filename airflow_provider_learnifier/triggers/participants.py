"""Wait for one participant to complete a course, in the triggerer."""

from __future__ import annotations

from typing import Any

from airflow_provider_learnifier.completion import (
    IdLike,
    NeverCompletingAction,
    ParticipantCompletionCheck,
    check_participant_naming,
)
from airflow_provider_learnifier.triggers.base import LearnifierCompletionTrigger

# Re-exported: the check and the naming rule live in :mod:`airflow_provider_learnifier.completion`.
__all__ = ["LearnifierParticipantCompletedTrigger", "ParticipantCompletionCheck", "check_participant_naming"]


class LearnifierParticipantCompletedTrigger(LearnifierCompletionTrigger):
    """Fire when one participant has completed a course, polling Learnifier without blocking.

    Takes the participant's names, ``min_share`` and ``on_never_completing`` of
    :class:`ParticipantCompletionCheck`, and
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
        on_never_completing: NeverCompletingAction = "fail",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.participant_id = participant_id
        self.org_id = org_id
        self.project_id = project_id
        self.project_external_id = project_external_id
        self.participation_external_id = participation_external_id
        self.min_share = min_share
        self.on_never_completing = on_never_completing
        self.make_check()  # fail at construction, not in the triggerer, for wrong arguments

    def check_kwargs(self) -> dict[str, Any]:
        return {
            "participant_id": self.participant_id,
            "org_id": self.org_id,
            "project_id": self.project_id,
            "project_external_id": self.project_external_id,
            "participation_external_id": self.participation_external_id,
            "min_share": self.min_share,
            "on_never_completing": self.on_never_completing,
        }

    def make_check(self) -> ParticipantCompletionCheck:
        return ParticipantCompletionCheck(**self.check_kwargs())
