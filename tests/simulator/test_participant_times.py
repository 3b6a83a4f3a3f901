"""Simulated time: activation and progress stamp the simulated clock; tests set or clear timestamps."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from learnifier_simulator import ApiError, LearnifierSimulator, SpecVariants
from tests.simulator.client import ApiClient
from tests.simulator.test_participant_errors import PROJECT, add_activated, by_extid


def when(participation: dict[str, Any], name: str) -> datetime:
    return datetime.fromisoformat(participation[name].replace("Z", "+00:00"))


def to_ms(moment: datetime) -> datetime:
    """``moment`` cut to the millisecond, as the API writes times."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def test_activation_and_progress_are_stamped_with_simulated_time(
    api: ApiClient, sim: LearnifierSimulator
) -> None:
    start = to_ms(sim.now())
    path, participant_id = add_activated(api, "timed@acme.example", "timed")
    activated = by_extid(api, "timed")
    assert "firstAccess" not in activated and "lastAccess" not in activated  # never: left out

    later = to_ms(sim.advance_clock(timedelta(days=10)))
    sim.advance_progress(participant_id=participant_id, activities=0)  # opens the course, completes nothing
    accessed = by_extid(api, "timed")
    sim.advance_clock(timedelta(days=5))
    api.post(f"{path}/activate", expect=201)
    reactivated = by_extid(api, "timed")

    assert start <= when(activated, "firstActivation") < start + timedelta(minutes=1)
    assert when(activated, "expiration") - when(activated, "lastActivation") == timedelta(days=365)
    assert (
        later <= when(accessed, "firstAccess") == when(accessed, "lastAccess") < later + timedelta(minutes=1)
    )
    assert accessed["activitiesCompleted"] == 0
    assert when(reactivated, "firstActivation") == when(activated, "firstActivation")
    assert when(reactivated, "lastActivation") >= later + timedelta(days=5)
    assert when(reactivated, "expiration") == when(reactivated, "lastActivation") + timedelta(days=365)


def test_a_test_sets_and_clears_timestamps(api: ApiClient, sim: LearnifierSimulator) -> None:
    _, participant_id = add_activated(api, "history@acme.example", "history")
    long_ago = datetime(2025, 1, 2, 3, 4, 5, 678000, tzinfo=timezone.utc)

    returned = sim.set_participant_times(
        participant_id, firstActivation=long_ago, lastAccess=long_ago + timedelta(days=1), expiration=None
    )
    listed = api.get(f"{PROJECT}/participants").json()

    for participation in (returned, listed[0], by_extid(api, "history")):
        assert participation["firstActivation"] == "2025-01-02T03:04:05.678Z"
        assert participation["lastAccess"] == "2025-01-03T03:04:05.678Z"
        assert "expiration" not in participation  # null means never: the member is left out
        assert "lastActivation" in participation  # untouched


def test_cleared_timestamps_may_come_as_null_under_spec_variants(
    sim: LearnifierSimulator, openapi_spec
) -> None:
    _, participant_id = add_activated(ApiClient(sim, openapi_spec), "nulls@acme.example", "nulls")
    sim.set_participant_times(participant_id, firstAccess=None, lastAccess=None)
    sim.variants = SpecVariants(seed=3, drop_optional=True)
    api = ApiClient(sim, openapi_spec, spec_variants=True)
    seen = [api.get(f"{PROJECT}/participants").json()[0] for _ in range(20)]
    assert all(p.get("firstAccess") is None for p in seen)
    assert any("lastActivation" in p and p["lastActivation"] is None for p in seen)


@pytest.mark.parametrize(
    ("times", "status"),
    [
        ({"lastSeen": None}, 422),
        ({"lastAccess": "2025-01-01T00:00:00Z"}, 422),
        ({"lastAccess": datetime(2025, 1, 1)}, 422),  # naive: no time zone
    ],
)
def test_bad_timestamps_are_refused(sim: LearnifierSimulator, api: ApiClient, times, status) -> None:
    _, participant_id = add_activated(api, "bad@acme.example", "bad")
    with pytest.raises(ApiError) as caught:
        sim.set_participant_times(participant_id, **times)
    assert caught.value.status == status


def test_an_unknown_participation_is_404(sim: LearnifierSimulator) -> None:
    with pytest.raises(ApiError) as caught:
        sim.set_participant_times(999_999, lastAccess=None)
    assert caught.value.status == 404


def test_the_clock_moves_both_ways(sim: LearnifierSimulator) -> None:
    before = sim.now()
    assert sim.advance_clock(timedelta(days=-3)) < before
    with pytest.raises(TypeError):
        sim.advance_clock(3)  # type: ignore[arg-type]
