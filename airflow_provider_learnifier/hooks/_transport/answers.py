"""Learnifier's answers: JSON decoded strictly, shapes checked, error answers mapped to typed errors.

Whatever comes from the server is hostile until checked: a body that is not JSON, or not the shape
the operation declares, raises :class:`~airflow_provider_learnifier.exceptions.LearnifierResponseError`;
an error answer becomes the :class:`~airflow_provider_learnifier.exceptions.LearnifierError` subclass
for its status (:func:`error_for`), with Learnifier's message cut to :data:`MAX_API_MESSAGE`
characters. See ``docs/guides/hook.md`` (errors) and ``docs/reliability.md``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from airflow_provider_learnifier.exceptions import (
    LearnifierActivationError,
    LearnifierAuthError,
    LearnifierConflictError,
    LearnifierError,
    LearnifierNotFoundError,
    LearnifierRateLimitError,
    LearnifierRefusedError,
    LearnifierResponseError,
    LearnifierServerError,
    LearnifierValidationError,
)
from airflow_provider_learnifier.hooks._transport.redaction import SCRUBBER
from airflow_provider_learnifier.ids import id_problem, usable_id

if TYPE_CHECKING:
    import requests

#: A JSON object as decoded: what most operations answer.
JsonObject = dict[str, Any]
#: Learnifier's error ``message`` is cut to this many characters in errors, logs and summaries.
MAX_API_MESSAGE = 500
#: Learnifier's error ``field`` is cut to this many characters.
_MAX_API_FIELD = 100


def decode_json(content: bytes) -> Any:
    """Decode a JSON answer strictly.

    :raises ValueError: for a body that is not JSON, not UTF-8 (or UTF-16/32 as JSON allows),
        holds ``NaN`` or ``Infinity`` (not JSON, and unwritable to a JSON Lines report), or nests
        deeper than the parser can follow (its ``RecursionError``).
    """

    def refuse(constant: str) -> Any:
        raise ValueError(f"{constant} is not a JSON value")

    try:
        return json.loads(content, parse_constant=refuse)
    except RecursionError:
        raise ValueError("the JSON nests too deep") from None


def decode_answer(content: bytes) -> Any:
    """Decode a JSON answer (:func:`decode_json`) and scrub it of credentials (:data:`SCRUBBER`)."""
    return SCRUBBER.scrub_json_answer(content, decode_json(content))


def _capped(value: Any, limit: int) -> str | None:
    """A text Learnifier sent, cut to ``limit`` characters with its length noted; ``None`` if not text."""
    if not isinstance(value, str):
        return None
    if len(value) <= limit:
        return value
    return f"{value[:limit]}... ({len(value)} characters)"


def id_from_location(location: str | None) -> str | None:
    """The id in the last path segment of a ``Location`` header, percent-decoded and checked
    (:func:`~airflow_provider_learnifier.ids.id_problem`); ``None`` when absent or unusable."""
    if not location:
        return None
    last = unquote(urlsplit(location).path.rstrip("/").rsplit("/", 1)[-1])
    if id_problem(last):
        return None
    return last


def expect(value: Any, kind: type, operation: str, method: str, path: str) -> Any:
    if not isinstance(value, kind):
        expected = "a JSON array" if kind is list else "a JSON object"
        raise LearnifierResponseError(
            f"Learnifier {operation}: {method} {path} answered {type(value).__name__} "
            f"where {expected} was expected",
            operation=operation,
            method=method,
            path=path,
        )
    return value


def object_list(value: Any, operation: str, method: str, path: str) -> list[JsonObject]:
    """Check that an answer is a JSON array of objects."""
    items: list[JsonObject] = expect(value, list, operation, method, path)
    for item in items:
        expect(item, dict, operation, method, path)
    return items


def header_bool(value: str) -> bool:
    """Read a boolean header (``true``/``false``, any case)."""
    lowered = value.lower()
    if lowered not in ("true", "false"):
        raise ValueError(value)
    return lowered == "true"


def header_count(value: str) -> int:
    """Read a non-negative integer header."""
    if not (value.isascii() and value.isdigit()):
        raise ValueError(value)
    return int(value)


def read_header(
    response: requests.Response,
    name: str,
    parse: Callable[[str], Any],
    *,
    operation: str,
    method: str,
    path: str,
) -> Any:
    """Read a header of ``response`` with ``parse`` (:func:`header_bool`, :func:`header_count`).

    :return: what ``parse`` made of it, or ``None`` when the header is absent.
    :raises LearnifierResponseError: when ``parse`` refuses it: it is not what the spec declares.
    """
    value = response.headers.get(name)
    if value is None:
        return None
    try:
        return parse(value.strip())
    except ValueError:
        raise LearnifierResponseError(
            f"Learnifier {operation}: {method} {path} answered a {name} header that is not "
            f"what the spec declares ({value[:40]!r})",
            operation=operation,
            method=method,
            path=path,
            status=response.status_code,
        ) from None


def error_for(
    response: requests.Response,
    retry_after: float | None,
    *,
    operation: str,
    method: str,
    path: str,
) -> LearnifierError:
    """Map an error answer to the typed :class:`LearnifierError` subclass, with a clear message."""
    status = response.status_code
    try:
        payload = decode_answer(response.content) if response.content else None
    except ValueError:
        payload = None
    details: JsonObject = payload if isinstance(payload, dict) else {}
    code = details.get("code") if isinstance(details.get("code"), int) else None
    field_name = _capped(details.get("field"), _MAX_API_FIELD)
    api_message = _capped(details.get("message"), MAX_API_MESSAGE)
    said = ", ".join(
        part
        for part in (
            f"code {code}" if code is not None else "",
            f"field {field_name!r}" if field_name else "",
            f"message {api_message!r}" if api_message else "",
        )
        if part
    )
    message = f"Learnifier {operation}: {method} {path} answered {status} {response.reason or ''}".rstrip()
    if said:
        message += f" ({said})"
    kwargs: JsonObject = {
        "operation": operation,
        "method": method,
        "path": path,
        "status": status,
        "code": code,
        "field": field_name,
        "api_message": api_message,
    }
    if 300 <= status < 400:
        target = urlsplit(response.headers.get("Location", "")).netloc or "an unknown location"
        return LearnifierResponseError(
            f"{message}: an unexpected redirect to {target}, not followed", **kwargs
        )
    if status in (401, 403):
        return LearnifierAuthError(f"{message}: check the API key and secret of the connection", **kwargs)
    if status == 404:
        return LearnifierNotFoundError(message, **kwargs)
    if status == 409:
        existing = (
            usable_id(details.get("userId"))
            or usable_id(details.get("id"))
            or id_from_location(response.headers.get("Location"))
        )
        if existing is not None:
            message += f": it already exists as {existing}"
        return LearnifierConflictError(message, existing_id=existing, **kwargs)
    if status in (400, 422):
        return LearnifierValidationError(message, **kwargs)
    if status == 406:
        failures = details.get("failures") if isinstance(details.get("failures"), list) else []
        if failures:
            message += ": " + "; ".join(
                _capped(str(failure.get("message") or failure.get("type")), MAX_API_MESSAGE) or ""
                for failure in failures[:10]
                if isinstance(failure, dict)
            )
            if len(failures) > 10:
                message += f"; and {len(failures) - 10} more failure(s)"
        error_class = (
            LearnifierActivationError if operation == "activate_participant" else LearnifierRefusedError
        )
        return error_class(message, failures=failures, **kwargs)
    if status == 429:
        return LearnifierRateLimitError(message, retry_after=retry_after, **kwargs)
    if status >= 500:
        return LearnifierServerError(message, **kwargs)
    return LearnifierError(message, **kwargs)
