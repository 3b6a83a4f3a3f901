"""Wait for a share of a project's participants to complete the course, in the triggerer."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_learnifier.progress import project_progress
from airflow_provider_learnifier.triggers.base import (
    CompletionCheck,
    CompletionStatus,
    LearnifierCompletionTrigger,
    share_threshold,
)

if TYPE_CHECKING:
    from airflow_provider_learnifier.hooks.learnifier import LearnifierHook

IdLike = str | int


def check_project_naming(
    *, org_id: IdLike | None, project_id: IdLike | None, project_external_id: str | None
) -> None:
    """Check that the project is named by ``org_id`` and ``project_id``, or by ``project_external_id`` alone.

    :raises ValueError: otherwise.
    """
    if project_external_id is not None and org_id is None and project_id is None:
        return
    if project_external_id is None and org_id is not None and project_id is not None:
        return
    raise ValueError("name the project either by org_id and project_id, or by project_external_id alone")


class ProjectCompletionCheck(CompletionCheck):
    """Has a share of a project's activated participants completed the course?

    The project is done when it has activated participants and at least ``min_completed_share``
    of them completed; each participant counts as completed with ``min_share`` of the activities
    done (see :func:`~airflow_provider_learnifier.progress.project_progress`). A project without
    activated participants is never done: there is nobody to wait for yet.

    :param org_id: the project's organization unit, with ``project_id``.
    :param project_id: the project's id, with ``org_id``.
    :param project_external_id: the project's external id, instead of ``org_id`` and ``project_id``.
    :param min_completed_share: the share of activated participants that must have completed.
    :param min_share: the share of a participant's activities that counts as completed.
    :raises ValueError: for a wrong combination of names or a threshold out of range.
    """

    def __init__(
        self,
        *,
        org_id: IdLike | None = None,
        project_id: IdLike | None = None,
        project_external_id: str | None = None,
        min_completed_share: float = 1.0,
        min_share: float = 1.0,
    ) -> None:
        check_project_naming(org_id=org_id, project_id=project_id, project_external_id=project_external_id)
        self.org_id = org_id
        self.project_id = project_id
        self.project_external_id = project_external_id
        self.min_completed_share = share_threshold("min_completed_share", min_completed_share)
        self.min_share = share_threshold("min_share", min_share)

    def describe(self) -> str:
        if self.project_external_id is not None:
            return f"project {self.project_external_id!r}"
        return f"project {self.project_id} (organization unit {self.org_id})"

    def __call__(self, hook: LearnifierHook) -> CompletionStatus:
        if self.org_id is None or self.project_id is None:
            project = hook.resolve_project(external_id=self.project_external_id)
            self.org_id, self.project_id = project["orgId"], project["id"]
        progress = project_progress(hook.list_participants(self.org_id, self.project_id), self.min_share)
        done = progress.activated > 0 and progress.share >= self.min_completed_share
        needed = (
            "needs all of them" if self.min_completed_share >= 1 else f"needs {self.min_completed_share:.0%}"
        )
        if self.min_share < 1:
            needed += f", each with {self.min_share:.0%} of the activities"
        message = f"{progress}; {needed}"
        if progress.activated == 0:
            message += " (no activated participants yet)"
        return CompletionStatus(
            done=done,
            message=message,
            progress={
                "org_id": self.org_id,
                "project_id": self.project_id,
                "project_external_id": self.project_external_id,
                **progress.to_dict(),
                "min_completed_share": self.min_completed_share,
                "min_share": self.min_share,
                "done": done,
            },
        )


class LearnifierProjectCompletionTrigger(LearnifierCompletionTrigger):
    """Fire when a share of a project's activated participants has completed, polling without blocking.

    Takes the project's names and thresholds of :class:`ProjectCompletionCheck`, and
    ``learnifier_conn_id``, ``poll_interval`` and ``end_time`` of
    :class:`~airflow_provider_learnifier.triggers.base.LearnifierCompletionTrigger`.
    """

    def __init__(
        self,
        *,
        org_id: IdLike | None = None,
        project_id: IdLike | None = None,
        project_external_id: str | None = None,
        min_completed_share: float = 1.0,
        min_share: float = 1.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.org_id = org_id
        self.project_id = project_id
        self.project_external_id = project_external_id
        self.min_completed_share = min_completed_share
        self.min_share = min_share
        self.make_check()  # fail at construction, not in the triggerer, for wrong arguments

    def check_kwargs(self) -> dict[str, Any]:
        return {
            "org_id": self.org_id,
            "project_id": self.project_id,
            "project_external_id": self.project_external_id,
            "min_completed_share": self.min_completed_share,
            "min_share": self.min_share,
        }

    def make_check(self) -> ProjectCompletionCheck:
        return ProjectCompletionCheck(**self.check_kwargs())
