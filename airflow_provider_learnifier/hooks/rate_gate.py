"""The client-side rate gate that paces all requests to one Learnifier account in a process.

Modelled on the AWS SDKs' adaptive retry mode: requests take a turn from a client-side token
bucket whose rate is learnt from 429 answers. Until the first 429 (and without a configured
maximum) the gate lets every request through. A 429 starts a *throttling episode*: every thread
pauses once for the ``Retry-After`` (those already given a turn take a new one after it, so an
episode costs the requests in the network, not one per thread), and the pace drops to what the
server admitted. Every hook of one account in the process shares one gate
(:func:`shared_rate_gate`): a triggerer runs thousands of triggers, a worker several tasks.

What the server admitted is measured, at each episode, in three ways, each a lower bound of its
rate ``R`` (other processes of the same account take their share before this one's):

- *in flight*: the requests sent after the refused one met an empty bucket, so the share of
  them admitted is ``R`` over the send rate (coarse: only as many as were in flight);
- *refill*: what was admitted since the previous episode began, over that time, pause included
  (exact when the server's bucket holds a pause's worth, low when it holds less: the refill
  during the pause overflows);
- *active*: what was admitted since the previous pause ended, less what the bucket can have held
  then (no more than the first burst admitted before the first 429 ever), over that time.

At the first 429 the gate knows only the send rate and the in-flight share, and keeps at least 70%
of the send rate (requests sent close together can meet a 429 from a small bucket while their
average is within the limit). At a 429 met while pacing, the pace was too fast: if the best
measure is close to it, the gate keeps 90% of the pace (the measures run low when other
processes share the account, and a deeper cut at each 429 would compound to nothing); if the
measure is far below, the gate goes to the geometric middle of the two (one more episode at most
finds the limit, where the measure alone would leave it far under for a long time).

The gate sends at 97% of the rate so found, for a margin; after a plateau it raises the pace
additively, by a share of the highest rate it has used per second, so that a limit that grows is
found again, and processes sharing an account converge to equal shares (additive increase,
multiplicative decrease, as TCP's congestion control). Nothing grows while the gate is paused.
"""

from __future__ import annotations

import hashlib
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable

#: The share of a measured rate the gate sends at, for a margin under the server's limit.
MEASURED_SHARE = 0.97
#: The least share of the send rate kept at the first 429: a few requests sent close together can
#: meet a 429 from a server with a small bucket while the average rate is well within its limit.
DECREASE = 0.7
#: The share of the pace kept at a 429 met while pacing, when the rate measured is close to it.
PACED_DECREASE = 0.9
#: The rate measured is "close" to the pace when it is at least this share of it; further below,
#: the gate goes to the geometric middle of the two.
CLOSE_SHARE = 0.7
#: A paced episode's in-flight share counts only from this many answers (a paced request has
#: few others on their way).
MIN_IN_FLIGHT = 4
#: Seconds after an episode's pause that the pace stays as set, before it grows.
PLATEAU_SECONDS = 3.0
#: Then the pace grows by this share of the highest rate the gate has used, per second.
GROWTH_SHARE = 0.02
#: The send rate at the first 429 is the highest measured over these many seconds before it.
SEND_RATE_SECONDS = (0.1, 0.5)
#: The gate remembers admitted requests this long (seconds), enough for the episodes it measures.
WINDOW_SECONDS = 120.0
#: The lowest rate the gate paces at, in requests per second.
MIN_RATE = 0.5
#: Measuring over less than this (seconds) since a pause ended says nothing of a rate.
MIN_MEASURE_SECONDS = 0.05


