"""Operator that creates or updates many Learnifier users in one task.

Importing this module is cheap: the hook, the thread pool and the CSV/JSON readers are
imported when a task runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_provider_learnifier._arguments import DEFAULT_CONN_ID
from airflow_provider_learnifier.exceptions import LearnifierBulkOperationError
from airflow_provider_learnifier.operators._base import (
    JsonObject,
    LearnifierBulkOperator,
    describe_failures,
    id_text,
    shown,
)

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_learnifier.hooks.learnifier import LearnifierHook
    from airflow_provider_learnifier.operators._bulk import Tally, UserIndex
    from airflow_provider_learnifier.operators._roster import Person

__all__ = ["LearnifierUpsertUsersOperator"]

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


class LearnifierUpsertUsersOperator(LearnifierBulkOperator):
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
    find users by email), to the end of the listing: when it cannot be read to its end the task
    fails before any write.

    A row without an email whose create got no answer (a dropped connection, a timeout, a 502
    or 504: Learnifier may still be applying it) is not sent again, since Learnifier refuses a
    second user only with a taken email: the user is read back by external id for a few seconds,
    and when it still does not show, the row is in ``maybe_created`` (and ``failed``); the next
    run finds the user and creates nothing.

    When creating a user answers 409 (a user with the external id or email exists, made after
    the listing), that user is read and must be the row's person: the same external id, else
    (when either has none) the same email. Otherwise the row fails naming both, and nothing is
    sent to that user. Rows that turn out to be one Learnifier user (say, one by external id and
    one by that user's email) are applied once: the first in roster order; the others fail
    naming it. A create or update whose answer was lost (no answer, a timeout, a 5xx) is settled
    by reading the user, and sent again at most once, an update with only what still differs.

    Bad rows (no identifier, malformed email, repeats of another row) and per-row errors (say,
    an email that belongs to another user) are reported per row and do not stop the others;
    the task fails at the end when more than ``max_failures`` rows failed, or, before changing
    anything, when more than ``max_failures`` rows are bad. ``created`` lists every user this run
    created, also when its row then failed; ``maybe_created`` the rows whose user may have been
    created though no answer confirmed it (the create and its one resend got no clear answer, and
    the user could not be read back): they are also in ``failed``, and the next run finds them.

    The result (JSON, in XCom), keyed by each row's first ``match_by`` identifier (else its
    user id)::

        {"user_ids": {key: user_id}, "created": [key, ...], "maybe_created": [key, ...],
         "updated": {key: [field, ...]}, "unchanged": [key, ...],
         "failed": [{"person": key, "row": n, "reason": ...}],
         "counts": {"rows", "created", "maybe_created", "updated", "unchanged", "failed"}}

    :param users: the rows. Templated.
    :param match_by: the identifiers to match existing users by, in order: ``external_id``
        and/or ``email``. A user matched by email whose external id differs from the row's is
        another person: the row fails (whatever ``match_by`` says); a user without an external id
        gets the row's.
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
        learnifier_conn_id: str = DEFAULT_CONN_ID,
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
        self.users = users
        self.match_by = match_by
        self.create_missing = create_missing

    def execute_with_hook(self, hook: LearnifierHook, context: Context) -> JsonObject:
        """Create or update every row's user; return their ids."""
        from airflow_provider_learnifier.operators._bulk import Tally, UserIndex, run_concurrently
        from airflow_provider_learnifier.operators._roster import read_roster, roster_error

        roster = read_roster(self.users, what="users list", identifiers=(*self.match_by, "user_id"))
        if roster.ignored_columns:
            self.log.info("Ignoring column(s) %s", ", ".join(roster.ignored_columns))
        if self.too_many_failures(len(roster.problems)):
            raise roster_error(roster, what="users list", max_failures=self.max_failures)
        # Every user, read to the end of the listing: an error while reading it fails the task
        # here, before any write, rather than letting a partial index send rows to "create".
        index = UserIndex.load(hook)
        self.log.info(
            "Upserting %d user(s) (the account has %d), up to %d request(s) at a time",
            len(roster.people),
            len(index),
            self.max_concurrency,
        )
        tally = Tally("user_ids", "created", "maybe_created", "updated", "unchanged")
        for problem in roster.problems:
            tally.fail(problem["row"], problem["person"], problem["reason"], row=problem["row"])
        # First every row is resolved to its user (found, or created); only then, in roster order,
        # is each user given to the first row that resolved to it, and only those rows are applied,
        # so two rows that are one person never both write, whichever thread finishes first.
        resolved = run_concurrently(
            lambda person: self._resolve(hook, index, tally, person),
            roster.people,
            max_workers=self.max_concurrency,
        )
        targets = self._first_row_per_user(tally, resolved)
        run_concurrently(
            lambda target: self._apply(hook, tally, target),
            targets,
            max_workers=self.max_concurrency,
        )

        failed = tally.failed
        result: JsonObject = {
            "user_ids": dict(tally.items("user_ids")),
            "created": tally.items("created"),
            "maybe_created": tally.items("maybe_created"),
            "updated": dict(tally.items("updated")),
            "unchanged": tally.items("unchanged"),
            "failed": failed,
        }
        result["counts"] = {"rows": roster.size} | {
            name: len(result[name]) for name in ("created", "maybe_created", "updated", "unchanged", "failed")
        }
        self.log.info("Users: %s", ", ".join(f"{name} {count}" for name, count in result["counts"].items()))
        if self.too_many_failures(len(failed)):
            raise LearnifierBulkOperationError(
                f"{len(failed)} of {roster.size} user row(s) failed (max_failures={self.max_failures}); "
                f"the others were handled:\n{describe_failures(failed)}",
                failures=failed,
                summary=result,
            )
        return result

    def _resolve(
        self, hook: LearnifierHook, index: UserIndex, tally: Tally, person: Person
    ) -> _Resolved | None:
        """Find the row's user, or create it; ``None`` when that failed (recorded).

        A user this run creates is listed in ``created`` at once, so it stays listed when the row
        fails later (say, as the same user as an earlier row, or on its update).
        """
        from airflow_provider_learnifier.exceptions import LearnifierError, LearnifierUncertainWriteError
        from airflow_provider_learnifier.operators._bulk import UserMismatch, identity_mismatch

        key = person.key(self.match_by)
        try:
            user = index.find(person, self.match_by)
            if user is None and person.user_id:
                raise UserMismatch(f"no Learnifier user has the id {person.user_id!r}")
            if user is not None:
                # With match_by=["email"] the listing finds users by email alone; one with another
                # external id is another person, whose external id the row must not rewrite.
                if (reason := identity_mismatch(person, user)) is not None:
                    raise UserMismatch(f"the user found by the row's email is not its person: {reason}")
                return _Resolved(person, key, id_text(user["id"]), False, changed_fields(person, user))
            if not self.create_missing:
                raise UserMismatch("matches no Learnifier user, and create_missing is off")
            user_id, created, changes = self._create(hook, person)
            if created:
                tally.add("created", person.row, key)
            return _Resolved(person, key, user_id, created, changes)
        except UserMismatch as mismatch:
            tally.fail(person.row, key, str(mismatch), row=person.row)
        except LearnifierUncertainWriteError as error:
            reason = f"the user may have been created (the next run finds it): {error}"
            self.log.warning("User row %d (%s) failed: %s", person.row, shown(key), shown(reason, limit=500))
            tally.add("maybe_created", person.row, key)
            tally.fail(person.row, key, reason, row=person.row)
        except (LearnifierError, ValueError) as error:
            self.log.warning("User row %d (%s) failed: %s", person.row, shown(key), shown(error, limit=500))
            tally.fail(person.row, key, str(error), row=person.row)
        return None

    def _first_row_per_user(self, tally: Tally, resolved: list[_Resolved | None]) -> list[_Resolved]:
        """Keep, of the rows that resolved to one user, the first in roster order; fail the others."""
        log = self.log
        claimed: dict[str, _Resolved] = {}
        targets = []
        for target in resolved:
            if target is None:
                continue
            first = claimed.setdefault(target.user_id, target)
            if first is not target:
                reason = f"is the same Learnifier user ({target.user_id}) as row {first.person.row}"
                if target.created:
                    reason += "; this run created that user for this row"
                log.warning("User row %d (%s) failed: %s", target.person.row, shown(target.key), reason)
                tally.fail(target.person.row, target.key, reason, row=target.person.row)
                continue
            targets.append(target)
        return targets

    def _apply(self, hook: LearnifierHook, tally: Tally, target: _Resolved) -> None:
        """Send the row's changes to its user, and record the outcome."""
        from airflow_provider_learnifier.exceptions import LearnifierError

        person, key = target.person, target.key
        try:
            sent = self._update(hook, target.user_id, person, target.changes) if target.changes else {}
        except (LearnifierError, ValueError) as error:
            self.log.warning("User row %d (%s) failed: %s", person.row, shown(key), shown(error, limit=500))
            reason = str(error)
            if target.created:
                reason = f"user {target.user_id} was created by this run, but {reason}"
            tally.fail(person.row, key, reason, row=person.row)
            return
        if not target.created:  # a created user was listed in "created" when it was made
            if sent:
                tally.add("updated", person.row, (key, sorted(_row_field(argument) for argument in sent)))
            else:
                tally.add("unchanged", person.row, key)
        tally.add("user_ids", person.row, (key, target.user_id))

    def _create(self, hook: LearnifierHook, person: Person) -> tuple[str, bool, dict[str, Any]]:
        """Create the row's user; return its id, whether this run created it, and changes still to send.

        Learnifier answers 409 with the id of the user that has the external id or email, which
        makes the create safe to send again after a lost answer. The user it names is read and
        must be the row's person (:func:`~airflow_provider_learnifier.operators._bulk.identity_mismatch`);
        when it is not, the row fails and nothing is sent to that user.
        """
        from airflow_provider_learnifier.exceptions import LearnifierConflictError, LearnifierNotFoundError
        from airflow_provider_learnifier.operators._bulk import UserMismatch, identity_mismatch
        from airflow_provider_learnifier.operators._writes import SETTLE_PAUSES, write_once

        fields = {argument: getattr(person, field) for field, (argument, _) in _USER_FIELDS.items()}

        def send() -> tuple[str, Mapping[str, Any] | None]:
            return hook.create_user(**fields), None

        def checked(user: Mapping[str, Any], how: str) -> tuple[str, Mapping[str, Any]]:
            reason = identity_mismatch(person, user)
            if reason is not None:
                raise UserMismatch(f"{how}, but that is not this row's person: {reason}; nothing was changed")
            return id_text(user["id"]), user

        def read_back() -> tuple[str, Mapping[str, Any]] | None:
            assert person.external_id
            try:
                user = hook.get_user_by_external_id(person.external_id)
            except LearnifierNotFoundError:
                return None
            return checked(user, "after a lost answer, a user with the row's external id was found")

        def on_conflict(conflict: LearnifierConflictError) -> tuple[str, Mapping[str, Any]]:
            if conflict.existing_id is None:
                raise conflict
            return checked(
                hook.get_user(conflict.existing_id),
                f"creating the user answered 409 naming the existing user {conflict.existing_id}",
            )

        (user_id, user), ours = write_once(
            send,
            # Only the external id can be looked up directly; for a row known by email alone, the
            # second POST tells, since Learnifier answers 409 with the id of the user it made.
            read_back=read_back if person.external_id else None,
            what=f"creating user {shown(person.key(self.match_by))!r}",
            # Learnifier refuses a second user only with a taken email: without one, a second POST
            # while the first may still be applied could make the person twice, so it is not sent;
            # the user is read again for a while, then reported in "maybe_created".
            deduplicated=bool(person.email),
            on_conflict=on_conflict,
            settle=SETTLE_PAUSES,
            log=self.log,
        )
        return user_id, ours, ({} if user is None else changed_fields(person, user))

    def _update(
        self, hook: LearnifierHook, user_id: str, person: Person, changes: dict[str, Any]
    ) -> dict[str, Any]:
        """Send ``changes`` to the user; return what was changed.

        After a lost answer the user is read again and only what is still different is sent,
        once (:func:`~airflow_provider_learnifier.operators._writes.write_once`).
        """
        from airflow_provider_learnifier.exceptions import LearnifierConflictError
        from airflow_provider_learnifier.operators._writes import write_once

        pending = dict(changes)

        def send() -> dict[str, Any]:
            hook.update_user(user_id, **pending)
            return changes

        def read_back() -> dict[str, Any] | None:
            remaining = changed_fields(person, hook.get_user(user_id))
            if not remaining:
                return changes
            pending.clear()
            pending.update(remaining)
            return None

        try:
            # A PATCH sets values: a second copy, even one overtaking the first, changes nothing more.
            sent, _ = write_once(
                send, read_back=read_back, what=f"updating user {user_id}", deduplicated=True, log=self.log
            )
        except LearnifierConflictError as conflict:
            raise LearnifierConflictError(
                f"updating user {user_id} ({', '.join(sorted(pending))}) conflicts with another user: "
                f"{conflict}",
                existing_id=conflict.existing_id,
                **conflict.details,
            ) from None
        return sent


@dataclass(frozen=True)
class _Resolved:
    """A row and its user: found, or created (``created``) by this run; and the changes it still needs."""

    person: Person
    key: str
    user_id: str
    created: bool
    changes: dict[str, Any]


def _row_field(argument: str) -> str:
    return next(field for field, (name, _) in _USER_FIELDS.items() if name == argument)
