"""Completion checks: is a wait on Learnifier over, and how far along is it?

A *completion check* (:class:`CompletionCheck`) is one look at Learnifier through the synchronous
:class:`~airflow_provider_learnifier.hooks.learnifier.LearnifierHook`. A sensor calls it in
``poke``; its trigger (:mod:`airflow_provider_learnifier.triggers`) calls the very same check in
the triggerer, so both modes decide completion the same way.

This module imports neither the hook nor Airflow's trigger machinery: the sensors import it when a
DAG file is parsed, and the triggers only when a task defers.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from airflow_provider_learnifier.exceptions import LearnifierNeverCompletesError, LearnifierNotFoundError
from airflow_provider_learnifier.progress import (
    activation_state,
    activity_count,
    completion_share,
    in_error,
    is_completed,
    never_completes,
    percent,
    project_progress,
)

if TYPE_CHECKING:
    from airflow_provider_learnifier.hooks.learnifier import JsonObject, LearnifierHook

IdLike = str | int

#: What the participant sensor does about a participant who can never complete: fail the task
#: (``"fail"``) or end the wait as done (``"succeed"``).
NeverCompletingAction = Literal["fail", "succeed"]
NEVER_COMPLETING_ACTIONS: tuple[str, ...] = ("fail", "succeed")

#: How many participants with unreadable activity counts a project check names in its warnings.
MAX_NAMED_UNREADABLE = 20

#: Event statuses a completion trigger fires with.
SUCCESS = "success"
TIMEOUT = "timeout"
ERROR = "error"


def share_threshold(name: str, value: Any) -> float:
    """Read a completion threshold: a fraction above 0 and at most 1 (a rendered template may be text).

    :raises ValueError: for anything else.
    """
    try:
        share = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a fraction between 0 (exclusive) and 1, not {value!r}") from None
    if isinstance(value, bool) or not math.isfinite(share) or not 0 < share <= 1:
        raise ValueError(f"{name} must be a fraction between 0 (exclusive) and 1, not {value!r}")
    return share


@dataclass(frozen=True)
class CompletionStatus:
    """The answer of one completion check.

    :param done: whether the wait is over.
    :param message: the progress in words, e.g. ``3 of 5 activities completed (60%); needs all of
        them``, for logs and failure messages.
    :param progress: the progress as a JSON-serializable dict (the sensor's XCom value).
    :param warnings: what the waiter should log as warnings, e.g. the participants whose data
        could not be read.
    """

    done: bool
    message: str
    progress: dict[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()


class CompletionCheck(abc.ABC):
    """One look at Learnifier, with the synchronous hook: is the wait over?

    Instances may remember what they resolved on an earlier call (a project's ids), so call one
    instance repeatedly, from one thread at a time.

    A check is the one definition of a wait: the sensor pokes it, and hands it, serialized
    (:meth:`serialize`), to the trigger that waits for it in the triggerer
    (:class:`~airflow_provider_learnifier.triggers.base.LearnifierCompletionTrigger`), which
    rebuilds it with :func:`rebuild_check`. Subclasses keep the arguments they were given, as
    JSON-serializable values, in :attr:`arguments`.
    """

    #: The keyword arguments the check was made with (as read, e.g. thresholds as floats); what it
    #: resolves later (a project's ids) is not among them.
    arguments: dict[str, Any]

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Return the check's class path and the keyword arguments that make it again."""
        cls = type(self)
        return f"{cls.__module__}.{cls.__qualname__}", dict(self.arguments)

    def __eq__(self, other: object) -> bool:
        """Two checks are the same when they are of one class, made with the same arguments."""
        if not isinstance(other, CompletionCheck):
            return NotImplemented
        return self.serialize() == other.serialize()

    __hash__ = None  # type: ignore[assignment]

    @abc.abstractmethod
    def __call__(self, hook: LearnifierHook) -> CompletionStatus:
        """Ask Learnifier and return the status.

        :raises LearnifierError: when Learnifier's answer is an error (after the hook's retries).
        """

    @abc.abstractmethod
    def describe(self) -> str:
        """Name what is waited for, e.g. ``participant 3001 of project 2001``."""

    def gone(self, hook: LearnifierHook) -> str | None:
        """Ask Learnifier whether what is waited for is gone, after a check failed with a 404.

        A 404 of a listing may be a passing failure of the server; the trigger believes it only
        when the resource itself answers 404 too, on a later poll.

        :return: why it is gone (the 404 of the resource itself), or ``None`` while it is there.
        :raises LearnifierError: when Learnifier cannot tell (after the hook's retries).
        """
        return None


def project_gone(
    hook: LearnifierHook,
    *,
    org_id: IdLike | None,
    project_id: IdLike | None,
    project_external_id: str | None,
) -> str | None:
    """Ask for the project itself: why it is gone (its own 404), or ``None`` while it is there.

    By ``org_id`` and ``project_id`` when both are known, else by ``project_external_id``.

    :raises LearnifierError: for any other failure (after the hook's retries).
    """
    try:
        if org_id is not None and project_id is not None:
            hook.get_project(org_id, project_id)
        elif project_external_id is not None:
            hook.get_project_by_external_id(project_external_id)
    except LearnifierNotFoundError as err:
        return str(err)
    return None


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

    A participant who has not completed and never will (the participation is in error or past its
    ``expiration``, see :func:`~airflow_provider_learnifier.progress.never_completes`, or is gone:
    no longer in the project's list, or unknown to ``GET /extparticipation``) ends the wait at
    once: as chosen by ``on_never_completing``. The participant's data is the whole answer, so
    activity counts that are no numbers raise
    :class:`~airflow_provider_learnifier.exceptions.LearnifierParticipantDataError`.

    :param min_share: the share of the activities that counts as completed, above 0 and at most 1
        (the text of a rendered template is read too).
    :param on_never_completing: ``"fail"`` (default): raise
        :class:`~airflow_provider_learnifier.exceptions.LearnifierNeverCompletesError` with the
        reason (:class:`~airflow_provider_learnifier.exceptions.LearnifierNotFoundError` for a
        participant who is gone); ``"succeed"``: the wait is done, with ``completed`` false and
        the reason in the progress (``never_completing_reason``) and in a warning.
    :raises ValueError: for a wrong combination of names, a threshold out of range, or another
        ``on_never_completing``.
    """

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
        self.on_never_completing = never_completing_action(on_never_completing)
        self.arguments = {
            "participant_id": participant_id,
            "org_id": org_id,
            "project_id": project_id,
            "project_external_id": project_external_id,
            "participation_external_id": participation_external_id,
            "min_share": self.min_share,
            "on_never_completing": self.on_never_completing,
        }

    def describe(self) -> str:
        if self.participation_external_id is not None:
            return f"participation {self.participation_external_id!r}"
        if self.project_external_id is not None:
            return f"participant {self.participant_id} of project {self.project_external_id!r}"
        project = f"project {self.project_id} (organization unit {self.org_id})"
        return f"participant {self.participant_id} of {project}"

    def __call__(self, hook: LearnifierHook) -> CompletionStatus:
        participant = self._fetch(hook)
        if participant is None:
            if self.participation_external_id is not None:
                gone = "Learnifier knows no participation with this external id (it was removed)"
            else:
                gone = "the participant is no longer in the project (removed)"
            return self._never_completing({}, gone, gone)
        share = completion_share(participant)
        completed = is_completed(participant, self.min_share)
        message = (
            f"{activity_count(participant, 'activitiesCompleted')} of "
            f"{activity_count(participant, 'activitiesTotal')} activities completed "
            f"({percent(share)}); {self._needed()}"
        )
        reason = None if completed else never_completes(participant)
        if reason is not None:
            return self._never_completing(participant, f"{reason} ({message})", reason)
        return CompletionStatus(
            done=completed, message=message, progress=self._progress(participant, completed=completed)
        )

    def _progress(
        self, participant: Mapping[str, Any], *, completed: bool, never_completing_reason: str | None = None
    ) -> dict[str, Any]:
        counted = bool(participant)
        return {
            "participant_id": participant.get("id", self.participant_id),
            "project_id": participant.get("projectId", self.project_id),
            "org_id": self.org_id,
            "project_external_id": self.project_external_id,
            "participation_external_id": self.participation_external_id,
            "user_id": participant.get("userId"),
            "activated": activation_state(participant) is True,
            "in_error": in_error(participant),
            "activities_completed": activity_count(participant, "activitiesCompleted") if counted else None,
            "activities_total": activity_count(participant, "activitiesTotal") if counted else None,
            "share": completion_share(participant) if counted else 0.0,
            "min_share": self.min_share,
            "completed": completed,
            "never_completing": never_completing_reason is not None,
            "never_completing_reason": never_completing_reason,
        }

    def _never_completing(
        self, participant: Mapping[str, Any], details: str, reason: str
    ) -> CompletionStatus:
        """Fail, or end the wait as done, for a participant who can never complete."""
        message = f"Learnifier {self.describe()} can never complete: {details}"
        if self.on_never_completing == "fail":
            raise LearnifierNeverCompletesError(message, operation="completion check")
        return CompletionStatus(
            done=True,
            message=f"can never complete: {details}",
            progress=self._progress(participant, completed=False, never_completing_reason=reason),
            warnings=(f"{message}; the wait ends as done, as on_never_completing='succeed' asks",),
        )

    def _needed(self) -> str:
        return "needs all of them" if self.min_share >= 1 else f"needs {self.min_share:.0%}"

    def gone(self, hook: LearnifierHook) -> str | None:
        """The participation itself (by external id), else its project: why it is gone, or ``None``."""
        if self.participation_external_id is not None:
            try:
                hook.get_participation_by_external_id(self.participation_external_id)
            except LearnifierNotFoundError as err:
                return str(err)
            return None
        return project_gone(
            hook, org_id=self.org_id, project_id=self.project_id, project_external_id=self.project_external_id
        )

    def _fetch(self, hook: LearnifierHook) -> JsonObject | None:
        """The participant, or ``None`` when it is gone and ``on_never_completing="succeed"``.

        Gone: the project is there but the participant is not in its list, or
        ``GET /extparticipation`` does not know the participation.

        :raises LearnifierNotFoundError: for a project that does not exist, or a participant who is
            gone when ``on_never_completing="fail"``.
        """
        if self.participation_external_id is not None:
            try:
                return hook.get_participation_by_external_id(self.participation_external_id)
            except LearnifierNotFoundError:
                if self.on_never_completing == "fail":
                    raise
                return None
        if self.org_id is None or self.project_id is None:
            project = hook.resolve_project(external_id=self.project_external_id)
            self.org_id, self.project_id = project["orgId"], project["id"]
        for participant in hook.list_participants(self.org_id, self.project_id):
            if str(participant.get("id")) == str(self.participant_id):
                return participant
        if self.on_never_completing == "fail":
            raise LearnifierNotFoundError(
                f"Learnifier project {self.project_id} (organization unit {self.org_id}) has no "
                f"participant {self.participant_id}",
                operation="list_participants",
                method="GET",
            )
        return None


def never_completing_action(value: Any) -> NeverCompletingAction:
    """Read ``on_never_completing``: ``"fail"`` or ``"succeed"``.

    :raises ValueError: for anything else.
    """
    if value not in NEVER_COMPLETING_ACTIONS:
        raise ValueError(f"on_never_completing must be 'fail' or 'succeed', not {value!r}")
    return value


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
    :param min_completed_share: the share of activated participants that must have completed
        (as :func:`share_threshold` reads it, text too).
    :param min_share: the share of a participant's activities that counts as completed.
    :param count_never_completing: whether activated participants who can never complete (in error
        or expired, see :func:`~airflow_provider_learnifier.progress.never_completes`) count in the
        share's denominator. ``True`` (default): they do, so ``min_completed_share=1.0`` is out of
        reach while one of them is there; ``False``: the share is of the others only.
    :raises ValueError: for a wrong combination of names or a threshold out of range.

    An activated participant whose activity counts are no numbers does not fail the check: it
    counts as not completed (``unreadable`` in the progress), in the denominator whatever
    ``count_never_completing`` says, and a warning names it (the first
    :data:`MAX_NAMED_UNREADABLE` of them on each check).
    """

    def __init__(
        self,
        *,
        org_id: IdLike | None = None,
        project_id: IdLike | None = None,
        project_external_id: str | None = None,
        min_completed_share: float | str = 1.0,
        min_share: float | str = 1.0,
        count_never_completing: bool = True,
    ) -> None:
        check_project_naming(org_id=org_id, project_id=project_id, project_external_id=project_external_id)
        if not isinstance(count_never_completing, bool):
            raise ValueError(f"count_never_completing must be True or False, not {count_never_completing!r}")
        self.org_id = org_id
        self.project_id = project_id
        self.project_external_id = project_external_id
        self.min_completed_share = share_threshold("min_completed_share", min_completed_share)
        self.min_share = share_threshold("min_share", min_share)
        self.count_never_completing = count_never_completing
        self.arguments = {
            "org_id": org_id,
            "project_id": project_id,
            "project_external_id": project_external_id,
            "min_completed_share": self.min_completed_share,
            "min_share": self.min_share,
            "count_never_completing": count_never_completing,
        }

    def describe(self) -> str:
        if self.project_external_id is not None:
            return f"project {self.project_external_id!r}"
        return f"project {self.project_id} (organization unit {self.org_id})"

    def gone(self, hook: LearnifierHook) -> str | None:
        """The project itself: why it is gone (its own 404), or ``None`` while it is there."""
        return project_gone(
            hook, org_id=self.org_id, project_id=self.project_id, project_external_id=self.project_external_id
        )

    def __call__(self, hook: LearnifierHook) -> CompletionStatus:
        if self.org_id is None or self.project_id is None:
            project = hook.resolve_project(external_id=self.project_external_id)
            self.org_id, self.project_id = project["orgId"], project["id"]
        unreadable: list[str] = []
        progress = project_progress(
            hook.list_participants(self.org_id, self.project_id),
            self.min_share,
            on_unreadable=lambda participant, error: unreadable.append(str(error)),
        )
        counted = progress.activated - (0 if self.count_never_completing else progress.never_completing)
        share = progress.completed / counted if counted > 0 else 0.0
        done = counted > 0 and share >= self.min_completed_share
        needed = (
            "needs all of them" if self.min_completed_share >= 1 else f"needs {self.min_completed_share:.0%}"
        )
        if self.min_share < 1:
            needed += f", each with {self.min_share:.0%} of the activities"
        if not self.count_never_completing and progress.never_completing:
            needed += f", of the {counted} who still can"
        message = f"{progress}; {needed}"
        if progress.activated == 0:
            message += " (no activated participants yet)"
        warnings = [f"{text}; counted as not completed" for text in unreadable[:MAX_NAMED_UNREADABLE]]
        if len(unreadable) > MAX_NAMED_UNREADABLE:
            warnings.append(
                f"... and {len(unreadable) - MAX_NAMED_UNREADABLE} more participant(s) of Learnifier "
                f"{self.describe()} with activity counts that are no numbers"
            )
        return CompletionStatus(
            done=done,
            message=message,
            warnings=tuple(warnings),
            progress={
                "org_id": self.org_id,
                "project_id": self.project_id,
                "project_external_id": self.project_external_id,
                **progress.to_dict(),
                "min_completed_share": self.min_completed_share,
                "min_share": self.min_share,
                "count_never_completing": self.count_never_completing,
                "done": done,
            },
        )


#: The checks a trigger may rebuild from serialized data, by class path: the provider's own, and
#: only those. A class path read from the metadata database is looked up here, never imported.
SERIALIZABLE_CHECKS: Mapping[str, type[CompletionCheck]] = {
    f"{cls.__module__}.{cls.__qualname__}": cls
    for cls in (ParticipantCompletionCheck, ProjectCompletionCheck)
}


def rebuild_check(classpath: str, kwargs: Mapping[str, Any]) -> CompletionCheck:
    """Make a check again from :meth:`CompletionCheck.serialize`'s class path and keyword arguments.

    :raises ValueError: for a class path that is not one of :data:`SERIALIZABLE_CHECKS` (nothing
        is imported), or arguments the check refuses.
    """
    cls = SERIALIZABLE_CHECKS.get(classpath) if isinstance(classpath, str) else None
    if cls is None:
        raise ValueError(
            f"refusing to rebuild a completion check of class {classpath!r}: only "
            f"{', '.join(sorted(SERIALIZABLE_CHECKS))} can be rebuilt from serialized data"
        )
    if not isinstance(kwargs, Mapping) or not all(isinstance(key, str) for key in kwargs):
        raise ValueError(f"the arguments of a serialized {classpath} are not keyword arguments: {kwargs!r}")
    return cls(**kwargs)
