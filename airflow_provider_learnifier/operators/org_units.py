"""Operators for Learnifier organization units (the clients of an account): create and update.

Importing this module is cheap: the hook is imported when a task runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_learnifier._arguments import DEFAULT_CONN_ID
from airflow_provider_learnifier.exceptions import LearnifierInputError
from airflow_provider_learnifier.ids import blank
from airflow_provider_learnifier.operators._base import (
    JsonObject,
    LearnifierBaseOperator,
    id_text,
)

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_learnifier.hooks.learnifier import LearnifierHook

__all__ = ["LearnifierCreateOrgUnitOperator", "LearnifierUpdateOrgUnitOperator"]

#: The optional fields both operators take, as the hook's keyword arguments.
_ORG_UNIT_FIELDS = ("external_id", "client_number", "country", "parent", "caller")


def _fields(operator: Any, names: Sequence[str]) -> dict[str, Any]:
    """The given (not blank) fields, stripped (the hook sends ``parent`` as the number the API expects)."""
    values: dict[str, Any] = {}
    for name in names:
        value = getattr(operator, name)
        if blank(value):
            continue
        values[name] = str(value).strip()
    return values


class LearnifierCreateOrgUnitOperator(LearnifierBaseOperator):
    """Create a Learnifier organization unit, or reuse the one with the same external id.

    A reused unit is left unchanged; where its name or parent differ from what was asked, the
    result's ``differs`` says so (``{field: {"asked", "found"}}``).

    When ``external_id`` is given and Learnifier answers 409 (the external id is taken), the
    existing unit is looked up by external id and returned, marked ``"reused": true`` (with
    ``reuse_existing=False`` the conflict fails the task instead). When the create request gets
    no clear answer (a dropped connection, a 5xx), the same lookup, or without an external id the
    units new since the create, tells whether it was applied; it is sent again at most once
    (:func:`~airflow_provider_learnifier.operators._writes.write_once`). A ``parent`` rendered
    ``'None'`` counts as not given.

    The result (JSON, in XCom): ``{"org_id", "display_name", "external_id", "reused": bool}``.

    :param display_name: the unit's name. Templated.
    :param external_id: the unit's external id. Templated.
    :param client_number: a client number, unique in the account. Templated.
    :param country: the country code, e.g. ``se``. Templated.
    :param parent: the id of the parent organization unit. Templated.
    :param caller: the id of the user on whose behalf the unit is created. Templated.
    :param reuse_existing: on 409 with an ``external_id``, return the existing unit.
    :param learnifier_conn_id: the Learnifier connection. Templated.
    """

    template_fields: Sequence[str] = ("display_name", *_ORG_UNIT_FIELDS, "learnifier_conn_id")

    def __init__(
        self,
        *,
        display_name: str,
        external_id: str | None = None,
        client_number: str | None = None,
        country: str | None = None,
        parent: str | int | None = None,
        caller: str | None = None,
        reuse_existing: bool = True,
        learnifier_conn_id: str = DEFAULT_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(learnifier_conn_id=learnifier_conn_id, **kwargs)
        self.display_name = display_name
        self.external_id = external_id
        self.client_number = client_number
        self.country = country
        self.parent = parent
        self.caller = caller
        self.reuse_existing = reuse_existing

    def execute_with_hook(self, hook: LearnifierHook, context: Context) -> JsonObject:
        """Create the unit, or find it by external id on a conflict."""
        from airflow_provider_learnifier.exceptions import LearnifierConflictError, LearnifierNotFoundError
        from airflow_provider_learnifier.operators._writes import write_once

        if blank(self.display_name):
            raise LearnifierInputError(f"{self.task_id}: the organization unit needs a display_name")
        display_name = str(self.display_name).strip()
        fields = _fields(self, _ORG_UNIT_FIELDS)
        external_id = fields.get("external_id")
        # Without an external id, a lost answer is settled by the units that are new since now.
        before = set() if external_id else {id_text(unit["id"]) for unit in hook.list_org_units()}

        def by_external_id() -> JsonObject | None:
            try:
                return hook.get_org_unit_by_external_id(str(external_id))
            except LearnifierNotFoundError:
                return None

        def read_back() -> JsonObject | None:
            if external_id is not None:
                return by_external_id()
            new = [
                unit
                for unit in hook.list_org_units()
                if id_text(unit["id"]) not in before and unit.get("name") == display_name
            ]
            if len(new) > 1:
                raise LearnifierInputError(
                    f"{self.task_id}: creating org unit {display_name!r} got no clear answer, and "
                    f"{len(new)} units of that name appeared meanwhile "
                    f"({', '.join(sorted(id_text(unit['id']) for unit in new))}); check them"
                )
            return new[0] if new else None

        sent: list[bool] = []

        def send() -> JsonObject:
            sent.append(True)
            return {"id": hook.create_org_unit(display_name=display_name, **fields)["ouId"]}

        def on_conflict(conflict: LearnifierConflictError) -> JsonObject:
            # After a lost answer, a 409 on the second copy means the first was applied: ours.
            if external_id is None or (not self.reuse_existing and len(sent) < 2):
                raise conflict
            unit = by_external_id()
            if unit is None:
                raise conflict  # the conflict is about something else, e.g. the client number
            return unit

        created, ours = write_once(
            send,
            read_back=read_back,
            what=f"creating org unit {display_name!r}",
            # Learnifier refuses a second unit with the same external id (409).
            deduplicated=external_id is not None,
            on_conflict=on_conflict,
            log=self.log,
        )
        org_id = id_text(created["id"])
        if not ours:
            # What was asked and what the reused unit has differ: say so in the result, not only the log.
            differs = {
                name: {"asked": asked, "found": found}
                for name, asked, found in (
                    ("display_name", display_name, created.get("name")),
                    ("parent", fields.get("parent"), created.get("parentId", created.get("parent"))),
                )
                if asked is not None and (found is None or id_text(found) != asked)
            }
            if differs:
                self.log.warning(
                    "Org unit %s with external id %r differs from what was asked (%s); reusing it unchanged",
                    org_id,
                    external_id,
                    differs,
                )
            self.log.info("Org unit with external id %r exists as %s: reusing it", external_id, org_id)
            return {
                "org_id": org_id,
                "display_name": created.get("name"),
                "external_id": external_id,
                "reused": True,
                "differs": differs,
            }
        self.log.info("Created org unit %s (%r)", org_id, display_name)
        return {"org_id": org_id, "display_name": display_name, "external_id": external_id, "reused": False}


class LearnifierUpdateOrgUnitOperator(LearnifierBaseOperator):
    """Update a Learnifier organization unit; only the given fields change.

    The unit is read first: fields it already has (its name, external id and parent, which the API
    shows) are not sent, and when nothing would change no request is sent. A unit is never made
    its own parent.

    The result (JSON, in XCom): ``{"org_id", "updated_fields": [...], "unchanged_fields": [...]}``.

    :param org_id: the unit to update. Templated.
    :param org_external_id: the unit's current external id, instead of ``org_id``. Templated.
    :param display_name: the new name. Templated.
    :param external_id: the new external id. Templated.
    :param client_number: the new client number. Templated.
    :param country: the new country code. Templated.
    :param parent: the new parent unit's id. Templated.
    :param caller: the id of the user on whose behalf the unit is changed. Templated.
    :param learnifier_conn_id: the Learnifier connection. Templated.
    """

    template_fields: Sequence[str] = (
        "org_id",
        "org_external_id",
        "display_name",
        *_ORG_UNIT_FIELDS,
        "learnifier_conn_id",
    )

    def __init__(
        self,
        *,
        org_id: str | int | None = None,
        org_external_id: str | None = None,
        display_name: str | None = None,
        external_id: str | None = None,
        client_number: str | None = None,
        country: str | None = None,
        parent: str | int | None = None,
        caller: str | None = None,
        learnifier_conn_id: str = DEFAULT_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(learnifier_conn_id=learnifier_conn_id, **kwargs)
        self.org_id = org_id
        self.org_external_id = org_external_id
        self.display_name = display_name
        self.external_id = external_id
        self.client_number = client_number
        self.country = country
        self.parent = parent
        self.caller = caller

    def execute_with_hook(self, hook: LearnifierHook, context: Context) -> JsonObject:
        """Send the given fields."""
        fields = _fields(self, ("display_name", *_ORG_UNIT_FIELDS))
        if not set(fields) - {"caller"}:
            raise LearnifierInputError(f"{self.task_id}: no field to update was given")
        try:
            org_id = self.resolve_org_id(hook, self.org_id, self.org_external_id)
        except ValueError as error:
            raise LearnifierInputError(f"{self.task_id}: {error}") from None
        if fields.get("parent") == org_id:
            raise LearnifierInputError(f"{self.task_id}: org unit {org_id} cannot be its own parent")
        current = hook.get_org_unit(org_id)
        shown_now = {
            "display_name": current.get("name"),
            "external_id": current.get("externalId"),
            "parent": current.get("parentId", current.get("parent")),
        }
        unchanged = sorted(
            name
            for name, value in fields.items()
            if shown_now.get(name) is not None and id_text(shown_now[name]) == value
        )
        changes = {name: value for name, value in fields.items() if name not in unchanged}
        result = {
            "org_id": org_id,
            "updated_fields": sorted(set(changes) - {"caller"}),
            "unchanged_fields": unchanged,
        }
        if not result["updated_fields"]:
            self.log.info("Org unit %s already has %s: nothing to update", org_id, ", ".join(unchanged))
            return result
        self.log.info("Updating org unit %s: %s", org_id, ", ".join(result["updated_fields"]))
        hook.update_org_unit(org_id, **changes)
        return result
