"""Wait for one participant to complete a course."""

from __future__ import annotations

from typing import Any

from airflow_provider_learnifier.completion import (
    IdLike,
    NeverCompletingAction,
    ParticipantCompletionCheck,
    check_participant_naming,
    never_completing_action,
    share_threshold,
)
from airflow_provider_learnifier.sensors.base import LearnifierCompletionSensor


class LearnifierParticipantCompletedSensor(LearnifierCompletionSensor):
    """Wait until one participant has completed a Learnifier course (project).

    The participant is done when ``activitiesCompleted >= activitiesTotal`` (and the course has
    activities), or when the completed share reaches ``min_share``. Name the participant either by
    ``participation_external_id`` alone, or by ``participant_id`` with its project given by
    ``org_id`` and ``project_id`` or by ``project_external_id``.

    Waits in ``mode="poke"`` or ``"reschedule"``, or in the triggerer with ``deferrable=True``
    (see :class:`~airflow_provider_learnifier.triggers.base.LearnifierCompletionTrigger`).
    Returns (as XCom) the participant's progress: ``participant_id``, ``project_id``,
    ``activities_completed``, ``activities_total``, ``share``, ``completed``, ... When ``timeout``
    passes first, the task fails with the progress reached.

    A participant who has not completed and never will (the participation is in error, so the user
    cannot access the course, or is past its ``expiration``; or the participant is gone: no longer
    in the project, or a participation external id Learnifier no longer knows) ends the wait at
    once, in every mode, instead of waiting until ``timeout``: by default the task fails with
    :class:`~airflow_provider_learnifier.exceptions.LearnifierNeverCompletesError` and the reason
    (:class:`~airflow_provider_learnifier.exceptions.LearnifierNotFoundError` for one who is
    gone); with ``on_never_completing="succeed"`` it succeeds, with a warning, ``completed``
    false and the reason in the XCom value's ``never_completing_reason``.

    The participant's data is the whole answer: activity counts that are no numbers fail the task
    with :class:`~airflow_provider_learnifier.exceptions.LearnifierParticipantDataError` naming the
    participant, the field and the value.

    :param participant_id: the participant's id, with the project. Templated.
    :param org_id: the project's organization unit, with ``project_id``. Templated.
    :param project_id: the project's id, with ``org_id``. Templated.
    :param project_external_id: the project's external id, instead of ``org_id`` and
        ``project_id``. Templated.
    :param participation_external_id: the participation's external id, instead of all the above.
        Templated.
    :param min_share: the share of the activities that counts as completed, above 0 and at most 1
        (default 1.0: all of them). Templated.
    :param on_never_completing: what a participant who can never complete does to the task:
        ``"fail"`` (default) or ``"succeed"`` (the wait is over: there is nothing left to wait
        for). The project sensor's counterpart is ``count_never_completing``.
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
        on_never_completing: NeverCompletingAction = "fail",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.on_never_completing = never_completing_action(on_never_completing)
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

    def make_check(self) -> ParticipantCompletionCheck:
        return ParticipantCompletionCheck(
            **self.given_names(),
            min_share=self.min_share,
            on_never_completing=self.on_never_completing,
        )
