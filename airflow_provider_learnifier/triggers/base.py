"""What the Learnifier triggers share: a polling loop over a completion check that never blocks.

The completion checks (:class:`~airflow_provider_learnifier.completion.CompletionCheck`) live in
:mod:`airflow_provider_learnifier.completion`, which the sensors import without this module.

The trigger keeps the triggerer's event loop free: it fetches the connection with Airflow's async
API, and runs every hook call (HTTP requests, retries and their backoff sleeps) in a worker thread
(:func:`_run_off_loop`). Only the waits between polls happen on the loop, as
``asyncio.sleep``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_learnifier._arguments import DEFAULT_CONN_ID
from airflow_provider_learnifier.completion import (
    ERROR,
    SUCCESS,
    TIMEOUT,
    CompletionCheck,
    CompletionStatus,
    rebuild_check,
)
from airflow_provider_learnifier.exceptions import (
    LearnifierConnectionError,
    LearnifierNotFoundError,
    LearnifierRateLimitError,
    LearnifierResponseError,
    LearnifierServerError,
)
from airflow_provider_learnifier.hooks.learnifier import LearnifierHook

if TYPE_CHECKING:
    from airflow.sdk import Connection

__all__ = ["DEFAULT_MAX_CONSECUTIVE_FAILURES", "LearnifierCompletionTrigger"]

_T = TypeVar("_T")

#: A trigger waiting this many seconds or more until its next poll closes its connection meanwhile.
KEEP_ALIVE_SECONDS = 5.0
#: How many polls in a row may fail, each after the hook's own retries, before a trigger gives up:
#: at the default poll interval of 60 s, an outage of ten minutes and more.
DEFAULT_MAX_CONSECUTIVE_FAILURES = 10
#: Errors that a poll outlives within the failure budget: the next poll tries again. A 404 is
#: outlived too, until the resource itself answers 404 (see :class:`PollFailures`).
TRANSIENT_ERRORS: tuple[type[Exception], ...] = (
    LearnifierConnectionError,
    LearnifierServerError,
    LearnifierRateLimitError,
    LearnifierResponseError,
)


def failure_budget(value: Any) -> int:
    """Read ``max_consecutive_failures``: a whole number of polls, 0 or more.

    :raises ValueError: for anything else.
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"max_consecutive_failures must be a whole number, 0 or more, not {value!r}")
    return value


