"""Contract checks: recorded exchanges against Learnifier's OpenAPI description (``tests/data/openapi.json``).

:func:`validate_exchange` checks one exchange that the simulator recorded; :func:`validate_all`
checks many and reports every failure at once. Both raise :class:`AssertionError`.

The spec's schemas use only JSON Schema draft 4 keywords (``type``, ``properties``, ``required``,
``items``, ``enum``, ``allOf``, ``format``) and annotations that JSON Schema ignores
(``description``, ``example``); nothing is marked ``nullable``. So they validate as draft 4
as they are, with :data:`FORMAT_CHECKER` for the formats that matter. What the real API does
differently from the spec is listed below, explicitly.

With ``spec_variants=True`` they check the answers of a simulator run with
:class:`~learnifier_simulator.SpecVariants`, and accept, besides what the schemas
allow (unknown members already validate: no schema forbids additional properties):

* any 2xx status where the operation declares another one, its body checked against the
  declared success (a body where it declares one, none where it does not);
* a numeric id written as a string of digits: the spec types some ids as int64, but Learnifier's
  documentation says all ids are strings, and clients must accept both;
* ``null`` for an optional member, read as absent: unknown values are often written so.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from jsonschema import Draft4Validator, FormatChecker

from learnifier_simulator.variants import is_id_member

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from learnifier_simulator import Exchange, HeaderMap

JsonSchema = dict[str, Any]

#: A path segment parameter; the spec writes three of them ``${participantId}``: that ``$`` is a typo.
_PATH_PARAMETER = re.compile(r"\$?\{(\w+)\}")

#: Responses that the real API shapes differently from the spec's schema, keyed by
#: ``(METHOD, path key, status)``: each gives the schema to check instead of the declared one.
RESPONSE_SCHEMA_QUIRKS: dict[tuple[str, str, str], Callable[[JsonSchema], JsonSchema]] = {
    # Declared as one UserParticipationInfo object, but it lists the user's participations:
    # the answer is an array of those objects.
    ("GET", "/users/{userid}/projectParticipations", "200"): lambda declared: {
        "type": "array",
        "items": declared,
    },
}

#: Responses that are images, for which the spec declares no content.
IMAGE_RESPONSES = {("GET", "/users/{userid}/pic?key={APIKEY}", "200")}
IMAGE_CONTENT_TYPES = ("image/png", "image/jpeg", "image/gif")

FORMAT_CHECKER = FormatChecker(formats=())


@FORMAT_CHECKER.checks("date-time", raises=ValueError)
def _is_date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    parsed = datetime.fromisoformat(value.removesuffix("Z") + "+00:00" if value.endswith("Z") else value)
    return "T" in value and parsed.tzinfo is not None


@FORMAT_CHECKER.checks("uuid", raises=ValueError)
def _is_uuid(value: object) -> bool:
    return not isinstance(value, str) or str(uuid.UUID(value)) == value.lower()


@FORMAT_CHECKER.checks("email")
def _is_email(value: object) -> bool:
    if not isinstance(value, str):
        return True
    local_part, at, domain = value.partition("@")
    return bool(local_part and at and domain)


@FORMAT_CHECKER.checks("url")
@FORMAT_CHECKER.checks("uri")
def _is_url(value: object) -> bool:
    if not isinstance(value, str):
        return True
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


@FORMAT_CHECKER.checks("int32")
def _is_int32(value: object) -> bool:
    return not isinstance(value, int) or -(2**31) <= value < 2**31


@FORMAT_CHECKER.checks("int64")
def _is_int64(value: object) -> bool:
    if isinstance(value, float):
        return value.is_integer()
    return not isinstance(value, int) or -(2**63) <= value < 2**63


@dataclass(frozen=True)
class SpecOperation:
    """One operation of the spec, with its path key read as the real API serves it."""

    method: str
    template: str
    definition: dict[str, Any]
    pattern: re.Pattern[str]
    required_query: tuple[str, ...]

    @property
    def key(self) -> tuple[str, str]:
        """``(METHOD, path key)``, as :attr:`Exchange.operation` names it."""
        return (self.method, self.template)


def _operation(method: str, template: str, definition: dict[str, Any]) -> SpecOperation:
    path, _, query = template.partition("?")
    parts = _PATH_PARAMETER.split(path)
    names, literals = parts[1::2], parts[2::2]
    regex = re.escape(parts[0]) + "".join(
        f"(?P<{name}>[^/]+)" + re.escape(literal) for name, literal in zip(names, literals, strict=True)
    )
    declared_query = [
        p["name"] for p in definition.get("parameters", []) if p["in"] == "query" and p.get("required")
    ]
    # The picture path writes its query into the key (``?key={APIKEY}``): a required query parameter.
    return SpecOperation(
        method.upper(),
        template,
        definition,
        re.compile(regex + r"\Z"),
        tuple(declared_query + list(parse_qs(query))),
    )


def spec_operations(spec: dict[str, Any]) -> list[SpecOperation]:
    """Return every operation of ``spec``."""
    return [
        _operation(method, template, definition)
        for template, path_item in spec["paths"].items()
        for method, definition in path_item.items()
        if method in ("get", "put", "post", "delete", "patch", "head", "options")
    ]


def find_operation(spec: dict[str, Any], method: str, path: str) -> SpecOperation:
    """Return the spec operation that serves ``method`` on ``path``, or fail."""
    for operation in spec_operations(spec):
        if operation.method == method and operation.pattern.match(path):
            return operation
    raise AssertionError(f"{method} {path} matches no operation of the OpenAPI description")


def _schema_errors(instance: Any, schema: JsonSchema) -> list[str]:
    validator = Draft4Validator(schema, format_checker=FORMAT_CHECKER)
    return [
        f"{error.message} (at {error.json_path})"
        for error in sorted(validator.iter_errors(instance), key=lambda error: list(error.path))
    ]


def _media_type(headers: HeaderMap) -> str:
    return headers.get("Content-Type", "").split(";")[0].strip().lower()


def _check_request(operation: SpecOperation, exchange: Exchange) -> list[str]:
    problems = [
        f"the required query parameter {name!r} is missing"
        for name in operation.required_query
        if not exchange.query.get(name)
    ]
    request_body = operation.definition.get("requestBody")
    if request_body is None:
        if exchange.body:
            problems.append("it sends a body, but the operation declares none")
        return problems
    if not exchange.body:
        if request_body.get("required"):
            problems.append("the required request body is missing")
        return problems
    content = request_body["content"]
    media_type = _media_type(exchange.headers)
    if media_type not in content:
        return [*problems, f"the request Content-Type {media_type!r} is not one of {sorted(content)}"]
    try:
        body = json.loads(exchange.body.decode("utf-8"))
    except ValueError as error:
        return [*problems, f"the request body is not UTF-8 JSON: {error}"]
    # AddProject does not forbid additional properties, so its ``externalId`` extension validates.
    errors = _schema_errors(body, content[media_type]["schema"])
    return problems + [f"request body: {error}" for error in errors]


def with_spec_variants(schema: JsonSchema) -> JsonSchema:
    """Return ``schema`` that also accepts numeric ids as digit strings, and ``null`` for optional members."""
    varied = dict(schema)
    if isinstance(schema.get("items"), dict):
        varied["items"] = with_spec_variants(schema["items"])
    if "allOf" in schema:
        varied["allOf"] = [with_spec_variants(part) for part in schema["allOf"]]
    if "properties" in schema:
        required = set(schema.get("required", ()))
        varied["properties"] = {
            name: _member_with_variants(name, with_spec_variants(member), name in required)
            for name, member in schema["properties"].items()
        }
    return varied


def _member_with_variants(name: str, member: JsonSchema, required: bool) -> JsonSchema:
    options = [member]
    if is_id_member(name) and member.get("type") in ("integer", "number"):
        options.append({"type": "string", "pattern": "^-?[0-9]+$"})
    if not required:
        options.append({"type": "null"})
    return member if len(options) == 1 else {"anyOf": options}


def _declared_success(responses: dict[str, Any]) -> str | None:
    return next((status for status in responses if status.startswith("2")), None)


def _check_response(
    operation: SpecOperation, exchange: Exchange, status_code: int, spec_variants: bool
) -> list[str]:
    status = str(status_code)
    responses = operation.definition["responses"]
    if spec_variants and status not in responses and 200 <= status_code < 300:
        status = _declared_success(responses) or status
    declared = responses.get(status)
    if declared is None:
        # ``default`` documents error answers (its schema is the Error object), not other successes.
        if status_code < 400 or "default" not in responses:
            return [f"the status {status} is not declared (declared: {', '.join(responses)})"]
        declared = responses["default"]
    if (*operation.key, status) in IMAGE_RESPONSES:
        media_type = _media_type(exchange.response_headers)
        if media_type not in IMAGE_CONTENT_TYPES or not exchange.response_body:
            return [
                f"the answer should be an image, not {media_type!r} with {len(exchange.response_body)} bytes"
            ]
        return []
    content = declared.get("content")
    if not content:
        if not exchange.response_body:
            return []
        if status_code >= 400 and "default" in responses:
            # An error status declared without a body may still carry the Error object.
            content = responses["default"]["content"]
        else:
            size = len(exchange.response_body)
            return [f"the status {status} declares no body, but the answer has {size} bytes"]
    elif not exchange.response_body:
        return [f"the status {status} declares a body, but the answer has none"]
    media_type = _media_type(exchange.response_headers)
    if media_type not in content:
        return [f"the answer's Content-Type {media_type!r} is not one of {sorted(content)}"]
    try:
        body = json.loads(exchange.response_body.decode("utf-8"))
    except ValueError as error:
        return [f"the answer's body is not UTF-8 JSON: {error}"]
    schema = content[media_type]["schema"]
    quirk = RESPONSE_SCHEMA_QUIRKS.get((*operation.key, status))
    if quirk is not None:
        schema = quirk(schema)
    if spec_variants:
        schema = with_spec_variants(schema)
    return [f"response body: {error}" for error in _schema_errors(body, schema)]


def validate_exchange(
    spec: dict[str, Any], exchange: Exchange, *, validate_request: bool = True, spec_variants: bool = False
) -> None:
    """Check that ``exchange`` follows the OpenAPI description ``spec``.

    The request must match an operation (method and path); its required query parameters must be
    there and its JSON body must validate against the operation's request schema. The answer's
    status must be declared (``default`` covers error statuses) and its JSON body must validate
    against that status' schema. A dropped connection has no answer to check.

    :param validate_request: check the query and the body of the request; pass ``False`` for
        requests made invalid on purpose, to check only the operation and the answer.
    :param spec_variants: also accept the answers of a simulator with spec variants (see above).
    :raises AssertionError: naming the exchange and every problem found.
    """
    where = f"{exchange.method} {exchange.path}"
    operation = find_operation(spec, exchange.method, exchange.path)
    problems = []
    if exchange.operation is not None and exchange.operation != operation.key:
        problems.append(f"it was recorded as {exchange.operation}, but the spec operation is {operation.key}")
    if validate_request:
        problems += _check_request(operation, exchange)
    if exchange.status is not None:
        problems += _check_response(operation, exchange, exchange.status, spec_variants)
        where += f" -> {exchange.status}"
    if problems:
        raise AssertionError(f"{where} breaks the OpenAPI description:\n  " + "\n  ".join(problems))


def validate_all(spec: dict[str, Any], exchanges: Iterable[Exchange], *, spec_variants: bool = False) -> None:
    """Check every exchange with :func:`validate_exchange`, except those of the simulator's own routes.

    :param spec_variants: also accept the answers of a simulator with spec variants.

    :raises AssertionError: listing the failures of all exchanges that break the description.
    """
    failures = []
    for exchange in exchanges:
        if exchange.control:
            continue
        try:
            validate_exchange(spec, exchange, spec_variants=spec_variants)
        except AssertionError as error:
            failures.append(str(error))
    if failures:
        raise AssertionError(
            f"{len(failures)} exchange(s) break the OpenAPI description:\n" + "\n".join(failures)
        )
