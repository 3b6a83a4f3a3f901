"""The simulated account: in-memory records and the API's operations on them, without any HTTP.

Every public method of :class:`SimulatorState` holds one lock for its whole run, so operations
from concurrent request threads never interleave. Methods take ids as the strings found in
request paths, return JSON-ready API representations, and raise
:class:`~airflow_provider_learnifier.simulator.messages.ApiError` for error answers.
"""

from __future__ import annotations

import secrets
import threading
import uuid
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar, cast

from airflow_provider_learnifier.simulator.messages import ApiError
from airflow_provider_learnifier.simulator.models import (
    CourseDesign,
    GlobalUserGroup,
    JsonObject,
    OrgUnit,
    Participant,
    Project,
    ProjectStatus,
    Record,
    TeamMember,
    User,
    UserGroup,
    resource_url,
    utc_now,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

#: How long an activation gives a participant access.
ACCESS_PERIOD = timedelta(days=365)
DEFAULT_PROJECT_COUNTRY = "SE"
DEFAULT_PROJECT_TIMEZONE = "Europe/Stockholm"

#: The first id given to each kind of record created through the API; distinct ranges make a
#: project id used as an org unit id fail loudly.
FIRST_IDS: dict[type, int] = {OrgUnit: 1001, Project: 2001, Participant: 3001, UserGroup: 4001}

_R = TypeVar("_R")


def _id_key(value: Any) -> str:
    """Return the key under which an id is stored: its string form (``12`` and ``12.0`` give "12")."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


def _check_email(value: str | None, field: str) -> None:
    local_part, at, domain = (value or "").partition("@")
    if value is not None and not (local_part and at and domain):
        raise ApiError(422, f"The field {field!r} must be an email address", field=field)


def _first(records: Iterable[_R], predicate: Callable[[_R], bool]) -> _R | None:
    return next((record for record in records if predicate(record)), None)


class SimulatorState:
    """The data of one simulated Learnifier account and the API's operations on it.

    :param base_url: the simulator's base URL, used in links such as ``adminUrl``; set once the
        server listens.
    """

    def __init__(self, base_url: str = "") -> None:
        self.base_url = base_url
        self._lock = threading.Lock()
        self._next_ids = dict(FIRST_IDS)
        self._org_units: dict[str, OrgUnit] = {}
        self._course_designs: dict[str, CourseDesign] = {}
        self._projects: dict[str, Project] = {}
        self._participants: dict[str, Participant] = {}
        self._users: dict[str, User] = {}
        self._user_groups: dict[str, UserGroup] = {}
        self._global_user_groups: dict[str, GlobalUserGroup] = {}

    # ------------------------------------------------------------------ loading and inspection

    def add_records(self, *records: Record) -> None:
        """Store ``records`` as they are, ids included (for seeding); later ids are allocated above them."""
        with self._lock:
            for record in records:
                self._table_of(record)[_id_key(record.id)] = record
                kind = type(record)
                if kind in self._next_ids:
                    self._next_ids[kind] = max(self._next_ids[kind], cast("int", record.id) + 1)

    def snapshot(self) -> JsonObject:
        """Return the whole state as JSON: every record in its API representation.

        User groups add their ``orgId`` and ``members`` (user ids), projects their ``teamMembers``.
        """
        with self._lock:
            return {
                "orgUnits": [unit.to_api() for unit in self._org_units.values()],
                "courseDesigns": [design.to_api() for design in self._course_designs.values()],
                "projects": [
                    project.to_api(self.base_url) | {"teamMembers": [m.to_api() for m in project.team]}
                    for project in self._projects.values()
                ],
                "participants": [p.to_api(self.base_url) for p in self._participants.values()],
                "users": [user.to_api() for user in self._users.values()],
                "userGroups": [
                    group.to_api() | {"orgId": group.org_id, "members": list(group.member_ids)}
                    for group in self._user_groups.values()
                ],
                "globalUserGroups": [group.to_api() for group in self._global_user_groups.values()],
            }

    # ------------------------------------------------------------------ course designs

    def list_course_designs(self) -> list[JsonObject]:
        """``GET /coursedesigns``."""
        with self._lock:
            return [design.to_api() for design in self._course_designs.values()]

    # ------------------------------------------------------------------ organization units

    def list_org_units(self) -> list[JsonObject]:
        """``GET /orgunits`` (the route wraps the list as ``{"orgUnits": [...]}``)."""
        with self._lock:
            return [unit.to_api() for unit in self._org_units.values()]

    def get_org_unit(self, org_id: str) -> JsonObject:
        """``GET /orgunits/{orgid}``."""
        with self._lock:
            return self._org_unit(org_id).to_api()

    def org_unit_by_external_id(self, external_id: str) -> JsonObject:
        """``GET /extorgunit?extid=``."""
        with self._lock:
            unit = _first(self._org_units.values(), lambda u: u.external_id == external_id)
            if unit is None:
                raise ApiError(404, f"No organization unit has the external id {external_id!r}")
            return unit.to_api()

    def add_org_unit(self, body: Mapping[str, Any]) -> JsonObject:
        """``POST /orgunits``: 409 when the external id or client number is taken."""
        with self._lock:
            self._check_org_unit_unique(body, None)
            unit = OrgUnit(
                id=self._allocate_id(OrgUnit),
                name=body["displayName"],
                external_id=body.get("externalId"),
                client_number=body.get("clientNumber"),
                country=body.get("country"),
                parent_id=self._parent_org_unit_id(body, None),
            )
            self._org_units[_id_key(unit.id)] = unit
            return {"ouId": unit.id}

    def update_org_unit(self, org_id: str, body: Mapping[str, Any]) -> None:
        """``PATCH /orgunits/{orgid}``: 409 when the new external id or client number is another unit's."""
        with self._lock:
            unit = self._org_unit(org_id)
            self._check_org_unit_unique(body, unit)
            unit.parent_id = self._parent_org_unit_id(body, unit)
            unit.name = body.get("displayName", unit.name)
            unit.external_id = body.get("externalId", unit.external_id)
            unit.client_number = body.get("clientNumber", unit.client_number)
            unit.country = body.get("country", unit.country)

    def _check_org_unit_unique(self, body: Mapping[str, Any], unit: OrgUnit | None) -> None:
        for field, attribute in (("externalId", "external_id"), ("clientNumber", "client_number")):
            value = body.get(field)
            if value is None:
                continue
            for other in self._org_units.values():
                if other is not unit and getattr(other, attribute) == value:
                    raise ApiError(
                        409, f"Organization unit {other.id} already has {field} {value!r}", field=field
                    )

    def _parent_org_unit_id(self, body: Mapping[str, Any], unit: OrgUnit | None) -> int | None:
        if body.get("parent") is None:
            return unit.parent_id if unit else None
        parent = self._org_units.get(_id_key(body["parent"]))
        if parent is None or parent is unit:
            raise ApiError(422, f"No valid parent organization unit {body['parent']!r}", field="parent")
        return parent.id

    # ------------------------------------------------------------------ projects

    def list_projects(self, org_id: str) -> list[JsonObject]:
        """``GET /orgunits/{orgid}/projects``."""
        with self._lock:
            unit = self._org_unit(org_id)
            return [p.to_api(self.base_url) for p in self._projects.values() if p.org_id == unit.id]

    def get_project(self, org_id: str, project_id: str) -> JsonObject:
        """``GET /orgunits/{orgid}/projects/{projectid}``."""
        with self._lock:
            return self._project(org_id, project_id).to_api(self.base_url)

    def project_by_external_id(self, external_id: str) -> JsonObject:
        """``GET /extproject?extid=``."""
        with self._lock:
            project = _first(self._projects.values(), lambda p: p.external_id == external_id)
            if project is None:
                raise ApiError(404, f"No project has the external id {external_id!r}")
            return project.to_api(self.base_url)

    def add_project(self, org_id: str, body: Mapping[str, Any]) -> JsonObject:
        """``POST /orgunits/{orgid}/projects``: a ``NEW`` project with its design's activities and title.

        Accepts ``externalId`` (409 when taken) although the spec's ``AddProject`` omits it.
        """
        with self._lock:
            unit = self._org_unit(org_id)
            design = self._course_designs.get(_id_key(body["designId"]))
            if design is None or not design.enabled:
                raise ApiError(422, f"No enabled course design {body['designId']!r}", field="designId")
            external_id = body.get("externalId")
            taken = _first(self._projects.values(), lambda p: p.external_id == external_id)
            if external_id is not None and taken is not None:
                raise ApiError(
                    409, f"Project {taken.id} already has externalId {external_id!r}", field="externalId"
                )
            created_by = body.get("createdBy")
            if created_by is not None and created_by not in self._users:
                raise ApiError(422, f"No user {created_by!r}", field="createdBy")
            project = Project(
                id=self._allocate_id(Project),
                org_id=unit.id,
                design_id=design.id,
                name=body["name"],
                created=utc_now(),
                activities_total=design.activities_total,
                created_by=created_by,
                external_id=external_id,
                locale=body.get("locale", design.locale),
                country=body.get("country", DEFAULT_PROJECT_COUNTRY),
                timezone=body.get("timezone", DEFAULT_PROJECT_TIMEZONE),
                note=body.get("note"),
                user_title=body.get("userTitle", design.name),
                user_description=body.get("userDescription"),
                team=[TeamMember(created_by)] if created_by else [],
            )
            self._projects[_id_key(project.id)] = project
            return project.to_api(self.base_url)

    def update_project(self, org_id: str, project_id: str, body: Mapping[str, Any]) -> JsonObject:
        """``PATCH /orgunits/{orgid}/projects/{projectid}``."""
        with self._lock:
            project = self._project(org_id, project_id)
            project.name = body.get("name", project.name)
            project.status = cast("ProjectStatus", body.get("status", project.status))
            project.locale = body.get("locale", project.locale)
            project.country = body.get("country", project.country)
            project.timezone = body.get("timezone", project.timezone)
            project.note = body.get("note", project.note)
            project.user_title = body.get("userTitle", project.user_title)
            project.user_description = body.get("userDescription", project.user_description)
            return project.to_api(self.base_url)

    def delete_project(self, org_id: str, project_id: str) -> None:
        """``DELETE /orgunits/{orgid}/projects/{projectid}``: 406 while it has participants."""
        with self._lock:
            project = self._project(org_id, project_id)
            remaining = sum(1 for p in self._participants.values() if p.project_id == project.id)
            if remaining:
                raise ApiError(406, f"Project {project.id} still has {remaining} participant(s)")
            del self._projects[_id_key(project.id)]

    def list_team_members(self, org_id: str, project_id: str) -> list[JsonObject]:
        """``GET /orgunits/{orgid}/projects/{projectid}/teammembers``."""
        with self._lock:
            return [member.to_api() for member in self._project(org_id, project_id).team]

    # ------------------------------------------------------------------ participants

    def list_participants(self, org_id: str, project_id: str) -> list[JsonObject]:
        """``GET /orgunits/{orgid}/projects/{projectid}/participants``."""
        with self._lock:
            project = self._project(org_id, project_id)
            return [
                p.to_api(self.base_url) for p in self._participants.values() if p.project_id == project.id
            ]

    def participation_by_external_id(self, external_id: str) -> JsonObject:
        """``GET /extparticipation?extid=``."""
        with self._lock:
            participant = self._participant_with_external_id(external_id)
            if participant is None:
                raise ApiError(404, f"No participation has the external id {external_id!r}")
            return participant.to_api(self.base_url)

    def add_participant(self, org_id: str, project_id: str, body: Mapping[str, Any]) -> str:
        """``POST .../participants``: add the user with ``userid`` or ``email``; return the participant's URL.

        An unknown email creates a user with default values. 409, with the existing participant's
        URL in ``Location``, when the user already participates or the ``extid`` is taken.
        """
        with self._lock:
            project = self._project(org_id, project_id)
            email, user_id, external_id = body.get("email"), body.get("userid"), body.get("extid")
            if (email is None) == (user_id is None):
                raise ApiError(422, "Give exactly one of 'email' and 'userid'", field="email")
            _check_email(email, "email")
            if external_id is not None and (taken := self._participant_with_external_id(external_id)):
                raise self._participant_conflict(
                    taken, f"The participation extid {external_id!r} is taken", "extid"
                )
            if user_id is not None:
                user = self._users.get(user_id)
                if user is None:
                    raise ApiError(422, f"No user {user_id!r}", field="userid")
            else:
                user = self._user_with_email(email)
            if user is not None:
                for existing in self._participants.values():
                    if existing.project_id == project.id and existing.user_id == user.id:
                        message = f"User {user.id} already participates in project {project.id}"
                        raise self._participant_conflict(existing, message, "userid" if user_id else "email")
            else:
                user = self._create_user(primary_email=email, display_name=email, home_org=project.org_id)
            participant = Participant(
                id=self._allocate_id(Participant),
                project_id=project.id,
                user_id=user.id,
                activities_total=project.activities_total,
                external_id=external_id,
            )
            self._participants[_id_key(participant.id)] = participant
            return self._participant_url(participant)

    def delete_participant(self, org_id: str, project_id: str, participant_id: str) -> None:
        """``DELETE .../participants/{participantId}``."""
        with self._lock:
            participant = self._participant(org_id, project_id, participant_id)
            del self._participants[_id_key(participant.id)]

    def activate_participant(self, org_id: str, project_id: str, participant_id: str) -> None:
        """``POST .../participants/{participantId}/activate``: idempotent; 406 with ``failures`` when refused.

        Activation is refused when the user is locked or the project is ``DISABLED``. Each
        activation sets ``lastActivation`` and extends ``expiration``; ``firstActivation`` is kept.
        """
        with self._lock:
            participant = self._participant(org_id, project_id, participant_id)
            project = self._projects[_id_key(participant.project_id)]
            failures = []
            if self._users[participant.user_id].hard_lock:
                failures.append({"type": "USER_LOCKED", "message": "The user is locked by an administrator"})
            if project.status == "DISABLED":
                failures.append({"type": "PROJECT_DISABLED", "message": "The project is disabled"})
            if failures:
                raise ApiError(
                    406,
                    f"Participant {participant.id} could not be activated",
                    details={"failures": [failure | {"productId": str(project.id)} for failure in failures]},
                )
            now = utc_now()
            participant.activated = True
            participant.first_activation = participant.first_activation or now
            participant.last_activation = now
            participant.expiration = now + ACCESS_PERIOD
            participant.access_token = participant.access_token or secrets.token_urlsafe(16)

    def create_login_link(self, org_id: str, project_id: str, participant_id: str) -> JsonObject:
        """``POST .../participants/{participantId}/loginlink``: 422 unless the participant is activated."""
        with self._lock:
            participant = self._participant(org_id, project_id, participant_id)
            if not participant.activated:
                raise ApiError(422, f"Participant {participant.id} is not activated")
            return {"link": resource_url(self.base_url, "login", secrets.token_urlsafe(24))}

    def advance_progress(
        self,
        project_id: str | int | None = None,
        participant_id: str | int | None = None,
        activities: int = 1,
        complete: bool = False,
    ) -> list[JsonObject]:
        """Let activated participants complete activities, as if they took the course.

        :param project_id: only participants of this project.
        :param participant_id: only this participant.
        :param activities: how many more activities each completes (never beyond the total).
        :param complete: complete all activities instead.
        :return: the participations that changed.
        """
        if isinstance(activities, bool) or not isinstance(activities, int) or activities < 0:
            raise ApiError(422, "'activities' must be a non-negative integer", field="activities")
        with self._lock:
            advanced = []
            now = utc_now()
            for participant in self._participants.values():
                if (
                    not participant.activated
                    or participant.activities_completed >= participant.activities_total
                ):
                    continue
                if project_id is not None and _id_key(participant.project_id) != _id_key(project_id):
                    continue
                if participant_id is not None and _id_key(participant.id) != _id_key(participant_id):
                    continue
                target = (
                    participant.activities_total
                    if complete
                    else participant.activities_completed + activities
                )
                participant.activities_completed = min(participant.activities_total, target)
                participant.first_access = participant.first_access or now
                participant.last_access = now
                advanced.append(participant.to_api(self.base_url))
            return advanced

    def _participant_url(self, participant: Participant) -> str:
        project = self._projects[_id_key(participant.project_id)]
        return resource_url(
            self.base_url, "orgunits", project.org_id, "projects", project.id, "participants", participant.id
        )

    def _participant_conflict(self, participant: Participant, message: str, field: str) -> ApiError:
        return ApiError(409, message, field=field, headers={"Location": self._participant_url(participant)})

    def _participant_with_external_id(self, external_id: str) -> Participant | None:
        return _first(self._participants.values(), lambda p: p.external_id == external_id)

    # ------------------------------------------------------------------ users

    def list_users(self, limit: int, offset: int) -> tuple[list[JsonObject], bool]:
        """``GET /users``: a page in creation order, and whether more users follow it."""
        with self._lock:
            users = list(self._users.values())
            return [user.to_api() for user in users[offset : offset + limit]], offset + limit < len(users)

    def get_user(self, user_id: str) -> JsonObject:
        """``GET /users/{userid}``."""
        with self._lock:
            return self._user(user_id).to_api()

    def user_by_external_id(self, external_id: str) -> JsonObject:
        """``GET /extuser?extid=``."""
        with self._lock:
            user = _first(self._users.values(), lambda u: u.external_id == external_id)
            if user is None:
                raise ApiError(404, f"No user has the external id {external_id!r}")
            return user.to_api()

    def add_user(self, body: Mapping[str, Any]) -> JsonObject:
        """``POST /users``: 409 with the existing ``userId`` when the external id or email is taken."""
        with self._lock:
            existing = self._user_with_external_id(body.get("externalId")) or self._user_with_email(
                body.get("primaryEmail")
            )
            if existing is not None:
                raise ApiError(409, f"User {existing.id} already exists", details={"userId": existing.id})
            self._check_user_fields(body)
            user = self._create_user(
                primary_email=body.get("primaryEmail"),
                external_id=body.get("externalId"),
                first_name=body.get("firstName"),
                last_name=body.get("lastName"),
                display_name=body.get("displayName"),
                locale=body.get("locale"),
                home_org=body.get("homeOrg"),
                hard_lock=body.get("hardLock", False),
            )
            return {"userId": user.id}

    def update_user(self, user_id: str, body: Mapping[str, Any]) -> None:
        """``PATCH /users/{userid}``: 409 when the new email or external id belongs to another user."""
        with self._lock:
            user = self._user(user_id)
            for field, other in (
                ("externalId", self._user_with_external_id(body.get("externalId"))),
                ("primaryEmail", self._user_with_email(body.get("primaryEmail"))),
            ):
                if other is not None and other is not user:
                    raise ApiError(409, f"User {other.id} already has this {field}", field=field)
            self._check_user_fields(body)
            user.primary_email = body.get("primaryEmail", user.primary_email)
            user.external_id = body.get("externalId", user.external_id)
            user.first_name = body.get("firstName", user.first_name)
            user.last_name = body.get("lastName", user.last_name)
            user.display_name = body.get("displayName", user.display_name)
            user.locale = body.get("locale", user.locale)
            user.home_org = body.get("homeOrg", user.home_org)
            user.hard_lock = body.get("hardLock", user.hard_lock)

    def list_user_participations(self, user_id: str) -> list[JsonObject]:
        """``GET /users/{userid}/projectParticipations``.

        The spec declares one ``UserParticipationInfo`` object, but the operation lists the user's
        participations: it answers an array of those objects, one per participation.
        """
        with self._lock:
            user = self._user(user_id)
            return [
                p.to_user_api(self._projects[_id_key(p.project_id)], self.base_url)
                for p in self._participants.values()
                if p.user_id == user.id
            ]

    def _check_user_fields(self, body: Mapping[str, Any]) -> None:
        _check_email(body.get("primaryEmail"), "primaryEmail")
        home_org = body.get("homeOrg")
        if home_org is not None and _id_key(home_org) not in self._org_units:
            raise ApiError(422, f"No organization unit {home_org!r}", field="homeOrg")

    def _create_user(self, **fields: Any) -> User:
        user = User(id=str(uuid.uuid4()), created=utc_now(), **fields)
        if user.display_name is None:
            names = " ".join(name for name in (user.first_name, user.last_name) if name)
            user.display_name = names or user.primary_email
        self._users[user.id] = user
        return user

    def _user_with_email(self, email: str | None) -> User | None:
        if email is None:
            return None
        wanted = email.casefold()
        return _first(self._users.values(), lambda u: (u.primary_email or "").casefold() == wanted)

    def _user_with_external_id(self, external_id: str | None) -> User | None:
        if external_id is None:
            return None
        return _first(self._users.values(), lambda u: u.external_id == external_id)

    # ------------------------------------------------------------------ user groups

    def list_user_groups(self, org_id: str) -> list[JsonObject]:
        """``GET /orgunits/{orgid}/usergroups``."""
        with self._lock:
            unit = self._org_unit(org_id)
            return [group.to_api() for group in self._user_groups.values() if group.org_id == unit.id]

    def get_user_group(self, org_id: str, group_id: str) -> JsonObject:
        """``GET /orgunits/{orgid}/usergroups/{groupid}``."""
        with self._lock:
            return self._user_group(org_id, group_id).to_api()

    def add_user_group(self, org_id: str, body: Mapping[str, Any]) -> list[JsonObject]:
        """``POST /orgunits/{orgid}/usergroups``: answers ``[{"groupId": id}]``, as the spec declares."""
        with self._lock:
            unit = self._org_unit(org_id)
            parent_id = body.get("parent")
            if parent_id is not None:
                parent = self._user_groups.get(_id_key(parent_id))
                if parent is None or parent.org_id != unit.id:
                    raise ApiError(
                        422, f"No user group {parent_id!r} in this organization unit", field="parent"
                    )
            group = UserGroup(
                id=self._allocate_id(UserGroup), org_id=unit.id, name=body["name"], parent_id=parent_id
            )
            self._user_groups[_id_key(group.id)] = group
            return [{"groupId": group.id}]

    def list_user_group_members(self, org_id: str, group_id: str) -> list[JsonObject]:
        """``GET /orgunits/{orgid}/usergroups/{groupid}/members``."""
        with self._lock:
            group = self._user_group(org_id, group_id)
            return [self._users[member].to_api() for member in group.member_ids]

    def add_user_group_member(self, org_id: str, group_id: str, user_id: str) -> JsonObject:
        """``POST .../usergroups/{groupid}/members``: 404 for an unknown user; adding twice is harmless."""
        with self._lock:
            group = self._user_group(org_id, group_id)
            user = self._user(user_id)
            if user.id not in group.member_ids:
                group.member_ids.append(user.id)
            return {"uuid": user.id}

    def remove_user_group_member(self, org_id: str, group_id: str, user_id: str) -> None:
        """``DELETE .../usergroups/{groupid}/members/{uuid}``: 404 unless the user is a member."""
        with self._lock:
            group = self._user_group(org_id, group_id)
            if user_id not in group.member_ids:
                raise ApiError(404, f"User {user_id!r} is not a member of user group {group.id}")
            group.member_ids.remove(user_id)

    # ------------------------------------------------------------------ global user groups

    def list_global_user_groups(self) -> list[JsonObject]:
        """``GET /globalusergroups``."""
        with self._lock:
            return [group.to_api() for group in self._global_user_groups.values()]

    def list_global_user_group_members(self, group_id: str) -> list[JsonObject]:
        """``GET /globalusergroups/{groupid}/members``: the members of all user groups based on it."""
        with self._lock:
            group = self._global_user_groups.get(group_id)
            if group is None:
                raise ApiError(404, f"No global user group {group_id!r}")
            member_ids = dict.fromkeys(
                member
                for user_group in self._user_groups.values()
                if user_group.global_id == group.id
                for member in user_group.member_ids
            )
            return [self._users[member].to_api() for member in member_ids]

    # ------------------------------------------------------------------ lookups

    def _allocate_id(self, kind: type) -> int:
        allocated = self._next_ids[kind]
        self._next_ids[kind] = allocated + 1
        return allocated

    def _table_of(self, record: Record) -> dict[str, Any]:
        tables: dict[type, dict[str, Any]] = {
            OrgUnit: self._org_units,
            CourseDesign: self._course_designs,
            Project: self._projects,
            Participant: self._participants,
            User: self._users,
            UserGroup: self._user_groups,
            GlobalUserGroup: self._global_user_groups,
        }
        return tables[type(record)]

    def _org_unit(self, org_id: str) -> OrgUnit:
        unit = self._org_units.get(org_id)
        if unit is None:
            raise ApiError(404, f"No organization unit {org_id!r}")
        return unit

    def _project(self, org_id: str, project_id: str) -> Project:
        unit = self._org_unit(org_id)
        project = self._projects.get(project_id)
        if project is None or project.org_id != unit.id:
            raise ApiError(404, f"No project {project_id!r} in organization unit {unit.id}")
        return project

    def _participant(self, org_id: str, project_id: str, participant_id: str) -> Participant:
        project = self._project(org_id, project_id)
        participant = self._participants.get(participant_id)
        if participant is None or participant.project_id != project.id:
            raise ApiError(404, f"No participant {participant_id!r} in project {project.id}")
        return participant

    def _user(self, user_id: str) -> User:
        user = self._users.get(user_id)
        if user is None:
            raise ApiError(404, f"No user {user_id!r}")
        return user

    def _user_group(self, org_id: str, group_id: str) -> UserGroup:
        unit = self._org_unit(org_id)
        group = self._user_groups.get(group_id)
        if group is None or group.org_id != unit.id:
            raise ApiError(404, f"No user group {group_id!r} in organization unit {unit.id}")
        return group
