"""Operators for an organization unit's user groups: create a group, add and remove members.

Importing this module is cheap: the hook and the thread pool are imported when a task runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_learnifier._arguments import DEFAULT_CONN_ID
from airflow_provider_learnifier.exceptions import LearnifierBulkOperationError, LearnifierInputError
from airflow_provider_learnifier.ids import blank, id_list, id_text_or_none
from airflow_provider_learnifier.operators._base import (
    JsonObject,
    LearnifierBaseOperator,
    LearnifierBulkOperator,
    describe_failures,
    id_text,
)

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_learnifier.hooks.learnifier import LearnifierHook

__all__ = [
    "LearnifierAddUserGroupMembersOperator",
    "LearnifierCreateUserGroupOperator",
    "LearnifierRemoveUserGroupMembersOperator",
]


def _group_id(group: Mapping[str, Any]) -> str | None:
    """A listed group's id, or ``None`` when it has none that is an id: the spec leaves list items
    undefined; it may be named ``groupId`` or ``id``."""
    return id_text_or_none(group.get("groupId", group.get("id")))


def _group_parent(group: Mapping[str, Any]) -> str | None:
    """A listed group's parent id, named ``parent`` or ``parentId`` (or given as an object with an id)."""
    value = group.get("parent", group.get("parentId"))
    if isinstance(value, Mapping):
        value = value.get("groupId", value.get("id"))
    return None if value is None or value == "" else id_text(value)


def _same_group(group: Mapping[str, Any], name: str, parent: Any) -> bool:
    if group.get("name") != name:
        return False
    return _group_parent(group) == (None if parent is None else id_text(parent))


