"""The simulator's vocabulary: API errors, and requests and answers as the routes see them."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping

    from learnifier_simulator.recording import ExchangeLog

JSON_CONTENT_TYPE = "application/json"


class ApiError(Exception):
    """An error answer of the API, raised anywhere below the HTTP layer.

    Its body is Learnifier's error object ``{"code", "field", "message"}`` (``field`` only when one
    field is at fault), extended with ``details`` such as the ``failures`` of an activation.

    :param status: the HTTP status, which is also the body's ``code``.
    :param message: a human-readable explanation.
    :param field: the request field at fault, if any.
    :param details: more members of the error body.
    :param headers: headers to send with the answer, such as ``Location`` or ``Retry-After``.
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        field: str | None = None,
        details: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message
        self.field = field
        self.details = dict(details or {})
        self.headers = dict(headers or {})

    def to_body(self) -> dict[str, Any]:
        """Return the JSON error body."""
        body: dict[str, Any] = {"code": self.status, "message": self.message}
        if self.field is not None:
            body["field"] = self.field
        return body | self.details


@dataclass(frozen=True)
class ApiRequest:
    """A routed API request.

    :param params: the path parameters, percent-decoded.
    :param query: the query parameters, each with all its values.
    :param body: the JSON object of the body, empty when there was none.
    :param exchange_log: the simulator's exchange log, for its own routes that report on it.
    :param page_cap: the most items a paged listing may answer, whatever the ``limit`` asked;
        ``None`` for no cap.
    """

    params: Mapping[str, str]
    query: Mapping[str, list[str]]
    body: Mapping[str, Any]
    exchange_log: ExchangeLog | None = None
    page_cap: int | None = None

    def query_value(self, name: str) -> str | None:
        """Return the first value of query parameter ``name``, or ``None`` when absent or empty."""
        values = self.query.get(name)
        return values[0] if values and values[0] else None


@dataclass(frozen=True)
class ApiResponse:
    """An answer to send: status, raw body, its content type and extra headers."""

    status: int
    body: bytes = b""
    content_type: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, payload: Any, headers: Mapping[str, str] | None = None) -> ApiResponse:
        """Make an answer whose body is ``payload`` as UTF-8 JSON."""
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        return cls(status, body, JSON_CONTENT_TYPE, dict(headers or {}))

    @classmethod
    def empty(cls, status: int, headers: Mapping[str, str] | None = None) -> ApiResponse:
        """Make an answer without a body."""
        return cls(status, headers=dict(headers or {}))

    @classmethod
    def error(cls, error: ApiError) -> ApiResponse:
        """Make the answer for ``error``."""
        return cls.json(error.status, error.to_body(), error.headers)


def status_phrase(status: int) -> str:
    """Return the reason phrase of ``status``, such as ``Service Unavailable``."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"HTTP {status}"
