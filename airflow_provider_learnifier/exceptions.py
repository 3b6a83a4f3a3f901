"""Every public error of the provider, in one module.

The hook's errors (:class:`LearnifierError` and its subclasses) name the hook method, the HTTP
method and path, the status and what Learnifier said (its ``code``, ``field`` and ``message``).
The operators add errors for unusable input and for bulk operations with too many failures.
None of them ever carries a credential.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from airflow.providers.common.compat.sdk import AirflowException


class LearnifierError(AirflowException):
    """Base class of every error raised for a Learnifier API call.

    :param message: the human-readable summary.
    :param operation: the hook method that made the call, e.g. ``add_participant``.
    :param method: the HTTP method.
    :param path: the request path, relative to the base URL.
    :param status: the HTTP status, or ``None`` when no response arrived.
    :param code: Learnifier's error ``code``, when it sent one.
    :param field: Learnifier's error ``field``, when it sent one.
    :param api_message: Learnifier's error ``message``, when it sent one.
    """

    def __init__(
        self,
        message: str,
        *,
        operation: str | None = None,
        method: str | None = None,
        path: str | None = None,
        status: int | None = None,
        code: int | None = None,
        field: str | None = None,
        api_message: str | None = None,
    ) -> None:
        super().__init__(message)
        self.operation = operation
        self.method = method
        self.path = path
        self.status = status
        self.code = code
        self.field = field
        self.api_message = api_message

    @property
    def details(self) -> dict[str, Any]:
        """What the error says about the request and the answer, as keyword arguments for another error."""
        return {
            "operation": self.operation,
            "method": self.method,
            "path": self.path,
            "status": self.status,
            "code": self.code,
            "field": self.field,
            "api_message": self.api_message,
        }

    @property
    def may_have_been_applied(self) -> bool:
        """Whether the failed request may have changed data anyway: read the state before resending it.

        ``False`` for an answer by which Learnifier refused the request (4xx); ``True`` when the
        request may have reached it and no refusal came back (see the subclasses).
        """
        return False

    @property
    def may_still_be_in_flight(self) -> bool:
        """Whether Learnifier may still be working on the request, so a read now can miss its effect."""
        return False


class LearnifierConnectionError(LearnifierError):
    """The request got no usable answer: connection refused or dropped, TLS failure, or timeout.

    :param reached_server: ``False`` when the request provably never reached Learnifier (the
        connection or TLS handshake failed), so nothing it asked for was applied; ``True`` when
        it may have been applied, and a caller must check before sending it again.
    """

    def __init__(self, message: str, *, reached_server: bool = True, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.reached_server = reached_server

    @property
    def may_have_been_applied(self) -> bool:
        """The request may have been applied unless it provably never reached Learnifier."""
        return self.reached_server

    @property
    def may_still_be_in_flight(self) -> bool:
        """A request that reached Learnifier and got no answer may still be running there."""
        return self.reached_server


class LearnifierResponseError(LearnifierError):
    """Learnifier answered a success status with a body that is not the JSON the API promises."""

    @property
    def may_have_been_applied(self) -> bool:
        """A write answered with a success status was applied, whatever its body; ``True`` unless
        the status says otherwise."""
        return self.status is None or 200 <= self.status < 300


class LearnifierAuthError(LearnifierError):
    """401 or 403: the API key and secret were refused or lack the permission."""


class LearnifierNotFoundError(LearnifierError):
    """404: the resource does not exist."""


class LearnifierConflictError(LearnifierError):
    """409: the resource already exists.

    :param existing_id: the id of the existing resource, where Learnifier returns one
        (``POST /users`` sends it in the body, ``POST .../participants`` in ``Location``).
    """

    def __init__(self, message: str, *, existing_id: str | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.existing_id = existing_id


class LearnifierValidationError(LearnifierError):
    """400 or 422: Learnifier rejected the request's input."""


