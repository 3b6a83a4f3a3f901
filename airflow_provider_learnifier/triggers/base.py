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

from airflow_provider_learnifier.completion import (
    DEFAULT_CONN_ID,
    ERROR,
    SUCCESS,
    TIMEOUT,
    CompletionCheck,
    CompletionStatus,
    rebuild_check,
)
from airflow_provider_learnifier.hooks.learnifier import LearnifierHook

if TYPE_CHECKING:
    from airflow.sdk import Connection

__all__ = ["LearnifierCompletionTrigger"]

_T = TypeVar("_T")

#: A trigger waiting this many seconds or more until its next poll closes its connection meanwhile.
KEEP_ALIVE_SECONDS = 5.0


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
                wait = min(self.poll_interval, remaining)
                if wait >= KEEP_ALIVE_SECONDS:
                    # An idle trigger holds no TLS connection (its buffers are most of what a trigger
                    # costs): the next poll opens one again, with the process's shared TLS context.
                    hook.close()
                await asyncio.sleep(wait)
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
