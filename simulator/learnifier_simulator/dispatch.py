"""From a parsed HTTP request to the simulator's answer: routing, latency, authentication, faults and bodies.

The steps, in order: find the route (404/405); wait the configured latency (API routes only);
authenticate (401); take a token of the rate limit, if any (429); meet an injected fault (API
routes only); read the JSON body (400) and check it (422); apply the operation to the state;
render the answer with the spec variants, if any (API routes only). A request still waiting
when the simulator stops goes unanswered.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from learnifier_simulator.faults import echo_answer
from learnifier_simulator.messages import (
    JSON_CONTENT_TYPE,
    ApiError,
    ApiRequest,
    ApiResponse,
)
from learnifier_simulator.routes import Route, resolve

if TYPE_CHECKING:
    import threading
    from collections.abc import Mapping

    from learnifier_simulator.faults import Fault, FaultInjector, RateLimiter
    from learnifier_simulator.recording import ExchangeLog, HeaderMap
    from learnifier_simulator.state import SimulatorState
    from learnifier_simulator.variants import VariantRenderer

_BASIC_CHALLENGE = {"WWW-Authenticate": 'Basic realm="Learnifier"'}
_METHODS_WITH_BODY = frozenset({"POST", "PATCH", "PUT"})


@dataclass(frozen=True)
class HttpRequest:
    """A request as read from the connection."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: HeaderMap
    body: bytes


@dataclass(frozen=True)
class Outcome:
    """What to do with a request.

    :param response: the answer, or ``None`` to close the connection without one.
    :param route: the route matched, if any.
    :param fault: the kind of injected fault met, if any.
    """

    response: ApiResponse | None
    route: Route | None = None
    fault: str | None = None


@dataclass(frozen=True)
class Credentials:
    """The account's API key and secret."""

    key: str
    secret: str

    def accept_basic(self, authorization: str) -> bool:
        """Tell whether an ``Authorization`` header carries these credentials, in constant time."""
        scheme, _, encoded = authorization.strip().partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            given = base64.b64decode(encoded.strip(), validate=True)
        except binascii.Error:
            return False
        return hmac.compare_digest(given, f"{self.key}:{self.secret}".encode())

    def accept_key(self, key: str | None) -> bool:
        """Tell whether ``key`` is the API key, in constant time."""
        return key is not None and hmac.compare_digest(key.encode(), self.key.encode())


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _parse_json_object(request: HttpRequest) -> dict[str, Any]:
    """Read the request's JSON object, leaving out its ``null`` members (they count as absent)."""
    media_type, *parameters = request.headers.get("Content-Type", "").split(";")
    if media_type.strip().lower() != JSON_CONTENT_TYPE:
        raise ApiError(400, "The request body must be sent with Content-Type: application/json")
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() not in ("utf-8", "utf8"):
            raise ApiError(400, "The request body must be encoded as UTF-8")
    try:
        value = json.loads(request.body.decode("utf-8"), parse_constant=_reject_constant)
    except UnicodeDecodeError:
        raise ApiError(400, "The request body is not valid UTF-8") from None
    except ValueError as error:
        raise ApiError(400, f"The request body is not valid JSON: {error}") from None
    if not isinstance(value, dict):
        raise ApiError(400, "The request body must be a JSON object")
    return {name: member for name, member in value.items() if member is not None}


