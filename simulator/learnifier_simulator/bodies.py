"""The request bodies of the API: which fields each accepts, of which JSON type, and which are required.

These mirror the request schemas of Learnifier's OpenAPI description. A body that breaks them is
answered ``422`` with the ``field`` at fault. Members that are not listed are ignored, and a
``null`` member counts as absent. A few listed members extend the spec, as the real API does;
each schema names them in ``undeclared``, and a test checks the rest against openapi.json.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from learnifier_simulator.messages import ApiError
from learnifier_simulator.models import PROJECT_STATUSES

if TYPE_CHECKING:
    from collections.abc import Mapping

#: JSON types of body fields; ``id`` takes an integer or a string, as ids in paths do.
JsonType = Literal["string", "integer", "number", "boolean", "id"]

_PYTHON_TYPES: dict[JsonType, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "id": (int, str),
}


def _is_of_type(value: Any, json_type: JsonType) -> bool:
    if isinstance(value, bool) and json_type != "boolean":
        return False
    return isinstance(value, _PYTHON_TYPES[json_type])


@dataclass(frozen=True)
class BodySchema:
    """The checked shape of a request body.

    :param fields: the JSON type of each known field.
    :param required: the fields that must be present and not ``null``.
    :param choices: the allowed values of enumerated fields.
    :param undeclared: the fields accepted although the spec's request schema does not declare them.
    """

    fields: Mapping[str, JsonType]
    required: tuple[str, ...] = ()
    choices: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    undeclared: frozenset[str] = frozenset()

    @property
    def declared_fields(self) -> frozenset[str]:
        """The fields that the spec's request schema declares."""
        return frozenset(self.fields) - self.undeclared

    def declared_only(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """Return ``body`` without the members that the spec's request schema does not declare."""
        declared = self.declared_fields
        return {name: value for name, value in body.items() if name in declared}

    def check(self, body: Mapping[str, Any]) -> None:
        """Raise :class:`ApiError` 422 naming the first field of ``body`` that breaks the schema."""
        for name in self.required:
            if body.get(name) is None:
                raise ApiError(422, f"The field {name!r} is required", field=name)
        for name, json_type in self.fields.items():
            value = body.get(name)
            if value is None:
                continue
            if not _is_of_type(value, json_type):
                raise ApiError(422, f"The field {name!r} must be of type {json_type}", field=name)
            allowed = self.choices.get(name)
            if allowed is not None and value not in allowed:
                raise ApiError(422, f"The field {name!r} must be one of {', '.join(allowed)}", field=name)


_ORG_UNIT_FIELDS: dict[str, JsonType] = {
    "caller": "string",
    "clientNumber": "string",
    "country": "string",
    "displayName": "string",
    "externalId": "string",
    "parent": "number",
}
_USER_FIELDS: dict[str, JsonType] = {
    "displayName": "string",
    "externalId": "string",
    "firstName": "string",
    "hardLock": "boolean",
    "homeOrg": "integer",
    "lastName": "string",
    "locale": "string",
    "primaryEmail": "string",
}
_PROJECT_TEXT_FIELDS: dict[str, JsonType] = {
    "country": "string",
    "locale": "string",
    "name": "string",
    "note": "string",
    "timezone": "string",
    "userDescription": "string",
    "userTitle": "string",
}

ADD_ORGANIZATION_UNIT = BodySchema(_ORG_UNIT_FIELDS, required=("displayName",))
UPDATE_ORGANIZATION_UNIT = BodySchema(_ORG_UNIT_FIELDS)
#: ``AddProject``, extended with ``externalId``, which the real API accepts but the spec omits.
ADD_PROJECT = BodySchema(
    _PROJECT_TEXT_FIELDS | {"createdBy": "string", "designId": "integer", "externalId": "string"},
    required=("name", "designId"),
    undeclared=frozenset({"externalId"}),
)
UPDATE_PROJECT = BodySchema(_PROJECT_TEXT_FIELDS | {"status": "string"}, choices={"status": PROJECT_STATUSES})
ADD_PARTICIPANT = BodySchema({"email": "string", "extid": "string", "userid": "string"})
ADD_USER = BodySchema(_USER_FIELDS)
UPDATE_USER = BodySchema(_USER_FIELDS)
ADD_USER_GROUP = BodySchema({"name": "string", "parent": "integer"}, required=("name",))
ADD_USER_GROUP_MEMBER = BodySchema({"uuid": "string"}, required=("uuid",))
#: The body of the simulator's own ``POST /_simulator/participant-error``; a ``null`` or absent
#: ``message`` clears the error.
PARTICIPANT_ERROR = BodySchema({"participantId": "id", "message": "string"}, required=("participantId",))
#: The body of the simulator's own ``POST /_simulator/advance``.
ADVANCE_PROGRESS = BodySchema(
    {"projectId": "id", "participantId": "id", "activities": "integer", "complete": "boolean"}
)
