"""Test seams on the simulator for answers the spec permits and the simulator does not give (yet).

:func:`rewrite_requests` and :func:`rewrite_responses` wrap the running simulator's dispatcher,
so requests still travel over a real socket and the exchange log still records what the hook
sent and what it got back. They give one particular answer the spec permits at one chosen
request (a 204 to a PATCH, a 409 to one add), where the simulator's spec-variant mode
(:class:`~learnifier_simulator.variants.SpecVariants`) varies answers at
random. Both are undone by ``monkeypatch`` at the end of the test.

:data:`variants` and :data:`faults` are the Hypothesis strategies of the property tests: every
way the spec lets answers vary, and random server faults (or none).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from hypothesis import strategies as st

from learnifier_simulator import FaultConfig
from learnifier_simulator.variants import SpecVariants

if TYPE_CHECKING:
    import pytest

    from learnifier_simulator import LearnifierSimulator
    from learnifier_simulator.dispatch import HttpRequest, Outcome
    from learnifier_simulator.messages import ApiResponse


variants = st.builds(
    SpecVariants,
    seed=st.integers(0, 2**32 - 1),
    users_page_cap=st.integers(1, 6),
    random_page_sizes=st.booleans(),
    paging_headers=st.booleans(),
    ignore_undeclared_fields=st.booleans(),
    extra_fields=st.booleans(),
    id_types=st.booleans(),
    any_2xx=st.booleans(),
    drop_optional=st.booleans(),
    shuffle=st.booleans(),
)
faults = st.one_of(
    st.none(),
    st.builds(
        FaultConfig,
        error_rate=st.sampled_from([0.0, 0.05, 0.1]),
        error_statuses=st.just((500, 502, 504)),
        drop_rate=st.sampled_from([0.0, 0.05, 0.1]),
        drop_after_apply_share=st.sampled_from([0.0, 0.5, 1.0]),
        seed=st.integers(0, 2**32 - 1),
    ),
)


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
