"""Recorded exchanges: each API request the simulator handled, and what it answered; and request counts."""

from __future__ import annotations

import json
import threading
from collections import Counter, deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any


class HeaderMap(Mapping[str, str]):
    """Read-only HTTP headers whose names compare case-insensitively; repeated ones are joined.

    The values of a repeated header are joined by a comma and a space, as HTTP allows.
    """

    def __init__(self, headers: Iterable[tuple[str, str]] = ()) -> None:
        self._headers: dict[str, tuple[str, str]] = {}
        for name, value in headers:
            previous = self._headers.get(name.lower())
            self._headers[name.lower()] = (
                (previous[0], f"{previous[1]}, {value}") if previous else (name, value)
            )

    def __getitem__(self, name: str) -> str:
        return self._headers[name.lower()][1]

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self._headers.values())

    def __len__(self) -> int:
        return len(self._headers)

    def __repr__(self) -> str:
        return f"HeaderMap({dict(self._headers.values())!r})"


@dataclass(frozen=True)
class Exchange:
    """One handled request and its answer.

    :param method: the request method.
    :param path: the raw request path, without the query.
    :param query: the query parameters, each with all its values.
    :param headers: the request headers (``Authorization`` included: this is test data).
    :param body: the raw request body.
    :param status: the answer's status, ``None`` when the connection was dropped without one.
    :param response_headers: the answer's headers.
    :param response_body: the answer's raw body.
    :param operation: the spec operation matched, as ``(METHOD, path key)`` written as in
        openapi.json, or ``None`` for unmatched paths and the simulator's own routes.
    :param control: whether the request was for one of the simulator's own routes.
    :param fault: the kind of injected fault the request met, if any.
    """

    method: str
    path: str
    query: dict[str, list[str]]
    headers: HeaderMap
    body: bytes
    status: int | None
    response_headers: HeaderMap
    response_body: bytes
    operation: tuple[str, str] | None
    control: bool = False
    fault: str | None = None

    @property
    def dropped(self) -> bool:
        """Whether the connection was closed without an answer."""
        return self.status is None

    def request_json(self) -> Any:
        """Decode the request body as JSON."""
        return json.loads(self.body)

    def response_json(self) -> Any:
        """Decode the answer's body as JSON."""
        return json.loads(self.response_body)


Operation = tuple[str, str]


class ExchangeLog:
    """A thread-safe log of exchanges, optionally bounded or off, that counts requests either way.

    Counts cover the requests for Learnifier's API, whatever their answer (401s, faults and
    dropped connections included), not those for the simulator's own routes.

    :param record: keep the exchanges; when off, only counts are kept.
    :param max_exchanges: keep only the newest this many exchanges; ``None`` keeps all.
    """

    def __init__(self, *, record: bool = True, max_exchanges: int | None = None) -> None:
        if max_exchanges is not None and (isinstance(max_exchanges, bool) or max_exchanges < 0):
            raise ValueError(f"max_exchanges must be None or a non-negative integer, not {max_exchanges!r}")
        self._lock = threading.Lock()
        self._exchanges: deque[Exchange] = deque(maxlen=max_exchanges)
        #: Whether exchanges are kept; may be switched at any time.
        self.record = record
        self._request_count = 0
        self._operation_counts: Counter[Operation] = Counter()

    @property
    def max_exchanges(self) -> int | None:
        """How many exchanges are kept at most; ``None`` for no bound."""
        return self._exchanges.maxlen

    def append(self, exchange: Exchange) -> None:
        """Count ``exchange``, and record it unless recording is off."""
        with self._lock:
            self._count(exchange.operation, exchange.control)
            if self.record:
                self._exchanges.append(exchange)

    def count(self, operation: Operation | None, control: bool = False) -> None:
        """Count a request without recording it (for when recording is off)."""
        with self._lock:
            self._count(operation, control)

    def _count(self, operation: Operation | None, control: bool) -> None:
        if control:
            return
        self._request_count += 1
        if operation is not None:
            self._operation_counts[operation] += 1

    @property
    def request_count(self) -> int:
        """How many API requests were handled (since the last :meth:`reset_counts`)."""
        return self._request_count

    def request_counts(self) -> dict[Operation, int]:
        """How many requests each spec operation got; requests for unknown paths are not in it."""
        with self._lock:
            return dict(self._operation_counts)

    def reset_counts(self) -> None:
        """Start counting requests from zero again."""
        with self._lock:
            self._request_count = 0
            self._operation_counts.clear()

    def snapshot(self) -> list[Exchange]:
        """Return the exchanges recorded so far, oldest first."""
        with self._lock:
            return list(self._exchanges)

    def clear(self) -> None:
        """Forget all recorded exchanges (counts are kept)."""
        with self._lock:
            self._exchanges.clear()
