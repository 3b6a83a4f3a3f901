"""The bulk helpers (``operators/_bulk.py``): the bounded pool, the user index and the tally."""

from __future__ import annotations

import threading
import time

import pytest

from airflow_provider_learnifier.operators._bulk import (
    Cancelled,
    Tally,
    UserIndex,
    UserMismatch,
    run_concurrently,
)
from airflow_provider_learnifier.operators._roster import Person


def test_results_come_in_item_order_with_at_most_max_workers_at_once():
    running = peak = 0
    lock = threading.Lock()
    # The first four items finish only once all four run at once (else the barrier breaks after
    # 30 s and the items fail), and in reverse order.
    first_four = threading.Barrier(4, timeout=30)
    finished_first: list[int] = []

    def work(item: int) -> int:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        if item < 4:
            first_four.wait()
            while finished_first != list(range(3, item, -1)):
                time.sleep(0.001)
            finished_first.append(item)
        with lock:
            running -= 1
        return item * 10

    assert run_concurrently(work, list(range(40)), max_workers=4) == [n * 10 for n in range(40)]
    assert finished_first == [3, 2, 1, 0]
    assert peak == 4


def test_an_escaping_error_stops_items_not_yet_started():
    started: list[int] = []

    def work(item: int) -> None:
        started.append(item)
        if item == 0:
            raise RuntimeError("crash")
        time.sleep(0.01)

    with pytest.raises(RuntimeError, match="crash"):
        run_concurrently(work, list(range(100)), max_workers=2)
    assert len(started) < 100


def test_a_set_stop_event_cancels_the_rest():
    stop = threading.Event()
    stop.set()
    with pytest.raises(Cancelled):
        run_concurrently(lambda item: item, [1, 2, 3], max_workers=2, stop=stop)
    assert run_concurrently(lambda item: item, [], max_workers=2, stop=stop) == []


def test_the_user_index_matches_by_id_external_id_then_email():
    index = UserIndex(
        [
            {"id": "u1", "externalId": "E1", "primaryEmail": "Ada@Example.com"},
            {"id": "u2", "primaryEmail": "bob@example.com"},
        ]
    )
    assert index.find(Person(row=1, user_id="u2"))["id"] == "u2"
    assert index.find(Person(row=1, user_id="nobody")) is None
    assert index.find(Person(row=1, external_id="E1", email="other@example.com"))["id"] == "u1"
    assert index.find(Person(row=1, email="ada@example.COM"))["id"] == "u1"
    assert index.find(Person(row=1, email="bob@example.com", external_id="E2"))["id"] == "u2"
    assert (
        index.find(Person(row=1, email="ada@example.com", external_id="E1"), match_by=["email"])["id"] == "u1"
    )
    with pytest.raises(UserMismatch, match="whose external id is 'E1', not 'E9'"):
        index.find(Person(row=1, email="ada@example.com", external_id="E9"))
    assert len(index) == 2


def test_the_tally_orders_outcomes_by_row_whatever_the_thread_order():
    tally = Tally("done")
    tally.add("done", 3, "c")
    tally.add("done", 1, "a")
    tally.fail(2, "b", "broken", row=2)
    assert tally.items("done") == ["a", "c"]
    assert tally.failed == [{"person": "b", "reason": "broken", "row": 2}]
