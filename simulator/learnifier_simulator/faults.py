"""Fault injection: random faults drawn for each API request, and scripted one-shot faults."""

from __future__ import annotations

import json
import math
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote

from learnifier_simulator.messages import (
    JSON_CONTENT_TYPE,
    ApiError,
    ApiResponse,
    status_phrase,
)

FaultKind = Literal["error", "rate_limit", "drop_before", "drop_after", "slow", "garbage", "scripted"]
DropPoint = Literal["before", "after"]

_HTML_PAGE = ApiResponse(
    200, b"<html><body><h1>Service temporarily unavailable</h1></body></html>", "text/html; charset=utf-8"
)


@dataclass(frozen=True)
class FaultConfig:
    """Random faults, each drawn for every API request with its rate, a probability in [0, 1].

    Errors, rate limits, drops and garbage are exclusive, so their rates add up to at most 1; a
    slow answer is drawn on its own. The draws come from a generator seeded with ``seed``: the
    same sequence of requests meets the same faults on every run.

    :param error_rate: answer one of ``error_statuses`` with an error body, without applying the request.
    :param error_statuses: the statuses of those errors.
    :param rate_limit_rate: answer 429 with ``Retry-After``, without applying the request.
    :param retry_after: the seconds in the ``Retry-After`` of rate limits.
    :param drop_rate: close the connection without answering.
    :param drop_after_apply_share: the share of drops that come after the request was applied
        (its change is then made, but never confirmed); the others come before.
    :param slow_rate: wait ``slow_seconds`` before answering.
    :param slow_seconds: how long a slow answer waits.
    :param garbage_rate: answer a GET with 200 and a body that is not JSON (a truncated answer or
        an HTML page); other methods are not affected.
    :param seed: the seed of the draws.
    """

    error_rate: float = 0.0
    error_statuses: tuple[int, ...] = (500, 502, 503)
    rate_limit_rate: float = 0.0
    retry_after: int = 1
    drop_rate: float = 0.0
    drop_after_apply_share: float = 0.0
    slow_rate: float = 0.0
    slow_seconds: float = 0.0
    garbage_rate: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        for name in (
            "error_rate",
            "rate_limit_rate",
            "drop_rate",
            "drop_after_apply_share",
            "slow_rate",
            "garbage_rate",
        ):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, not {getattr(self, name)!r}")
        if self.error_rate + self.rate_limit_rate + self.drop_rate + self.garbage_rate > 1.0:
            raise ValueError(
                "error_rate, rate_limit_rate, drop_rate and garbage_rate must add up to at most 1"
            )
        if not self.error_statuses:
            raise ValueError("error_statuses must not be empty")
        if self.retry_after < 0 or self.slow_seconds < 0:
            raise ValueError("retry_after and slow_seconds must not be negative")


@dataclass(frozen=True)
class Fault:
    """What happens to one request instead of, or besides, its normal answer.

    :param kind: what it is counted and recorded as.
    :param answer: sent instead of applying the request.
    :param drop: close the connection without answering, ``before`` or ``after`` applying the request.
    :param delay: seconds to wait before applying the request.
    :param truncate: answer 200 with the normal answer's body cut in half.
    :param echo_status: answer this status with an error that repeats the request's credentials
        (:func:`echo_answer`), without applying the request.
    """

    kind: FaultKind
    answer: ApiResponse | None = None
    drop: DropPoint | None = None
    delay: float = 0.0
    truncate: bool = False
    echo_status: int | None = None


def error_answer(status: int, headers: dict[str, str] | None = None) -> ApiResponse:
    """Return a simulated error answer with ``status`` and an error body."""
    return ApiResponse.error(ApiError(status, f"Simulated fault: {status_phrase(status)}", headers=headers))


def echo_answer(status: int, authorization: str, key: str, secret: str) -> ApiResponse:
    """An error answer that repeats the request's credentials, as a careless server's debug output does.

    The body's ``message`` quotes the ``Authorization`` header, the key and the secret, the Basic
    token percent-encoded, and its ``field`` the key; the JSON escapes every ``/`` as ``\\/`` (as
    PHP does), so a credential holding one is not found in the raw bytes. The answer also carries
    the header in ``X-Echo-Authorization``, and a ``Location`` whose user info is the key and
    secret, percent-encoded (for a 3xx, the redirect target).
    """
    token = authorization.partition(" ")[2]
    message = (
        f"Simulated fault: {status_phrase(status)}; request headers: Authorization: {authorization}; "
        f"key={key} secret={secret} token={quote(token, safe='')}"
    )
    body = json.dumps({"code": status, "field": key, "message": message}).replace("/", "\\/")
    userinfo = f"{quote(key, safe='')}:{quote(secret, safe='')}"
    headers = {
        "X-Echo-Authorization": authorization,
        "Location": f"https://{userinfo}@elsewhere.example/login?auth={quote(token, safe='')}",
    }
    return ApiResponse(status, body.encode("utf-8"), JSON_CONTENT_TYPE, headers)


