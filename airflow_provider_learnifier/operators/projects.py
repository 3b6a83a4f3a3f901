"""Operators for Learnifier projects (course runs): create from a course design, update, delete.

Importing this module is cheap: the hook is imported when a task runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_learnifier.exceptions import (
    LearnifierConflictError,
    LearnifierInputError,
    LearnifierProjectNotEmptyError,
    LearnifierRefusedError,
)
from airflow_provider_learnifier.ids import blank
from airflow_provider_learnifier.links.projects import LearnifierProjectLink
from airflow_provider_learnifier.operators._base import (
    JsonObject,
    LearnifierBaseOperator,
    id_text,
    project_summary,
)

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_learnifier.hooks.learnifier import LearnifierHook

__all__ = [
    "PROJECT_STATUSES",
    "LearnifierCreateProjectOperator",
    "LearnifierDeleteProjectOperator",
    "LearnifierUpdateProjectOperator",
]

#: The statuses a project can be given.
PROJECT_STATUSES = ("NEW", "ACTIVATED", "DISABLED")

#: Operator argument -> field of the API's ``Project``, for the fields both create and update take.
_PROJECT_FIELDS = {
    "country": "country",
    "locale": "locale",
    "note": "note",
    "timezone": "timezone",
    "user_description": "userDescription",
    "user_title": "userTitle",
}


def _text_or_none(value: Any) -> str | None:
    return None if blank(value) else str(value)


def _external_id(project: Mapping[str, Any]) -> str | None:
    value = project.get("externalId")
    return None if blank(value) else str(value)


class LearnifierCreateProjectOperator(LearnifierBaseOperator):
    """Create a Learnifier project from a course design, or reuse the one with the same external id.

    With ``external_id``, the operator is rerun-safe, whatever Learnifier does with the external
    id (the API's project body does not declare ``externalId``, so a server may ignore it). It
    reuses, unchanged (``"reused": true``), the project found by this rule, in this order:

    1. the project with this external id (it must be in this org unit);
    2. else the one project of this org unit named exactly ``name``, made from this course
       design, that has no external id (what a project created by this operator looks like on a
       server that ignored the external id). When several match, the task fails naming them
       rather than guess.

    Otherwise it creates the project, then reads it back; when the external id did not take, it
    says so in the log, and later runs find the project by the second step. A create whose answer
    is lost (a dropped connection, a 5xx) is settled by the same lookup (without ``external_id``:
    by the projects new since the create); one it does not find is sent again, once, only when
    Learnifier is known to be done with it (a 500 or 503), else the task fails and the next run
    settles it (:func:`~airflow_provider_learnifier.operators._writes.write_once`). Without
    ``external_id``, every run creates a project.

    The result (JSON, in XCom), also the target of the "Learnifier project" link::

        {"org_id", "project_id", "name", "external_id", "design_id", "status", "admin_url",
         "reused": bool}

    :param name: the project's name. Templated.
    :param org_id: the organization unit to create it in. Templated.
    :param org_external_id: the organization unit's external id, instead of ``org_id``. Templated.
    :param design_id: the course design's id. Templated.
    :param design_name: the course design's name, instead of ``design_id``. Templated.
    :param external_id: the project's external id (makes the operator idempotent). Templated.
    :param country: the country code. Templated.
    :param created_by: the id of the user that becomes the project's manager. Templated.
    :param locale: the project's locale, e.g. ``en``. Templated.
    :param note: an internal note. Templated.
    :param timezone: the project's time zone, e.g. ``Europe/Stockholm``. Templated.
    :param user_description: the description participants see. Templated.
    :param user_title: the title participants see. Templated.
    :param learnifier_conn_id: the Learnifier connection. Templated.
    """

    template_fields: Sequence[str] = (
        "name",
        "org_id",
        "org_external_id",
        "design_id",
        "design_name",
        "external_id",
        "country",
        "created_by",
        "locale",
        "note",
        "timezone",
        "user_description",
        "user_title",
        "learnifier_conn_id",
    )
    operator_extra_links = (LearnifierProjectLink(),)

    def __init__(
        self,
        *,
        name: str,
        org_id: str | int | None = None,
        org_external_id: str | None = None,
        design_id: str | int | None = None,
        design_name: str | None = None,
        external_id: str | None = None,
        country: str | None = None,
        created_by: str | None = None,
        locale: str | None = None,
        note: str | None = None,
        timezone: str | None = None,
        user_description: str | None = None,
        user_title: str | None = None,
        learnifier_conn_id: str = "learnifier_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(learnifier_conn_id=learnifier_conn_id, **kwargs)
        self.name = name
        self.org_id = org_id
        self.org_external_id = org_external_id
        self.design_id = design_id
        self.design_name = design_name
        self.external_id = external_id
        self.country = country
        self.created_by = created_by
        self.locale = locale
        self.note = note
        self.timezone = timezone
        self.user_description = user_description
        self.user_title = user_title

    def execute_with_hook(self, hook: LearnifierHook, context: Context) -> JsonObject:
        """Find the project (by external id, else by the name rule), or create it; return it."""
        from airflow_provider_learnifier.operators._writes import write_once

        if blank(self.name):
            raise LearnifierInputError(f"{self.task_id}: the project needs a name")
        if blank(self.design_id) == blank(self.design_name):
            raise LearnifierInputError(f"{self.task_id}: give design_id or design_name (exactly one of them)")
        name = str(self.name)
        external_id = _text_or_none(self.external_id)
        try:
            org_id = self.resolve_org_id(hook, self.org_id, self.org_external_id)
        except ValueError as error:
            raise LearnifierInputError(f"{self.task_id}: {error}") from None

        if external_id is not None and (existing := self._by_external_id(hook, external_id, org_id)):
            self.log.info(
                "Project %s (%r) with external id %r exists: reusing it",
                existing["id"],
                existing.get("name"),
                external_id,
            )
            return self._done(context, existing, reused=True)
        design_id = self._design_id(hook)
        before: set[str] = set()
        if external_id is not None:
            if (existing := self._by_name(hook, org_id, name, design_id)) is not None:
                self.log.warning(
                    "No project has the external id %r, but project %s is the one project named %r from "
                    "course design %s in org unit %s without an external id: reusing it (Learnifier did "
                    "not keep the external id when it was created)",
                    external_id,
                    existing["id"],
                    name,
                    design_id,
                    org_id,
                )
                return self._done(context, existing, reused=True)
        else:
            # Without an external id, a lost answer is settled by the projects that are new since now.
            before = {id_text(project["id"]) for project in hook.list_projects(org_id)}

        def read_back() -> Mapping[str, Any] | None:
            if external_id is not None:
                return self._by_external_id(hook, external_id, org_id) or self._by_name(
                    hook, org_id, name, design_id
                )
            return self._by_name(hook, org_id, name, design_id, without_external_id=False, exclude=before)

        def on_conflict(conflict: LearnifierConflictError) -> Mapping[str, Any]:
            # A 409 on the external id: another run created the project since it was looked up.
            found = read_back() if external_id is not None else None
            if found is None:
                raise conflict
            return found

        fields = {argument: _text_or_none(getattr(self, argument)) for argument in _PROJECT_FIELDS}
        created, ours = write_once(
            lambda: hook.create_project(
                org_id,
                name=name,
                design_id=design_id,
                external_id=external_id,
                created_by=_text_or_none(self.created_by),
                **fields,
            ),
            read_back=read_back,
            what=f"creating project {name!r} in org unit {org_id}",
            deduplicated=False,
            on_conflict=on_conflict,
            log=self.log,
        )
        project = self._read_back(hook, org_id, created)
        if external_id is not None and _external_id(project) != external_id:
            self.log.warning(
                "Learnifier did not keep the external id %r of project %s (the API's project body does "
                "not declare externalId); later runs find the project as the one named %r from course "
                "design %s in org unit %s without an external id",
                external_id,
                project["id"],
                name,
                design_id,
                org_id,
            )
        if ours:
            self.log.info(
                "Created project %s (%r) in org unit %s", project["id"], project.get("name"), org_id
            )
        return self._done(context, project, reused=not ours)

    def _done(self, context: Context, project: Mapping[str, Any], *, reused: bool) -> JsonObject:
        LearnifierProjectLink.persist(context, project)
        return project_summary(project, reused=reused)

    def _read_back(self, hook: LearnifierHook, org_id: str, created: Mapping[str, Any]) -> Mapping[str, Any]:
        """The created project as Learnifier keeps it (its answer may leave out what it ignored)."""
        from airflow_provider_learnifier.exceptions import LearnifierError

        try:
            return hook.get_project(org_id, id_text(created["id"]))
        except LearnifierError as error:
            self.log.warning(
                "Could not read project %s back (%s); using the create answer", created["id"], error
            )
            return created

    def _by_external_id(
        self, hook: LearnifierHook, external_id: str, org_id: str
    ) -> Mapping[str, Any] | None:
        from airflow_provider_learnifier.exceptions import LearnifierNotFoundError

        try:
            project = hook.get_project_by_external_id(external_id)
        except LearnifierNotFoundError:
            return None
        if id_text(project["orgId"]) != org_id:
            raise LearnifierInputError(
                f"{self.task_id}: the external id {external_id!r} belongs to project {project['id']} "
                f"of org unit {project['orgId']}, not of org unit {org_id}"
            )
        if not blank(self.design_id) and id_text(project.get("designId")) != id_text(self.design_id).strip():
            self.log.warning(
                "Project %s with external id %r was made from course design %s, not %s",
                project["id"],
                external_id,
                project.get("designId"),
                self.design_id,
            )
        return project

    def _by_name(
        self,
        hook: LearnifierHook,
        org_id: str,
        name: str,
        design_id: str | int,
        *,
        without_external_id: bool = True,
        exclude: set[str] | frozenset[str] = frozenset(),
    ) -> Mapping[str, Any] | None:
        """The one project of the org unit named exactly ``name`` and made from ``design_id``.

        With ``without_external_id``, only projects without an external id count (one with another
        external id is somebody else's). Projects whose ids are in ``exclude`` do not count.

        :raises LearnifierInputError: when several projects match: the operator does not guess.
        """
        matches = []
        for project in hook.list_projects(org_id):
            if project.get("name") != name or id_text(project.get("id")) in exclude:
                continue
            if project.get("designId") is None:  # optional in a listing: read the project
                project = hook.get_project(org_id, id_text(project["id"]))
            if id_text(project.get("designId")) != id_text(design_id):
                continue
            if without_external_id and _external_id(project) is not None:
                continue
            matches.append(project)
        if len(matches) > 1:
            ids = ", ".join(sorted(id_text(project["id"]) for project in matches))
            raise LearnifierInputError(
                f"{self.task_id}: org unit {org_id} has {len(matches)} projects named {name!r} from course "
                f"design {design_id}"
                + (" without an external id" if without_external_id else "")
                + f" ({ids}); the operator does not guess which one is meant: delete the extra ones, or "
                "give the project another name"
            )
        return matches[0] if matches else None

    def _design_id(self, hook: LearnifierHook) -> str | int:
        if not blank(self.design_id):
            return id_text(self.design_id).strip()
        wanted = str(self.design_name).strip()
        designs = [design for design in hook.list_course_designs() if design.get("enabled", True)]
        matches = [design for design in designs if design.get("name") == wanted] or [
            design for design in designs if str(design.get("name", "")).casefold() == wanted.casefold()
        ]
        if len(matches) != 1:
            names = ", ".join(sorted(repr(design.get("name")) for design in designs)) or "none"
            problem = "no enabled course design" if not matches else f"{len(matches)} course designs"
            raise LearnifierInputError(
                f"{self.task_id}: there is {problem} named {wanted!r}; the enabled designs are: {names}"
            )
        design = matches[0]
        design_id = design.get("id", design.get("softid"))
        if design_id is None:
            raise LearnifierInputError(
                f"{self.task_id}: Learnifier lists the course design {wanted!r} without an id"
            )
        return id_text(design_id)


class LearnifierUpdateProjectOperator(LearnifierBaseOperator):
    """Update a Learnifier project's name, status or texts; only fields that differ are sent.

    Any 2xx answer is success, with or without the project in its body; after an update the
    project is read again, so the result shows it as Learnifier keeps it.

    The result (JSON, in XCom), also the target of the "Learnifier project" link::

        {"org_id", "project_id", "name", "external_id", "design_id", "status", "admin_url",
         "updated_fields": [...]}

    :param org_id: the project's organization unit, with ``project_id``. Templated.
    :param project_id: the project's id. Templated.
    :param project_external_id: the project's external id, instead of ``org_id``/``project_id``. Templated.
    :param name: the new name. Templated.
    :param status: ``NEW``, ``ACTIVATED`` or ``DISABLED``. Templated.
    :param country: the country code. Templated.
    :param locale: the locale. Templated.
    :param note: the internal note. Templated.
    :param timezone: the time zone. Templated.
    :param user_description: the description participants see. Templated.
    :param user_title: the title participants see. Templated.
    :param learnifier_conn_id: the Learnifier connection. Templated.
    """

    template_fields: Sequence[str] = (
        "org_id",
        "project_id",
        "project_external_id",
        "name",
        "status",
        "country",
        "locale",
        "note",
        "timezone",
        "user_description",
        "user_title",
        "learnifier_conn_id",
    )
    operator_extra_links = (LearnifierProjectLink(),)

    def __init__(
        self,
        *,
        org_id: str | int | None = None,
        project_id: str | int | None = None,
        project_external_id: str | None = None,
        name: str | None = None,
        status: str | None = None,
        country: str | None = None,
        locale: str | None = None,
        note: str | None = None,
        timezone: str | None = None,
        user_description: str | None = None,
        user_title: str | None = None,
        learnifier_conn_id: str = "learnifier_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(learnifier_conn_id=learnifier_conn_id, **kwargs)
        self.org_id = org_id
        self.project_id = project_id
        self.project_external_id = project_external_id
        self.name = name
        self.status = status
        self.country = country
        self.locale = locale
        self.note = note
        self.timezone = timezone
        self.user_description = user_description
        self.user_title = user_title

    def execute_with_hook(self, hook: LearnifierHook, context: Context) -> JsonObject:
        """Send the fields that differ from the project's; return the project."""
        wanted: dict[str, str] = {}
        if not blank(self.name):
            wanted["name"] = str(self.name)
        if not blank(self.status):
            status = str(self.status).strip().upper()
            if status not in PROJECT_STATUSES:
                raise LearnifierInputError(
                    f"{self.task_id}: status must be one of {', '.join(PROJECT_STATUSES)}, "
                    f"not {self.status!r}"
                )
            wanted["status"] = status
        for argument in _PROJECT_FIELDS:
            value = _text_or_none(getattr(self, argument))
            if value is not None:
                wanted[argument] = value
        if not wanted:
            raise LearnifierInputError(f"{self.task_id}: no field to update was given")
        try:
            project = self.resolve_project(hook, self.org_id, self.project_id, self.project_external_id)
        except ValueError as error:
            raise LearnifierInputError(f"{self.task_id}: {error}") from None
        api_names = {"name": "name", "status": "status", **_PROJECT_FIELDS}
        changes = {
            argument: value for argument, value in wanted.items() if project.get(api_names[argument]) != value
        }
        if changes:
            org_id, project_id = id_text(project["orgId"]), id_text(project["id"])
            self.log.info("Updating project %s: %s", project_id, ", ".join(sorted(changes)))
            hook.update_project(org_id, project_id, **changes)
            # The summary shows the project as Learnifier now keeps it, whatever the answer held.
            project = hook.get_project(org_id, project_id)
        else:
            self.log.info("Project %s already has the given values; nothing sent", project["id"])
        LearnifierProjectLink.persist(context, project)
        return project_summary(project, updated_fields=sorted(changes))


class LearnifierDeleteProjectOperator(LearnifierBaseOperator):
    """Delete a Learnifier project. Learnifier refuses while participants remain in it.

    The result (JSON, in XCom): ``{"org_id", "project_id", "name", "deleted": bool}``.

    :param org_id: the project's organization unit, with ``project_id``. Templated.
    :param project_id: the project's id. Templated.
    :param project_external_id: the project's external id, instead of ``org_id``/``project_id``. Templated.
    :param missing_ok: succeed (``"deleted": false``) when there is no such project.
    :param learnifier_conn_id: the Learnifier connection. Templated.
    :raises LearnifierProjectNotEmptyError: when Learnifier refuses (406) and participants remain
        (they are read to tell); it says how many.
    :raises LearnifierRefusedError: when Learnifier refuses for another reason; it gives Learnifier's.
    """

    template_fields: Sequence[str] = ("org_id", "project_id", "project_external_id", "learnifier_conn_id")

    def __init__(
        self,
        *,
        org_id: str | int | None = None,
        project_id: str | int | None = None,
        project_external_id: str | None = None,
        missing_ok: bool = False,
        learnifier_conn_id: str = "learnifier_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(learnifier_conn_id=learnifier_conn_id, **kwargs)
        self.org_id = org_id
        self.project_id = project_id
        self.project_external_id = project_external_id
        self.missing_ok = missing_ok

    def execute_with_hook(self, hook: LearnifierHook, context: Context) -> JsonObject:
        """Delete the project."""
        from airflow_provider_learnifier.exceptions import LearnifierNotFoundError

        try:
            project = self.resolve_project(hook, self.org_id, self.project_id, self.project_external_id)
        except ValueError as error:
            raise LearnifierInputError(f"{self.task_id}: {error}") from None
        except LearnifierNotFoundError:
            if not self.missing_ok:
                raise
            self.log.info("There is no such project; nothing to delete (missing_ok)")
            return {
                "org_id": None if blank(self.org_id) else id_text(self.org_id),
                "project_id": None if blank(self.project_id) else id_text(self.project_id),
                "name": None,
                "deleted": False,
            }
        org_id, project_id = id_text(project["orgId"]), id_text(project["id"])
        try:
            hook.delete_project(org_id, project_id)
        except LearnifierRefusedError as refused:
            remaining = self._participant_count(hook, org_id, project_id)
            if not remaining:
                # Not the participants (there are none, or they could not be counted): Learnifier's reason.
                raise LearnifierRefusedError(
                    f"Learnifier refused to delete project {project_id} ({project.get('name')!r}): {refused}",
                    failures=refused.failures,
                    **refused.details,
                ) from refused
            raise LearnifierProjectNotEmptyError(
                f"Learnifier refused to delete project {project_id} ({project.get('name')!r}): it still has "
                f"{remaining} participant(s), and only a project without participants can be deleted. Remove "
                f"them first, e.g. with LearnifierEnrollOperator(roster=[], remove_missing=True, "
                f"allow_empty_roster=True). ({refused})",
                participants=remaining,
                failures=refused.failures,
                **refused.details,
            ) from refused
        except LearnifierNotFoundError:
            # A retried DELETE whose first attempt was applied without an answer.
            self.log.info("Project %s was already gone", project_id)
        self.log.info("Deleted project %s (%r)", project_id, project.get("name"))
        return {"org_id": org_id, "project_id": project_id, "name": project.get("name"), "deleted": True}

    def _participant_count(self, hook: LearnifierHook, org_id: str, project_id: str) -> int | None:
        """How many participants the project has; ``None`` when they cannot be read."""
        from airflow_provider_learnifier.exceptions import LearnifierError

        try:
            return len(hook.list_participants(org_id, project_id))
        except LearnifierError as error:
            self.log.warning("Could not count the participants of project %s: %s", project_id, error)
            return None
