"""Wait for a share of a project's participants to complete the course, in the triggerer."""

from __future__ import annotations

from typing import Any

from airflow_provider_learnifier.completion import IdLike, ProjectCompletionCheck, check_project_naming
from airflow_provider_learnifier.triggers.base import LearnifierCompletionTrigger

# Re-exported: the check and the naming rule live in :mod:`airflow_provider_learnifier.completion`.
__all__ = ["LearnifierProjectCompletionTrigger", "ProjectCompletionCheck", "check_project_naming"]


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
        count_never_completing: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.count_never_completing = count_never_completing
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
            "count_never_completing": self.count_never_completing,
        }

    def make_check(self) -> ProjectCompletionCheck:
        return ProjectCompletionCheck(**self.check_kwargs())
