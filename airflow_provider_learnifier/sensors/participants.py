"""Wait for one participant to complete a course."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_learnifier.completion import (
    IdLike,
    ParticipantCompletionCheck,
    check_participant_naming,
    share_threshold,
)
from airflow_provider_learnifier.sensors.base import LearnifierCompletionSensor

if TYPE_CHECKING:
    from airflow_provider_learnifier.triggers.participants import LearnifierParticipantCompletedTrigger


class LearnifierParticipantCompletedSensor(LearnifierCompletionSensor):
    """Wait until one participant has completed a Learnifier course (project).

    The participant is done when ``activitiesCompleted >= activitiesTotal`` (and the course has
    activities), or when the completed share reaches ``min_share``. Name the participant either by
    ``participation_external_id`` alone, or by ``participant_id`` with its project given by
    ``org_id`` and ``project_id`` or by ``project_external_id``.

    Waits in ``mode="poke"`` or ``"reschedule"``, or in the triggerer with ``deferrable=True``
    (see :class:`~airflow_provider_learnifier.triggers.participants.LearnifierParticipantCompletedTrigger`).
    Returns (as XCom) the participant's progress: ``participant_id``, ``project_id``,
    ``activities_completed``, ``activities_total``, ``share``, ``completed``, ... When ``timeout``
    passes first, the task fails with the progress reached.

    A participant who has not completed and never will (the participation is in error, so the user
    cannot access the course, or is past its ``expiration``) fails the task at once, in every
    mode, with :class:`~airflow_provider_learnifier.exceptions.LearnifierNeverCompletesError` and
    the reason, instead of waiting until ``timeout``.

    :param participant_id: the participant's id, with the project. Templated.
    :param org_id: the project's organization unit, with ``project_id``. Templated.
    :param project_id: the project's id, with ``org_id``. Templated.
    :param project_external_id: the project's external id, instead of ``org_id`` and
        ``project_id``. Templated.
    :param participation_external_id: the participation's external id, instead of all the above.
        Templated.
    :param min_share: the share of the activities that counts as completed, above 0 and at most 1
        (default 1.0: all of them). Templated.
    :param learnifier_conn_id: the Airflow connection to Learnifier. Templated.
    :param deferrable: wait in the triggerer; defaults to ``[operators] default_deferrable``.
    """

    template_fields = (
        "learnifier_conn_id",
        "poll_interval",
        "participant_id",
        "org_id",
        "project_id",
        "project_external_id",
        "participation_external_id",
        "min_share",
    )

    def __init__(
        self,
        *,
        participant_id: IdLike | None = None,
        org_id: IdLike | None = None,
        project_id: IdLike | None = None,
        project_external_id: str | None = None,
        participation_external_id: str | None = None,
        min_share: float | str = 1.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        check_participant_naming(
            participant_id=participant_id,
            org_id=org_id,
            project_id=project_id,
            project_external_id=project_external_id,
            participation_external_id=participation_external_id,
        )
        if not isinstance(min_share, str):
            share_threshold("min_share", min_share)
        self.participant_id = participant_id
        self.org_id = org_id
        self.project_id = project_id
        self.project_external_id = project_external_id
        self.participation_external_id = participation_external_id
        self.min_share = min_share

    name_fields = (
        "participant_id",
        "org_id",
        "project_id",
        "project_external_id",
        "participation_external_id",
    )

    def _names(self) -> dict[str, Any]:
        return {**self.given_names(), "min_share": share_threshold("min_share", self.min_share)}

    def make_check(self) -> ParticipantCompletionCheck:
        return ParticipantCompletionCheck(**self._names())

    def make_trigger(self, end_time: float) -> LearnifierParticipantCompletedTrigger:
        from airflow_provider_learnifier.triggers.participants import LearnifierParticipantCompletedTrigger

        return LearnifierParticipantCompletedTrigger(
            **self._names(),
            learnifier_conn_id=self.learnifier_conn_id,
            poll_interval=self.poke_interval,
            end_time=end_time,
        )
