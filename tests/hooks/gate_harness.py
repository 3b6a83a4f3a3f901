"""Drive rate gates in virtual time: processes of threads sending through their gates to one server.

A discrete-event simulation on a fake clock, so that many threads and several processes (each
with its own gate) can be run in milliseconds, deterministically, and without any wall time:
each thread takes a turn (:meth:`RateGate.take_turn`), waits for it unless an episode took it
back (:meth:`RateGate.turn_stands`), and its request reaches the server's token bucket half a
round trip later (later still, now and then, from a loaded client: ``stall``); the answer comes
back after the other half. A 429 is tried again through the gate once the moment
:meth:`RateGate.answered` returned for it has come, as the hook's thread does in
:meth:`RateGate.acquire`.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from airflow_provider_learnifier.hooks.rate_gate import RateGate
from learnifier_simulator.faults import RateLimiter


class VirtualClock:
    """A clock that moves only from one event to the next."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Outcome:
    """What the server saw, and when each process finished (virtual seconds from its start)."""

    admitted: int
    refused: int
    span: float
    durations: list[float]
    #: Requests sent while their own gate was paused by a 429 answered earlier: must be none.
    sent_while_paused: int = 0
    #: Refused requests sent again before their own ``Retry-After`` was over: must be none.
    resent_too_soon: int = 0
    #: Each process's requests admitted by the server in each virtual second from the start: the
    #: pace it got, to see how the shares evolve over a run.
    paces: list[list[int]] = field(default_factory=list)

    @property
    def share_of_limit(self) -> float:
        return self.admitted / self.span

    @property
    def refused_share(self) -> float:
        return self.refused / (self.admitted + self.refused)

    @property
    def spread(self) -> float:
        return max(self.durations) / min(self.durations)


def run(
    limit: float,
    *,
    burst: float | None = None,
    processes: int = 1,
    threads: int = 8,
    requests: int = 900,
    round_trip: float = 0.025,
    stall: float = 0.0,
    seed: int = 0,
    gate_class: Callable[..., RateGate] = RateGate,
) -> Outcome:
    """Send ``requests`` from each of ``processes`` processes of ``threads`` threads to one bucket.

    :param stall: a loaded client: a fifth of the requests leave late, by this many seconds on
        average (exponentially distributed), so that they reach the server bunched up.
    """
    rnd = random.Random(seed)
    clock = VirtualClock()
    server = RateLimiter(limit, burst, clock=clock)
    events: list[tuple[float, int, Callable[[], None]]] = []
    order = itertools.count()
    gates = [gate_class(clock=clock, sleep=_no_sleep) for _ in range(processes)]
    remaining = [requests] * processes
    in_flight = [0] * processes
    finished: list[float | None] = [None] * processes
    started = clock.now
    sent_while_paused = [0]
    resent_too_soon = [0]
    paces: list[list[int]] = [[] for _ in range(processes)]

    def at(moment: float, action: Callable[[], None]) -> None:
        heapq.heappush(events, (moment, next(order), action))

    def next_request(process: int) -> None:
        if remaining[process] == 0:
            if in_flight[process] == 0 and finished[process] is None:
                finished[process] = clock.now
            return
        remaining[process] -= 1
        in_flight[process] += 1
        take_turn(process)

    def take_turn(process: int, not_before: float = 0.0) -> None:
        gate = gates[process]
        now, turn, episodes = gate.take_turn()
        if turn <= now:
            send(process, turn, not_before)
        else:
            at(
                turn,
                lambda: (
                    send(process, turn, not_before)
                    if gate.turn_stands(episodes)
                    else take_turn(process, not_before)
                ),
            )

    def send(process: int, turn: float, not_before: float) -> None:
        if clock.now < gates[process].paused_until:
            sent_while_paused[0] += 1
        if clock.now < not_before:
            resent_too_soon[0] += 1
        half = round_trip / 2 * (0.5 + rnd.random())
        # A loaded client: now and then a request leaves late (exponential, ``stall`` on average).
        late = rnd.expovariate(1 / stall) if stall and rnd.random() < 0.2 else 0.0

        def arrive() -> None:
            refusal = server.take()

            def answer() -> None:
                if refusal is None:
                    second = int(clock.now - started)
                    paces[process].extend([0] * (second + 1 - len(paces[process])))
                    paces[process][second] += 1
                    gates[process].answered(turn, 200, None)
                    in_flight[process] -= 1
                    next_request(process)
                else:
                    retry_after = float(refusal.headers["Retry-After"])
                    hold = gates[process].answered(turn, 429, retry_after)
                    # The refused request waits for the moment its gate gave, then takes a turn.
                    due = clock.now + retry_after - 1e-9
                    at(clock.now if hold is None else max(clock.now, hold), lambda: take_turn(process, due))

            at(clock.now + half, answer)

        at(clock.now + late + half, arrive)

    for process in range(processes):
        for _ in range(threads):
            at(started + rnd.random() * 0.01, lambda process=process: next_request(process))
    while events:
        moment, _, action = heapq.heappop(events)
        clock.now = max(clock.now, moment)
        action()
    counts = server.counts
    return Outcome(
        admitted=counts["admitted"],
        refused=counts["refused"],
        span=server.span,
        durations=[(end or started) - started for end in finished],
        sent_while_paused=sent_while_paused[0],
        resent_too_soon=resent_too_soon[0],
        paces=paces,
    )


def _no_sleep(seconds: float) -> None:
    raise AssertionError("the harness never blocks: it books turns and waits for them as events")
