"""The rate gate's logic on a mocked clock, and the hook's threads under a rate-limited simulator."""

from __future__ import annotations

import functools
import gc
import itertools
import json
import statistics
import weakref
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from airflow_provider_learnifier.hooks.learnifier import LearnifierConnectionSettings
from airflow_provider_learnifier.hooks.rate_gate import (
    DRAIN_SECONDS,
    GROWTH_SEND_SHARE,
    GROWTH_SHARE,
    MEASURED_SHARE,
    PACED_DECREASE,
    PLATEAU_SECONDS,
    QUIET_GROWTH,
    QUIET_SECONDS,
    RAMP_FACTOR,
    RAMP_SECONDS,
    START_SHARE,
    RateGate,
    shared_rate_gate,
)
from learnifier_simulator import LearnifierSimulator
from learnifier_simulator.faults import RateLimiter
from tests.hooks import gate_harness


class FakeClock:
    """A clock that only moves when something sleeps on it."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        assert seconds >= 0
        self.now += seconds


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def sleep(mocker, clock):
    return mocker.Mock(side_effect=clock.advance)


def serve(gate: RateGate, server: RateLimiter, clock: FakeClock, requests: int, round_trip: float) -> dict:
    """Send ``requests`` one by one through ``gate`` to ``server``, retrying 429s; count what happened."""
    admitted = refused = 0
    began = clock()
    while admitted < requests:
        turn = gate.acquire()
        clock.advance(round_trip)
        refusal = server.take()
        if refusal is None:
            admitted += 1
            gate.answered(turn, 200, None)
        else:
            refused += 1
            gate.answered(turn, 429, float(refusal.headers["Retry-After"]))
    return {"admitted": admitted, "refused": refused, "seconds": clock() - began}


def test_without_a_429_or_a_maximum_nothing_waits(clock, sleep):
    gate = RateGate(clock=clock, sleep=sleep)
    for _ in range(100):
        gate.answered(gate.acquire(), 200, None)
    assert gate.rate is None
    sleep.assert_not_called()


@given(max_rate=st.floats(min_value=0.5, max_value=1000), count=st.integers(min_value=2, max_value=50))
def test_a_maximum_spaces_the_turns(max_rate, count):
    clock = FakeClock()
    gate = RateGate(max_rate, clock=clock, sleep=clock.advance)
    turns = [gate.acquire() for _ in range(count)]
    gaps = [later - earlier for earlier, later in itertools.pairwise(turns)]
    assert min(gaps) == pytest.approx(1 / max_rate)


def test_a_429_pauses_every_thread_once_for_its_retry_after(clock, sleep):
    gate = RateGate(clock=clock, sleep=sleep)
    in_flight = [gate.acquire() for _ in range(5)]
    gate.answered(in_flight[0], 200, None)
    clock.advance(0.1)
    gate.answered(in_flight[1], 429, 2.0)
    resume = clock() + 2.0
    # The others were on their way before the pause: their 429s start no episode of their own.
    for turn in in_flight[2:]:
        gate.answered(turn, 429, 2.0)
    assert gate.paused_until == pytest.approx(resume)
    assert gate.acquire() >= resume
    assert sleep.call_count == 1


def sent_at_100_per_second(gate: RateGate, clock: FakeClock) -> None:
    """One second of requests through ``gate``, all admitted, at 100 a second."""
    for _ in range(100):
        gate.answered(gate.acquire(), 200, None)
        clock.advance(0.01)


def on_their_way(gate: RateGate, clock: FakeClock, count: int) -> list[float]:
    """``count`` more turns at 100 a second, not answered yet."""
    turns = []
    for _ in range(count):
        turns.append(gate.acquire())
        clock.advance(0.01)
    return turns


def test_the_first_pace_is_the_share_admitted_of_what_was_on_its_way_at_most_a_tenth(clock, sleep):
    gate = RateGate(clock=clock, sleep=sleep)
    sent_at_100_per_second(gate, clock)
    refused = gate.acquire()
    in_flight = on_their_way(gate, clock, 7)
    gate.answered(refused, 429, 1.0)
    # Sent at about 100/s: a slow start from a tenth of that, whatever the in-flight share says.
    assert gate.rate == pytest.approx(MEASURED_SHARE * START_SHARE * 100, rel=0.15)
    for turn in in_flight:
        gate.answered(turn, 429, 1.0)
    # Of the 8 answers from the moment the server's bucket ran dry none was admitted: less than that.
    assert gate.rate == pytest.approx(MEASURED_SHARE * 100 * 0.5 / 8, rel=0.15)


def test_requests_sent_before_the_first_refused_one_say_nothing_of_the_empty_bucket(clock, sleep):
    gate = RateGate(clock=clock, sleep=sleep)
    sent_at_100_per_second(gate, clock)
    earlier = on_their_way(gate, clock, 7)
    gate.answered(gate.acquire(), 429, 1.0)
    for turn in earlier:
        gate.answered(turn, 429, 1.0)
    # Refused before the bucket's last token went, they are not counted: the start stays.
    assert gate.rate == pytest.approx(MEASURED_SHARE * START_SHARE * 100, rel=0.15)


def test_after_the_first_429_the_pace_starts_slowly_and_grows_to_the_send_rate(clock, sleep):
    gate = RateGate(clock=clock, sleep=sleep)
    sent_at_100_per_second(gate, clock)
    gate.answered(gate.acquire(), 429, 2.0)
    start = gate.rate
    clock.advance(2.0)  # nothing grows while every thread waits the Retry-After
    assert gate.rate == start
    clock.advance(4 * RAMP_SECONDS)
    assert gate.rate == pytest.approx(start * RAMP_FACTOR**4)
    clock.advance(60.0)
    assert gate.rate == pytest.approx(100.0, rel=0.15), "no faster than requests went before the 429"


def test_a_429_from_a_request_sent_after_the_pause_starts_a_new_episode(clock, sleep):
    gate = RateGate(clock=clock, sleep=sleep)
    sent_at_100_per_second(gate, clock)
    gate.answered(gate.acquire(), 429, 1.0)
    for _ in range(30):
        gate.answered(gate.acquire(), 200, None)
    clock.advance(1.0)
    before = gate.rate
    gate.answered(gate.acquire(), 429, 1.0)
    assert gate.rate < before


def test_a_429_saying_retry_now_neither_pauses_nor_paces(clock, sleep):
    gate = RateGate(clock=clock, sleep=sleep)
    for _ in range(50):
        gate.answered(gate.acquire(), 200, None)
        clock.advance(0.01)
    for _ in range(10):
        gate.answered(gate.acquire(), 429, 0.0)
    assert gate.rate is None
    assert gate.paused_until <= clock()
    gate.answered(gate.acquire(), 429, 1.0)
    assert gate.rate is not None, "a 429 that asks for a wait is still learnt from"
    sleep.assert_not_called()


def test_a_retry_after_too_long_to_wait_pauses_nobody(clock, sleep):
    gate = RateGate(clock=clock, sleep=sleep, max_pause=300)
    gate.answered(gate.acquire(), 429, 3600.0)
    assert gate.paused_until <= clock()


def test_without_adaptation_a_429_changes_nothing(clock, sleep):
    gate = RateGate(clock=clock, sleep=sleep, adaptive=False)
    gate.answered(gate.acquire(), 429, 5.0)
    assert gate.rate is None
    assert gate.paused_until <= clock()


def test_the_rate_grows_slowly_after_an_episode_but_never_past_the_maximum(clock, sleep):
    gate = RateGate(10.0, clock=clock, sleep=sleep)
    for _ in range(5):
        gate.answered(gate.acquire(), 200, None)
    gate.answered(gate.acquire(), 429, 1.0)
    after_episode = gate.rate
    assert after_episode == pytest.approx(MEASURED_SHARE * PACED_DECREASE * 10.0)
    clock.advance(10.0)
    assert after_episode < gate.rate <= 10.0
    clock.advance(10_000.0)
    assert gate.rate == 10.0


def paced_gate(clock: FakeClock, sleep: Any, rate: float = 50.0) -> RateGate:
    """A gate that has met its first 429 and paced ``rate`` requests a second for 10 s, all admitted."""
    gate = RateGate(clock=clock, sleep=sleep)
    sent_at_100_per_second(gate, clock)
    gate.answered(gate.acquire(), 429, 1.0)
    clock.advance(1.0)
    gate.lower_max_rate(rate)
    for _ in range(int(10 * rate)):
        gate.answered(gate.acquire(), 200, None)
    return gate


def test_a_paced_429_holds_the_refused_request_its_retry_after_and_the_others_two_turns(clock, mocker):
    from concurrent.futures import ThreadPoolExecutor

    sleeps = mocker.Mock(side_effect=clock.advance)
    gate = paced_gate(clock, sleeps)
    earlier = gate.acquire()
    refused = gate.acquire()
    began = clock()
    assert gate.answered(refused, 429, 2.0) == pytest.approx(began + 2.0)
    # Another thread goes on at the new pace after a drain of two turns, within a tenth of a second.
    with ThreadPoolExecutor(1) as other_thread:
        turn = other_thread.submit(gate.acquire).result()
    assert turn <= began + DRAIN_SECONDS + 1e-9
    # A request sent before the refused one, refused too, starts no episode and pauses nobody else.
    paused = gate.paused_until
    assert gate.answered(earlier, 429, 2.0) == pytest.approx(clock() + 2.0)
    assert gate.paused_until == paused
    # The refused thread itself sends again only once its Retry-After is over.
    assert gate.acquire() >= began + 2.0


def test_a_429_while_the_last_retry_after_runs_and_nothing_was_admitted_pauses_everyone(clock, sleep):
    gate = paced_gate(clock, sleep)
    gate.answered(gate.acquire(), 429, 2.0)
    clock.advance(0.5)
    # From another thread: a turn after the drain, refused too, and nothing admitted meanwhile.
    turn = gate.take_turn()[1]
    clock.advance(max(0.0, turn - clock()))
    gate.answered(turn, 429, 2.0)
    assert gate.paused_until == pytest.approx(clock() + 2.0)


def test_a_paced_429_cuts_to_the_rate_measured_over_enough_requests(clock, sleep):
    gate = paced_gate(clock, sleep, rate=20.0)
    gate.lower_max_rate(10.0)
    # Paced at 10/s, the server admitted 10/s: the gate keeps 97% of what it measured.
    for _ in range(50):
        gate.answered(gate.acquire(), 200, None)
    gate.answered(gate.acquire(), 429, 1.0)
    assert gate.rate == pytest.approx(MEASURED_SHARE * 10.0, rel=0.03)
    # Right after it, too few requests to measure anything: the pace loses a tenth only.
    clock.advance(0.5)
    pace = gate.rate
    for _ in range(3):
        gate.answered(gate.acquire(), 200, None)
    gate.answered(gate.acquire(), 429, 1.0)
    assert gate.rate == pytest.approx(MEASURED_SHARE * PACED_DECREASE * pace, rel=0.01)


@given(limit=st.sampled_from([5.0, 20.0, 100.0, 500.0]), headroom=st.sampled_from([2.0, 5.0, 20.0]))
def test_the_gate_learns_a_token_bucket_limit(limit, headroom):
    """A client that could send ``headroom`` times faster than the server's limit."""
    clock = FakeClock()
    server = RateLimiter(limit, clock=clock)
    gate = RateGate(clock=clock, sleep=clock.advance)
    result = serve(gate, server, clock, requests=int(30 * limit), round_trip=1 / (headroom * limit))
    assert result["admitted"] / result["seconds"] >= 0.85 * limit
    # One thread meets one 429 an episode: one more than 5% over 30 s of a limit of 5 a second.
    assert result["refused"] <= 0.05 * (result["admitted"] + result["refused"]) + 1


