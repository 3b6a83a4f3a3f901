"""Latency: added to every API answer, overlapping across concurrent requests."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from learnifier_simulator import LearnifierSimulator

LATENCY = 0.3  # large against a new TLS connection on a loaded 2-core machine


def timed_get(sim: LearnifierSimulator, path: str) -> float:
    """GET ``path`` on a new connection and return how long the answer took."""
    started = time.perf_counter()
    response = requests.get(
        f"{sim.base_url}{path}", auth=(sim.key, sim.secret), verify=sim.ca_file, timeout=10
    )
    assert response.status_code == 200
    return time.perf_counter() - started


def record_pauses(sim: LearnifierSimulator, monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Record the latency each request waits (the dispatcher's pause, its seam), in order."""
    pauses: list[float] = []
    pause = sim._dispatcher._pause

    def recorded_pause(seconds: float) -> bool:
        pauses.append(seconds)
        return pause(seconds)

    monkeypatch.setattr(sim._dispatcher, "_pause", recorded_pause)
    return pauses


def test_latency_delays_each_answer_and_overlaps_across_requests(monkeypatch: pytest.MonkeyPatch) -> None:
    all_waiting = threading.Barrier(8)
    with LearnifierSimulator(latency=LATENCY) as sim, ThreadPoolExecutor(max_workers=8) as pool:
        pause = sim._dispatcher._pause

        def pause_once_all_wait(seconds: float) -> bool:
            # Passes only when all eight requests wait their latency at once: served one after
            # another, the barrier would break and the requests fail.
            all_waiting.wait(timeout=60)
            return pause(seconds)

        monkeypatch.setattr(sim._dispatcher, "_pause", pause_once_all_wait)
        durations = list(pool.map(lambda _: timed_get(sim, "/orgunits"), range(8)))

    assert min(durations) >= LATENCY
    assert not all_waiting.broken


def test_latency_can_change_while_running(sim: LearnifierSimulator, monkeypatch: pytest.MonkeyPatch) -> None:
    pauses = record_pauses(sim, monkeypatch)
    sim.latency = LATENCY
    slow = timed_get(sim, "/orgunits")
    sim.latency = 0.0
    timed_get(sim, "/orgunits")

    assert slow >= LATENCY
    assert pauses == [LATENCY, 0.0]
    with pytest.raises(ValueError):
        sim.latency = -1


def test_the_simulators_own_routes_have_no_latency(
    sim: LearnifierSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    pauses = record_pauses(sim, monkeypatch)
    sim.latency = LATENCY

    timed_get(sim, "/_simulator/state")
    timed_get(sim, "/orgunits")

    assert pauses == [LATENCY]  # the API route's only


def test_the_state_lock_is_free_while_requests_wait_their_latency(
    sim: LearnifierSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Waiting requests must not hold the state's lock, or they would answer one after another."""
    dispatcher = sim._dispatcher
    waiting = threading.Event()
    release = threading.Event()
    pause = dispatcher._pause

    def observed_pause(seconds: float) -> bool:
        if seconds > 0:
            waiting.set()
            release.wait(10)
        return pause(0)

    monkeypatch.setattr(dispatcher, "_pause", observed_pause)
    sim.latency = LATENCY
    with ThreadPoolExecutor(max_workers=1) as pool:
        answer = pool.submit(timed_get, sim, "/orgunits")
        assert waiting.wait(10)
        lock_was_free = sim.state._lock.acquire(blocking=False)
        if lock_was_free:
            sim.state._lock.release()
        release.set()
        answer.result(timeout=10)

    assert lock_was_free
