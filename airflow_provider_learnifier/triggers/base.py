"""What the Learnifier triggers share: a polling loop over a completion check that never blocks.

The completion checks (:class:`~airflow_provider_learnifier.completion.CompletionCheck`) live in
:mod:`airflow_provider_learnifier.completion`, which the sensors import without this module.

The trigger keeps the triggerer's event loop free: it fetches the connection with Airflow's async
API, and runs every hook call (HTTP requests, retries and their backoff sleeps) in a worker thread
with :func:`asyncio.to_thread`. Only the waits between polls happen on the loop, as
``asyncio.sleep``.
"""

from __future__ import annotations

import abc
import asyncio
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, TypeVar

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_learnifier.completion import (
    DEFAULT_CONN_ID,
    ERROR,
    SUCCESS,
    TIMEOUT,
    CompletionCheck,
    CompletionStatus,
)
from airflow_provider_learnifier.hooks.learnifier import LearnifierHook

if TYPE_CHECKING:
    from airflow.sdk import Connection

__all__ = ["LearnifierCompletionTrigger"]

_T = TypeVar("_T")


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
    """Run a blocking call in a worker thread, so that the event loop keeps running meanwhile."""
    return await asyncio.to_thread(function, *args)


class LearnifierCompletionTrigger(BaseTrigger):
    """Poll Learnifier until a completion check passes or the deadline comes; fire one event.

    The event's payload is ``{"status": ..., "message": ..., "progress": ...}`` with status
    ``success`` (the check passed; ``progress`` is the XCom value), ``timeout`` (the deadline came
    first; ``message`` tells the progress reached) or ``error`` (Learnifier or the connection
    failed; ``message`` tells why, ``progress`` is the last progress seen or ``None``).

    :param learnifier_conn_id: the Airflow connection to Learnifier.
    :param poll_interval: seconds between two checks.
    :param end_time: the deadline, in seconds since the epoch (``time.time()``). The trigger checks
        at least once, and once more at the deadline, before it fires ``timeout``.
    """

    def __init__(
        self,
        *,
        learnifier_conn_id: str = DEFAULT_CONN_ID,
        poll_interval: float = 60.0,
        end_time: float,
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

    @abc.abstractmethod
    def make_check(self) -> CompletionCheck:
        """Return the completion check this trigger polls."""

    @abc.abstractmethod
    def check_kwargs(self) -> dict[str, Any]:
        """Return the keyword arguments that recreate the check (part of :meth:`serialize`)."""

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Return the class path and the JSON-serializable keyword arguments that recreate this trigger."""
        cls = type(self)
        return (
            f"{cls.__module__}.{cls.__qualname__}",
            {
                "learnifier_conn_id": self.learnifier_conn_id,
                **self.check_kwargs(),
                "poll_interval": self.poll_interval,
                "end_time": self.end_time,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Check, log the progress, and sleep ``poll_interval``, until done, the deadline or an error."""
        hook: LearnifierHook | None = None
        check: CompletionCheck | None = None
        status: CompletionStatus | None = None
        try:
            # Looked up here, not at import: the common-compat connection helper is only for run().
            from airflow.providers.common.compat.connection import get_async_connection

            check = self.make_check()
            connection = await get_async_connection(self.learnifier_conn_id)
            hook = _PrefetchedConnectionHook(connection)
            while True:
                status = await _run_off_loop(check, hook)
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
                    message = (
                        f"Timed out at {deadline} waiting for Learnifier {check.describe()}: {status.message}"
                    )
                    yield self._event(TIMEOUT, message, status)
                    return
                await asyncio.sleep(min(self.poll_interval, remaining))
        except Exception as err:
            what = f"Learnifier {check.describe()}" if check is not None else "Learnifier"
            message = f"Waiting for {what} failed: {type(err).__name__}: {err}"
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