def test_a_turn_given_before_a_429_is_taken_again_after_its_pause(clock, mocker):
    def meanwhile_a_429(seconds: float) -> None:
        # While this thread waits for its turn, another one's request is answered 429.
        if gate.paused_until <= clock():
            gate.answered(clock(), 429, 2.0)
        clock.advance(seconds)

    sleep = mocker.Mock(side_effect=meanwhile_a_429)
    gate = RateGate(10.0, clock=clock, sleep=sleep)
    gate.answered(gate.acquire(), 200, None)
    resume = clock() + 2.0
    assert gate.acquire() >= resume
    # One wait for the turn first given, one for the turn after the pause.
    assert sleep.call_count == 2


def test_after_a_paced_episode_the_pace_holds_then_grows_steadily_and_never_while_paused(clock, sleep):
    gate = RateGate(clock=clock, sleep=sleep)
    sent_at_100_per_second(gate, clock)
    gate.answered(gate.acquire(), 429, 1.0)
    clock.advance(3.0)  # the slow start after the first 429 grows to the send rate meanwhile
    gate.answered(gate.acquire(), 429, 2.0)
    pace = gate.rate
    assert gate.paused_until <= clock() + DRAIN_SECONDS, "the others wait two turns, not the Retry-After"
    clock.advance(gate.paused_until - clock() + PLATEAU_SECONDS - 0.01)
    assert gate.rate == pace
    rates = []
    for _ in range(int(QUIET_SECONDS)):
        clock.advance(1.0)
        rates.append(gate.rate)
    steps = [later - earlier for earlier, later in itertools.pairwise(rates)]
    assert rates[0] > pace
    assert steps == pytest.approx([steps[0]] * len(steps))
    # The growth's scale is at least half the send rate at the first 429 (100/s), the same for
    # every process of an account that runs alike, so that their shares converge.
    assert steps[0] == pytest.approx(GROWTH_SHARE * GROWTH_SEND_SHARE * 100.0, rel=0.15)
    # Long without a 429, it grows faster: 10% a second more.
    clock.advance(2.0)
    quiet = gate.rate
    clock.advance(1.0)
    assert gate.rate - quiet >= steps[0] + (QUIET_GROWTH - 1) * quiet
    # Every thread waits a 429's Retry-After while the last one's runs and nothing was admitted:
    # the pace holds where it is meanwhile.
    before = gate.rate
    gate.answered(gate.acquire(), 429, 1.0)
    turn = gate.take_turn()[1]  # another thread's, after the drain
    clock.advance(max(0.0, turn - clock()))
    gate.answered(turn, 429, 3.0)
    assert gate.paused_until == pytest.approx(clock() + 3.0)
    cut = gate.rate
    assert cut < before
    clock.advance(3.0 + PLATEAU_SECONDS)
    assert gate.rate == pytest.approx(cut)