class PollFailures:
    """The consecutive-failure budget of a polling trigger, and the 404 it waits to see confirmed.

    A poll failing with one of :data:`TRANSIENT_ERRORS`, or with a 404, is outlived: the next poll
    tries again. One more failure in a row than ``limit`` ends the wait; a poll that succeeds
    starts the count afresh. After a 404, the next poll first asks for the watched resource
    itself (:attr:`suspect_gone`): only its own 404 says it is gone, and that ends the wait at once.

    :param limit: how many polls in a row may fail (``max_consecutive_failures``).
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_a_row = 0
        self.suspect_gone = False

    def outlives(self, error: BaseException) -> bool:
        """Count a failed poll, and tell whether polling goes on (``False``: the error ends the wait)."""
        not_found = isinstance(error, LearnifierNotFoundError) and error.status == 404
        if not (not_found or isinstance(error, TRANSIENT_ERRORS)):
            return False
        self.in_a_row += 1
        self.suspect_gone = self.suspect_gone or not_found
        return self.in_a_row <= self.limit

    def succeeded(self) -> None:
        """A poll succeeded: the count starts afresh."""
        self.in_a_row = 0
        self.suspect_gone = False

    def describe(self) -> str:
        """Say how many polls failed in a row, for a warning or the final error."""
        return f"{self.in_a_row} poll(s) in a row failed, of at most {self.limit} (max_consecutive_failures)"


def gone_error(what: str, reason: str) -> LearnifierNotFoundError:
    """The error that ends a wait whose resource answered 404 itself: it names what was watched."""
    return LearnifierNotFoundError(f"Learnifier {what} does not exist (any more): {reason}", status=404)


async def poll_within_budget(
    poll: Callable[[LearnifierHook], _T],
    gone: Callable[[LearnifierHook], str | None],
    hook: LearnifierHook,
    failures: PollFailures,
    *,
    what: str,
    interval: float,
    log: Any,
) -> _T | None:
    """One poll of a trigger, off the event loop, within its failure budget.

    After a 404 (:attr:`PollFailures.suspect_gone`) it first calls ``gone`` (the watched resource
    itself); while that is there, and otherwise, it calls ``poll``.

    :return: what ``poll`` returned, or ``None`` for a failure that the budget outlives (logged
        as a warning).
    :raises Exception: the error that ends the wait: one that is not transient, the failure
        beyond the budget (logged as an error), or :func:`gone_error` when ``gone`` says so.
    """
    reason: str | None = None
    try:
        if failures.suspect_gone:
            reason = await _run_off_loop(gone, hook)
            failures.suspect_gone = False
        if reason is None:
            result = await _run_off_loop(poll, hook)
    except Exception as err:
        if failures.outlives(err):
            log.warning(
                "Polling Learnifier %s failed (%s); next poll in %gs: %s: %s",
                what,
                failures.describe(),
                interval,
                type(err).__name__,
                err,
            )
            return None
        if failures.in_a_row > failures.limit:
            log.error("Polling Learnifier %s failed for good: %s", what, failures.describe())
        raise
    if reason is not None:
        raise gone_error(what, reason)
    failures.succeeded()
    return result


class _PrefetchedConnectionHook(LearnifierHook):
    """A :class:`LearnifierHook` over a connection that was already fetched.

    The trigger fetches the connection with Airflow's async API on the event loop; this hook then
    reads it instead of fetching it again with the synchronous ``get_connection``. Everything else,
    including how the hook checks the connection (``settings``) and masks the secret, is the hook's.
    """

    def __init__(self, connection: Connection) -> None:
        super().__init__(connection.conn_id)
        self._connection = connection

    def get_connection(self, conn_id: str) -> Connection:  # type: ignore[override]
        if conn_id == self._connection.conn_id:
            return self._connection
        return super().get_connection(conn_id)


async def _run_off_loop(function: Callable[..., _T], *args: Any) -> _T:
    """Run a blocking call in a worker thread, so that the event loop keeps running meanwhile.

    With asgiref's ``sync_to_async``, as Airflow's own triggers do, not :func:`asyncio.to_thread`:
    on Airflow 3.0 reading a connection's extras masks its secrets by a call that must reach the
    triggerer's event loop from a thread asgiref made (on the loop itself it raises).
    """
    from asgiref.sync import sync_to_async

    return await sync_to_async(function, thread_sensitive=False)(*args)


class LearnifierCompletionTrigger(BaseTrigger):
    """Poll Learnifier until a completion check passes or the deadline comes; fire one event.

    The one trigger of the completion sensors: it waits for any of the provider's completion
    checks (:data:`~airflow_provider_learnifier.completion.SERIALIZABLE_CHECKS`), serialized as
    the check's class path and keyword arguments. A serialized check of another class is refused,
    never imported.

    The event's payload is ``{"status": ..., "message": ..., "progress": ...}`` with status
    ``success`` (the check passed; ``progress`` is the XCom value), ``timeout`` (the deadline came
    first; ``message`` tells the progress reached) or ``error`` (Learnifier or the connection
    failed; ``message`` tells why, ``progress`` is the last progress seen or ``None``).

    :param check: the completion check: a
        :class:`~airflow_provider_learnifier.completion.CompletionCheck`, or its serialized form
        ``{"classpath": ..., "kwargs": ...}`` (what :meth:`serialize` gives). Subclasses with a
        :attr:`check_class` take that check's keyword arguments instead.
    :param learnifier_conn_id: the Airflow connection to Learnifier.
    :param poll_interval: seconds between two checks.
    :param end_time: the deadline, in seconds since the epoch (``time.time()``). The trigger checks
        at least once, and once more at the deadline, before it fires ``timeout``.
    :param max_consecutive_failures: how many polls in a row may fail (after the hook's retries)
        on a transient error (no answer, 5xx, 429, a broken body) or a 404, before the trigger fires
        ``error``; the default outlives an outage of ten minutes at a 60 s interval. After a 404,
        the next poll asks for the project (or participation) itself: its own 404 fires ``error``
        at once, naming it. See ``docs/reliability.md``.
    :raises ValueError: for a check that cannot be rebuilt, or wrong arguments.
    """

    #: The check a subclass makes from its own keyword arguments (the checks' names and
    #: thresholds), when it is given no ``check``.
    check_class: ClassVar[type[CompletionCheck] | None] = None

    def __init__(
        self,
        *,
        check: CompletionCheck | Mapping[str, Any] | None = None,
        learnifier_conn_id: str = DEFAULT_CONN_ID,
        poll_interval: float = 60.0,
        end_time: float,
        max_consecutive_failures: int = DEFAULT_MAX_CONSECUTIVE_FAILURES,
        **check_kwargs: Any,
    ) -> None:
        super().__init__()
        if (
            isinstance(poll_interval, bool)
            or not isinstance(poll_interval, (int, float))
            or poll_interval < 0
        ):
            raise ValueError(f"poll_interval must be a non-negative number of seconds, not {poll_interval!r}")
        self.learnifier_conn_id = learnifier_conn_id
        self.poll_interval = float(poll_interval)
        self.end_time = float(end_time)
        self.max_consecutive_failures = failure_budget(max_consecutive_failures)
        # Made again from its serialized form, whatever was given: so a check of another class
        # (or a subclass of ours) is refused here, in the worker, and not first in the triggerer.
        self.check = self._rebuilt(check, check_kwargs)

    def _rebuilt(self, check: Any, check_kwargs: dict[str, Any]) -> CompletionCheck:
        if check is None:
            if self.check_class is None:
                raise ValueError(f"{type(self).__name__} needs the check to wait for (check=...)")
            return self.check_class(**check_kwargs)
        if check_kwargs:
            raise ValueError(
                f"{type(self).__name__} takes the check or its arguments, not both: {sorted(check_kwargs)}"
            )
        if isinstance(check, CompletionCheck):
            classpath, kwargs = check.serialize()
        elif isinstance(check, Mapping) and set(check) == {"classpath", "kwargs"}:
            classpath, kwargs = check["classpath"], check["kwargs"]
        else:
            raise ValueError(f"check must be a completion check or its serialized form, not {check!r}")
        rebuilt = rebuild_check(classpath, kwargs)
        if self.check_class is not None and not isinstance(rebuilt, self.check_class):
            raise ValueError(
                f"{type(self).__name__} waits for a {self.check_class.__name__}, not {classpath}"
            )
        return rebuilt

    def make_check(self) -> CompletionCheck:
        """Return a fresh check to poll, made from the serialized one (nothing resolved yet)."""
        return rebuild_check(*self.check.serialize())

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Return the class path and the JSON-serializable keyword arguments that recreate this trigger.

        The check is serialized as ``{"classpath": ..., "kwargs": ...}``.
        """
        classpath, kwargs = self.check.serialize()
        cls = type(self)
        return (
            f"{cls.__module__}.{cls.__qualname__}",
            {
                "check": {"classpath": classpath, "kwargs": kwargs},
                "learnifier_conn_id": self.learnifier_conn_id,
                "poll_interval": self.poll_interval,
                "end_time": self.end_time,
                "max_consecutive_failures": self.max_consecutive_failures,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Check, log the progress, and sleep ``poll_interval``, until done, the deadline or an error."""
        hook: LearnifierHook | None = None
        check: CompletionCheck | None = None
        status: CompletionStatus | None = None
        failures = PollFailures(self.max_consecutive_failures)
        try:
            # Looked up here, not at import: the connection helper is only for run().
            from airflow_provider_learnifier.version_compat import get_async_connection

            check = self.make_check()
            connection = await get_async_connection(self.learnifier_conn_id)
            hook = _PrefetchedConnectionHook(connection)
            while True:
                polled = await poll_within_budget(
                    check,
                    check.gone,
                    hook,
                    failures,
                    what=check.describe(),
                    interval=self.poll_interval,
                    log=self.log,
                )
                if polled is not None:
                    status = polled
                    for warning in status.warnings:
                        self.log.warning("%s", warning)
                    self.log.info("Learnifier %s: %s", check.describe(), status.message)
                    if status.done:
                        yield self._event(SUCCESS, f"Learnifier {check.describe()}: {status.message}", status)
                        return
                remaining = self.end_time - time.time()
                if remaining <= 0:
                    deadline = datetime.fromtimestamp(self.end_time, timezone.utc).isoformat(
                        timespec="seconds"
                    )
                    reached = status.message if status is not None else "no poll succeeded"
                    if polled is None:
                        reached += f" ({failures.describe()})"
                    message = f"Timed out at {deadline} waiting for Learnifier {check.describe()}: {reached}"
                    yield self._event(TIMEOUT, message, status)
                    return
                wait = min(self.poll_interval, remaining)
                if wait >= KEEP_ALIVE_SECONDS:
                    # An idle trigger holds no TLS connection (its buffers are most of what a trigger
                    # costs): the next poll opens one again, with the process's shared TLS context.
                    hook.close()
                await asyncio.sleep(wait)
        except Exception as err:
            what = f"Learnifier {check.describe()}" if check is not None else "Learnifier"
            message = f"Waiting for {what} failed: {type(err).__name__}: {err}"
            if failures.in_a_row > failures.limit:
                message += f" ({failures.describe()})"
            self.log.error("%s", message)
            yield self._event(ERROR, message, status)
        finally:
            if hook is not None:
                hook.close()

    @staticmethod
    def _event(status: str, message: str, last: CompletionStatus | None) -> TriggerEvent:
        return TriggerEvent(
            {"status": status, "message": message, "progress": None if last is None else last.progress}
        )
