"""Operator that creates or updates many Learnifier users in one task.

Importing this module is cheap: the hook, the thread pool and the CSV/JSON readers are
imported when a task runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_learnifier.operators._base import (
    JsonObject,
    LearnifierBaseOperator,
    LearnifierBulkOperationError,
    LearnifierInputError,
    describe_failures,
    id_text,
)

if TYPE_CHECKING:
    from airflow_provider_learnifier.hooks.learnifier import LearnifierHook
    from airflow_provider_learnifier.operators._bulk import Tally, UserIndex
    from airflow_provider_learnifier.operators._roster import Person
    from airflow_provider_learnifier.version_compat import Context

__all__ = ["LearnifierBulkOperationError", "LearnifierInputError", "LearnifierUpsertUsersOperator"]

MATCH_FIELDS = ("external_id", "email")

#: Row field -> (the hook's keyword argument, how to read the current value from an API ``User``).
_USER_FIELDS: dict[str, tuple[str, Any]] = {
    "email": ("primary_email", lambda user: user.get("primaryEmail")),
    "external_id": ("external_id", lambda user: user.get("externalId")),
    "first_name": ("first_name", lambda user: user.get("firstName")),
    "last_name": ("last_name", lambda user: user.get("lastName")),
    "display_name": ("display_name", lambda user: user.get("displayName")),
    "locale": ("locale", lambda user: (user.get("prefs") or {}).get("locale")),
    "home_org": ("home_org", lambda user: user.get("homeOrg")),
    "hard_lock": ("hard_lock", lambda user: user.get("hardLock")),
}


def _same(field: str, wanted: Any, current: Any) -> bool:
    if current is None:
        return False
    if field == "email":
        return str(wanted).casefold() == str(current).casefold()
    if field == "home_org":
        return id_text(wanted) == id_text(current)
    return bool(wanted == current)


def changed_fields(person: Person, user: Mapping[str, Any]) -> dict[str, Any]:
    """The hook keyword arguments for the row's fields that differ from the user's.

    Emails are compared case-insensitively.
    """
    changes = {}
    for field, (argument, current) in _USER_FIELDS.items():
        wanted = getattr(person, field)
        if wanted is not None and not _same(field, wanted, current(user)):
            changes[argument] = wanted
    return changes


class LearnifierUpsertUsersOperator(LearnifierBaseOperator):
    """Create or update many Learnifier users in one task; return their ids.

    Each row (a dict) gives a person: ``email``, ``external_id``, ``user_id``, ``first_name``,
    ``last_name``, ``display_name``, ``locale``, ``home_org``, ``hard_lock``. Rows come as a list
    (from XCom or params), a JSON or CSV text, or a CSV/JSON/JSON Lines file path or
    :class:`~airflow.sdk.ObjectStoragePath`, read like the enroll operator's roster.

    A row is matched to an existing user by ``user_id`` if it has one, else by the fields of
    ``match_by`` in order (by default the external id, then the email, case-insensitively).
    A matched user is updated with only the fields that differ (nothing is sent when none do);
    fields a row leaves out or empty are left as they are. An unmatched row creates a user
    (unless ``create_missing=False``). Rows are handled concurrently, at most ``max_concurrency``
    requests at a time; all users are read once at the start (``GET /users`` is the only way to
    find users by email).

    Bad rows (no identifier, malformed email, repeats of another row) and per-row errors (say,
    an email that belongs to another user) are reported per row and do not stop the others;
    the task fails at the end when more than ``max_failures`` rows failed, or, before changing
    anything, when more than ``max_failures`` rows are bad.

    The result (JSON, in XCom), keyed by each row's first ``match_by`` identifier (else its
    user id)::

        {"user_ids": {key: user_id}, "created": [key, ...], "updated": {key: [field, ...]},
         "unchanged": [key, ...], "failed": [{"person": key, "row": n, "reason": ...}],
         "counts": {"rows", "created", "updated", "unchanged", "failed"}}

    :param users: the rows. Templated.
    :param match_by: the identifiers to match existing users by, in order: ``external_id``
        and/or ``email``.
    :param create_missing: create users for rows that match nobody; else those rows fail.
    :param max_concurrency: at most this many requests at a time (default 8).
    :param max_failures: how many rows may fail before the task fails (default 0).
    :param learnifier_conn_id: the Learnifier connection. Templated.
    """

    template_fields: Sequence[str] = (
        "users",
        "learnifier_conn_id",
    )

    def __init__(
        self,
        *,
        users: Any,
        match_by: Sequence[str] = MATCH_FIELDS,
        create_missing: bool = True,
        max_concurrency: int = 8,
        max_failures: int = 0,
        learnifier_conn_id: str = "learnifier_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(learnifier_conn_id=learnifier_conn_id, **kwargs)
        if isinstance(match_by, str):
            match_by = (match_by,)
        match_by = tuple(match_by)
        if (
            not match_by
            or any(name not in MATCH_FIELDS for name in match_by)
            or len(set(match_by)) != len(match_by)
        ):
            raise ValueError(f"match_by must name external_id and/or email, in order, not {match_by!r}")
        if isinstance(max_concurrency, bool) or not isinstance(max_concurrency, int) or max_concurrency < 1:
            raise ValueError(f"max_concurrency must be a positive integer, not {max_concurrency!r}")
        if isinstance(max_failures, bool) or not isinstance(max_failures, int) or max_failures < 0:
            raise ValueError(f"max_failures must be a non-negative integer, not {max_failures!r}")
        self.users = users
        self.match_by = match_by
        self.create_missing = create_missing
        self.max_concurrency = max_concurrency
        self.max_failures = max_failures

    @property
    def http_pool_size(self) -> int:
        """One connection per concurrent request."""
        return self.max_concurrency

    def execute_with_hook(self, hook: LearnifierHook, context: Context) -> JsonObject:
        """Create or update every row's user; return their ids."""
        from airflow_provider_learnifier.operators._bulk import Tally, UserIndex, run_concurrently
        from airflow_provider_learnifier.operators._roster import read_roster, roster_error

        roster = read_roster(self.users, what="users list", identifiers=(*self.match_by, "user_id"))
        if roster.ignored_columns:
            self.log.info("Ignoring column(s) %s", ", ".join(roster.ignored_columns))
        if len(roster.problems) > self.max_failures:
            raise roster_error(roster, what="users list", max_failures=self.max_failures)
        index = UserIndex.load(hook)
        self.log.info(
            "Upserting %d user(s) (the account has %d), up to %d request(s) at a time",
            len(roster.people),
            len(index),
            self.max_concurrency,
        )
        tally = Tally("user_ids", "created", "updated", "unchanged")
        for problem in roster.problems:
            tally.fail(problem["row"], problem["person"], problem["reason"], row=problem["row"])
        run_concurrently(
            lambda person: self._upsert(hook, index, tally, person),
            roster.people,
            max_workers=self.max_concurrency,
        )

        failed = tally.failed
        result: JsonObject = {
            "user_ids": dict(tally.items("user_ids")),
            "created": tally.items("created"),
            "updated": dict(tally.items("updated")),
            "unchanged": tally.items("unchanged"),
            "failed": failed,
        }
        result["counts"] = {"rows": roster.size} | {
            name: len(result[name]) for name in ("created", "updated", "unchanged", "failed")
        }
        self.log.info("Users: %s", ", ".join(f"{name} {count}" for name, count in result["counts"].items()))
        if len(failed) > self.max_failures:
            raise LearnifierBulkOperationError(
                f"{len(failed)} of {roster.size} user row(s) failed (max_failures={self.max_failures}); "
                f"the others were handled:\n{describe_failures(failed)}",
                failures=failed,
                summary=result,
            )
        return result

    def _upsert(self, hook: LearnifierHook, index: UserIndex, tally: Tally, person: Person) -> None:
        from airflow_provider_learnifier.exceptions import LearnifierError
        from airflow_provider_learnifier.operators._bulk import UserMismatch

        key = person.key(self.match_by)
        try:
            user = index.find(person, self.match_by)
            if user is None and person.user_id:
                raise UserMismatch(f"no Learnifier user has the id {person.user_id!r}")
            if user is None:
                if not self.create_missing:
                    raise UserMismatch("matches no Learnifier user, and create_missing is off")
                user_id, created, changes = self._create(hook, person)
            else:
                user_id, created, changes = id_text(user["id"]), False, changed_fields(person, user)
            if changes:
                self._update(hook, user_id, person, changes)
            if created:
                tally.add("created", person.row, key)
            elif changes:
                tally.add("updated", person.row, (key, sorted(_row_field(argument) for argument in changes)))
            else:
                tally.add("unchanged", person.row, key)
            tally.add("user_ids", person.row, (key, user_id))
        except UserMismatch as mismatch:
            tally.fail(person.row, key, str(mismatch), row=person.row)
        except (LearnifierError, ValueError) as error:
            self.log.warning("User row %d (%s) failed: %s", person.row, key, error)
            tally.fail(person.row, key, str(error), row=person.row)

    def _create(self, hook: LearnifierHook, person: Person) -> tuple[str, bool, dict[str, Any]]:
        """Create the row's user; return its id, whether this run created it, and changes still to send."""
        from airflow_provider_learnifier.exceptions import (
            LearnifierConflictError,
            LearnifierConnectionError,
            LearnifierNotFoundError,
        )
        from airflow_provider_learnifier.operators._bulk import CREATE_ATTEMPTS

        fields = {argument: getattr(person, field) for field, (argument, _) in _USER_FIELDS.items()}
        for attempt in range(1, CREATE_ATTEMPTS + 1):
            try:
                return hook.create_user(**fields), True, {}
            except LearnifierConflictError as conflict:
                if conflict.existing_id is None:
                    raise
                # Made meanwhile, or by our first attempt whose answer was lost: update it instead.
                user = hook.get_user(conflict.existing_id)
                return conflict.existing_id, attempt > 1, changed_fields(person, user)
            except LearnifierConnectionError:
                if attempt == CREATE_ATTEMPTS:
                    raise
                if person.external_id:
                    try:
                        user = hook.get_user_by_external_id(person.external_id)
                    except LearnifierNotFoundError:
                        pass
                    else:
                        return id_text(user["id"]), True, changed_fields(person, user)
                # Known by email alone: the second POST answers 409 with the id if the first was applied.
                self.log.warning("Creating user %s got no answer; trying again", person.key(self.match_by))
        raise AssertionError("unreachable")

    def _update(self, hook: LearnifierHook, user_id: str, person: Person, changes: dict[str, Any]) -> None:
        from airflow_provider_learnifier.exceptions import LearnifierConflictError, LearnifierConnectionError

        try:
            hook.update_user(user_id, **changes)
        except LearnifierConflictError as conflict:
            raise LearnifierConflictError(
                f"updating user {user_id} ({', '.join(sorted(changes))}) conflicts with another user: "
                f"{conflict}",
                existing_id=conflict.existing_id,
            ) from None
        except LearnifierConnectionError:
            remaining = changed_fields(person, hook.get_user(user_id))
            if remaining:
                self.log.warning("Updating user %s got no answer and was not applied; trying again", user_id)
                hook.update_user(user_id, **remaining)


def _row_field(argument: str) -> str:
    return next(field for field, (name, _) in _USER_FIELDS.items() if name == argument)