def test_the_connection_extra_sets_the_maximum(monkeypatch):
    from airflow.models.connection import Connection

    connection = Connection(
        conn_id="x",
        conn_type="learnifier",
        login="k",
        password="s",
        extra='{"max_requests_per_second": "25"}',
    )
    assert LearnifierConnectionSettings.from_connection(connection).max_requests_per_second == 25.0
    for wrong in ("0", "-1", "fast", "true"):
        connection.extra = f'{{"max_requests_per_second": "{wrong}"}}'
        with pytest.raises(ValueError, match="max_requests_per_second"):
            LearnifierConnectionSettings.from_connection(connection)


def test_enrolling_against_a_rate_limit_fails_nobody_and_meets_few_429s(monkeypatch, mocker):
    from airflow_provider_learnifier.operators.participants import LearnifierEnrollOperator

    people = [{"email": f"limited{n}@acme.example", "external_id": f"limited-{n}"} for n in range(40)]
    with LearnifierSimulator(seed="demo", record=False, latency=0.02, rate_limit=50) as simulator:
        monkeypatch.setenv("AIRFLOW_CONN_LEARNIFIER_DEFAULT", simulator.connection_json())
        operator = LearnifierEnrollOperator(
            task_id="enroll", roster=people, org_id=1001, project_id=2001, max_concurrency=8
        )
        summary = operator.execute({"ti": mocker.MagicMock()})
        counts = simulator.rate_limit_counts
    assert summary["counts"]["failed"] == 0
    assert summary["counts"]["enrolled"] == len(people)
    # Without the gate every thread meets its own 429s; with it, about one episode's worth.
    assert counts["refused"] <= 0.1 * (counts["admitted"] + counts["refused"])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    limit=st.sampled_from([5.0, 20.0, 50.0, 100.0, 500.0]),
    burst_share=st.sampled_from([None, 0.1, 2.0]),
    processes=st.integers(min_value=1, max_value=4),
    threads=st.sampled_from([1, 2, 8, 32]),
    seed=st.integers(min_value=0, max_value=10_000),
)
@example(limit=50.0, burst_share=0.1, processes=4, threads=2, seed=9988)
@example(limit=5.0, burst_share=0.1, processes=4, threads=8, seed=1551)
@example(limit=50.0, burst_share=None, processes=3, threads=1, seed=25)
def test_no_request_goes_while_its_gate_is_paused_and_nobody_starves(
    limit, burst_share, processes, threads, seed
):
    burst = None if burst_share is None else max(1.0, burst_share * limit)
    outcome = gate_harness.run(
        limit, burst=burst, processes=processes, threads=threads, requests=int(4 * limit), seed=seed
    )
    assert outcome.sent_while_paused == 0
    assert outcome.resent_too_soon == 0, "a refused request went again before its Retry-After"
    assert outcome.admitted == processes * int(4 * limit)
    assert [sum(paces) for paces in outcome.paces] == [int(4 * limit)] * processes
    # Each process got on: none waited out more than four times the slowest share of the rest.
    # With a bucket far smaller than a second's worth, where each whole-second Retry-After costs
    # more than the bucket holds, the shares converge more slowly: up to six times (seen: at most
    # 4.1 in 1,440 cases of these jobs of four seconds; 6.1 before the change of 2026-12-07).
    assert outcome.spread <= (4.0 if burst is None or burst >= limit else 6.0)


