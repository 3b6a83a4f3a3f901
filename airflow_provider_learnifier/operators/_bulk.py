"""Helpers of the bulk operators: a bounded thread pool, a user index, and a thread-safe tally.

Imported by the operators only when a task runs.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from typing import TYPE_CHECKING, Any, TypeVar

from airflow_provider_learnifier.operators._base import id_text

if TYPE_CHECKING:
    from airflow_provider_learnifier.hooks.learnifier import LearnifierHook
    from airflow_provider_learnifier.operators._roster import Person

JsonObject = dict[str, Any]
_T = TypeVar("_T")
_R = TypeVar("_R")


class Cancelled(Exception):
    """The task was asked to stop (``on_kill``) before the item was started."""


def run_concurrently(
    function: Callable[[_T], _R],
    items: Sequence[_T],
    *,
    max_workers: int,
    stop: threading.Event | None = None,
) -> list[_R]:
    """Call ``function`` on every item from at most ``max_workers`` threads; return the results in item order.

    ``function`` is expected to handle the errors that concern one item. An exception that
    escapes it (a bug, or :class:`Cancelled`) cancels the items not yet started, waits for the
    running ones, and is raised. ``stop``, once set, makes the items not yet started raise
    :class:`Cancelled`.
    """
    if not items:
        return []

    def guarded(item: _T) -> _R:
        if stop is not None and stop.is_set():
            raise Cancelled("the task was asked to stop")
        return function(item)

    with ThreadPoolExecutor(
        max_workers=max(1, min(max_workers, len(items))), thread_name_prefix="learnifier"
    ) as pool:
        futures = [pool.submit(guarded, item) for item in items]
        _, pending = wait(futures, return_when=FIRST_EXCEPTION)
        for future in pending:
            future.cancel()
        for future in futures:
            if future.done() and not future.cancelled() and future.exception() is not None:
                raise future.exception()  # type: ignore[misc]
        return [future.result() for future in futures]


class UserMismatch(ValueError):
    """A person's identifiers point at different users, or at a user with another external id."""


def identity_mismatch(person: Person, user: Mapping[str, Any]) -> str | None:
    """Tell why ``user`` (a record Learnifier named: a 409's ``userId``, an email match) is not ``person``.

    The rule, strongest identifier first: a row's user id must be the user's id; else a row's
    external id must be the user's external id (a user without one may still be the person);
    else the row's email must be the user's primary email, compared case-insensitively.

    :return: ``None`` when the user is the person, else a reason naming both sides.
    """
    user_id = id_text(user.get("id"))
    if person.user_id:
        if user_id != person.user_id:
            return f"Learnifier named user {user_id}, not the row's user id {person.user_id!r}"
        return None
    external_id = user.get("externalId")
    if person.external_id and external_id not in (None, ""):
        if str(external_id) != person.external_id:
            return (
                f"Learnifier named user {user_id} whose external id is {str(external_id)!r}, "
                f"not the row's {person.external_id!r}"
            )
        return None
    if person.email:
        email = str(user.get("primaryEmail") or "")
        if not email:
            return f"Learnifier named user {user_id} without an email to check against {person.email!r}"
        if email.casefold() != person.email.casefold():
            return f"Learnifier named user {user_id} whose email is {email!r}, not the row's {person.email!r}"
        return None
    if person.external_id:
        return (
            f"Learnifier named user {user_id}, which has no external id to match the row's "
            f"{person.external_id!r}"
        )
    return f"Learnifier named user {user_id}, and the row has no identifier to check it against"


class UserIndex:
    """The account's users, by id, external id and (case-insensitive) email, read once.

    ``GET /users`` is the only way to find a user by email, so the index is read with one paged
    scan rather than one request per person.
    """

    def __init__(self, users: Iterable[Mapping[str, Any]]) -> None:
        self.by_id: dict[str, Mapping[str, Any]] = {}
        self.by_external_id: dict[str, Mapping[str, Any]] = {}
        self.by_email: dict[str, Mapping[str, Any]] = {}
        for user in users:
            self.by_id[id_text(user["id"])] = user
            if user.get("externalId"):
                self.by_external_id.setdefault(str(user["externalId"]), user)
            if user.get("primaryEmail"):
                self.by_email.setdefault(str(user["primaryEmail"]).casefold(), user)

    @classmethod
    def load(cls, hook: LearnifierHook) -> UserIndex:
        """Read every user of the account."""
        return cls(hook.iter_users())

    def __len__(self) -> int:
        return len(self.by_id)

    def remember(self, person: Person, user_id: str) -> None:
        """Add the user just found or created for ``person``, so that later lookups find it."""
        user = {"id": user_id, "externalId": person.external_id, "primaryEmail": person.email}
        self.by_id.setdefault(user_id, user)
        if person.external_id:
            self.by_external_id.setdefault(person.external_id, user)
        if person.email:
            self.by_email.setdefault(person.email.casefold(), user)

    def find(
        self, person: Person, match_by: Sequence[str] = ("external_id", "email")
    ) -> Mapping[str, Any] | None:
        """Find the user a person is: by user id, then by each of ``match_by`` in order.

        :raises UserMismatch: when the email belongs to a user with another external id.
        """
        if person.user_id:
            return self.by_id.get(person.user_id)
        for name in match_by:
            if name == "external_id" and person.external_id:
                user = self.by_external_id.get(person.external_id)
            elif name == "email" and person.email:
                user = self.by_email.get(person.email.casefold())
                if user is not None and self._other_external_id(user, person, match_by):
                    raise UserMismatch(
                        f"the email {person.email!r} belongs to user {user['id']} whose external id is "
                        f"{user['externalId']!r}, not {person.external_id!r}"
                    )
            else:
                continue
            if user is not None:
                return user
        return None

    @staticmethod
    def _other_external_id(user: Mapping[str, Any], person: Person, match_by: Sequence[str]) -> bool:
        return bool(
            "external_id" in match_by
            and person.external_id
            and user.get("externalId")
            and user["externalId"] != person.external_id
        )


class Tally:
    """Outcomes collected from many threads, returned in roster order.

    Each outcome is recorded under a category with an ``order`` (the roster row), so results
    do not depend on which thread finished first.
    """

    def __init__(self, *categories: str) -> None:
        self._lock = threading.Lock()
        self._items: dict[str, list[tuple[int, Any]]] = {category: [] for category in categories}
        self._failed: list[tuple[int, dict[str, Any]]] = []

    def add(self, category: str, order: int, value: Any) -> None:
        """Record ``value`` under ``category``."""
        with self._lock:
            self._items[category].append((order, value))

    def fail(self, order: int, person: str, reason: str, *, row: int | None = None) -> None:
        """Record a failure of ``person``."""
        failure: dict[str, Any] = {"person": person, "reason": reason}
        if row is not None:
            failure["row"] = row
        with self._lock:
            self._failed.append((order, failure))

    def items(self, category: str) -> list[Any]:
        """The values of ``category``, in order."""
        with self._lock:
            return [value for _, value in sorted(self._items[category], key=lambda item: item[0])]

    @property
    def failed(self) -> list[dict[str, Any]]:
        """The failures, in order."""
        with self._lock:
            return [failure for _, failure in sorted(self._failed, key=lambda item: item[0])]