def scripted_fault(
    status: int,
    *,
    retry_after: int | str | None,
    body: bytes | None,
    drop: DropPoint | None,
    echo_credentials: bool = False,
) -> Fault:
    """Make the fault of :meth:`LearnifierSimulator.inject`: a drop when ``drop`` is given, else an answer.

    :param status: the status of the answer.
    :param retry_after: its ``Retry-After``, in seconds or as an HTTP date.
    :param body: its JSON body, instead of an error body.
    :param drop: ``before`` or ``after`` to close the connection before or after applying the request.
    :param echo_credentials: answer an error that repeats the request's credentials (:func:`echo_answer`).
    """
    if drop is not None:
        if drop not in ("before", "after"):
            raise ValueError(f"drop must be 'before' or 'after', not {drop!r}")
        return Fault("scripted", drop=drop)
    if not 100 <= status <= 599:
        raise ValueError(f"status must be an HTTP status, not {status!r}")
    if echo_credentials:
        if body is not None or retry_after is not None:
            raise ValueError("echo_credentials makes its own answer: give no body or retry_after")
        return Fault("scripted", echo_status=status)
    headers = {} if retry_after is None else {"Retry-After": str(retry_after)}
    if body is None:
        return Fault("scripted", answer=error_answer(status, headers))
    return Fault("scripted", answer=ApiResponse(status, body, JSON_CONTENT_TYPE, headers))


@dataclass
class _ScriptedFault:
    fault: Fault
    remaining: int
    method: str | None
    path_prefix: str | None

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and (
            self.path_prefix is None or path.startswith(self.path_prefix)
        )


class FaultInjector:
    """Decides which fault, if any, each API request meets; safe to use from many threads.

    Scripted faults come first, in the order they were scripted; random ones are drawn only for
    requests that no scripted fault matches.
    """

    def __init__(self, config: FaultConfig) -> None:
        self._lock = threading.Lock()
        self._scripted: list[_ScriptedFault] = []
        self._counts: Counter[str] = Counter()
        self.config = config

    @property
    def config(self) -> FaultConfig:
        """The random faults; setting it restarts the draws from its seed."""
        return self._config

    @config.setter
    def config(self, config: FaultConfig) -> None:
        with self._lock:
            self._config = config
            self._random = random.Random(config.seed)

    @property
    def counts(self) -> dict[str, int]:
        """How many faults of each kind were applied."""
        with self._lock:
            return dict(self._counts)

    def script(self, fault: Fault, *, times: int, method: str | None, path_prefix: str | None) -> None:
        """Queue ``fault`` for the next ``times`` requests that match ``method`` and ``path_prefix``."""
        if times < 1:
            raise ValueError(f"times must be at least 1, not {times!r}")
        with self._lock:
            self._scripted.append(_ScriptedFault(fault, times, method and method.upper(), path_prefix))

    def draw(self, method: str, path: str) -> Fault | None:
        """Return the fault that a request with ``method`` and ``path`` meets, and count it."""
        with self._lock:
            fault = self._take_scripted(method, path) or self._draw_random(method)
            if fault is not None:
                self._counts[fault.kind] += 1
            return fault

    def _take_scripted(self, method: str, path: str) -> Fault | None:
        for scripted in self._scripted:
            if scripted.matches(method, path):
                scripted.remaining -= 1
                if scripted.remaining == 0:
                    self._scripted.remove(scripted)
                return scripted.fault
        return None

    def _draw_random(self, method: str) -> Fault | None:
        config = self._config
        roll, variant, slowness = self._random.random(), self._random.random(), self._random.random()
        threshold = config.error_rate
        if roll < threshold:
            status = config.error_statuses[int(variant * len(config.error_statuses))]
            return Fault("error", answer=error_answer(status))
        threshold += config.rate_limit_rate
        if roll < threshold:
            return Fault("rate_limit", answer=error_answer(429, {"Retry-After": str(config.retry_after)}))
        threshold += config.drop_rate
        if roll < threshold:
            if variant < config.drop_after_apply_share:
                return Fault("drop_after", drop="after")
            return Fault("drop_before", drop="before")
        threshold += config.garbage_rate
        if roll < threshold and method == "GET":
            return Fault("garbage", truncate=True) if variant < 0.5 else Fault("garbage", answer=_HTML_PAGE)
        if slowness < config.slow_rate:
            return Fault("slow", delay=config.slow_seconds)
        return None


class RateLimiter:
    """A server-side rate limit: a token bucket of ``rate`` requests per second holding at most ``burst``.

    Each API request takes a token; a request finding none is refused with 429 and a
    ``Retry-After`` in whole seconds (rounded up, at least 1), as HTTP allows, without being
    applied. Safe to use from many threads.

    :param rate: tokens added per second.
    :param burst: the most tokens the bucket holds (and holds at start); by default one second's worth.
    :param clock: the clock, in seconds (``time.monotonic``); a seam for tests.
    """

    def __init__(
        self, rate: float, burst: float | None = None, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if not rate > 0 or rate == float("inf"):
            raise ValueError(f"rate must be a positive number of requests per second, not {rate!r}")
        burst = max(1.0, rate) if burst is None else burst
        if burst < 1:
            raise ValueError(f"burst must be at least 1, not {burst!r}")
        self.rate = float(rate)
        self.burst = float(burst)
        self._clock = clock
        self._lock = threading.Lock()
        self._tokens = self.burst
        self._updated = clock()
        self._admitted = 0
        self._refused = 0

    def take(self) -> ApiResponse | None:
        """Take a token for one request: ``None`` when admitted, else the 429 answer to send."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
            self._updated = now
            if self._tokens >= 1:
                self._tokens -= 1
                self._admitted += 1
                return None
            self._refused += 1
            wait = (1 - self._tokens) / self.rate
        return error_answer(429, {"Retry-After": str(max(1, math.ceil(wait)))})

    @property
    def counts(self) -> dict[str, int]:
        """How many requests were admitted and how many refused."""
        with self._lock:
            return {"admitted": self._admitted, "refused": self._refused}
