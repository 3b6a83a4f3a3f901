"""The client-side rate gate that a hook's threads share, learning Learnifier's rate limit from its 429s.

Modelled on the AWS SDKs' adaptive retry mode: requests take a turn from a client-side token
bucket whose rate is learnt. Until the first 429 (and without a configured maximum) the gate lets
every request through. A 429 starts a *throttling episode*: the whole pool pauses once for the
``Retry-After``, instead of each thread waiting on its own, and the rate drops to what the
server admitted. The gate then paces requests evenly at that rate and raises it slowly, so that
it follows a limit that grows.

How the rate is measured, at each 429: the server's bucket is empty then, so the requests already
on their way, sent after the refused one, answer what it admits from then on: of those sent at
rate ``U``, it admits the share
``R/U``, which gives ``R`` (coarsely: there are only as many as were in flight). And the requests
it admitted from the start of the previous episode to this one are what it refilled in that time,
pause included, so their count over that time is ``R`` (a little under it when the bucket holds
less than one pause's worth). The gate paces at the larger of the two estimates, a little under.
At the first 429 there is no previous episode, and the gate never cuts below 70% of the send rate
(requests sent close together can meet a 429 from a server with a small bucket while their
average rate is within its limit); the next 429 measures the refill and cuts to it.

After an episode the rate grows like TCP CUBIC's window, as in the AWS SDKs' adaptive mode: it
stays near the rate measured for a while (the limit is most likely there) and then probes above
it ever faster, so that it follows a limit that grows without meeting the old one every few
seconds. A 429 pauses every thread, including those already given a turn after it: they take a
new turn once the pause ends, so an episode costs the requests in the network, not one per thread.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

#: The share of a measured rate the gate sends at, for a margin under the server's limit.
MEASURED_SHARE = 0.97
#: The least share of the send rate kept at a 429: a few requests sent close together can meet a
#: 429 from a server with a small bucket while the average rate is well within its limit.
DECREASE = 0.7
#: A 429 does not lower the rate when the server admitted at least this share of the pace since
#: the last one: a few 429s that are no rate limit (another client, a server's hiccup) would
#: otherwise lower it at each of them.
KEEP_SHARE = 0.9
#: After an episode the rate is back at the rate measured after this many seconds without a 429,
#: and grows above it ever faster from then on (a cubic in time, as TCP CUBIC's window).
PLATEAU_SECONDS = 6.0
#: The send rate at a 429 is the highest measured over these many seconds before it.
SEND_RATE_SECONDS = (0.1, 0.5)
#: The gate remembers admitted requests this long (seconds), enough for the episodes it measures.
WINDOW_SECONDS = 120.0
#: The lowest rate the gate paces at, in requests per second.
MIN_RATE = 0.5


class RateGate:
    """Paces the requests of one hook's threads and learns the server's rate limit from 429 answers.

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
        self._sleep = sleep or time.sleep
        self._lock = threading.Lock()
        #: Requests per second paced at, ``None`` while unpaced.
        self._rate: float | None = max_rate
        #: When ``_rate`` was last set, for the slow increase that follows.
        self._rate_set_at = self._clock()
        self._rate_set_to: float | None = max_rate
        #: The earliest moment the next request may be sent.
        self._next_turn = self._rate_set_at
        self._paused_until = self._rate_set_at
        self._first_sent: float | None = None
        self._episode_started: float | None = None
        #: When the request whose 429 started the current episode was sent.
        self._episode_first_refused = self._rate_set_at
        #: Whether the current episode lowers the rate.
        self._episode_cuts = True
        #: The rate requests were sent at when the current episode started.
        self._episode_send_rate = 0.0
        #: The rate measured from the previous episode's start to this one's, if any.
        self._refill_rate: float | None = None
        #: The answers to requests sent before the current episode started: admitted, refused.
        self._in_flight = [0, 0]
        self._admitted: deque[float] = deque()
        #: Episodes started so far: a turn given before one started is taken again after its pause.
        self._episodes = 0

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

    def acquire(self) -> float:
        """Wait for this request's turn; return the moment it was given (pass it to :meth:`answered`)."""
        while True:
            now, turn, episodes = self.take_turn()
            if turn <= now:
                return turn
            self._sleep(turn - now)
            if self.turn_stands(episodes):
                return turn

    def take_turn(self) -> tuple[float, float, int]:
        """Book the next turn without waiting: ``(now, turn, episodes)``.

        The turn stands if no episode started before it came (:meth:`turn_stands` with
        ``episodes``); :meth:`acquire` is this and the wait, for callers that cannot block.
        """
        with self._lock:
            now = self._clock()
            turn = max(now, self._next_turn, self._paused_until)
            rate = self._current_rate(turn)
            self._next_turn = turn if rate is None else turn + 1 / rate
            if self._first_sent is None:
                self._first_sent = turn
            return now, turn, self._episodes

    def turn_stands(self, episodes: int) -> bool:
        """Whether a turn booked when ``episodes`` had started still stands (no 429 paused it since)."""
        with self._lock:
            return self._episodes == episodes

    def answered(self, sent: float, status: int, retry_after: float | None) -> None:
        """Learn from the status of a request sent at ``sent`` (what :meth:`acquire` returned).

        A 429 sent after the last episode started begins a new one: the rate drops to the rate
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
            if not throttled:
                self._admitted.append(now)
                while self._admitted and self._admitted[0] < now - WINDOW_SECONDS:
                    self._admitted.popleft()
            elif retry_after is not None and retry_after <= self.max_pause:
                self._paused_until = max(self._paused_until, now + retry_after)
            if self._episode_started is not None and sent <= self._episode_started:
                # Only requests sent after the one whose 429 started the episode met an empty bucket.
                if sent >= self._episode_first_refused and self._episode_cuts:
                    self._in_flight[throttled] += 1
                    self._set_rate(self._episode_rate(), now)
            elif throttled:
                self._start_episode(sent, now)

    def _start_episode(self, sent: float, now: float) -> None:
        current = self._current_rate(now)
        since = self._episode_started
        if since is None or now - since >= WINDOW_SECONDS:
            # Unpaced until now: everything sent was admitted, so the admitted rate is the send rate.
            since = self._first_sent if self._first_sent is not None else now
            self._refill_rate = None
        else:
            self._refill_rate = self._admitted_since(since) / max(now - since, 1e-3)
        if current is not None:
            # Paced: the requests went at the pace (measuring it would count the pause before).
            self._episode_send_rate = current
        else:
            # The send rate of the last moments, not of the start (connections being made, say).
            self._episode_send_rate = max(
                self._admitted_since(recent) / max(now - recent, 1e-3)
                for recent in (max(since, now - seconds) for seconds in SEND_RATE_SECONDS)
            )
        self._episode_started = now
        self._episode_first_refused = sent
        self._episodes += 1
        self._in_flight = [0, 1]
        # The turns given so far are taken again after the pause, at the new rate.
        self._next_turn = now
        # Paced, and the server admitted about all that was sent since the last 429: this one says
        # nothing of a limit below the pace (cutting at each such 429 would compound to nothing).
        self._episode_cuts = not (
            current is not None
            and self._refill_rate is not None
            and self._refill_rate >= KEEP_SHARE * current
        )
        if self._episode_cuts:
            self._set_rate(self._episode_rate(), now)

    def _episode_rate(self) -> float:
        admitted, refused = self._in_flight
        # Half a request added: a single 429 alone halves the rate rather than stopping it.
        from_in_flight = self._episode_send_rate * (admitted + 0.5) / (admitted + refused)
        if self._refill_rate is None:
            return MEASURED_SHARE * max(from_in_flight, DECREASE * self._episode_send_rate)
        return MEASURED_SHARE * max(from_in_flight, self._refill_rate)

    def _admitted_since(self, since: float) -> int:
        return sum(1 for moment in self._admitted if moment >= since)

    def _set_rate(self, rate: float, now: float) -> None:
        rate = max(MIN_RATE, rate)
        if self.max_rate is not None:
            rate = min(rate, self.max_rate)
        self._rate = self._rate_set_to = rate
        self._rate_set_at = now
        # Turns already handed out at the old rate keep their places; the next ones follow at the new rate.
        self._next_turn = max(self._next_turn, now)

    def _current_rate(self, now: float) -> float | None:
        if self._rate_set_to is None:
            return None
        if self._episode_started is None:
            return self._rate
        # Set to MEASURED_SHARE of the rate measured, back at it after PLATEAU_SECONDS, then ever faster.
        elapsed = now - self._rate_set_at
        measured = self._rate_set_to / MEASURED_SHARE
        grown = measured * (1 + (1 - MEASURED_SHARE) * ((elapsed - PLATEAU_SECONDS) / PLATEAU_SECONDS) ** 3)
        self._rate = grown if self.max_rate is None else min(grown, self.max_rate)
        return self._rate
