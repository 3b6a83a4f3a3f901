"""Test seams on the simulator for answers the spec permits and the simulator does not give (yet).

:func:`rewrite_requests` and :func:`rewrite_responses` wrap the running simulator's dispatcher,
so requests still travel over a real socket and the exchange log still records what the hook
sent and what it got back. They give one particular answer the spec permits at one chosen
request (a 204 to a PATCH, a 409 to one add), where the simulator's spec-variant mode
(:class:`~learnifier_simulator.variants.SpecVariants`) varies answers at
random. Both are undone by ``monkeypatch`` at the end of the test.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pytest

    from learnifier_simulator import LearnifierSimulator
    from learnifier_simulator.dispatch import HttpRequest, Outcome
    from learnifier_simulator.messages import ApiResponse


def _wrap(
    sim: LearnifierSimulator, monkeypatch: pytest.MonkeyPatch, around: Callable[[HttpRequest, Any], Outcome]
) -> None:
    dispatcher = sim._dispatcher  # the seam: the simulator has no public hook for this yet
    original = dispatcher.dispatch
    monkeypatch.setattr(dispatcher, "dispatch", lambda request: around(request, original))


def rewrite_requests(
    sim: LearnifierSimulator,
    monkeypatch: pytest.MonkeyPatch,
    rewrite: Callable[[HttpRequest], HttpRequest],
) -> None:
    """Have the simulator apply ``rewrite(request)`` instead of each request it receives."""
    _wrap(sim, monkeypatch, lambda request, dispatch: dispatch(rewrite(request)))


def rewrite_responses(
    sim: LearnifierSimulator,
    monkeypatch: pytest.MonkeyPatch,
    rewrite: Callable[[HttpRequest, ApiResponse], ApiResponse],
) -> None:
    """Have the simulator answer ``rewrite(request, answer)`` instead of each answer it gives."""

    def around(request: HttpRequest, dispatch: Callable[[HttpRequest], Outcome]) -> Outcome:
        outcome = dispatch(request)
        if outcome.response is None:
            return outcome
        return dataclasses.replace(outcome, response=rewrite(request, outcome.response))

    _wrap(sim, monkeypatch, around)
