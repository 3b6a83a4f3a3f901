"""Operators for Learnifier projects (course runs): create from a course design, update, delete.

Importing this module is cheap: the hook is imported when a task runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_learnifier._arguments import DEFAULT_CONN_ID
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


def _optional_text(value: Any) -> str | None:
    """A templated text argument as text, or ``None`` when it was left :func:`blank`."""
    return None if blank(value) else str(value)


def _external_id(project: Mapping[str, Any]) -> str | None:
    """A project's external id, or ``None`` when it has none."""
    return _optional_text(project.get("externalId"))


def id_order(project_id: Any) -> tuple[int, int, str]:
    """Sort key of project ids: numbers and strings of digits by value, before any other string.

    So ``9`` comes before ``"10"`` whether Learnifier writes the ids as numbers or as strings.
    """
    text = id_text(project_id).strip()
    if text.isascii() and text.isdigit():
        return (0, int(text), text)
    return (1, 0, text)


class LearnifierCreateProjectOperator(LearnifierBaseOperator):
    """Create a Learnifier project from a course design, or reuse the one with the same external id.

    With ``external_id``, the operator is rerun-safe, whatever Learnifier does with the external
    id (the API's project body does not declare ``externalId``, so a server may ignore it). It
    reuses, unchanged (``"reused": true``), the project found by this rule, in this order:

    1. the project with this external id (it must be in this org unit);
    2. else the project of this org unit named exactly ``name``, made from this course design,
       that has no external id (what a project created by this operator looks like on a server
       that ignored the external id).

    When several match (overlapping runs made them, see below), it settles on one of them.

    Otherwise it creates the project, then reads it back; when the external id did not take, it
    says so in the log, and later runs find the project by the second step. A create whose answer
    is lost (a dropped connection, a 5xx) is settled by the same lookup (without ``external_id``:
    by the projects new since the create); one it does not find is sent again, once, only when
    Learnifier is known to be done with it (a 500 or 503), else the task fails and the next run
    settles it (:func:`~airflow_provider_learnifier.operators._writes.write_once`). Without
    ``external_id``, every run creates a project.

    Overlapping runs with the same arguments (two schedulers, a manual run beside the scheduled
    one, mapped tasks) may each create a project: Learnifier does not refuse a second project
    with the same external id (the spec declares no 409) and may ignore the external id. So
    after creating, and whenever it finds several, the operator lists the org unit's projects
    that are this project (those with the external id; if none has it, those the name rule
    matches) and every run agrees on one: the lowest id among those with participants, else the
    lowest id (:func:`id_order`; Learnifier numbers projects in the order it makes them). The
    others are deleted while they have no participants (``delete_duplicates``); one that has
    participants, or that Learnifier refuses to delete, is left, and the result and a warning
    name it. What is guaranteed: ``docs/reliability.md``.

    The result (JSON, in XCom), also the target of the "Learnifier project" link::

        {"org_id", "project_id", "name", "external_id", "design_id", "status", "admin_url",
         "reused": bool, "duplicates_deleted": [id, ...], "duplicates_left": [id, ...]}

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
    :param delete_duplicates: delete the empty duplicates of the project that overlapping runs
        made (default); ``False`` only names them in the result and the log.
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
        delete_duplicates: bool = True,
        learnifier_conn_id: str = DEFAULT_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(learnifier_conn_id=learnifier_conn_id, **kwargs)
        self.name = name
        self.delete_duplicates = delete_duplicates
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
        external_id = _optional_text(self.external_id)
        try:
            org_id = self.resolve_org_id(hook, self.org_id, self.org_external_id)
        except ValueError as error:
            raise LearnifierInputError(f"{self.task_id}: {error}") from None

        if external_id is None:
            return self._create_without_external_id(hook, context, org_id, name)

        found = self._by_external_id(hook, external_id, org_id)
        design = _Lazy(lambda: self._design_id(hook))
        if same := self._same_project(hook, org_id, name, design, external_id, found):
            return self._one_of(hook, context, org_id, same, name=name, external_id=external_id)

        def read_back() -> Mapping[str, Any] | None:
            # Made by the lost create, or by an overlapping run: either way it is the project.
            same = self._same_project(
                hook, org_id, name, design, external_id, self._by_external_id(hook, external_id, org_id)
            )
            return self._chosen(hook, org_id, same) if same else None

        def on_conflict(conflict: LearnifierConflictError) -> Mapping[str, Any]:
            # A 409 on the external id: another run created the project since it was looked up.
            found = read_back()
            if found is None:
                raise conflict
            return found

        design_id = design()  # checked before anything is created
        created, ours = write_once(
            lambda: self._send_create(hook, org_id, name, design_id, external_id),
            read_back=read_back,
            what=f"creating project {name!r} in org unit {org_id}",
            deduplicated=False,
            on_conflict=on_conflict,
            log=self.log,
        )
        project = self._read_back(hook, org_id, created)
        if ours and _external_id(project) != external_id:
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
        # Overlapping runs may have created the project too: all of them settle on the same one.
        kept = project if _external_id(project) == external_id else None
        same = self._same_project(hook, org_id, name, design, external_id, kept)
        same.setdefault(id_text(project["id"]), project)  # even if the listing does not show it yet
        return self._one_of(
            hook, context, org_id, same, name=name, external_id=external_id, created=project if ours else None
        )

    def _send_create(
        self, hook: LearnifierHook, org_id: str, name: str, design_id: str | int, external_id: str | None
    ) -> Mapping[str, Any]:
        fields = {argument: _optional_text(getattr(self, argument)) for argument in _PROJECT_FIELDS}
        return hook.create_project(
            org_id,
            name=name,
            design_id=design_id,
            external_id=external_id,
            created_by=_optional_text(self.created_by),
            **fields,
        )

    def _create_without_external_id(
        self, hook: LearnifierHook, context: Context, org_id: str, name: str
    ) -> JsonObject:
        """Create the project (every run does); a lost answer is settled by the projects new since."""
        from airflow_provider_learnifier.operators._writes import write_once

        design_id = self._design_id(hook)
        before = {id_text(project["id"]) for project in hook.list_projects(org_id)}
        created, ours = write_once(
            lambda: self._send_create(hook, org_id, name, design_id, None),
            read_back=lambda: self._by_name(hook, org_id, name, design_id, exclude=before),
            what=f"creating project {name!r} in org unit {org_id}",
            deduplicated=False,
            log=self.log,
        )
        project = self._read_back(hook, org_id, created)
        if ours:
            self.log.info(
                "Created project %s (%r) in org unit %s", project["id"], project.get("name"), org_id
            )
        return self._done(context, project, reused=not ours)

    def _done(
        self,
        context: Context,
        project: Mapping[str, Any],
        *,
        reused: bool,
        deleted: Sequence[str] = (),
        left: Sequence[str] = (),
    ) -> JsonObject:
        LearnifierProjectLink.persist(context, project)
        return project_summary(
            project, reused=reused, duplicates_deleted=list(deleted), duplicates_left=list(left)
        )

    def _same_project(
        self,
        hook: LearnifierHook,
        org_id: str,
        name: str,
        design_id: _Lazy,
        external_id: str,
        found: Mapping[str, Any] | None,
    ) -> dict[str, Mapping[str, Any]]:
        """The org unit's projects that are this task's project, by id.

        Those with the external id (``found``, known to have it, among them), if any; else those
        the name rule matches: named exactly ``name``, made from the course design, without an
        external id (what this operator makes on a server that ignores the external id). One
        with another external id is somebody else's.
        """
        listing = hook.list_projects(org_id)
        same: dict[str, Mapping[str, Any]] = {}
        if found is not None:
            same[id_text(found["id"])] = found
        for project in listing:
            if _external_id(project) == external_id:
                same.setdefault(id_text(project["id"]), project)
        if same:
            return same
        for project in listing:
            if (matched := self._by_name_rule(hook, org_id, project, name, design_id)) is not None:
                same[id_text(matched["id"])] = matched
        return same

    def _by_name_rule(
        self, hook: LearnifierHook, org_id: str, project: Mapping[str, Any], name: str, design_id: _Lazy
    ) -> Mapping[str, Any] | None:
        """``project`` (read in full when the listing left its design out) if the name rule matches it."""
        from airflow_provider_learnifier.exceptions import LearnifierNotFoundError

        if project.get("name") != name or _external_id(project) is not None:
            return None
        if project.get("designId") is None:  # optional in a listing: read the project
            try:
                project = hook.get_project(org_id, id_text(project["id"]))
            except LearnifierNotFoundError:  # deleted meanwhile (a duplicate another run removed)
                return None
            if project.get("name") != name or _external_id(project) is not None:
                return None
        return project if id_text(project.get("designId")) == id_text(design_id()) else None

    def _chosen(
        self, hook: LearnifierHook, org_id: str, same: Mapping[str, Mapping[str, Any]]
    ) -> Mapping[str, Any]:
        """The one of ``same`` that every run settles on: the lowest id among those with
        participants, else the lowest id. Participants are read only when there are several."""
        ordered = sorted(same.values(), key=lambda project: id_order(project["id"]))
        if len(ordered) == 1:
            return ordered[0]
        present = []
        for project in ordered:
            count = self._participant_count(hook, org_id, id_text(project["id"]))
            if count:
                return project
            if count is not None:  # else deleted meanwhile (a duplicate another run removed)
                present.append(project)
        return (present or ordered)[0]

    def _participant_count(self, hook: LearnifierHook, org_id: str, project_id: str) -> int | None:
        """How many participants the project has; ``None`` when it is gone."""
        from airflow_provider_learnifier.exceptions import LearnifierNotFoundError

        try:
            return len(hook.list_participants(org_id, project_id))
        except LearnifierNotFoundError:
            return None

    def _one_of(
        self,
        hook: LearnifierHook,
        context: Context,
        org_id: str,
        same: Mapping[str, Mapping[str, Any]],
        *,
        name: str,
        external_id: str,
        created: Mapping[str, Any] | None = None,
    ) -> JsonObject:
        """Settle on the one project of ``same`` (:meth:`_chosen`), remove the empty others; return it."""
        chosen = self._chosen(hook, org_id, same)
        chosen_id = id_text(chosen["id"])
        ours = created is not None and id_text(created["id"]) == chosen_id
        deleted: list[str] = []
        left: list[str] = []
        others = sorted((project_id for project_id in same if project_id != chosen_id), key=id_order)
        if others:
            self.log.warning(
                "Org unit %s has %d projects that are this task's project (external id %r, or named %r "
                "from the same course design without an external id): %s, made by runs that overlapped; "
                "every run uses project %s, and the others are %s",
                org_id,
                len(same),
                external_id,
                name,
                ", ".join(sorted(same, key=id_order)),
                chosen_id,
                "deleted while they have no participants"
                if self.delete_duplicates
                else "left (delete_duplicates=False)",
            )
            for project_id in others:
                outcome = self._delete_duplicate(hook, org_id, project_id, name, external_id, chosen_id)
                if outcome == "deleted":
                    deleted.append(project_id)
                elif outcome == "left":
                    left.append(project_id)
        if chosen.get("designId") is None or chosen.get("status") is None:
            chosen = self._read_back(hook, org_id, chosen)  # a listing may leave members out
        if not ours and _external_id(chosen) != external_id:
            self.log.warning(
                "No project has the external id %r, but project %s is named %r from the same course "
                "design in org unit %s without an external id: using it (Learnifier did not keep the "
                "external id when it was created)",
                external_id,
                chosen_id,
                name,
                org_id,
            )
        elif not ours:
            self.log.info(
                "Project %s (%r) with external id %r exists: using it",
                chosen_id,
                chosen.get("name"),
                external_id,
            )
        if left:
            self.log.warning(
                "Project(s) %s duplicate project %s and were left in org unit %s (see above why); delete "
                "them by hand once their participants are moved, or give this project another name",
                ", ".join(left),
                chosen_id,
                org_id,
            )
        return self._done(context, chosen, reused=not ours, deleted=deleted, left=left)

    def _delete_duplicate(
        self, hook: LearnifierHook, org_id: str, project_id: str, name: str, external_id: str, chosen_id: str
    ) -> str:
        """Delete a duplicate unless it has participants; return ``deleted``, ``gone`` or ``left``.

        It is read again first: it must still be this task's project and still have no participant.
        Learnifier itself refuses (406) to delete a project that has participants, which closes the
        gap between that read and the delete.
        """
        from airflow_provider_learnifier.exceptions import LearnifierError, LearnifierNotFoundError

        if not self.delete_duplicates:
            return "left"
        try:
            project = hook.get_project(org_id, project_id)
            if _external_id(project) not in (None, external_id) or (
                _external_id(project) is None and project.get("name") != name
            ):
                self.log.warning("Project %s changed meanwhile: not deleting it", project_id)
                return "left"
            if participants := self._participant_count(hook, org_id, project_id):
                self.log.warning(
                    "Project %s duplicates project %s but has %d participant(s): not deleting it",
                    project_id,
                    chosen_id,
                    participants,
                )
                return "left"
            hook.delete_project(org_id, project_id)
        except LearnifierNotFoundError:
            return "gone"  # another run deleted it
        except LearnifierRefusedError as refused:
            self.log.warning(
                "Learnifier refused to delete project %s, a duplicate of project %s (someone was enrolled "
                "meanwhile?): %s; leaving it",
                project_id,
                chosen_id,
                refused,
            )
            return "left"
        except LearnifierError as error:
            self.log.warning(
                "Could not delete project %s, a duplicate of project %s: %s", project_id, chosen_id, error
            )
            return "left"
        self.log.info("Deleted project %s, an empty duplicate of project %s", project_id, chosen_id)
        return "deleted"

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
        exclude: set[str] | frozenset[str] = frozenset(),
    ) -> Mapping[str, Any] | None:
        """The one project of the org unit named exactly ``name``, made from ``design_id``, whose id
        is not in ``exclude``.

        :raises LearnifierInputError: when several projects match: the operator does not guess.
        """
        matches = []
        for project in hook.list_projects(org_id):
            if project.get("name") != name or id_text(project.get("id")) in exclude:
                continue
            if project.get("designId") is None:  # optional in a listing: read the project
                project = hook.get_project(org_id, id_text(project["id"]))
            if id_text(project.get("designId")) == id_text(design_id):
                matches.append(project)
        if len(matches) > 1:
            ids = ", ".join(sorted((id_text(project["id"]) for project in matches), key=id_order))
            raise LearnifierInputError(
                f"{self.task_id}: org unit {org_id} has {len(matches)} new projects named {name!r} from "
                f"course design {design_id} ({ids}); the operator does not guess which one it made"
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
        learnifier_conn_id: str = DEFAULT_CONN_ID,
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
            value = _optional_text(getattr(self, argument))
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
        learnifier_conn_id: str = DEFAULT_CONN_ID,
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


class _Lazy:
    """A value computed on first use, then kept (the course design id, read only when needed)."""

    def __init__(self, compute: Any) -> None:
        self._compute = compute
        self._value: Any = None
        self._done = False

    def __call__(self) -> Any:
        if not self._done:
            self._value, self._done = self._compute(), True
        return self._value