#: A client on a loaded machine: none, or now and then a request 10 or 30 ms late on average.
STALLS = st.sampled_from([0.0, 0.01, 0.03])
TARGETS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def shared_account(seed: int, stall: float) -> gate_harness.Outcome:
    """Issue 27's case: four processes of 8 threads, 200 people (620 requests) each, R = 50/s."""
    return gate_harness.run(50.0, processes=4, threads=8, requests=620, seed=seed, stall=stall)


@TARGETS
@given(seed=st.integers(min_value=0, max_value=10_000), stall=STALLS)
def test_four_processes_sharing_an_account_use_its_limit_fairly(seed, stall):
    outcome = shared_account(seed, stall)
    # Targets: >= 0.90x R in total, <= 5% 429s, the slowest within 1.5x the fastest. Each
    # process learns its share from its own 429s alone, so a run can fall short of the first and
    # the last: their distribution is held below. What every run holds is a looser bound. Seen
    # in seeds 0-1,499 at each stall (4,500 runs): at least 0.872x R, at most 4.7% 429s, the
    # slowest at most 2.11x the fastest (6.5% of runs over 1.5x, 0.2% over 2.0x).
    assert outcome.share_of_limit >= 0.85 * 50.0
    assert outcome.refused_share <= 0.06
    assert outcome.spread <= 2.5


