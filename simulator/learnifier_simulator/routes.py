"""The routes of the simulator: the 34 operations of Learnifier's OpenAPI description, and its own.

Each API route is declared with its path written exactly as the spec's path key, typos included,
so that recorded exchanges name the spec operation they exercised. Matching reads those keys
as the real API serves them: ``${participantId}`` is the segment ``{participantId}``, and the
``?key={APIKEY}`` of the picture path is a query parameter.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal
from urllib.parse import unquote

from learnifier_simulator import bodies
from learnifier_simulator.messages import ApiError, ApiRequest, ApiResponse
from learnifier_simulator.models import resource_url
from learnifier_simulator.state import SimulatorState

if TYPE_CHECKING:
    from learnifier_simulator.bodies import BodySchema
    from learnifier_simulator.recording import Exchange, ExchangeLog

Handler = Callable[[SimulatorState, ApiRequest], ApiResponse]

#: Paths under this prefix belong to the simulator itself, not to Learnifier's API.
CONTROL_PREFIX = "/_simulator/"

#: The picture every user has: a 1x1 transparent PNG.
USER_PICTURE_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)

_PARAMETER = re.compile(r"\$?\{(\w+)\}")


def _path_pattern(template: str) -> re.Pattern[str]:
    path = template.partition("?")[0]
    parts = _PARAMETER.split(path)
    literals, names = parts[0::2], parts[1::2]
    regex = re.escape(literals[0]) + "".join(
        f"(?P<{name}>[^/]+)" + re.escape(literal) for name, literal in zip(names, literals[1:], strict=True)
    )
    return re.compile(regex + r"\Z")


@dataclass(frozen=True)
class Route:
    """One method and path of the simulator.

    :param method: the HTTP method.
    :param template: the spec's path key (or a control path).
    :param handle: makes the answer from the state and the request.
    :param body: the schema of the request body, which is then required, unless ``body_optional``.
    :param body_optional: whether the request may come without a body.
    :param auth: ``basic`` for HTTP Basic, ``api_key`` for the API key in the ``key`` query parameter.
    :param paged: whether the operation pages its answer with ``limit`` and ``offset``, so that
        spec variants may cap its pages.
    """

    method: str
    template: str
    handle: Handler
    body: BodySchema | None = None
    body_optional: bool = False
    auth: Literal["basic", "api_key"] = "basic"
    paged: bool = False
    pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "pattern", _path_pattern(self.template))

    @property
    def is_control(self) -> bool:
        """Whether this is one of the simulator's own routes."""
        return self.template.startswith(CONTROL_PREFIX)

    @property
    def operation(self) -> tuple[str, str] | None:
        """The spec operation as ``(METHOD, path key)``, ``None`` for control routes."""
        return None if self.is_control else (self.method, self.template)


def _extid(request: ApiRequest) -> str:
    external_id = request.query_value("extid")
    if external_id is None:
        raise ApiError(400, "The query parameter 'extid' is required", field="extid")
    return external_id


def _non_negative_int(request: ApiRequest, name: str, default: int) -> int:
    values = request.query.get(name)
    if not values:
        return default
    if not (values[0].isascii() and values[0].isdigit()):
        raise ApiError(400, f"The query parameter {name!r} must be a non-negative integer", field=name)
    return int(values[0])


def _ok(payload: object) -> ApiResponse:
    return ApiResponse.json(200, payload)


# ---------------------------------------------------------------------- Learnifier's operations


def _list_course_designs(state: SimulatorState, request: ApiRequest) -> ApiResponse:
    return _ok(state.list_course_designs())


def _org_unit_by_external_id(state: SimulatorState, request: ApiRequest) -> ApiResponse:
    return _ok(state.org_unit_by_external_id(_extid(request)))


def _participation_by_external_id(state: SimulatorState, request: ApiRequest) -> ApiResponse:
    return _ok(state.participation_by_external_id(_extid(request)))


def _project_by_external_id(state: SimulatorState, request: ApiRequest) -> ApiResponse:
    return _ok(state.project_by_external_id(_extid(request)))


