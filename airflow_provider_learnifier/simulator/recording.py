"""Recorded exchanges: each API request the simulator handled, and what it answered."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any


class HeaderMap(Mapping[str, str]):
    """Read-only HTTP headers whose names compare case-insensitively; repeated ones are joined by ``, ``."""

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


class ExchangeLog:
    """An append-only, thread-safe list of exchanges."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._exchanges: list[Exchange] = []

    def append(self, exchange: Exchange) -> None:
        """Record ``exchange``."""
        with self._lock:
            self._exchanges.append(exchange)

    def snapshot(self) -> list[Exchange]:
        """Return the exchanges recorded so far, oldest first."""
        with self._lock:
            return list(self._exchanges)

    def clear(self) -> None:
        """Forget all recorded exchanges."""
        with self._lock:
            self._exchanges.clear()