class RateGate:
    """Paces the requests of an account's hooks and threads, learning the server's rate limit from 429s.

    Call :meth:`acquire` before each request and :meth:`answered` with its status afterwards.

    :param max_rate: never send more than this many requests per second (the connection's
        ``max_requests_per_second``); ``None`` for no maximum.
    :param adaptive: learn from 429 answers; ``False`` only enforces ``max_rate``.
    :param max_pause: a ``Retry-After`` longer than this (seconds) pauses no thread: the caller
        gives up on that request instead.
    :param clock: the clock, in seconds (``time.monotonic``); a seam for tests.
    :param sleep: how to wait (``time.sleep``); a seam for tests.
    """

    def __init__(
        self,
        max_rate: float | None = None,
        *,
        adaptive: bool = True,
        max_pause: float = 300.0,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        if max_rate is not None and not max_rate > 0:
            raise ValueError(f"max_rate must be positive, not {max_rate!r}")
        self.max_rate = max_rate
        self.adaptive = adaptive
        self.max_pause = max_pause
        self._clock = clock or time.monotonic
        # Looked up at each wait, not bound here: a gate is shared for the life of the process,
        # and must wait the way the process waits now (a test's patched sleep included).
        self._sleep = sleep
        self._lock = threading.Lock()
        #: Requests per second paced at, ``None`` while unpaced.
        self._rate: float | None = max_rate
        #: The pace last set, and from when it grows (the end of the pause it was set in).
        self._rate_set_to: float | None = max_rate
        self._rate_set_at = self._clock()
        #: The highest pace set so far: the growth's scale, the same for every process of an account.
        self._highest_set = max_rate or 0.0
        #: The earliest moment the next request may be sent.
        self._next_turn = self._rate_set_at
        self._paused_until = self._rate_set_at
        self._first_sent: float | None = None
        self._episode_started: float | None = None
        #: When the request whose 429 started the current episode was sent.
        self._episode_first_refused = self._rate_set_at
        #: The rate requests were sent at when the current episode started.
        self._episode_send_rate = 0.0
        #: The pace of the request whose 429 started the current episode; ``None`` when unpaced.
        self._episode_pace: float | None = None
        #: The lower bounds measured at the current episode (see the module's description).
        self._refill_rate = 0.0
        self._active_rate = 0.0
        #: Requests admitted before the first 429: the most the server's bucket can hold.
        self._first_burst: int | None = None
        #: The answers to requests sent before the current episode started: admitted, refused.
        self._in_flight = [0, 0]
        self._admitted: deque[float] = deque()
        #: When the last turns were given, while unpaced.
        self._sent: deque[float] = deque()
        #: Pauses begun or lengthened so far: a turn given before one is taken again after it.
        self._pauses = 0

    @property
    def rate(self) -> float | None:
        """The rate the gate paces at now, in requests per second; ``None`` while it does not pace."""
        with self._lock:
            return self._current_rate(self._clock())

    @property
    def paused_until(self) -> float:
        """The moment (on the gate's clock) until which no request is sent."""
        with self._lock:
            return self._paused_until

    def lower_max_rate(self, max_rate: float) -> None:
        """Never send more than ``max_rate`` requests per second from now on (a lower maximum only)."""
        if not max_rate > 0:
            raise ValueError(f"max_rate must be positive, not {max_rate!r}")
        with self._lock:
            if self.max_rate is not None and self.max_rate <= max_rate:
                return
            self.max_rate = max_rate
            if self._rate is None or self._rate > max_rate:
                self._rate = max_rate
            if self._rate_set_to is None or self._rate_set_to > max_rate:
                self._rate_set_to = max_rate

    def acquire(self) -> float:
        """Wait for this request's turn; return the moment it was given (pass it to :meth:`answered`)."""
        while True:
            now, turn, pauses = self.take_turn()
            if turn <= now:
                return turn
            (self._sleep or time.sleep)(turn - now)
            if self.turn_stands(pauses):
                return turn

    def take_turn(self) -> tuple[float, float, int]:
        """Book the next turn without waiting: ``(now, turn, pauses)``.

        The turn stands if no 429 paused the gate before it came (:meth:`turn_stands` with
        ``pauses``); :meth:`acquire` is this and the wait, for callers that cannot block.
        """
        with self._lock:
            now = self._clock()
            turn = max(now, self._next_turn, self._paused_until)
            rate = self._current_rate(turn)
            self._next_turn = turn if rate is None else turn + 1 / rate
            if self._first_sent is None:
                self._first_sent = turn
            if self._rate_set_to is None:
                # Unpaced: the send rate is measured at the first 429 from the turns given.
                self._sent.append(turn)
                while self._sent[0] < turn - SEND_RATE_SECONDS[-1]:
                    self._sent.popleft()
            return now, turn, self._pauses

    def turn_stands(self, pauses: int) -> bool:
        """Whether a turn booked when ``pauses`` had begun still stands (no 429 paused it since)."""
        with self._lock:
            return self._pauses == pauses

    def answered(self, sent: float, status: int, retry_after: float | None) -> None:
        """Learn from the status of a request sent at ``sent`` (what :meth:`acquire` returned).

        A 429 sent after the last episode started begins a new one: the pace drops to the rate
        measured, and with ``retry_after`` every thread pauses that long. A 429 of a request sent
        before that (already on its way) only makes sure the pause covers its own ``retry_after``.
        """
        if not self.adaptive or (status == 429 and retry_after == 0):
            # ``Retry-After: 0`` says the server has room again now: a refusal that says nothing
            # of a pace to keep (the hook retries it as usual).
            return
        with self._lock:
            now = self._clock()
            throttled = status == 429
            # The pace the request went at, and when the last pause ended, before this one's.
            pace = self._current_rate(sent)
            resumed = self._paused_until
            if not throttled:
                self._admitted.append(now)
                while self._admitted and self._admitted[0] < now - WINDOW_SECONDS:
                    self._admitted.popleft()
            elif retry_after is not None and retry_after <= self.max_pause:
                self._pause_until(now, now + retry_after)
            if self._episode_started is not None and sent <= self._episode_started:
                # Only requests sent after the one whose 429 started the episode met an empty bucket.
                if sent >= self._episode_first_refused:
                    self._in_flight[throttled] += 1
                    self._set_rate(self._episode_rate(), now)
            elif throttled:
                self._start_episode(sent, now, pace, resumed)

    def _pause_until(self, now: float, until: float) -> None:
        if until <= self._paused_until:
            return
        # The pace does not grow while nothing is sent: its growth resumes where it was.
        self._rate_set_at += until - max(self._paused_until, now, min(self._rate_set_at, until))
        self._paused_until = until
        # The turns given so far are taken again after the pause.
        self._pauses += 1
        self._next_turn = max(self._next_turn, now)

    def _start_episode(self, sent: float, now: float, pace: float | None, resumed: float) -> None:
        since = self._episode_started
        self._refill_rate = self._active_rate = 0.0
        if since is None or now - since >= WINDOW_SECONDS:
            since = self._first_sent if self._first_sent is not None else now
            if self._first_burst is None:
                self._first_burst = self._admitted_since(since)
        else:
            admitted = self._admitted_since(since)
            self._refill_rate = admitted / max(now - since, 1e-3)
            active = now - resumed
            if active >= MIN_MEASURE_SECONDS:
                self._active_rate = max(0.0, admitted - (self._first_burst or 0)) / active
        self._episode_pace = pace
        if pace is not None:
            # Paced: the requests went at the pace (measuring it would count the pause before).
            self._episode_send_rate = pace
        else:
            # The rate of the last moments, not of the start (connections being made, say): what
            # was admitted, or, when nothing was (another process of the account took it all), sent.
            recent = [max(since, now - seconds) for seconds in SEND_RATE_SECONDS]
            self._episode_send_rate = max(self._admitted_since(r) / max(now - r, 1e-3) for r in recent)
            if not self._episode_send_rate:
                self._episode_send_rate = max(
                    sum(1 for moment in self._sent if moment >= r) / max(now - r, 1e-3) for r in recent
                )
        self._episode_started = now
        self._episode_first_refused = sent
        self._in_flight = [0, 1]
        # The turns given so far are taken again after the pause, at the new rate.
        self._next_turn = now
        self._set_rate(self._episode_rate(), now)

    def _episode_rate(self) -> float:
        admitted, refused = self._in_flight
        # Half a request added: a single 429 alone halves the rate rather than stopping it.
        from_in_flight = self._episode_send_rate * (admitted + 0.5) / (admitted + refused)
        pace = self._episode_pace
        if pace is None:
            return MEASURED_SHARE * max(from_in_flight, DECREASE * self._episode_send_rate)
        if admitted + refused < MIN_IN_FLIGHT:
            from_in_flight = 0.0
        measured = min(max(from_in_flight, self._refill_rate, self._active_rate), pace)
        if measured >= CLOSE_SHARE * pace:
            measured = max(measured, PACED_DECREASE * pace)
        elif measured > 0:
            measured = (measured * pace) ** 0.5
        else:
            measured = DECREASE * pace
        return MEASURED_SHARE * measured

    def _admitted_since(self, since: float) -> int:
        return sum(1 for moment in self._admitted if moment >= since)

    def _set_rate(self, rate: float, now: float) -> None:
        rate = max(MIN_RATE, rate)
        if self.max_rate is not None:
            rate = min(rate, self.max_rate)
        self._rate = self._rate_set_to = rate
        self._highest_set = max(self._highest_set, rate)
        # It grows from the end of the pause.
        self._rate_set_at = max(now, self._paused_until)
        # Turns already handed out at the old rate keep their places; the next ones follow at the new rate.
        self._next_turn = max(self._next_turn, now)

    def _current_rate(self, now: float) -> float | None:
        if self._rate_set_to is None:
            return None
        if self._episode_started is None:
            return self._rate
        # As set for PLATEAU_SECONDS after the pause, then growing by a share of the highest pace.
        growing = max(0.0, now - self._rate_set_at - PLATEAU_SECONDS)
        grown = self._rate_set_to + GROWTH_SHARE * self._highest_set * growing
        self._rate = grown if self.max_rate is None else min(grown, self.max_rate)
        return self._rate


#: The gates of the accounts in use in this process, by account: each lives while a hook holds it.
_SHARED_GATES: weakref.WeakValueDictionary[str, RateGate] = weakref.WeakValueDictionary()
_SHARED_GATES_LOCK = threading.Lock()


def shared_rate_gate(base_url: str, key: str, max_rate: float | None = None, *, max_pause: float) -> RateGate:
    """The one gate of an account (its API base URL and key) in this process, made on first use.

    Every hook of the account shares it, whatever its connection id: a triggerer runs thousands of
    triggers in one process, and a worker may run several tasks, all under the account's one
    rate limit. A connection's ``max_rate`` lowers the shared gate's maximum, never raises it.
    """
    account = hashlib.sha256(f"{base_url}\0{key}".encode()).hexdigest()
    with _SHARED_GATES_LOCK:
        gate = _SHARED_GATES.get(account)
        if gate is None:
            gate = _SHARED_GATES[account] = RateGate(max_rate, max_pause=max_pause)
        elif max_rate is not None:
            gate.lower_max_rate(max_rate)
        return gate
