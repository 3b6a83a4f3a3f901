"""Users' fields for the operators that need more than a participation's user id.

:class:`UserDirectory` is the ``user_lookup`` of the progress report and the nudge operator:
users fetched one by one (``GET /users/{id}``), or read once with a paged scan of ``GET /users``,
or (``"auto"``) one by one until a page's worth was fetched, then the scan. The scan only ever
saves requests: whatever it does not settle is fetched one by one. The rules are in
:doc:`/guides/nudges` ("Who the person is: user lookups").
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from airflow_provider_learnifier.ids import id_text_or_none

if TYPE_CHECKING:
    from airflow_provider_learnifier.hooks.learnifier import LearnifierHook

UserLookup = Literal["auto", "get", "scan"]
UserFields = tuple[Any, ...]

#: How many users fetched one by one are kept (least recently used first out) by default.
DEFAULT_MAX_CACHED_USERS = 10_000
#: The page size of the scan, and with ``"auto"`` how many users are fetched one by one before it.
DEFAULT_SCAN_PAGE_SIZE = 500

_MISSING: UserFields = ()


def check_user_lookup(user_lookup: Any, max_cached_users: Any, scan_page_size: Any) -> None:
    """Refuse ``user_lookup``, ``max_cached_users`` or ``scan_page_size`` values that cannot work.

    :raises ValueError: naming the argument that is wrong.
    """
    if user_lookup not in ("auto", "get", "scan"):
        raise ValueError(f"user_lookup must be 'auto', 'get' or 'scan', not {user_lookup!r}")
    if not _is_int_at_least(max_cached_users, 0):
        raise ValueError(f"max_cached_users must be a non-negative integer, not {max_cached_users!r}")
    if not _is_int_at_least(scan_page_size, 1):
        raise ValueError(f"scan_page_size must be a positive integer, not {scan_page_size!r}")


def _is_int_at_least(value: Any, minimum: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


class UserDirectory:
    """Some fields of users, fetched as few times as possible.

    :param hook: the Learnifier hook.
    :param fields: the user record's members to keep (``"primaryEmail"``...), in the order
        :meth:`find` returns them.
    :param user_lookup: ``"get"``: each user with ``GET /users/{id}``; ``"scan"``: all users read
        once (paged ``GET /users``) before the first lookup; ``"auto"``: one by one until
        ``scan_page_size`` users were fetched, then the scan.
    :param max_cached: how many users fetched one by one to keep (least recently used first out).
    :param page_size: the scan's page size.
    :param log: where to log (ids and counts only).
    """

    def __init__(
        self,
        hook: LearnifierHook,
        *,
        fields: Sequence[str],
        user_lookup: UserLookup,
        max_cached: int,
        page_size: int,
        log: Any,
    ) -> None:
        self._hook = hook
        self._fields = tuple(fields)
        self._scan_wanted = user_lookup == "scan"
        self._scan_after = page_size if user_lookup == "auto" else None
        self._scanned: dict[str, UserFields] | None = None
        self._scan_failed = False
        self._cache: OrderedDict[str, UserFields] = OrderedDict()
        self._max_cached = max_cached
        self._page_size = page_size
        self._log = log
        self.fetched = 0
        self.missing = 0

    def find(self, user_id: str) -> UserFields | None:
        """Return the kept fields of the user ``user_id``, or ``None`` when no such user exists.

        :raises LearnifierError: when the user could not be fetched (other than not found).
        """
        if (
            self._scanned is None
            and not self._scan_failed
            and (self._scan_wanted or (self._scan_after is not None and self.fetched >= self._scan_after))
        ):
            self._scan()
        if self._scanned is not None:
            listed = self._scanned.get(user_id)
            if listed is not None:
                return listed
        cached = self._cache.get(user_id)
        if cached is not None:
            self._cache.move_to_end(user_id)
            return cached or None
        found = self._fetch(user_id)
        if self._max_cached:
            self._cache[user_id] = found
            if len(self._cache) > self._max_cached:
                self._cache.popitem(last=False)
        return found or None

    def stats(self) -> str:
        """What the lookups cost, for the task log."""
        scanned = f"{len(self._scanned)} from a scan, " if self._scanned is not None else ""
        return f"{scanned}{self.fetched} fetched one by one, {self.missing} not found"

    def _fields_of(self, user: Mapping[str, Any]) -> UserFields:
        return tuple(user.get(name) for name in self._fields)

    def _scan(self) -> None:
        from airflow_provider_learnifier.exceptions import LearnifierError

        scanned: dict[str, UserFields] = {}
        listed_twice: set[str] = set()
        try:
            for user in self._hook.iter_users(page_size=self._page_size):
                user_id = id_text_or_none(user.get("id")) if isinstance(user, Mapping) else None
                if user_id is None:
                    continue  # no usable id: whoever it is gets fetched one by one
                if user_id in scanned:
                    listed_twice.add(user_id)  # two records for one id: trust neither
                scanned[user_id] = self._fields_of(user)
        except LearnifierError as err:
            self._scan_failed = True
            self._log.warning(
                "The user listing (GET /users) could not be read (%s): users are fetched one by one",
                type(err).__name__,
            )
            return
        for user_id in listed_twice:
            del scanned[user_id]
        self._scanned = scanned
        self._log.info(
            "Read %d user(s) of the account%s",
            len(scanned),
            f" ({len(listed_twice)} listed twice are fetched one by one)" if listed_twice else "",
        )

    def _fetch(self, user_id: str) -> UserFields:
        from airflow_provider_learnifier.exceptions import LearnifierNotFoundError

        self.fetched += 1
        try:
            user = self._hook.get_user(user_id)
        except LearnifierNotFoundError:
            self.missing += 1
            self._log.warning("User %s does not exist", user_id)
            return _MISSING
        return self._fields_of(user)