def _user_by_external_id(state: SimulatorState, request: ApiRequest) -> ApiResponse:
    return _ok(state.user_by_external_id(_extid(request)))


def _list_global_user_groups(state: SimulatorState, request: ApiRequest) -> ApiResponse:
    return _ok(state.list_global_user_groups())


def _list_global_user_group_members(state: SimulatorState, request: ApiRequest) -> ApiResponse:
    return _ok(state.list_global_user_group_members(request.params["groupid"]))


def _list_org_units(state: SimulatorState, request: ApiRequest) -> ApiResponse:
    return _ok({"orgUnits": state.list_org_units()})


def _add_org_unit(state: SimulatorState, request: ApiRequest) -> ApiResponse:
    return _ok(state.add_org_unit(request.body))


def _get_org_unit(state: SimulatorState, request: ApiRequest) -> ApiResponse:
    return _ok(state.get_org_unit(request.params["orgid"]))


def _update_org_unit(state: SimulatorState, request: ApiRequest) -> ApiResponse:
    state.update_org_unit(request.params["orgid"], request.body)
    return ApiResponse.empty(201)


def _list_projects(state: SimulatorState, request: ApiRequest) -> ApiResponse:
    return _ok(state.list_projects(request.params["orgid"]))


def _add_project(state: SimulatorState, request: ApiRequest) -> ApiResponse:
    project = state.add_project(request.params["orgid"], request.body)
    location = resource_url(state.base_url, "orgunits", project["orgId"], "projects", project["id"])
    return ApiResponse.json(201, project, {"Location": location})


def _delete_project(state: SimulatorState, request: ApiRequest) -> ApiResponse:
    state.delete_project(request.params["orgid"], request.params["projectid"])
    return ApiResponse.empty(204)


def _get_project(state: SimulatorState, request: ApiRequest) -> ApiResponse:
    return _ok(state.get_project(request.params["orgid"], request.params["projectid"]))


def _update_project(state: SimulatorState, request: ApiRequest) -> ApiResponse:
    return _ok(state.update_project(request.params["orgid"], request.params["projectid"], request.body))


def _list_participants(state: SimulatorState, request: ApiRequest) -> ApiResponse:
    return _ok(state.list_participants(request.params["orgid"], request.params["projectid"]))


def _add_participant(state: SimulatorState, request: ApiRequest) -> ApiResponse:
    location = state.add_participant(request.params["orgid"], request.params["projectid"], request.body)
    return ApiResponse.empty(201, {"Location": location})


def _delete_participant(state: SimulatorState, request: ApiRequest) -> ApiResponse:
    params = request.params
    state.delete_participant(params["orgid"], params["projectid"], params["participantId"])
    return ApiResponse.empty(204)


def _activate_participant(state: SimulatorState, request: ApiRequest) -> ApiResponse:
    params = request.params
    state.activate_participant(params["orgid"], params["projectid"], params["participantId"])
    return ApiResponse.empty(201)


def _create_login_link(state: SimulatorState, request: ApiRequest) -> ApiResponse:
    params = request.params
    return _ok(state.create_login_link(params["orgid"], params["projectid"], params["participantId"]))


def _list_team_members(state: SimulatorState, request: ApiRequest) -> ApiResponse:
    return _ok(state.list_team_members(request.params["orgid"], request.params["projectid"]))


def _list_user_groups(state: SimulatorState, request: ApiRequest) -> ApiResponse:
    return _ok(state.list_user_groups(request.params["orgid"]))


def _add_user_group(state: SimulatorState, request: ApiRequest) -> ApiResponse:
    return _ok(state.add_user_group(request.params["orgid"], request.body))


def _get_user_group(state: SimulatorState, request: ApiRequest) -> ApiResponse:
    return _ok(state.get_user_group(request.params["orgid"], request.params["groupid"]))


def _list_user_group_members(state: SimulatorState, request: ApiRequest) -> ApiResponse:
    return _ok(state.list_user_group_members(request.params["orgid"], request.params["groupid"]))