class LearnifierRefusedError(LearnifierError):
    """406: Learnifier refused the request, e.g. deleting a project that still has participants.

    :param failures: the ``failures`` list of the 406 body (``message``, ``productId``, ``type``).
    """

    def __init__(self, message: str, *, failures: list[dict[str, Any]] | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.failures = failures or []


class LearnifierActivationError(LearnifierRefusedError):
    """406 on activation: Learnifier refused to activate a participant; see ``failures``."""


class LearnifierRateLimitError(LearnifierError):
    """429: too many requests, still refused after the hook's retries.

    :param retry_after: seconds Learnifier asked the caller to wait, when it said.
    """

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class LearnifierServerError(LearnifierError):
    """5xx: Learnifier failed, still failing after the hook's retries where retrying was safe."""

    @property
    def may_have_been_applied(self) -> bool:
        """A 5xx does not say whether the change was made before the failure."""
        return True

    @property
    def may_still_be_in_flight(self) -> bool:
        """502 and 504 come from a gateway that stopped waiting; the server behind it may go on."""
        return self.status in (502, 504)


class LearnifierUncertainWriteError(LearnifierError):
    """A write may have been applied and it is not known whether it was; it was not sent again.

    Raised where sending it again could apply it twice (an activation, which Learnifier does not
    deduplicate, or a create that nothing makes unique) while Learnifier may still be working on
    the first one. The next run reads the state and finishes the work.
    """

    @property
    def may_have_been_applied(self) -> bool:
        return True


class LearnifierWaitError(RuntimeError):
    """A deferred Learnifier wait ended with an error: its trigger fired ``error`` (or no status).

    The message is the trigger's reason, e.g. ``Waiting for Learnifier project 2001 (organization
    unit 1001) failed: LearnifierAuthError: ...``. Deliberately not an ``AirflowException``: on
    resuming a deferred task, Airflow's sensors turn every ``AirflowException`` into a skip under
    ``soft_fail``, which Airflow means for timeouts only. So a Learnifier error fails the task in
    deferrable mode as it does in poke and reschedule mode, and the task's retries apply.
    """


class LearnifierNeverCompletesError(LearnifierError):
    """A participant waited for can never complete: the participation is in error or expired.

    Raised by the participant completion check, so the sensor fails at once with the reason
    instead of waiting until its ``timeout``.
    """


class LearnifierParticipantDataError(LearnifierResponseError):
    """Learnifier sent a participant with a value that cannot be read as what the API promises.

    An activity count that is no number (``"three"``, ``true``), or, where a report is asked to
    fail on bad data, a timestamp that is no timestamp. The message names the participant, its
    project, the field and the value.

    :param participant_id: the participant's id, as Learnifier sent it.
    :param project_id: the project's id.
    :param field: the API field, e.g. ``activitiesTotal``.
    """

    def __init__(
        self,
        message: str,
        *,
        participant_id: Any = None,
        project_id: Any = None,
        field: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(message, field=field, **kwargs)
        self.participant_id = participant_id
        self.project_id = project_id


class LearnifierProjectNotEmptyError(LearnifierRefusedError):
    """Learnifier refused to delete a project because participants remain in it (406).

    :param participants: how many participants the project has, when they could be counted.
    """

    def __init__(self, message: str, *, participants: int | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.participants = participants


# ---------------------------------------------------------------------- operators' errors


class LearnifierInputError(AirflowException):
    """The operator's input is unusable: a roster or id list that cannot be read, or bad rows.

    :param message: what is wrong, naming the offending rows or values.
    :param problems: one ``{"person", "row", "reason"}`` entry per bad row, when rows were at fault.
    """

    def __init__(self, message: str, *, problems: Sequence[Mapping[str, Any]] = ()) -> None:
        super().__init__(message)
        self.problems = [dict(problem) for problem in problems]


class LearnifierBulkOperationError(AirflowException):
    """More items of a bulk operation failed than the operator's ``max_failures`` allows.

    Raised after every item was tried, so the others are done.

    :param message: names the failures.
    :param failures: one ``{"person", "reason"}`` (or ``{"id", "reason"}``) entry per failure.
    :param summary: the task's result as it would have been returned.
    """

    def __init__(
        self, message: str, *, failures: Sequence[Mapping[str, Any]], summary: dict[str, Any]
    ) -> None:
        super().__init__(message)
        self.failures = [dict(failure) for failure in failures]
        self.summary = summary


class LearnifierEnrollmentError(LearnifierBulkOperationError):
    """More roster rows failed than ``max_failures`` allows; everything else was done."""


class LearnifierMassRemovalError(LearnifierBulkOperationError):
    """``remove_missing`` would remove more participants than ``max_removals`` allows; none was removed."""


class LearnifierNudgeLimitError(LearnifierBulkOperationError):
    """A nudge run would send more reminders than ``max_nudges`` allows; none was sent."""


class LearnifierNudgeError(LearnifierBulkOperationError):
    """Some reminders of a nudge run were not delivered; the others were, and the next run retries these."""
