"""Wait for a share of a project's participants to complete the course, in the triggerer."""

from __future__ import annotations

from airflow_provider_learnifier.completion import ProjectCompletionCheck, check_project_naming
from airflow_provider_learnifier.triggers.base import LearnifierCompletionTrigger

# Re-exported: the check and the naming rule live in :mod:`airflow_provider_learnifier.completion`.
__all__ = ["LearnifierProjectCompletionTrigger", "ProjectCompletionCheck", "check_project_naming"]


class LearnifierProjectCompletionTrigger(LearnifierCompletionTrigger):
    """Fire when a share of a project's activated participants has completed, polling without blocking.

    :class:`~airflow_provider_learnifier.triggers.base.LearnifierCompletionTrigger` for a
    :class:`ProjectCompletionCheck`, made from that check's keyword arguments (the project's names
    and thresholds); also takes ``learnifier_conn_id``, ``poll_interval`` and ``end_time``. The
    project sensor defers to the generic trigger; this class also resumes waits deferred by
    earlier versions of the provider, which serialized it with the check's arguments.
    """

    check_class = ProjectCompletionCheck