class LearnifierCreateUserGroupOperator(LearnifierBaseOperator):
    """Create a user group in an organization unit, or reuse the group with the same name and parent.

    Learnifier does not refuse a second group with the same name, so the operator looks for one
    first (with ``reuse_existing``, the default) and returns it, ``"reused": true``. When the
    create request gets no clear answer (a dropped connection, a 5xx), the groups are read again
    to learn whether it was applied; it is sent again only when Learnifier is done with the first
    copy (:func:`~airflow_provider_learnifier.operators._writes.write_once`). The group listing
    may name a group's id ``groupId`` or ``id``, and its parent ``parent`` or ``parentId``; a
    ``parent`` rendered ``'None'`` counts as not given.

    The result (JSON, in XCom): ``{"org_id", "group_id", "name", "parent", "reused": bool}``.

    :param name: the group's name. Templated.
    :param org_id: the organization unit. Templated.
    :param org_external_id: the organization unit's external id, instead of ``org_id``. Templated.
    :param parent: the id of the parent user group. Templated.
    :param reuse_existing: return an existing group with the same name and parent instead of
        creating another.
    :param learnifier_conn_id: the Learnifier connection. Templated.
    """

    template_fields: Sequence[str] = ("name", "org_id", "org_external_id", "parent", "learnifier_conn_id")

    def __init__(
        self,
        *,
        name: str,
        org_id: str | int | None = None,
        org_external_id: str | None = None,
        parent: str | int | None = None,
        reuse_existing: bool = True,
        learnifier_conn_id: str = DEFAULT_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(learnifier_conn_id=learnifier_conn_id, **kwargs)
        self.name = name
        self.org_id = org_id
        self.org_external_id = org_external_id
        self.parent = parent
        self.reuse_existing = reuse_existing

    def execute_with_hook(self, hook: LearnifierHook, context: Context) -> JsonObject:
        """Find the group, or create it."""
        from airflow_provider_learnifier.ids import int_like
        from airflow_provider_learnifier.operators._writes import write_once

        if blank(self.name):
            raise LearnifierInputError(f"{self.task_id}: the user group needs a name")
        name = str(self.name).strip()
        parent = None if blank(self.parent) else int_like(str(self.parent).strip())
        try:
            org_id = self.resolve_org_id(hook, self.org_id, self.org_external_id)
        except ValueError as error:
            raise LearnifierInputError(f"{self.task_id}: {error}") from None
        result = {"org_id": org_id, "name": name, "parent": None if parent is None else id_text(parent)}

        groups = hook.list_user_groups(org_id)
        if self.reuse_existing and (existing := self._oldest(org_id, groups, name, parent)) is not None:
            self.log.info("User group %r exists in org unit %s as %s: reusing it", name, org_id, existing)
            return {**result, "group_id": existing, "reused": True}
        # A lost answer is settled by the groups of this name and parent that are new since now.
        before = {_group_id(group) for group in groups}

        def read_back() -> str | None:
            new = [group for group in hook.list_user_groups(org_id) if _group_id(group) not in before]
            return self._oldest(org_id, new, name, parent)

        group_id, _ = write_once(
            lambda: id_text(hook.create_user_group(org_id, name=name, parent=parent)),
            read_back=read_back,
            what=f"creating user group {name!r} in org unit {org_id}",
            deduplicated=False,  # Learnifier does not refuse a second group of the same name
            log=self.log,
        )
        self.log.info("Created user group %s (%r) in org unit %s", group_id, name, org_id)
        return {**result, "group_id": group_id, "reused": False}

    def _oldest(self, org_id: str, groups: Sequence[Mapping[str, Any]], name: str, parent: Any) -> str | None:
        """The id of the oldest of ``groups`` with this name and parent, or ``None``."""
        from airflow_provider_learnifier.exceptions import LearnifierResponseError

        matches = [group for group in groups if _same_group(group, name, parent)]
        ids = [_group_id(group) for group in matches]
        if None in ids:
            raise LearnifierResponseError(
                f"Learnifier list_user_groups: org unit {org_id} lists a user group named {name!r} without "
                "an id ('groupId' or 'id', a string or an integer)",
                operation="list_user_groups",
                method="GET",
                path=f"/orgunits/{org_id}/usergroups",
            )
        ordered = sorted((group_id for group_id in ids if group_id is not None), key=_age)
        if len(ordered) > 1:
            self.log.warning(
                "Org unit %s has %d user groups named %r; using the oldest, %s",
                org_id,
                len(ordered),
                name,
                ordered[0],
            )
        return ordered[0] if ordered else None


def _age(group_id: str) -> tuple[int, str]:
    """Sort key: numeric ids in creation order, then the others."""
    return (int(group_id), "") if group_id.isdigit() else (1 << 62, group_id)


class _MembersOperator(LearnifierBulkOperator):
    """Shared parts of the add- and remove-members operators."""

    template_fields: Sequence[str] = (
        "org_id",
        "org_external_id",
        "group_id",
        "user_ids",
        "learnifier_conn_id",
    )

    def __init__(
        self,
        *,
        group_id: str | int,
        user_ids: Any,
        org_id: str | int | None = None,
        org_external_id: str | None = None,
        learnifier_conn_id: str = DEFAULT_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(learnifier_conn_id=learnifier_conn_id, **kwargs)
        self.group_id = group_id
        self.user_ids = user_ids
        self.org_id = org_id
        self.org_external_id = org_external_id

    def _target(self, hook: LearnifierHook) -> tuple[str, str, list[str], set[str]]:
        """The org unit, the group, the wanted user ids and the group's current members."""
        user_ids = id_list(self.user_ids, "user_ids")
        if blank(self.group_id):
            raise LearnifierInputError(f"{self.task_id}: no group_id given")
        try:
            org_id = self.resolve_org_id(hook, self.org_id, self.org_external_id)
        except ValueError as error:
            raise LearnifierInputError(f"{self.task_id}: {error}") from None
        group_id = id_text(self.group_id).strip()
        members = self._members(hook, org_id, group_id)
        return org_id, group_id, user_ids, members

    @staticmethod
    def _members(hook: LearnifierHook, org_id: str, group_id: str) -> set[str]:
        return {
            id_text(member.get("id", member.get("uuid")))
            for member in hook.list_user_group_members(org_id, group_id)
        }

    def _finish(self, verb: str, result: JsonObject, failed: list[dict[str, Any]], total: int) -> JsonObject:
        result["failed"] = failed
        if self.too_many_failures(len(failed)):
            raise LearnifierBulkOperationError(
                f"{len(failed)} of {total} user(s) could not be {verb} user group {result['group_id']} "
                f"(max_failures={self.max_failures}):\n" + describe_failures(failed, subject="user_id"),
                failures=failed,
                summary=result,
            )
        return result


class LearnifierAddUserGroupMembersOperator(_MembersOperator):
    """Add users to a user group; users who are members already are left alone.

    A user that Learnifier says is already a member (409, e.g. added by another run since the
    members were read) counts as already a member once the members show it. An add whose answer
    is lost (a dropped connection, a 5xx) is settled by reading the members and sent again at most
    once (:func:`~airflow_provider_learnifier.operators._writes.write_once`).

    The result (JSON, in XCom)::

        {"org_id", "group_id", "added": [user_id, ...], "already_members": [...],
         "failed": [{"user_id": ..., "reason": ...}]}

    :param group_id: the user group. Templated.
    :param user_ids: the users: a list of ids, a ``{key: user_id}`` mapping (such as the upsert
        operator's ``user_ids``), or a comma-separated text. Templated.
    :param org_id: the group's organization unit. Templated.
    :param org_external_id: the organization unit's external id, instead of ``org_id``. Templated.
    :param max_concurrency: at most this many requests at a time (default 8).
    :param max_failures: how many users may fail before the task fails (default 0).
    :param learnifier_conn_id: the Learnifier connection. Templated.
    """

    def execute_with_hook(self, hook: LearnifierHook, context: Context) -> JsonObject:
        """Add the users who are not members."""
        from airflow_provider_learnifier.exceptions import LearnifierConflictError, LearnifierError
        from airflow_provider_learnifier.operators._bulk import Tally, run_concurrently
        from airflow_provider_learnifier.operators._writes import write_once

        org_id, group_id, user_ids, members = self._target(hook)
        to_add = [(n, user_id) for n, user_id in enumerate(user_ids) if user_id not in members]
        tally = Tally("added", "already")

        def add(numbered: tuple[int, str]) -> None:
            order, user_id = numbered

            def send() -> str:
                hook.add_user_group_member(org_id, group_id, user_id)
                return user_id

            def is_member() -> str | None:
                return user_id if user_id in self._members(hook, org_id, group_id) else None

            def already(conflict: LearnifierConflictError) -> str:
                # A 409 "already a member" (another run added the user meanwhile) is what was wanted,
                # once the group's members show it; a 409 about anything else stays a failure.
                if is_member() is None:
                    raise conflict
                return user_id

            try:
                _, ours = write_once(
                    send,
                    read_back=is_member,
                    what=f"adding user {user_id} to user group {group_id}",
                    deduplicated=True,  # a second copy meets "already a member"
                    on_conflict=already,
                    log=self.log,
                )
            except LearnifierError as error:
                self.log.warning("Adding user %s to group %s failed: %s", user_id, group_id, error)
                return tally.fail(order, user_id, str(error))
            tally.add("added" if ours else "already", order, user_id)

        run_concurrently(add, to_add, max_workers=self.max_concurrency)
        added = tally.items("added")
        already = set(tally.items("already")) | members
        self.log.info("Group %s: added %d, %d already member(s)", group_id, len(added), len(already))
        result: JsonObject = {
            "org_id": org_id,
            "group_id": group_id,
            "added": added,
            "already_members": [user_id for user_id in user_ids if user_id in already],
        }
        failed = [{"user_id": f["person"], "reason": f["reason"]} for f in tally.failed]
        return self._finish("added to", result, failed, len(user_ids))


class LearnifierRemoveUserGroupMembersOperator(_MembersOperator):
    """Remove users from a user group; users who are not members are left alone.

    The result (JSON, in XCom)::

        {"org_id", "group_id", "removed": [user_id, ...], "not_members": [...],
         "failed": [{"user_id": ..., "reason": ...}]}

    :param group_id: the user group. Templated.
    :param user_ids: the users: a list of ids, a ``{key: user_id}`` mapping, or a comma-separated
        text. Templated.
    :param org_id: the group's organization unit. Templated.
    :param org_external_id: the organization unit's external id, instead of ``org_id``. Templated.
    :param max_concurrency: at most this many requests at a time (default 8).
    :param max_failures: how many users may fail before the task fails (default 0).
    :param learnifier_conn_id: the Learnifier connection. Templated.
    """

    def execute_with_hook(self, hook: LearnifierHook, context: Context) -> JsonObject:
        """Remove the users who are members."""
        from airflow_provider_learnifier.exceptions import LearnifierError, LearnifierNotFoundError
        from airflow_provider_learnifier.operators._bulk import Tally, run_concurrently

        org_id, group_id, user_ids, members = self._target(hook)
        to_remove = [(n, user_id) for n, user_id in enumerate(user_ids) if user_id in members]
        tally = Tally("removed")

        def remove(numbered: tuple[int, str]) -> None:
            order, user_id = numbered
            try:
                hook.remove_user_group_member(org_id, group_id, user_id)
            except LearnifierNotFoundError:
                pass  # a retried DELETE whose first attempt was applied without an answer
            except LearnifierError as error:
                self.log.warning("Removing user %s from group %s failed: %s", user_id, group_id, error)
                return tally.fail(order, user_id, str(error))
            tally.add("removed", order, user_id)

        run_concurrently(remove, to_remove, max_workers=self.max_concurrency)
        removed = tally.items("removed")
        self.log.info(
            "Group %s: removed %d, %d not member(s)", group_id, len(removed), len(user_ids) - len(to_remove)
        )
        result: JsonObject = {
            "org_id": org_id,
            "group_id": group_id,
            "removed": removed,
            "not_members": [user_id for user_id in user_ids if user_id not in members],
        }
        failed = [{"user_id": f["person"], "reason": f["reason"]} for f in tally.failed]
        return self._finish("removed from", result, failed, len(user_ids))
