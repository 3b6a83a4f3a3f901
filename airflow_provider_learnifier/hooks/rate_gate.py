"""The client-side rate gate that paces all requests to one Learnifier account in a process.

Modelled on the AWS SDKs' adaptive retry mode: requests take a turn from a client-side token
bucket whose rate is learnt from 429 answers. Every hook of one account in the process shares one
gate (:func:`shared_rate_gate`). Until the first 429 (and without a configured maximum) the gate
lets every request through. A refused request is never sent again before its ``Retry-After``
(:meth:`RateGate.acquire` in its thread waits it out). At the first 429 nothing is known of the
server and every thread waits the ``Retry-After``; the pace then starts at a tenth of the send
rate and grows 25% every quarter second until the next 429 (a slow start: processes sharing the
account start alike instead of keeping a lucky first guess). A later 429 holds the other threads
for two turns only (Learnifier documents no rule for ``Retry-After``; HTTP gives it to the
refused request), unless the server admitted nothing since the last 429 and that one's
``Retry-After`` still runs: then every thread waits it out.

At each later 429 the pace drops to what the server admitted, measured since the last measure
(over at least :data:`MIN_SAMPLE` requests), since the last whole pause (less what the server's
bucket can have held then), and among the requests already on their way. These are lower bounds
of the server's rate (other processes of the account take their share): close to the pace, the
gate keeps at least 90% of the pace; far below, it goes to the geometric middle; then it sends at
97% of that. After a plateau (3 s, doubled up to 6 s while the same limit is found again) the
pace grows additively by 2% a second of a scale common to the processes of an account, so that
their shares converge (additive increase, multiplicative decrease), and after 5 s without a 429
also by 10% a second. Figures, in simulation (``tests/hooks/gate_harness.py``) and against the
simulator (``bench/rate_limits.py``): ``docs/benchmarks.md``, "One rate limit shared by many
workers".
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
#: At the first 429 the pace starts at no more than this share of the rate requests went at...
START_SHARE = 0.1
#: ...and is multiplied by this every :data:`RAMP_SECONDS` until the next 429 (or the send rate).
RAMP_FACTOR = 1.25
RAMP_SECONDS = 0.25
#: The share of the pace kept at a 429 met while pacing, when the rate measured is close to it
#: (or when there is no measure to go by).
PACED_DECREASE = 0.9
#: The rate measured is "close" to the pace when it is at least this share of it; further below,
#: the gate goes to the geometric middle of the two.
CLOSE_SHARE = 0.7
#: A paced episode's in-flight share counts only from this many answers (a paced request has
#: few others on their way).
MIN_IN_FLIGHT = 4
#: A rate measured since the last measure counts only from this many admitted requests (fewer
#: would make a process that sends little cut deep on noise); until then the count goes on.
MIN_SAMPLE = 10
#: At a 429 met while pacing the other threads wait this many turns at the new pace, at most
#: :data:`DRAIN_SECONDS`: the turns given at the old pace are taken again.
DRAIN_TURNS = 2.0
DRAIN_SECONDS = 0.1
#: Seconds after an episode's pause that the pace stays as set, before it grows...
PLATEAU_SECONDS = 3.0
#: ...twice as long each time the limit measured is within this share of the last one (the same
#: limit found again: probing it as often again would only cost 429s), up to this many seconds.
SAME_LIMIT_SHARE = 0.03
LONGEST_PLATEAU_SECONDS = 6.0
#: Then the pace grows by this share of the growth's scale per second...
GROWTH_SHARE = 0.02
#: ...the scale being the highest pace set, and at least this share of the send rate at the first
#: 429 (the same for every process of an account that runs alike, so that their shares converge).
GROWTH_SEND_SHARE = 0.5
#: After growing this many seconds without a 429, the pace also grows by this factor a second.
QUIET_SECONDS = 5.0
QUIET_GROWTH = 1.1
#: The send rate at the first 429 is the highest measured over these many seconds before it.
SEND_RATE_SECONDS = (0.1, 0.5)
#: The gate remembers admitted requests this long (seconds), enough for the episodes it measures.
WINDOW_SECONDS = 120.0
#: The lowest rate the gate paces at, in requests per second.
MIN_RATE = 0.5
#: Measuring over less than this (seconds) says nothing of a rate.
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
        start = self._clock()
        #: Requests per second paced at, ``None`` while unpaced.
        self._rate: float | None = max_rate
        #: The pace last set, and from when it grows (the end of the pause it was set in).
        self._rate_set_to: float | None = max_rate
        self._rate_set_at = start
        #: The growth's scale (see GROWTH_SEND_SHARE): the highest pace set at a paced episode,
        #: and the send rate at the first 429.
        self._highest_paced = max_rate or 0.0
        self._first_send_rate = 0.0
        #: The plateau after the current episode, and the limit measured at the last measure.
        self._plateau = PLATEAU_SECONDS
        self._last_limit = 0.0
        #: The earliest moment the next request may be sent.
        self._next_turn = start
        self._paused_until = start
        #: When the last pause of every thread for a whole Retry-After ended.
        self._whole_pause_end = start
        self._first_sent: float | None = None
        self._episode_started: float | None = None
        #: When the request whose 429 started the current episode was sent, and until when it waits.
        self._episode_first_refused = start
        self._episode_hold = start
        #: Whether the current episode pauses every thread for the whole Retry-After.
        self._episode_pauses_all = False
        #: The rate requests were sent at when the current episode started.
        self._episode_send_rate = 0.0
        #: The pace of the request whose 429 started the current episode; ``None`` when unpaced.
        self._episode_pace: float | None = None
        #: The lower bounds measured at the current episode (see the module's description).
        self._refill_rate = 0.0
        self._active_rate = 0.0
        #: From when the next measure counts the requests admitted.
        self._measure_from = start
        #: Requests admitted before the first 429: the most the server's bucket can hold.
        self._first_burst: int | None = None
        #: The answers to requests sent before the current episode started: admitted, refused.
        self._in_flight = [0, 0]
        self._admitted: deque[float] = deque()
        #: When the last turns were given, while unpaced.
        self._sent: deque[float] = deque()
        #: Pauses begun or lengthened so far: a turn given before one is taken again after it.
        self._pauses = 0
        #: Each thread's own wait: a refused request is not sent again before its Retry-After.
        self._holds = threading.local()

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
        """Wait for this request's turn; return the moment it was given (pass it to :meth:`answered`).

        A thread whose last request was refused first waits out that refusal's ``Retry-After``.
        """
        hold = getattr(self._holds, "until", None)
        if hold is not None:
            self._holds.until = None
            # (A pause of every thread that lasts as long is waited below, with the turn.)
            wait = hold - max(self._clock(), self.paused_until)
            if wait > 0:
                (self._sleep or time.sleep)(hold - self._clock())
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
        ``pauses``); :meth:`acquire` is this and the wait, for callers that cannot block (which
        must themselves wait out the moment :meth:`answered` returns for a refused request).
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

    def answered(self, sent: float, status: int, retry_after: float | None) -> float | None:
        """Learn from the status of a request sent at ``sent`` (what :meth:`acquire` returned).

        Return, for a 429 whose ``Retry-After`` the gate honours, the moment before which that
        request must not be sent again (:meth:`acquire` in the same thread waits for it); else
        ``None``. A 429 of a request sent after the last episode started begins a new one.
        """
        if not self.adaptive or (status == 429 and retry_after == 0):
            # ``Retry-After: 0`` says the server has room again now: a refusal that says nothing
            # of a pace to keep (the hook retries it as usual).
            return None
        with self._lock:
            now = self._clock()
            throttled = status == 429
            # The pace the request went at, and when the last pause ended, before this one's.
            pace = self._current_rate(sent)
            resumed = self._paused_until
            hold = None
            if not throttled:
                self._admitted.append(now)
                while self._admitted and self._admitted[0] < now - WINDOW_SECONDS:
                    self._admitted.popleft()
            elif retry_after is not None and retry_after <= self.max_pause:
                hold = now + retry_after
            if self._episode_started is not None and sent <= self._episode_started:
                if hold is not None and self._episode_pauses_all:
                    self._pause_until(now, hold, whole=True)
                # Only requests sent after the one whose 429 started the episode met an empty bucket.
                if sent >= self._episode_first_refused:
                    self._in_flight[throttled] += 1
                    self._set_rate(self._episode_rate(), now)
            elif throttled:
                self._start_episode(sent, now, pace, resumed, hold)
            if hold is not None:
                self._holds.until = max(hold, getattr(self._holds, "until", None) or hold)
            return hold

    def _pause_until(self, now: float, until: float, *, whole: bool = False) -> None:
        if whole:
            self._whole_pause_end = max(self._whole_pause_end, until)
        if until <= self._paused_until:
            return
        # The pace does not grow while nothing is sent: its growth resumes where it was.
        self._rate_set_at += until - max(self._paused_until, now, min(self._rate_set_at, until))
        self._paused_until = until
        # The turns given so far are taken again after the pause.
        self._pauses += 1
        self._next_turn = max(self._next_turn, now)

    def _start_episode(
        self, sent: float, now: float, pace: float | None, resumed: float, hold: float | None
    ) -> None:
        previous = self._episode_started
        fresh = previous is None or now - previous >= WINDOW_SECONDS
        # Every thread waits the whole Retry-After at the first 429 (nothing is known of the
        # server yet), and when the server admitted nothing since the last 429 and its
        # Retry-After still runs (a server that refuses everything until then).
        self._episode_pauses_all = previous is None or (
            now < self._episode_hold and not self._admitted_since(previous)
        )
        self._refill_rate = self._active_rate = 0.0
        if fresh:
            if self._first_burst is None:
                first = self._first_sent if self._first_sent is not None else now
                self._first_burst = self._admitted_since(first)
            self._measure_from = now
        else:
            self._measure(now)
        self._episode_pace = pace
        if pace is not None:
            # Paced: the requests went at the pace (measuring it would count the pause before).
            self._episode_send_rate = pace
        else:
            # The rate of the last moments, not of the start (connections being made, say).
            since = self._first_sent if self._first_sent is not None else now
            recent = [max(since, now - seconds) for seconds in SEND_RATE_SECONDS]
            self._episode_send_rate = max(
                max(self._admitted_since(r), sum(1 for moment in self._sent if moment >= r))
                / max(now - r, 1e-3)
                for r in recent
            )
            self._first_send_rate = max(self._first_send_rate, self._episode_send_rate)
        self._episode_started = now
        self._episode_first_refused = sent
        self._episode_hold = hold if hold is not None else now
        self._in_flight = [0, 1]
        # The turns given so far are taken again after the pause, at the new rate.
        self._next_turn = now
        self._set_rate(self._episode_rate(), now)
        if hold is not None and self._episode_pauses_all:
            self._pause_until(now, hold, whole=True)
        elif hold is not None:
            rate = self._rate or MIN_RATE
            self._pause_until(now, now + min(DRAIN_TURNS / rate, DRAIN_SECONDS))

    def _measure(self, now: float) -> None:
        """The rates the server admitted: since the last measure, and since the last whole pause."""
        # A whole pause is a signal strong enough to go by fewer requests.
        least = 1 if self._episode_pauses_all else MIN_SAMPLE
        since = max(self._measure_from, now - WINDOW_SECONDS)
        admitted = self._admitted_since(since)
        if admitted >= least and now - since >= MIN_MEASURE_SECONDS:
            self._refill_rate = admitted / (now - since)
        resumed = self._whole_pause_end
        if since <= resumed <= now - MIN_MEASURE_SECONDS:
            # Less what the server's bucket can have held when the pause ended.
            counted = self._admitted_since(resumed) - (self._first_burst or 0)
            if counted >= least:
                self._active_rate = counted / (now - resumed)
        if self._refill_rate or self._active_rate:
            self._measure_from = now
            if least == MIN_SAMPLE:
                # The same limit found again: probe it less often (a longer plateau), up to a point.
                limit = max(self._refill_rate, self._active_rate)
                same = abs(limit - self._last_limit) <= SAME_LIMIT_SHARE * self._last_limit
                self._plateau = min(2 * self._plateau, LONGEST_PLATEAU_SECONDS) if same else PLATEAU_SECONDS
                self._last_limit = limit

    def _episode_rate(self) -> float:
        admitted, refused = self._in_flight
        # Half a request added: a single 429 alone halves the rate rather than stopping it.
        from_in_flight = self._episode_send_rate * (admitted + 0.5) / (admitted + refused)
        pace = self._episode_pace
        if pace is None:
            return MEASURED_SHARE * min(from_in_flight, START_SHARE * self._episode_send_rate)
        if admitted + refused < MIN_IN_FLIGHT:
            from_in_flight = 0.0
        measured = min(max(from_in_flight, self._refill_rate, self._active_rate), pace)
        if measured >= CLOSE_SHARE * pace or not measured:
            measured = max(measured, PACED_DECREASE * pace)
        else:
            measured = (measured * pace) ** 0.5
        return MEASURED_SHARE * measured

    def _admitted_since(self, since: float) -> int:
        return sum(1 for moment in self._admitted if moment >= since)

    def _set_rate(self, rate: float, now: float) -> None:
        rate = max(MIN_RATE, rate)
        if self.max_rate is not None:
            rate = min(rate, self.max_rate)
        self._rate = self._rate_set_to = rate
        if self._episode_pace is not None:
            self._highest_paced = max(self._highest_paced, rate)
        # It grows from the end of the pause.
        self._rate_set_at = max(now, self._paused_until)
        # Turns already handed out at the old rate keep their places; the next ones follow at the new rate.
        self._next_turn = max(self._next_turn, now)

    def _current_rate(self, now: float) -> float | None:
        if self._rate_set_to is None:
            return None
        if self._episode_started is None:
            return self._rate
        since_set = max(0.0, now - self._rate_set_at)
        if self._episode_pace is None:
            # After the first 429: a slow start, up to the rate requests went at before it.
            ceiling = max(self._rate_set_to, self._episode_send_rate)
            grown = min(ceiling, self._rate_set_to * RAMP_FACTOR ** (since_set / RAMP_SECONDS))
        else:
            # As set for a plateau after the pause, then growing additively.
            scale = max(self._highest_paced, GROWTH_SEND_SHARE * self._first_send_rate)
            growing = max(0.0, since_set - self._plateau)
            grown = self._rate_set_to + GROWTH_SHARE * scale * growing
            if growing > QUIET_SECONDS:
                # Long without a 429: the server has room (another process of the account is done).
                grown *= QUIET_GROWTH ** min(growing - QUIET_SECONDS, 100.0)
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
