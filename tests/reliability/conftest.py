"""Fixtures of the reliability suite, and the end-of-session figures of its fault cases."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_learnifier.hooks.learnifier import LearnifierHook
from tests.reliability import figures


@pytest.fixture
def hook_waits(monkeypatch: pytest.MonkeyPatch) -> list[tuple[float, str]]:
    """Every wait the hook makes before sending a request again: ``(seconds, what)``, in order.

    The hook's own ``_wait`` still runs (and really sleeps): this only counts the retries.
    """
    assert hasattr(LearnifierHook, "_wait"), "the hook no longer waits through _wait: update this fixture"
    waits: list[tuple[float, str]] = []
    original = LearnifierHook._wait

    def counting_wait(
        self: LearnifierHook, seconds: float, what: str, attempt: int, *, sleep: bool = True
    ) -> None:
        waits.append((seconds, what))
        original(self, seconds, what, attempt, sleep=sleep)

    monkeypatch.setattr(LearnifierHook, "_wait", counting_wait)
    return waits


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """Print one line per fault case; rewrite the doc's table if ``LEARNIFIER_RELIABILITY_DOC`` names it."""
    if not figures.FIGURES:
        return
    terminalreporter.section("Learnifier reliability: fault-injection figures")
    for figure in figures.FIGURES:
        terminalreporter.write_line(figure.line())
    doc = os.environ.get(figures.DOC_VARIABLE)
    if doc:
        figures.rewrite_doc(Path(doc), figures.FIGURES)
        terminalreporter.write_line(f"(table written to {doc})")
