"""Records of the simulated Learnifier account, and their JSON representations in the API.

Representations leave out every member whose value is unknown: the spec marks no field nullable,
so ``null`` would not validate against it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal

ProjectStatus = Literal["ACTIVATED", "NEW", "DISABLED"]
PROJECT_STATUSES: tuple[ProjectStatus, ...] = ("ACTIVATED", "NEW", "DISABLED")

JsonObject = dict[str, Any]


def utc_now() -> datetime:
    """Return the current time in UTC."""
    return datetime.now(timezone.utc)


def format_timestamp(moment: datetime) -> str:
    """Format ``moment`` as UTC ISO 8601 to the millisecond, with a ``Z`` suffix."""
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def compact(**members: Any) -> JsonObject:
    """Make a JSON object of ``members`` without those that are ``None``, formatting timestamps."""
    return {
        name: format_timestamp(value) if isinstance(value, datetime) else value
        for name, value in members.items()
        if value is not None
    }


def resource_url(base_url: str, *segments: str | int) -> str:
    """Return the absolute URL of the API resource at ``segments``."""
    return base_url + "".join(f"/{segment}" for segment in segments)


@dataclass
class OrgUnit:
    """An organization unit (a client of the account)."""

    id: int
    name: str
    external_id: str | None = None
    client_number: str | None = None
    country: str | None = None
    parent_id: int | None = None
    unit_type: str = "CLIENT"

    def to_api(self) -> JsonObject:
        """Return the ``OrgUnit`` representation."""
        return compact(
            id=self.id,
            type=self.unit_type,
            name=self.name,
            externalId=self.external_id,
            parentId=self.parent_id,
        )


@dataclass
class CourseDesign:
    """A global course design template; a project copies its activities and title."""

    id: int
    name: str
    activities_total: int
    created: datetime
    locale: str = "en"
    enabled: bool = True
    created_by: str | None = None
    tags: tuple[str, ...] = ()

    def to_api(self) -> JsonObject:
        """Return the ``CourseDesign`` representation, with the design's ``id`` added."""
        return compact(
            id=self.id,
            name=self.name,
            locale=self.locale,
            enabled=self.enabled,
            lockedDesign=False,
            sticky=False,
            created=self.created,
            createdBy=self.created_by,
            tags=list(self.tags),
        )


@dataclass(frozen=True)
class TeamRole:
    """A role of a project team member."""

    role_id: str
    name: str


#: The team role of a project's creator.
PROJECT_MANAGER_ROLE = TeamRole(role_id="5b0f4a52-8a2f-4d8e-9c61-2f3a7d1e0c11", name="Project Manager")


@dataclass(frozen=True)
class TeamMember:
    """A user on a project's team, with their roles."""

    user_id: str
    roles: tuple[TeamRole, ...] = (PROJECT_MANAGER_ROLE,)

    def to_api(self) -> JsonObject:
        """Return the ``ProjectTeamMember`` representation."""
        return {"userid": self.user_id, "roles": [{"roleid": r.role_id, "name": r.name} for r in self.roles]}


@dataclass
class User:
    """A user of the platform; its id is a UUID string."""

    id: str
    created: datetime
    primary_email: str | None = None
    external_id: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    display_name: str | None = None
    locale: str | None = None
    home_org: int | None = None
    hard_lock: bool = False

    def to_api(self) -> JsonObject:
        """Return the ``User`` representation."""
        return compact(
            id=self.id,
            primaryEmail=self.primary_email,
            externalId=self.external_id,
            firstName=self.first_name,
            lastName=self.last_name,
            displayName=self.display_name,
            homeOrg=self.home_org,
            hardLock=self.hard_lock,
            locked=self.hard_lock,
            authorizationPossible=self.primary_email is not None and not self.hard_lock,
            prefs={"locale": self.locale} if self.locale else None,
        )


@dataclass
class Project:
    """A project: a course run for participants, based on a course design."""

    id: int
    org_id: int
    design_id: int
    name: str
    created: datetime
    activities_total: int
    status: ProjectStatus = "NEW"
    created_by: str | None = None
    external_id: str | None = None
    locale: str | None = None
    country: str | None = None
    timezone: str | None = None
    note: str | None = None
    user_title: str | None = None
    user_description: str | None = None
    team: list[TeamMember] = field(default_factory=list)

    def to_api(self, base_url: str) -> JsonObject:
        """Return the ``Project`` representation; ``adminUrl`` is under ``base_url``."""
        return compact(
            id=self.id,
            orgId=self.org_id,
            designId=self.design_id,
            name=self.name,
            status=self.status,
            created=self.created,
            createdBy=self.created_by,
            externalId=self.external_id,
            locale=self.locale,
            country=self.country,
            timezone=self.timezone,
            note=self.note,
            userTitle=self.user_title,
            userDescription=self.user_description,
            adminUrl=resource_url(base_url, "admin", "projects", self.id),
        )


@dataclass
class Participant:
    """A user's participation in a project, with activation state and progress."""

    id: int
    project_id: int
    user_id: str
    activities_total: int
    external_id: str | None = None
    activated: bool = False
    activities_completed: int = 0
    first_activation: datetime | None = None
    last_activation: datetime | None = None
    expiration: datetime | None = None
    first_access: datetime | None = None
    last_access: datetime | None = None
    access_token: str | None = None
    #: Whether the participation is in error: its user cannot access it, nor get a login link.
    in_error: bool = False
    #: Why it is in error, if known; shown as ``errorMessage`` only while it is in error.
    error_message: str | None = None

    def to_api(self, base_url: str) -> JsonObject:
        """Return the ``Participation`` representation; ``accessLink`` is under ``base_url``."""
        access_link = resource_url(base_url, "access", self.access_token) if self.access_token else None
        return compact(
            id=self.id,
            projectId=self.project_id,
            userId=self.user_id,
            externalId=self.external_id,
            activated=self.activated,
            inError=self.in_error,
            errorMessage=self.error_message if self.in_error else None,
            activitiesCompleted=self.activities_completed,
            activitiesTotal=self.activities_total,
            firstActivation=self.first_activation,
            lastActivation=self.last_activation,
            expiration=self.expiration,
            firstAccess=self.first_access,
            lastAccess=self.last_access,
            accessLink=access_link,
        )

    def to_user_api(self, project: Project, base_url: str) -> JsonObject:
        """Return the ``UserParticipationInfo`` representation: the participation and its project."""
        return self.to_api(base_url) | compact(
            projectName=project.name,
            projectOrgId=project.org_id,
            projectStatus=project.status,
            projectUserTitle=project.user_title,
        )


@dataclass
class UserGroup:
    """A user group of an organization unit, possibly based on a global user group."""

    id: int
    org_id: int
    name: str
    parent_id: int | None = None
    global_id: int | None = None
    member_ids: list[str] = field(default_factory=list)

    def to_api(self) -> JsonObject:
        """Return the ``UserGroup`` representation."""
        return compact(groupId=self.id, name=self.name, parent=self.parent_id, globalId=self.global_id)


@dataclass
class GlobalUserGroup:
    """A global user group; its members are those of the user groups based on it."""

    id: int
    name: str
    created: datetime
    created_by: str | None = None

    def to_api(self) -> JsonObject:
        """Return the ``GlobalUserGroup`` representation."""
        return compact(id=self.id, name=self.name, created=self.created, createdBy=self.created_by)


Record = OrgUnit | CourseDesign | User | Project | Participant | UserGroup | GlobalUserGroup