def test_four_processes_sharing_an_account_meet_the_targets_in_most_runs():
    outcomes = [shared_account(seed, stall) for seed in range(30) for stall in (0.0, 0.03)]
    shares = [outcome.share_of_limit / 50.0 for outcome in outcomes]
    spreads = [outcome.spread for outcome in outcomes]
    assert statistics.median(shares) >= 0.95
    assert sum(share >= 0.90 for share in shares) >= 0.95 * len(outcomes)
    assert statistics.median(spreads) <= 1.35
    assert sum(spread <= 1.5 for spread in spreads) >= 0.85 * len(outcomes)


@TARGETS
@given(seed=st.integers(min_value=0, max_value=10_000), stall=STALLS)
def test_four_processes_given_a_quarter_of_the_limit_each_meet_the_targets_in_every_run(seed, stall):
    """The split the hook guide documents: each process's connection sets max_requests_per_second R / 4."""
    outcome = gate_harness.run(
        50.0,
        processes=4,
        threads=8,
        requests=620,
        seed=seed,
        stall=stall,
        gate_class=functools.partial(RateGate, 50.0 / 4),
    )
    assert outcome.share_of_limit >= 0.90 * 50.0
    assert outcome.refused_share == 0
    assert outcome.spread <= 1.5


@TARGETS
@given(seed=st.integers(min_value=0, max_value=10_000), stall=STALLS)
def test_one_enrollment_against_a_bucket_of_five_reaches_the_limit(seed, stall):
    """R = 50/s with a bucket of 5: each whole-second Retry-After is worth ten buckets."""
    outcome = gate_harness.run(50.0, burst=5.0, threads=8, requests=900, seed=seed, stall=stall)
    assert outcome.share_of_limit >= 0.85 * 50.0
    assert outcome.refused_share <= 0.05


