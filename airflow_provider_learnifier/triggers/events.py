"""Event-driven scheduling on Learnifier completions: an asset watcher that fires per completion.

:class:`LearnifierCompletionEventTrigger` (Airflow 3.0 or newer) polls one project, or every
project of an organization unit, the way the other triggers poll
(:mod:`~airflow_provider_learnifier.triggers.base`), and fires one event per participant who newly
completes a course. Which completions it hands over (the baseline, the record kept across
restarts on Airflow 3.3, shared polls) is in :doc:`/guides/event-driven`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from airflow.triggers.base import TriggerEvent

from airflow_provider_learnifier._arguments import DEFAULT_CONN_ID, positive_seconds
from airflow_provider_learnifier.completion import (
    IdLike,
    check_project_naming,
    project_gone,
    share_threshold,
)
from airflow_provider_learnifier.exceptions import LearnifierNotFoundError, LearnifierResponseError
from airflow_provider_learnifier.ids import id_problem, id_text_or_none
from airflow_provider_learnifier.progress import activity_count, completion_share, is_completed, timestamp
from airflow_provider_learnifier.triggers.base import (
    DEFAULT_MAX_CONSECUTIVE_FAILURES,
    PollFailures,
    _PrefetchedConnectionHook,
    _run_off_loop,
    failure_budget,
    poll_within_budget,
)
from airflow_provider_learnifier.version_compat import AIRFLOW_V_3_0_PLUS

if TYPE_CHECKING:
    from airflow_provider_learnifier.hooks.learnifier import JsonObject, LearnifierHook

# On Airflow 2 this is BaseTrigger: the module imports (so that provider discovery lists it), and
# the trigger refuses to be made (NOT_ON_AIRFLOW_2).
from airflow.providers.common.compat.triggers import BaseEventTrigger

__all__ = ["LearnifierCompletionEventTrigger"]

#: Why the trigger cannot be made on Airflow 2, and what to use there instead.
NOT_ON_AIRFLOW_2 = (
    "LearnifierCompletionEventTrigger needs Airflow 3.0 or newer: event-driven scheduling "
    "(Asset watchers and BaseEventTrigger) does not exist in Airflow 2. On Airflow 2, wait for "
    "completions with LearnifierParticipantCompletedSensor or LearnifierProjectCompletionSensor."
)

log = logging.getLogger(__name__)

_T = TypeVar("_T")

#: Seconds by which Learnifier's clock may differ from ours when a participation's ``lastAccess``
#: is compared with when the watch began: a participant first seen completed who last accessed
#: the course up to this long before the watch began is still handed over.
CLOCK_SKEW_TOLERANCE = 300.0
#: Seconds after an event was fired before its hand-over enters the stored record. The triggerer
#: stores fired events within a second or two; until then a restart must hand the completion over
#: again rather than lose it.
RECORD_DELAY = 10.0
#: Seconds between two polls when neither the trigger nor its connection's ``poll_interval`` extra
#: says otherwise.
DEFAULT_POLL_INTERVAL = 60.0
#: The fields of a participation that a snapshot keeps (the spec's names).
_SNAPSHOT_FIELDS = ("userId", "externalId", "activitiesCompleted", "activitiesTotal", "lastAccess")


def _refuse_on_airflow_2() -> None:
    if not AIRFLOW_V_3_0_PLUS:
        from airflow.providers.common.compat.sdk import AirflowOptionalProviderFeatureException

        raise AirflowOptionalProviderFeatureException(NOT_ON_AIRFLOW_2)


def _now() -> float:
    """The clock of :data:`RECORD_DELAY` (``time.monotonic``); a seam for tests."""
    return time.monotonic()


async def _sleep(seconds: float) -> None:
    """Wait between two polls (``asyncio.sleep``); a seam for tests."""
    await asyncio.sleep(seconds)


def _connection_poll_interval(conn: Any) -> float:
    """The connection's ``poll_interval`` extra, else :data:`DEFAULT_POLL_INTERVAL`.

    :raises ValueError: naming the connection and the extra, when it is not a positive number.
    """
    value = conn.extra_dejson.get("poll_interval")
    if value is None or value == "":
        return DEFAULT_POLL_INTERVAL
    try:
        return positive_seconds("extra 'poll_interval'", value)
    except ValueError as err:
        raise ValueError(f"Learnifier connection {conn.conn_id!r} is not usable: {err}") from None


class _Poller:
    """One look at the watched participants per call, from one thread at a time.

    Watches one project (named by ``org_id`` and ``project_id`` or by ``project_external_id``), or
    every project of the organization unit ``org_id`` (``project_id`` and ``project_external_id``
    not given). Remembers a named project's ids after the first call, so that each later call is
    one request; an organization unit costs one request for its projects and one per project.
    """

    def __init__(self, org_id: IdLike | None, project_id: IdLike | None, project_external_id: str | None):
        self.org_id = org_id
        self.project_id = project_id
        self.project_external_id = project_external_id
        self.whole_org_unit = project_id is None and project_external_id is None
        self._project: JsonObject | None = None

    def describe(self) -> str:
        if self.whole_org_unit:
            return f"organization unit {self.org_id}"
        if self.project_external_id is not None:
            return f"project {self.project_external_id!r}"
        return f"project {self.project_id} (organization unit {self.org_id})"

    def gone(self, hook: LearnifierHook) -> str | None:
        """Ask for the watched organization unit or project itself: why it is gone (its 404), or ``None``."""
        if self.whole_org_unit:
            try:
                hook.get_org_unit(str(self.org_id))
            except LearnifierNotFoundError as err:
                return str(err)
            return None
        if self._project is not None:
            return project_gone(
                hook, org_id=self._project["orgId"], project_id=self._project["id"], project_external_id=None
            )
        return project_gone(
            hook, org_id=self.org_id, project_id=self.project_id, project_external_id=self.project_external_id
        )

    def __call__(self, hook: LearnifierHook) -> JsonObject:
        """Return a JSON snapshot: when it was seen, and each watched project with its participants."""
        if self.whole_org_unit:
            org_id = str(self.org_id)
            projects = hook.list_projects(org_id)
            record_key = f"learnifier_completions/{org_id}"
        else:
            if self._project is None:
                self._project = hook.resolve_project(
                    org_id=self.org_id, project_id=self.project_id, external_id=self.project_external_id
                )
            org_id = str(self._project["orgId"])
            projects = [self._project]
            record_key = f"learnifier_completions/{org_id}/{self._project['id']}"
        seen = []
        for project in projects:
            project_id = id_text_or_none(project.get("id")) or ""
            if (problem := id_problem(project_id)) is not None:
                log.warning(
                    "Skipping a project of organization unit %s without a usable id: %s", org_id, problem
                )
                continue
            try:
                participants = hook.list_participants(org_id, project_id)
            except LearnifierNotFoundError:
                if not self.whole_org_unit:
                    raise
                continue  # deleted since the projects were listed
            external_id = project.get("externalId")
            seen.append(
                {
                    "project_id": project_id,
                    "project_external_id": external_id if isinstance(external_id, str) else None,
                    "participants": _usable(participants, project_id),
                }
            )
        return {
            "record_key": record_key,
            "org_id": org_id,
            "seen_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "projects": seen,
        }


def _usable(participants: list[JsonObject], project_id: str) -> dict[str, JsonObject]:
    """Participations by id, leaving out (with a warning) those without a usable id or counts."""
    usable: dict[str, JsonObject] = {}
    for participant in participants:
        participant_id = id_text_or_none(participant.get("id")) or ""
        problem = id_problem(participant_id)
        if problem is not None:
            log.warning("Skipping a participant of project %s without a usable id: %s", project_id, problem)
            continue
        try:
            activity_count(participant, "activitiesCompleted")
            activity_count(participant, "activitiesTotal")
        except LearnifierResponseError as err:
            log.warning("Skipping participant %s for now: %s", participant_id, err)
            continue
        usable[participant_id] = {name: participant.get(name) for name in _SNAPSHOT_FIELDS}
    return usable


class _HandOverRecord:
    """Which participants of which projects a trigger has handed over, kept in the asset's state store.

    ``store`` is the trigger's ``asset_state_store`` (Airflow 3.3+) or ``None``; without a usable
    store the record lives in memory only. A hand-over enters the stored record only
    :data:`RECORD_DELAY` seconds after the event was fired, once the triggerer has stored the event.
    The record is ``{"projects": {project id: [participant id, ...]}, "since": timestamp}`` under
    the snapshot's ``record_key``; a project is in it from the first poll that saw it, and
    ``since`` is when the watch began (the first poll's ``seen_at``, on our clock).
    """

    def __init__(self, store: _AssetStateStore | None) -> None:
        self._store = store
        self.projects: dict[str, set[str]] | None = None
        #: When the watch began (ISO 8601, UTC); ``None`` for a record kept by an earlier version.
        self.since: str | None = None
        #: Hand-overs not in the stored record yet, with when their events were fired.
        self._fired: dict[tuple[str, str], float] = {}
        self._stored: dict[str, set[str]] | None = None

    async def load(self, key: str) -> None:
        stored = await self._use_store(lambda store: store.aget(key))
        if not isinstance(stored, dict):
            return
        projects = stored.get("projects")
        if isinstance(projects, dict) and all(isinstance(ids, list) for ids in projects.values()):
            self.projects = {str(project): {str(item) for item in ids} for project, ids in projects.items()}
            self._stored = {project: set(ids) for project, ids in self.projects.items()}
            since = stored.get("since")
            self.since = since if timestamp(since) is not None else None

    def completed_during_watch(self, participant: JsonObject) -> bool:
        """Whether a participant first seen completed can have completed since the watch began.

        Yes when their ``lastAccess`` is at or after :attr:`since` less
        :data:`CLOCK_SKEW_TOLERANCE`; no when it is earlier, ``null``, absent or unreadable. A
        record of an earlier version, which did not keep when its watch began, says yes.
        """
        began = timestamp(self.since)
        if began is None:
            return True
        last_access = timestamp(participant.get("lastAccess"))
        return last_access is not None and last_access >= began - timedelta(seconds=CLOCK_SKEW_TOLERANCE)

    def add(self, project_id: str, participant_id: str) -> None:
        """Note that the event of ``participant_id``'s completion was fired."""
        assert self.projects is not None
        self.projects[project_id].add(participant_id)
        self._fired[project_id, participant_id] = _now()

    async def save(self, key: str) -> None:
        """Store the record, without the hand-overs fired less than :data:`RECORD_DELAY` ago."""
        if self.projects is None:
            return
        now = _now()
        recent = {fired for fired, when in self._fired.items() if now - when < RECORD_DELAY}
        record = {
            project: {participant for participant in ids if (project, participant) not in recent}
            for project, ids in self.projects.items()
        }
        stored: JsonObject = {"projects": {project: sorted(ids) for project, ids in record.items()}}
        if self.since is not None:
            stored["since"] = self.since
        if record != self._stored and await self._use_store(lambda store: _written(store.aset(key, stored))):
            self._stored = record
            self._fired = {fired: self._fired[fired] for fired in recent}

    async def _use_store(self, use: Callable[[_AssetStateStore], Awaitable[_T]]) -> _T | None:
        """Await ``use(store)``: its answer, or ``None`` without a working store."""
        if self._store is None:
            return None
        try:
            return await use(self._store)
        except ValueError as err:
            # Several assets share this very trigger: there is no single store to keep one record in.
            log.warning("Keeping the hand-over record in memory only: %s", err)
            self._store = None
        except Exception as err:
            log.warning(
                "The asset state store failed (%s: %s); trying again next poll", type(err).__name__, err
            )
        return None


class _AssetStateStore(Protocol):
    """What the hand-over record uses of the asset state store the triggerer gives (Airflow 3.3+)."""

    async def aget(self, key: str) -> Any: ...

    async def aset(self, key: str, value: Any) -> Any: ...


async def _written(write: Awaitable[Any]) -> bool:
    """Await a store's write: whether it was made (a store that answers ``None`` says yes)."""
    answer = await write
    return True if answer is None else bool(answer)


class LearnifierCompletionEventTrigger(BaseEventTrigger):
    """Fire one event per participant who newly completes a course: of one project, or of an org unit.

    For ``Asset(watchers=[AssetWatcher(name=..., trigger=LearnifierCompletionEventTrigger(...))])``
    (Airflow 3.0 or newer). Each event's payload, also in the asset event's ``extra["payload"]``::

        {"dedupe_key": "learnifier-completion/<org_id>/<project_id>/<participant_id>",
         "org_id": ..., "project_id": ..., "project_external_id": ...,
         "participant_id": ..., "user_id": ..., "participation_external_id": ...,
         "progress": {"activities_completed": 5, "activities_total": 5, "share": 1.0},
         "seen_at": "2026-11-30T17:00:00+00:00"}

    ``seen_at`` is when the trigger saw the completion (Learnifier does not say when it happened).
    :doc:`/guides/event-driven` says which completions are handed over, across restarts too.

    :param org_id: the project's organization unit, with ``project_id``; alone, watch every project
        of the organization unit (one request for its projects and one per project each poll).
    :param project_id: the project's id, with ``org_id``.
    :param project_external_id: the project's external id, instead of ``org_id`` and ``project_id``.
    :param min_share: the share of a participant's activities that counts as completed.
    :param learnifier_conn_id: the Airflow connection to Learnifier.
    :param poll_interval: seconds between two polls; ``None`` (the default): the connection's
        ``poll_interval`` extra, read when the trigger runs, else :data:`DEFAULT_POLL_INTERVAL`.
    :param max_consecutive_failures: how many polls in a row may fail (after the hook's retries) on
        a transient error or a 404 before the watch ends; the default outlives an outage of ten
        minutes at the default interval. After a 404 the next poll asks for the project (or
        organization unit) itself: its own 404 ends the watch at once, naming it.
    :raises AirflowOptionalProviderFeatureException: on Airflow 2 (:data:`NOT_ON_AIRFLOW_2`).
    """

    def __init__(
        self,
        *,
        org_id: IdLike | None = None,
        project_id: IdLike | None = None,
        project_external_id: str | None = None,
        min_share: float = 1.0,
        learnifier_conn_id: str = DEFAULT_CONN_ID,
        poll_interval: float | None = None,
        max_consecutive_failures: int = DEFAULT_MAX_CONSECUTIVE_FAILURES,
    ) -> None:
        _refuse_on_airflow_2()
        super().__init__()
        if org_id is None or project_id is not None or project_external_id is not None:
            try:
                check_project_naming(
                    org_id=org_id, project_id=project_id, project_external_id=project_external_id
                )
            except ValueError:
                raise ValueError(
                    "name one project by org_id and project_id or by project_external_id alone, "
                    "or every project of an organization unit by org_id alone"
                ) from None
        if poll_interval is not None:
            poll_interval = positive_seconds("poll_interval", poll_interval, text=False)
        self.org_id = org_id
        self.project_id = project_id
        self.project_external_id = project_external_id
        self.min_share = share_threshold("min_share", min_share)
        self.learnifier_conn_id = learnifier_conn_id
        self.poll_interval = poll_interval
        self.max_consecutive_failures = failure_budget(max_consecutive_failures)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Return the class path and the JSON-serializable keyword arguments that recreate this trigger."""
        cls = type(self)
        return (
            f"{cls.__module__}.{cls.__qualname__}",
            {
                "org_id": self.org_id,
                "project_id": self.project_id,
                "project_external_id": self.project_external_id,
                "min_share": self.min_share,
                "learnifier_conn_id": self.learnifier_conn_id,
                "poll_interval": self.poll_interval,
                "max_consecutive_failures": self.max_consecutive_failures,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll the project every poll interval; fire one event per new completion."""
        async for event in self.filter_shared_stream(self.open_shared_stream(self.serialize()[1])):
            yield event

    def shared_stream_key(self) -> Hashable:
        """Triggers polling the same project alike share one poll (Airflow 3.3+); thresholds may differ."""
        return (
            "learnifier_project_participants",
            self.learnifier_conn_id,
            None if self.org_id is None else str(self.org_id),
            None if self.project_id is None else str(self.project_id),
            self.project_external_id,
            self.poll_interval,
            self.max_consecutive_failures,
        )

    @classmethod
    async def open_shared_stream(cls, kwargs: dict[str, Any]) -> AsyncIterator[JsonObject]:
        """Yield a snapshot of the watched participants every poll interval, forever.

        Uses only the fields of :meth:`shared_stream_key`. The interval is ``poll_interval``, else
        the connection's ``poll_interval`` extra, else :data:`DEFAULT_POLL_INTERVAL`. A poll that
        fails on a transient error or a 404 (after the hook's retries) is logged and tried again at
        the next interval, up to ``max_consecutive_failures`` polls in a row; after a 404 the next
        poll first asks for the watched project or organization unit itself. Any other error
        (authentication, a ``poll_interval`` extra that is not a positive number), one failure more
        than the budget, or the watched resource's own 404 ends the stream, failing its triggers.
        """
        # Looked up here, not at import: the connection helper is only for the triggerer.
        from airflow_provider_learnifier.version_compat import get_async_connection

        poller = _Poller(kwargs["org_id"], kwargs["project_id"], kwargs["project_external_id"])
        failures = PollFailures(kwargs.get("max_consecutive_failures", DEFAULT_MAX_CONSECUTIVE_FAILURES))
        conn = await get_async_connection(kwargs["learnifier_conn_id"])
        interval = kwargs["poll_interval"]
        if interval is None:
            interval = await _run_off_loop(_connection_poll_interval, conn)
        hook = _PrefetchedConnectionHook(conn)
        try:
            while True:
                snapshot = await poll_within_budget(
                    poller, poller.gone, hook, failures, what=poller.describe(), interval=interval, log=log
                )
                if snapshot is not None:
                    yield snapshot
                await _sleep(interval)
        finally:
            hook.close()

    async def filter_shared_stream(
        self, shared_stream: AsyncIterator[JsonObject]
    ) -> AsyncIterator[TriggerEvent]:
        """Turn the snapshots into one event per participant not handed over yet.

        A participant seen not completed and later completed is handed over. One first seen
        already completed is handed over only if they can have completed during the watch: their
        ``lastAccess`` is no earlier than when the watch began, less :data:`CLOCK_SKEW_TOLERANCE`;
        otherwise (earlier, ``null`` or absent) they join the baseline without an event.
        """
        record = _HandOverRecord(getattr(self, "asset_state_store", None))
        # Participants seen in an earlier snapshot of this run, completed or not.
        seen: set[tuple[str, str]] = set()
        async for snapshot in shared_stream:
            key = snapshot["record_key"]
            if record.projects is None:
                await record.load(key)
            if record.projects is None:
                # The baseline: nothing is handed over from the first poll of a new record.
                record.projects = {project["project_id"]: set() for project in snapshot["projects"]}
                record.since = snapshot["seen_at"]
                baseline = self._completed(snapshot)
                for project_id, participant_id, _ in baseline:
                    record.projects[project_id].add(participant_id)
                self.log.info(
                    "Learnifier %s: the %d completion(s) before the first poll are the baseline, "
                    "not handed over",
                    key.removeprefix("learnifier_completions/"),
                    len(baseline),
                )
            await record.save(key)
            for project in snapshot["projects"]:
                # A project that appeared since the baseline: its participants are all first seen now.
                record.projects.setdefault(project["project_id"], set())
            for project_id, participant_id, project in self._completed(snapshot):
                if participant_id in record.projects[project_id]:
                    continue
                participant = project["participants"][participant_id]
                if (project_id, participant_id) in seen or record.completed_during_watch(participant):
                    yield TriggerEvent(self._payload(snapshot, project, participant_id))
                    record.add(project_id, participant_id)
                else:
                    record.projects[project_id].add(participant_id)
                    self.log.info(
                        "Learnifier participant %s of project %s, first seen completed, last accessed "
                        "the course at %s, before the watch began at %s: baseline, not handed over",
                        participant_id,
                        project_id,
                        participant.get("lastAccess") or "no time (never)",
                        record.since,
                    )
            seen.update(
                (project["project_id"], participant_id)
                for project in snapshot["projects"]
                for participant_id in project["participants"]
            )

    def _completed(self, snapshot: JsonObject) -> list[tuple[str, str, JsonObject]]:
        """``(project id, participant id, project)`` of each completed participant of the snapshot."""
        return [
            (project["project_id"], participant_id, project)
            for project in snapshot["projects"]
            for participant_id, participant in project["participants"].items()
            if is_completed(participant, self.min_share)
        ]

    @staticmethod
    def _payload(snapshot: JsonObject, project: JsonObject, participant_id: str) -> JsonObject:
        participant = project["participants"][participant_id]
        return {
            "dedupe_key": "/".join(
                ("learnifier-completion", snapshot["org_id"], project["project_id"], participant_id)
            ),
            "org_id": snapshot["org_id"],
            "project_id": project["project_id"],
            "project_external_id": project["project_external_id"],
            "participant_id": participant_id,
            "user_id": id_text_or_none(participant.get("userId")),
            "participation_external_id": id_text_or_none(participant.get("externalId")),
            "progress": {
                "activities_completed": activity_count(participant, "activitiesCompleted"),
                "activities_total": activity_count(participant, "activitiesTotal"),
                "share": completion_share(participant),
            },
            "seen_at": snapshot["seen_at"],
        }
