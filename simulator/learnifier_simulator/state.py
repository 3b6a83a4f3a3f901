"""The simulated account: in-memory records and the API's operations on them, without any HTTP.

Every public method of :class:`SimulatorState` holds one lock for its whole run, so operations
from concurrent request threads never interleave. Methods take ids as the strings found in
request paths, return JSON-ready API representations, and raise
:class:`~learnifier_simulator.messages.ApiError` for error answers.

Records are indexed by their parent (projects by organization unit, participants by project and
by user, user groups by organization unit) and by their lookup keys (external ids, emails), so
that listings and lookups take time in proportion to their answer, not to the account's size.
Listings keep creation order. The indexes follow every change made through these methods; a
record changed behind their back (by assigning its attributes) may be listed under its old keys.
"""

from __future__ import annotations

import itertools
import secrets
import threading
import uuid
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

from learnifier_simulator.messages import ApiError
from learnifier_simulator.models import (
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
_K = TypeVar("_K")


def _id_key(value: Any) -> str:
    """Return the key under which an id is stored: its string form (``12`` and ``12.0`` give "12")."""
    if type(value) is int:
        return str(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


def _check_email(value: str | None, field: str) -> None:
    local_part, at, domain = (value or "").partition("@")
    if value is not None and not (local_part and at and domain):
        raise ApiError(422, f"The field {field!r} must be an email address", field=field)


def _first(records: Iterable[_R], predicate: Callable[[_R], bool]) -> _R | None:
    return next((record for record in records if predicate(record)), None)


class _Index(Generic[_K, _R]):
    """Records grouped by a key, each group in the order its records were added.

    A record is identified in its group by its id key, so adding it again replaces it in place.
    ``None`` keys are not indexed.

    :param key_of: gives a record's key in this index.
    """

    def __init__(self, key_of: Callable[[_R], _K | None]) -> None:
        self.key_of = key_of
        self._groups: dict[_K, dict[str, _R]] = {}

    def add(self, key: _K | None, record_key: str, record: _R) -> None:
        if key is None:
            return
        group = self._groups.get(key)
        if group is None:
            self._groups[key] = {record_key: record}
        else:
            group[record_key] = record

    def remove(self, key: _K | None, record_key: str) -> None:
        group = self._groups.get(key) if key is not None else None
        if group is not None:
            group.pop(record_key, None)
            if not group:
                del self._groups[cast("_K", key)]

    def group(self, key: _K) -> list[_R]:
        """Return the records under ``key``, oldest first."""
        group = self._groups.get(key)
        return list(group.values()) if group else []

    def count(self, key: _K) -> int:
        return len(self._groups.get(key, ()))

    def first(self, key: _K | None) -> _R | None:
        """Return the oldest record under ``key``, if any."""
        group = self._groups.get(key) if key is not None else None
        return next(iter(group.values())) if group else None


def _email_key(email: str | None) -> str | None:
    return None if email is None else email.casefold()


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
        # Indexes, kept by _store, _unstore and the updates that change a key.
        self._projects_by_org: _Index[str, Project] = _Index(lambda p: _id_key(p.org_id))
        self._projects_by_external_id: _Index[str, Project] = _Index(lambda p: p.external_id)
        self._participants_by_project: _Index[str, Participant] = _Index(lambda p: _id_key(p.project_id))
        self._participants_by_user: _Index[str, Participant] = _Index(lambda p: p.user_id)
        self._participants_by_external_id: _Index[str, Participant] = _Index(lambda p: p.external_id)
        self._users_by_email: _Index[str, User] = _Index(lambda u: _email_key(u.primary_email))
        self._users_by_external_id: _Index[str, User] = _Index(lambda u: u.external_id)
        self._user_groups_by_org: _Index[str, UserGroup] = _Index(lambda g: _id_key(g.org_id))
        self._indexes: dict[type, tuple[_Index[str, Any], ...]] = {
            Project: (self._projects_by_org, self._projects_by_external_id),
            Participant: (
                self._participants_by_project,
                self._participants_by_user,
                self._participants_by_external_id,
            ),
            User: (self._users_by_email, self._users_by_external_id),
            UserGroup: (self._user_groups_by_org,),
        }
        self._tables: dict[type, dict[str, Any]] = {
            OrgUnit: self._org_units,
            CourseDesign: self._course_designs,
            Project: self._projects,
            Participant: self._participants,
            User: self._users,
            UserGroup: self._user_groups,
            GlobalUserGroup: self._global_user_groups,
        }

    # ------------------------------------------------------------------ loading and inspection

    def add_records(self, *records: Record) -> None:
        """Store ``records`` as they are, ids included (for seeding); later ids are allocated above them.

        A record with the id of a stored one of its kind replaces it.
        """
        with self._lock:
            for record in records:
                kind = type(record)
                table, key = self._tables[kind], _id_key(record.id)
                previous = table.get(key)
                table[key] = record
                if previous is None:
                    self._index(record, key)
                else:
                    self._reindex(record, self._indexes_of(previous))
                if kind in self._next_ids:
                    self._next_ids[kind] = max(self._next_ids[kind], cast("int", record.id) + 1)

    def records(self) -> list[Record]:
        """Return every stored record, kind by kind, oldest first (to save the state)."""
        with self._lock:
            return [record for table in self._tables.values() for record in table.values()]

    def next_ids(self) -> dict[str, int]:
        """Return the next id each kind of record gets, by kind name (to save the state)."""
        with self._lock:
            return {kind.__name__: next_id for kind, next_id in self._next_ids.items()}

    def reserve_ids(self, next_ids: Mapping[str, int]) -> None:
        """Allocate later ids from at least ``next_ids`` (by kind name), so that none is reused."""
        with self._lock:
            for kind in self._next_ids:
                self._next_ids[kind] = max(self._next_ids[kind], int(next_ids.get(kind.__name__, 0)))

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
            self._store(unit)
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
            return [p.to_api(self.base_url) for p in self._projects_by_org.group(_id_key(unit.id))]

    def get_project(self, org_id: str, project_id: str) -> JsonObject:
        """``GET /orgunits/{orgid}/projects/{projectid}``."""
        with self._lock:
            return self._project(org_id, project_id).to_api(self.base_url)

    def project_by_external_id(self, external_id: str) -> JsonObject:
        """``GET /extproject?extid=``."""
        with self._lock:
            project = self._projects_by_external_id.first(external_id)
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
            taken = self._projects_by_external_id.first(external_id)
            if taken is not None:
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
            self._store(project)
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
            remaining = self._participants_by_project.count(_id_key(project.id))
            if remaining:
                raise ApiError(406, f"Project {project.id} still has {remaining} participant(s)")
            self._unstore(project)

    def list_team_members(self, org_id: str, project_id: str) -> list[JsonObject]:
        """``GET /orgunits/{orgid}/projects/{projectid}/teammembers``."""
        with self._lock:
            return [member.to_api() for member in self._project(org_id, project_id).team]

    # ------------------------------------------------------------------ participants

    def list_participants(self, org_id: str, project_id: str) -> list[JsonObject]:
        """``GET /orgunits/{orgid}/projects/{projectid}/participants``."""
        with self._lock:
            project = self._project(org_id, project_id)
            return [p.to_api(self.base_url) for p in self._participants_by_project.group(_id_key(project.id))]

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
                for existing in self._participants_by_user.group(user.id):
                    if existing.project_id == project.id:
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
            self._store(participant)
            return self._participant_url(participant)

    def delete_participant(self, org_id: str, project_id: str, participant_id: str) -> None:
        """``DELETE .../participants/{participantId}``."""
        with self._lock:
            participant = self._participant(org_id, project_id, participant_id)
            self._unstore(participant)

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
        """``POST .../participants/{participantId}/loginlink``: 422 unless activated and not in error."""
        with self._lock:
            participant = self._participant(org_id, project_id, participant_id)
            if not participant.activated:
                raise ApiError(422, f"Participant {participant.id} is not activated")
            if participant.in_error:
                reason = f": {participant.error_message}" if participant.error_message else ""
                raise ApiError(422, f"Participant {participant.id} is in error{reason}")
            return {"link": resource_url(self.base_url, "login", secrets.token_urlsafe(24))}

    def advance_progress(
        self,
        project_id: str | int | None = None,
        participant_id: str | int | None = None,
        activities: int = 1,
        complete: bool = False,
        at: datetime | None = None,
    ) -> list[JsonObject]:
        """Let activated participants complete activities, as if they took the course.

        Participants in error are left as they are: their users cannot access the course.

        :param project_id: only participants of this project.
        :param participant_id: only this participant.
        :param activities: how many more activities each completes (never beyond the total).
        :param complete: complete all activities instead.
        :param at: when they took it (their ``lastAccess``, and ``firstAccess`` if they had none):
            now by default; earlier to make completions of the past.
        :return: the participations that changed.
        """
        if isinstance(activities, bool) or not isinstance(activities, int) or activities < 0:
            raise ApiError(422, "'activities' must be a non-negative integer", field="activities")
        with self._lock:
            advanced = []
            now = utc_now() if at is None else at.astimezone(timezone.utc)
            candidates: Iterable[Participant]
            if participant_id is not None:
                one = self._participants.get(_id_key(participant_id))
                candidates = [one] if one is not None else []
            elif project_id is not None:
                candidates = self._participants_by_project.group(_id_key(project_id))
            else:
                candidates = self._participants.values()
            for participant in candidates:
                if (
                    not participant.activated
                    or participant.in_error
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

    def set_participant_error(self, participant_id: str | int, message: str | None) -> JsonObject:
        """Put a participation into error, or take it out of error, as Learnifier may on its own.

        A participation in error shows ``inError: true`` and its ``errorMessage``; its user cannot
        get a login link (422) and :meth:`advance_progress` leaves it alone. Activation and the
        other operations are unaffected.

        :param participant_id: the participation's id (ids are unique in the account).
        :param message: why it is in error; ``""`` for an error without a message; ``None`` to
            clear the error.
        :return: the participation's new representation.
        :raises ApiError: 404 for an unknown participation.
        """
        if message is not None and not isinstance(message, str):
            raise ApiError(422, "'message' must be a string or null", field="message")
        with self._lock:
            participant = self._participants.get(_id_key(participant_id))
            if participant is None:
                raise ApiError(404, f"No participant {participant_id!r}", field="participantId")
            participant.in_error = message is not None
            participant.error_message = message or None
            return participant.to_api(self.base_url)

    def _participant_url(self, participant: Participant) -> str:
        project = self._projects[_id_key(participant.project_id)]
        return resource_url(
            self.base_url, "orgunits", project.org_id, "projects", project.id, "participants", participant.id
        )

    def _participant_conflict(self, participant: Participant, message: str, field: str) -> ApiError:
        return ApiError(409, message, field=field, headers={"Location": self._participant_url(participant)})

    def _participant_with_external_id(self, external_id: str | None) -> Participant | None:
        return self._participants_by_external_id.first(external_id)

    # ------------------------------------------------------------------ users

    def list_users(self, limit: int, offset: int) -> tuple[list[JsonObject], bool]:
        """``GET /users``: a page in creation order, and whether more users follow it."""
        with self._lock:
            page = itertools.islice(self._users.values(), offset, offset + limit)
            return [user.to_api() for user in page], offset + limit < len(self._users)

    def get_user(self, user_id: str) -> JsonObject:
        """``GET /users/{userid}``."""
        with self._lock:
            return self._user(user_id).to_api()

    def user_by_external_id(self, external_id: str) -> JsonObject:
        """``GET /extuser?extid=``."""
        with self._lock:
            user = self._users_by_external_id.first(external_id)
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
            keys_before = self._indexes_of(user)
            user.primary_email = body.get("primaryEmail", user.primary_email)
            user.external_id = body.get("externalId", user.external_id)
            user.first_name = body.get("firstName", user.first_name)
            user.last_name = body.get("lastName", user.last_name)
            user.display_name = body.get("displayName", user.display_name)
            user.locale = body.get("locale", user.locale)
            user.home_org = body.get("homeOrg", user.home_org)
            user.hard_lock = body.get("hardLock", user.hard_lock)
            self._reindex(user, keys_before)

    def list_user_participations(self, user_id: str) -> list[JsonObject]:
        """``GET /users/{userid}/projectParticipations``.

        The spec declares one ``UserParticipationInfo`` object, but the operation lists the user's
        participations: it answers an array of those objects, one per participation.
        """
        with self._lock:
            user = self._user(user_id)
            return [
                p.to_user_api(self._projects[_id_key(p.project_id)], self.base_url)
                for p in self._participants_by_user.group(user.id)
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
        self._store(user)
        return user

    def _user_with_email(self, email: str | None) -> User | None:
        return self._users_by_email.first(_email_key(email))

    def _user_with_external_id(self, external_id: str | None) -> User | None:
        return self._users_by_external_id.first(external_id)

    # ------------------------------------------------------------------ user groups

    def list_user_groups(self, org_id: str) -> list[JsonObject]:
        """``GET /orgunits/{orgid}/usergroups``."""
        with self._lock:
            unit = self._org_unit(org_id)
            return [group.to_api() for group in self._user_groups_by_org.group(_id_key(unit.id))]

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
            self._store(group)
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

    def _store(self, record: Record) -> None:
        """Add ``record`` to its table and the indexes."""
        self._table_of(record)[_id_key(record.id)] = record
        self._index(record)

    def _unstore(self, record: Record) -> None:
        """Remove ``record`` from its table and the indexes."""
        self._unindex(record)
        del self._table_of(record)[_id_key(record.id)]

    def _indexes_of(self, record: Record) -> list[tuple[_Index[str, Any], str | None]]:
        """Return the indexes that hold ``record``, each with its key there."""
        return [(index, index.key_of(record)) for index in self._indexes.get(type(record), ())]

    def _index(self, record: Record, record_key: str | None = None) -> None:
        record_key = _id_key(record.id) if record_key is None else record_key
        for index in self._indexes.get(type(record), ()):
            index.add(index.key_of(record), record_key, record)

    def _unindex(self, record: Record) -> None:
        for index, key in self._indexes_of(record):
            index.remove(key, _id_key(record.id))

    def _reindex(self, record: Record, keys_before: list[tuple[_Index[str, Any], str | None]]) -> None:
        """Move ``record`` from its ``keys_before`` to its current keys, in place where unchanged."""
        for (index, old_key), (_, new_key) in zip(keys_before, self._indexes_of(record), strict=True):
            if old_key != new_key:
                index.remove(old_key, _id_key(record.id))
            index.add(new_key, _id_key(record.id), record)

    def _table_of(self, record: Record) -> dict[str, Any]:
        return self._tables[type(record)]

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