@TARGETS
@given(threads=st.sampled_from([8, 32]), seed=st.integers(min_value=0, max_value=10_000), stall=STALLS)
def test_a_short_job_reaches_the_limit(threads, seed, stall):
    """About 900 requests at R = 100/s: the job is over in nine seconds."""
    outcome = gate_harness.run(100.0, threads=threads, requests=900, seed=seed, stall=stall)
    assert outcome.share_of_limit >= 0.85 * 100.0
    # The target is <= 5% 429s. Seen in seeds 0-599 at each stall: at most 4.9% with 32 threads
    # (each first 429 finds all 32 on their way), 2.2% with 8; a little room for the seeds beyond.
    assert outcome.refused_share <= (0.06 if threads == 32 else 0.05)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    limit=st.sampled_from([20.0, 100.0, 500.0]),
    threads=st.sampled_from([8, 32]),
    seed=st.integers(min_value=0, max_value=10_000),
)
def test_a_long_job_keeps_to_the_limit(limit, threads, seed):
    """Thirty seconds' worth of requests, or as many as the threads can send (8 x 40/s here)."""
    requests = int(30 * min(limit, threads / 0.025))
    outcome = gate_harness.run(limit, threads=threads, requests=requests, seed=seed)
    assert outcome.share_of_limit >= 0.95 * min(limit, threads / 0.025)


def test_every_hook_of_one_account_shares_one_gate(monkeypatch):
    from airflow_provider_learnifier.hooks.learnifier import LearnifierHook

    def connection(key: str, host: str = "127.0.0.1:8443", rate: str | None = None) -> str:
        extra = {} if rate is None else {"max_requests_per_second": rate}
        return json.dumps(
            {"conn_type": "learnifier", "host": host, "login": key, "password": "s", "extra": extra}
        )

    monkeypatch.setenv("AIRFLOW_CONN_A", connection("key-1"))
    monkeypatch.setenv("AIRFLOW_CONN_A_AGAIN", connection("key-1", rate="20"))
    monkeypatch.setenv("AIRFLOW_CONN_OTHER_KEY", connection("key-2"))
    monkeypatch.setenv("AIRFLOW_CONN_OTHER_HOST", connection("key-1", host="127.0.0.2:8443"))
    first, again = LearnifierHook("a"), LearnifierHook("a_again")
    assert first.rate_gate is LearnifierHook("a").rate_gate is again.rate_gate
    # The account's tightest maximum holds for all its hooks.
    assert first.rate_gate.max_rate == 20.0
    # The hooks are kept: a gate lives only while a hook holds it, and a freed one's id may be reused.
    other_hooks = [LearnifierHook(name) for name in ("other_key", "other_host")]
    others = {id(hook.rate_gate) for hook in other_hooks}
    assert id(first.rate_gate) not in others and len(others) == 2