def _add_user_group_member(state: SimulatorState, request: ApiRequest) -> ApiResponse:
    params = request.params
    return _ok(state.add_user_group_member(params["orgid"], params["groupid"], request.body["uuid"]))


def _remove_user_group_member(state: SimulatorState, request: ApiRequest) -> ApiResponse:
    params = request.params
    state.remove_user_group_member(params["orgid"], params["groupid"], params["uuid"])
    return ApiResponse.empty(200)


def _list_users(state: SimulatorState, request: ApiRequest) -> ApiResponse:
    limit = _non_negative_int(request, "limit", 5000)
    if request.page_cap is not None:
        limit = min(limit, request.page_cap)
    offset = _non_negative_int(request, "offset", 0)
    users, more = state.list_users(limit, offset)
    headers = {
        "X-Limit": str(limit),
        "X-Offset": str(offset),
        "X-Size": str(len(users)),
        "X-More": str(more).lower(),
    }
    return ApiResponse.json(200, users, headers)


def _add_user(state: SimulatorState, request: ApiRequest) -> ApiResponse:
    return _ok(state.add_user(request.body))


def _get_user(state: SimulatorState, request: ApiRequest) -> ApiResponse:
    return _ok(state.get_user(request.params["userid"]))


def _update_user(state: SimulatorState, request: ApiRequest) -> ApiResponse:
    state.update_user(request.params["userid"], request.body)
    return ApiResponse.empty(201)


def _get_user_picture(state: SimulatorState, request: ApiRequest) -> ApiResponse:
    state.get_user(request.params["userid"])
    return ApiResponse(200, USER_PICTURE_PNG, "image/png")


def _list_user_participations(state: SimulatorState, request: ApiRequest) -> ApiResponse:
    return _ok(state.list_user_participations(request.params["userid"]))


# ---------------------------------------------------------------------- the simulator's own routes


def _advance_progress(state: SimulatorState, request: ApiRequest) -> ApiResponse:
    body = request.body
    advanced = state.advance_progress(
        project_id=body.get("projectId"),
        participant_id=body.get("participantId"),
        activities=body.get("activities", 1),
        complete=body.get("complete", False),
    )
    return _ok({"advanced": advanced})


def _dump_state(state: SimulatorState, request: ApiRequest) -> ApiResponse:
    return _ok(state.snapshot())


def _set_participant_error(state: SimulatorState, request: ApiRequest) -> ApiResponse:
    body = request.body
    return _ok(state.set_participant_error(body["participantId"], body.get("message")))


def _operation_name(operation: tuple[str, str]) -> str:
    return f"{operation[0]} {operation[1]}"


def _exchange_log(request: ApiRequest) -> ExchangeLog:
    if request.exchange_log is None:
        raise ApiError(404, "This simulator keeps no exchange log")
    return request.exchange_log


def _request_counts(state: SimulatorState, request: ApiRequest) -> ApiResponse:
    log = _exchange_log(request)
    by_operation = {_operation_name(operation): count for operation, count in log.request_counts().items()}
    return _ok({"total": log.request_count, "byOperation": by_operation})


def _readable_body(raw: bytes) -> object:
    """A body as JSON when it is JSON, else as text when it is UTF-8, else as its size."""
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return f"<{len(raw)} bytes>"


def _exchange_summary(exchange: Exchange) -> dict[str, object]:
    return {
        "method": exchange.method,
        "path": exchange.path,
        "query": exchange.query,
        "operation": None if exchange.operation is None else _operation_name(exchange.operation),
        "status": exchange.status,
        "fault": exchange.fault,
        "requestBody": _readable_body(exchange.body),
        "responseBody": _readable_body(exchange.response_body),
    }


def _recorded_exchanges(state: SimulatorState, request: ApiRequest) -> ApiResponse:
    log = _exchange_log(request)
    exchanges = [_exchange_summary(e) for e in log.snapshot() if not e.control]
    return _ok({"recording": log.record, "maxExchanges": log.max_exchanges, "exchanges": exchanges})


