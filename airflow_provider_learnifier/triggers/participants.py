"""Wait for one participant to complete a course, in the triggerer."""

from __future__ import annotations

from airflow_provider_learnifier.completion import ParticipantCompletionCheck, check_participant_naming
from airflow_provider_learnifier.triggers.base import LearnifierCompletionTrigger

# Re-exported: the check and the naming rule live in :mod:`airflow_provider_learnifier.completion`.
__all__ = ["LearnifierParticipantCompletedTrigger", "ParticipantCompletionCheck", "check_participant_naming"]


class LearnifierParticipantCompletedTrigger(LearnifierCompletionTrigger):
    """Fire when one participant has completed a course, polling Learnifier without blocking.

    :class:`~airflow_provider_learnifier.triggers.base.LearnifierCompletionTrigger` for a
    :class:`ParticipantCompletionCheck`, made from that check's keyword arguments (the
    participant's names, ``min_share`` and ``on_never_completing``); also takes
    ``learnifier_conn_id``, ``poll_interval`` and ``end_time``. The participant sensor defers to
    the generic trigger; this class also resumes waits deferred by earlier versions of the
    provider, which serialized it with the check's arguments.
    """

    check_class = ParticipantCompletionCheck
