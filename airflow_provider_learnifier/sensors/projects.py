"""Wait for a share of a project's participants to complete the course."""

from __future__ import annotations

from typing import Any

from airflow_provider_learnifier.completion import (
    IdLike,
    ProjectCompletionCheck,
    check_project_naming,
    share_threshold,
)
from airflow_provider_learnifier.sensors.base import LearnifierCompletionSensor


class LearnifierProjectCompletionSensor(LearnifierCompletionSensor):
    """Wait until a share of a Learnifier project's activated participants has completed the course.

    The project is done when it has activated participants and at least ``min_completed_share``
    of them completed, each with at least ``min_share`` of the activities done. A project without
    activated participants is not done. Name the project by ``org_id`` and ``project_id``, or by
    ``project_external_id``.

    Waits in ``mode="poke"`` or ``"reschedule"``, or in the triggerer with ``deferrable=True``
    (see :class:`~airflow_provider_learnifier.triggers.base.LearnifierCompletionTrigger`).
    Returns (as XCom) the project's progress: ``org_id``, ``project_id``, ``participants``,
    ``activated``, ``completed``, ``share``, ``done``, ... When ``timeout`` passes first, the task
    fails with the progress reached, e.g. "7 of 10 activated participant(s) completed (70%)".

    One participant's bad data never fails the wait: an activated participant whose activity
    counts are no numbers counts as not completed (``unreadable`` in the XCom value, in the
    share's denominator), and each check logs a warning naming the participant, the field and
    the value.

    :param org_id: the project's organization unit, with ``project_id``. Templated.
    :param project_id: the project's id, with ``org_id``. Templated.
    :param project_external_id: the project's external id, instead of ``org_id`` and
        ``project_id``. Templated.
    :param min_completed_share: the share of activated participants that must have completed,
        above 0 and at most 1 (default 1.0: all of them). Templated.
    :param min_share: the share of a participant's activities that counts as completed, above 0 and
        at most 1 (default 1.0: all of them). Templated.
    :param count_never_completing: whether activated participants who can never complete (the
        participation is in error or past its ``expiration``) count in the share's denominator.
        ``True`` (default): they do, so ``min_completed_share=1.0`` cannot be reached while one
        of them is there (the progress and the timeout message say how many there are);
        ``False``: the share is of the participants who still can complete.
    :param learnifier_conn_id: the Airflow connection to Learnifier. Templated.
    :param deferrable: wait in the triggerer; defaults to ``[operators] default_deferrable``.
    """

    template_fields = (
        "learnifier_conn_id",
        "poll_interval",
        "org_id",
        "project_id",
        "project_external_id",
        "min_completed_share",
        "min_share",
    )

    def __init__(
        self,
        *,
        org_id: IdLike | None = None,
        project_id: IdLike | None = None,
        project_external_id: str | None = None,
        min_completed_share: float | str = 1.0,
        min_share: float | str = 1.0,
        count_never_completing: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not isinstance(count_never_completing, bool):
            raise ValueError(f"count_never_completing must be True or False, not {count_never_completing!r}")
        self.count_never_completing = count_never_completing
        check_project_naming(org_id=org_id, project_id=project_id, project_external_id=project_external_id)
        for name, value in (("min_completed_share", min_completed_share), ("min_share", min_share)):
            if not isinstance(value, str):
                share_threshold(name, value)
        self.org_id = org_id
        self.project_id = project_id
        self.project_external_id = project_external_id
        self.min_completed_share = min_completed_share
        self.min_share = min_share

    name_fields = ("org_id", "project_id", "project_external_id")

    def make_check(self) -> ProjectCompletionCheck:
        return ProjectCompletionCheck(
            **self.given_names(),
            min_completed_share=self.min_completed_share,
            min_share=self.min_share,
            count_never_completing=self.count_never_completing,
        )