def _truncated(response: ApiResponse) -> ApiResponse:
    return ApiResponse(200, response.body[: len(response.body) // 2], response.content_type)


class Dispatcher:
    """Answers requests from the state, as Learnifier would, with the configured latency and faults.

    :param state: the simulated account.
    :param credentials: the API key and secret that requests must carry.
    :param faults: decides the injected faults.
    :param latency: seconds to wait before answering each API request.
    :param stopping: set when the simulator stops, to cut waits short.
    :param exchanges: the exchange log, which the simulator's own routes report on.
    :param variants: renders the spec variants of API answers; none when not given.
    :param rate_limiter: the account's rate limit on API requests; none when not given.
    """

    def __init__(
        self,
        state: SimulatorState,
        credentials: Credentials,
        faults: FaultInjector,
        latency: float,
        stopping: threading.Event,
        exchanges: ExchangeLog | None = None,
        variants: VariantRenderer | None = None,
        rate_limiter: RateLimiter | None = None,
    ) -> None:
        self.state = state
        self.credentials = credentials
        self.faults = faults
        self.latency = latency
        self.exchanges = exchanges
        self.variants = variants
        self.rate_limiter = rate_limiter
        self._stopping = stopping

    def dispatch(self, request: HttpRequest) -> Outcome:
        """Decide the outcome of ``request``, applying it to the state unless a fault prevents it."""
        try:
            route, params = resolve(request.method, request.path)
        except ApiError as error:
            return Outcome(ApiResponse.error(error))
        if not route.is_control and not self._pause(self.latency):
            return Outcome(None, route)
        try:
            self._authenticate(route, request)
        except ApiError as error:
            return Outcome(ApiResponse.error(error), route)
        limiter = self.rate_limiter
        if limiter is not None and not route.is_control:
            refusal = limiter.take()
            if refusal is not None:
                return Outcome(refusal, route, "throttled")
        fault = None if route.is_control else self.faults.draw(request.method, request.path)
        if fault is None:
            return Outcome(self._apply(route, params, request), route)
        return Outcome(self._apply_with_fault(fault, route, params, request), route, fault.kind)

    def _apply_with_fault(
        self, fault: Fault, route: Route, params: dict[str, str], request: HttpRequest
    ) -> ApiResponse | None:
        if fault.answer is not None:
            return fault.answer
        if fault.echo_status is not None:
            credentials = self.credentials
            authorization = request.headers.get("Authorization", "")
            return echo_answer(fault.echo_status, authorization, credentials.key, credentials.secret)
        if fault.drop == "before" or not self._pause(fault.delay):
            return None
        response = self._apply(route, params, request)
        if fault.drop == "after":
            return None
        return _truncated(response) if fault.truncate else response

    def _pause(self, seconds: float) -> bool:
        """Wait ``seconds``; ``False`` means the simulator is stopping and the request goes unanswered."""
        if seconds <= 0:
            return not self._stopping.is_set()
        return not self._stopping.wait(seconds)

    def _authenticate(self, route: Route, request: HttpRequest) -> None:
        if route.auth == "api_key":
            keys = request.query.get("key", [])
            if not self.credentials.accept_key(keys[0] if keys else None):
                raise ApiError(401, "The query parameter 'key' must be the API key", field="key")
            return
        if self.credentials.accept_basic(request.headers.get("Authorization", "")):
            return
        if "X-Authentication" in request.headers and "Authorization" not in request.headers:
            message = "The deprecated X-Authentication header is not accepted: use HTTP Basic authentication"
        else:
            message = "HTTP Basic authentication with the API key and secret is required"
        raise ApiError(401, message, headers=_BASIC_CHALLENGE)

    def _apply(self, route: Route, params: dict[str, str], request: HttpRequest) -> ApiResponse:
        variants = None if route.is_control else self.variants
        try:
            body = self._read_body(route, request, variants)
            page_cap = variants.page_cap() if variants is not None and route.paged else None
            response = route.handle(
                self.state, ApiRequest(params, request.query, body, self.exchanges, page_cap)
            )
        except ApiError as error:
            return ApiResponse.error(error)
        return response if variants is None else variants.render(response)

    @staticmethod
    def _read_body(route: Route, request: HttpRequest, variants: VariantRenderer | None) -> Mapping[str, Any]:
        if request.method not in _METHODS_WITH_BODY:
            return {}
        if not request.body:
            if route.body is not None and not route.body_optional:
                raise ApiError(400, "A JSON request body is required")
            return {}
        body: Mapping[str, Any] = _parse_json_object(request)
        if route.body is not None:
            if variants is not None:
                body = variants.request_body(route.body, body)
            route.body.check(body)
        return body