_ORG = "/orgunits/{orgid}"
_PROJECT = _ORG + "/projects/{projectid}"
_PARTICIPANT = _PROJECT + "/participants/${participantId}"
_USER_GROUP = _ORG + "/usergroups/{groupid}"

ROUTES: tuple[Route, ...] = (
    Route("GET", "/coursedesigns", _list_course_designs),
    Route("GET", "/extorgunit", _org_unit_by_external_id),
    Route("GET", "/extparticipation", _participation_by_external_id),
    Route("GET", "/extproject", _project_by_external_id),
    Route("GET", "/extuser", _user_by_external_id),
    Route("GET", "/globalusergroups", _list_global_user_groups),
    Route("GET", "/globalusergroups/{groupid}/members", _list_global_user_group_members),
    Route("GET", "/orgunits", _list_org_units),
    Route("POST", "/orgunits", _add_org_unit, bodies.ADD_ORGANIZATION_UNIT),
    Route("GET", _ORG, _get_org_unit),
    Route("PATCH", _ORG, _update_org_unit, bodies.UPDATE_ORGANIZATION_UNIT),
    Route("GET", _ORG + "/projects", _list_projects),
    Route("POST", _ORG + "/projects", _add_project, bodies.ADD_PROJECT),
    Route("DELETE", _PROJECT, _delete_project),
    Route("GET", _PROJECT, _get_project),
    Route("PATCH", _PROJECT, _update_project, bodies.UPDATE_PROJECT),
    Route("GET", _PROJECT + "/participants", _list_participants),
    Route("POST", _PROJECT + "/participants", _add_participant, bodies.ADD_PARTICIPANT),
    Route("DELETE", _PARTICIPANT, _delete_participant),
    Route("POST", _PARTICIPANT + "/activate", _activate_participant),
    Route("POST", _PARTICIPANT + "/loginlink", _create_login_link),
    Route("GET", _PROJECT + "/teammembers", _list_team_members),
    Route("GET", _ORG + "/usergroups", _list_user_groups),
    Route("POST", _ORG + "/usergroups", _add_user_group, bodies.ADD_USER_GROUP),
    Route("GET", _USER_GROUP, _get_user_group),
    Route("GET", _USER_GROUP + "/members", _list_user_group_members),
    Route("POST", _USER_GROUP + "/members", _add_user_group_member, bodies.ADD_USER_GROUP_MEMBER),
    Route("DELETE", _USER_GROUP + "/members/{uuid}", _remove_user_group_member),
    Route("GET", "/users", _list_users, paged=True),
    Route("POST", "/users", _add_user, bodies.ADD_USER),
    Route("GET", "/users/{userid}", _get_user),
    Route("PATCH", "/users/{userid}", _update_user, bodies.UPDATE_USER),
    Route("GET", "/users/{userid}/pic?key={APIKEY}", _get_user_picture, auth="api_key"),
    Route("GET", "/users/{userid}/projectParticipations", _list_user_participations),
    Route("POST", CONTROL_PREFIX + "advance", _advance_progress, bodies.ADVANCE_PROGRESS, body_optional=True),
    Route("GET", CONTROL_PREFIX + "state", _dump_state),
    Route("POST", CONTROL_PREFIX + "participant-error", _set_participant_error, bodies.PARTICIPANT_ERROR),
    Route("GET", CONTROL_PREFIX + "requests", _request_counts),
    Route("GET", CONTROL_PREFIX + "exchanges", _recorded_exchanges),
)


def resolve(method: str, path: str) -> tuple[Route, dict[str, str]]:
    """Find the route of ``method`` and ``path`` and its percent-decoded path parameters.

    :raises ApiError: 404 when no route has the path, 405 (with ``Allow``) when none has the method.
    """
    allowed = []
    for route in ROUTES:
        match = route.pattern.match(path)
        if match is None:
            continue
        if route.method == method:
            return route, {name: unquote(value) for name, value in match.groupdict().items()}
        allowed.append(route.method)
    if allowed:
        raise ApiError(405, f"{method} is not allowed on {path}", headers={"Allow": ", ".join(allowed)})
    raise ApiError(404, f"No such resource: {path}")
