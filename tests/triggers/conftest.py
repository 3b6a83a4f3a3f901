"""What the trigger tests share: the triggerer's channel to its supervisor, as Airflow 3.0 has it."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest


class TriggererComms:
    """The triggerer's channel to its supervisor, built like Airflow 3.0's (``TriggerCommsDecoder``).

    Reading a connection's extras masks them by sending a message to the supervisor, and in the
    triggerer that blocking ``send`` hands the message to the triggerer's event loop with asgiref's
    ``async_to_sync``. That raises when called on the loop itself, and the message lands on another
    loop when called from a thread asgiref did not make: both are recorded in :attr:`misrouted`.
    Messages that reached the loop are in :attr:`sent`. It must be created on the thread that will
    run the loop; what that thread sends before the loop runs (a test's set-up) counts as sent.
    """

    def __init__(self) -> None:
        self.loop_thread = threading.get_ident()
        self.sent: list[Any] = []
        self.misrouted: list[str] = []

    def send(self, message: Any) -> None:
        from asgiref.sync import async_to_sync

        if threading.get_ident() == self.loop_thread:
            try:
                asyncio.get_running_loop()
            except RuntimeError:  # the test's own set-up, before the triggerer's loop runs
                self.sent.append(message)
                return
            self.misrouted.append(f"sent from the event loop's thread: {type(message).__name__}")
        async_to_sync(self.asend)(message)

    async def asend(self, message: Any) -> None:
        if threading.get_ident() != self.loop_thread:
            self.misrouted.append(f"handled off the triggerer's event loop: {type(message).__name__}")
        self.sent.append(message)


@pytest.fixture
def triggerer_comms(monkeypatch: pytest.MonkeyPatch) -> TriggererComms:
    """Install a :class:`TriggererComms` where the Task SDK's secret masking finds it (Airflow 3)."""
    from airflow.sdk.execution_time import task_runner

    comms = TriggererComms()
    monkeypatch.setattr(task_runner, "SUPERVISOR_COMMS", comms, raising=False)
    return comms


@pytest.fixture
def no_hook_retries(learnifier_conn, monkeypatch: pytest.MonkeyPatch):
    """The simulator, with a connection without the hook's own retries: each injected fault fails one poll."""
    monkeypatch.setenv(
        "AIRFLOW_CONN_LEARNIFIER_DEFAULT", learnifier_conn.connection_json(extra={"max_retries": 0})
    )
    return learnifier_conn