def test_a_shared_gate_lives_while_a_hook_holds_it():
    gate = shared_rate_gate("https://learnifier.example", "key-3", max_pause=300)
    assert shared_rate_gate("https://learnifier.example", "key-3", max_pause=300) is gate
    held = weakref.ref(gate)
    del gate
    gc.collect()
    assert held() is None, "the registry keeps no gate that no hook holds"
    assert shared_rate_gate("https://learnifier.example", "key-3", 5.0, max_pause=300).max_rate == 5.0


def test_lowering_the_maximum_never_raises_it(clock, sleep):
    gate = RateGate(10.0, clock=clock, sleep=sleep)
    gate.lower_max_rate(50.0)
    assert gate.max_rate == 10.0
    gate.lower_max_rate(4.0)
    assert gate.max_rate == 4.0 and gate.rate == 4.0
    with pytest.raises(ValueError, match="max_rate"):
        gate.lower_max_rate(0)


def test_two_tasks_of_one_account_in_one_process_share_the_gate_and_the_limit(monkeypatch, mocker):
    """Two enroll tasks at once in one worker process, through two connections to one account."""
    from concurrent.futures import ThreadPoolExecutor

    from airflow_provider_learnifier.hooks import learnifier
    from airflow_provider_learnifier.operators.participants import LearnifierEnrollOperator

    gates: list[Any] = []  # (pytest-mock's spy_return_list is newer than its floor, 3.12)
    make_gate = learnifier.shared_rate_gate

    def recording_gate(*args: Any, **kwargs: Any) -> Any:
        gates.append(make_gate(*args, **kwargs))
        return gates[-1]

    monkeypatch.setattr(learnifier, "shared_rate_gate", recording_gate)
    with LearnifierSimulator(seed="demo", record=False, latency=0.02, rate_limit=50) as simulator:
        for conn_id in ("first", "second"):
            monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", simulator.connection_json())

        def enroll(conn_id: str) -> dict:
            people = [
                {"email": f"{conn_id}{n}@acme.example", "external_id": f"{conn_id}-{n}"} for n in range(30)
            ]
            operator = LearnifierEnrollOperator(
                task_id=f"enroll_{conn_id}",
                learnifier_conn_id=conn_id,
                roster=people,
                org_id=1001,
                project_id=2001,
                max_concurrency=8,
            )
            return operator.execute({"ti": mocker.MagicMock()})

        with ThreadPoolExecutor(2) as pool:
            summaries = list(pool.map(enroll, ("first", "second")))
        counts = simulator.rate_limit_counts
    assert [summary["counts"]["enrolled"] for summary in summaries] == [30, 30]
    assert all(summary["counts"]["failed"] == 0 for summary in summaries)
    assert len({id(gate) for gate in gates}) == 1, "one gate for the account"
    assert counts["refused"] <= 0.1 * (counts["admitted"] + counts["refused"])


def test_a_gate_made_earlier_waits_with_the_sleep_of_now(mocker):
    # A shared gate outlives the task (or test) that made it: its pause must use the process's
    # sleep at the time it waits, not the one there was when the gate was made.
    gate = RateGate()
    sent = gate.acquire()
    gate.answered(sent, 429, 2.0)
    sleep = mocker.patch("time.sleep")
    gate.acquire()
    (call,) = sleep.call_args_list
    assert 1.5 <= call.args[0] <= 2.0
