"""Participant states: who has not started, stalled, is expiring, in error, overdue or completed.

One module decides a participation's states, for the nudge operator
(:class:`~airflow_provider_learnifier.operators.nudges.LearnifierNudgeOperator`) and the progress
report alike. :func:`read_participation` checks a participation as the API sends it,
:func:`classify` gives the states it is in at a reference time (the run's logical date, never the
clock), each with its milestone, and :class:`StateSelector` says which states to look for in which
courses. What each state means, selectors and milestones: :doc:`/guides/nudges`.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from airflow_provider_learnifier.exceptions import LearnifierParticipantDataError

StateName = Literal["not_started", "stalled", "expiring", "in_error", "overdue", "completed"]

#: Every state, in the order reports list them.
STATE_NAMES: tuple[StateName, ...] = (
    "not_started",
    "stalled",
    "expiring",
    "in_error",
    "overdue",
    "completed",
)

#: The ``days`` of a state that takes it, when a rule leaves it out.
DEFAULT_DAYS: dict[str, float] = {"not_started": 7, "stalled": 14, "expiring": 14}

#: The states whose milestone may repeat with ``every_days``.
REPEATABLE_STATES = frozenset({"not_started", "stalled", "expiring", "overdue"})

#: The longest period (days) a rule may name: beyond it, the sums overflow the calendar.
MAX_DAYS = 36_500

#: The members of a scope in a selector spec.
SCOPE_KEYS = frozenset({"org_id", "project_ids", "project_external_ids", "due", "states"})

#: The longest ``accessLink`` taken (longer ones are bad data).
MAX_LINK_LENGTH = 2048

#: What an ``accessLink`` must not hold: white space and control characters.
_UNSAFE_IN_LINK = re.compile(r"[\s\x00-\x1f\x7f]")

#: The longest error message a milestone is computed from (longer ones are cut: still distinct).
_MAX_ERROR_TEXT = 10_000


# ---------------------------------------------------------------------- rules


def _days(name: str, value: Any, *, minimum: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"{name} must be a number of days, not {value!r}")
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"{name} must be a number of days, not {value!r}") from None
    if not math.isfinite(number) or number < minimum or number > MAX_DAYS:
        bound = "above 0" if minimum > 0 else "0 or more"
        raise ValueError(f"{name} must be a number of days {bound} and at most {MAX_DAYS}, not {value!r}")
    return number


@dataclass(frozen=True)
class StateRule:
    """One named state to look for, with its parameters.

    :param state: one of :data:`STATE_NAMES`.
    :param days: the threshold of ``not_started``, ``stalled`` and ``expiring`` (see
        :doc:`/guides/nudges`); :data:`DEFAULT_DAYS` when left out. Other states take none.
    :param every_days: repeat the milestone every this many days while the state lasts (states of
        :data:`REPEATABLE_STATES`); ``None``: one milestone per occurrence.
    :raises ValueError: for an unknown state or a parameter it does not take or cannot use.
    """

    state: StateName
    days: float | None = None
    every_days: float | None = None

    def __post_init__(self) -> None:
        if self.state not in STATE_NAMES:
            raise ValueError(
                f"unknown participant state {self.state!r}; the states are {', '.join(STATE_NAMES)}"
            )
        if self.state in DEFAULT_DAYS:
            days = DEFAULT_DAYS[self.state] if self.days is None else self.days
            object.__setattr__(self, "days", _days(f"{self.state} days", days, minimum=0))
        elif self.days is not None:
            raise ValueError(f"the state {self.state!r} takes no days")
        if self.every_days is not None:
            if self.state not in REPEATABLE_STATES:
                raise ValueError(f"the state {self.state!r} takes no every_days")
            every = _days(f"{self.state} every_days", self.every_days, minimum=0)
            if every <= 0:
                raise ValueError(f"{self.state} every_days must be above 0, not {self.every_days!r}")
            object.__setattr__(self, "every_days", every)

    @classmethod
    def from_spec(cls, state: Any, parameters: Any = None) -> StateRule:
        """Read a rule from a spec: a state name and a mapping of its parameters (or ``None``)."""
        if not isinstance(state, str):
            raise ValueError(f"a state name must be a string, not {state!r}")
        if parameters is None:
            parameters = {}
        if not isinstance(parameters, Mapping):
            raise ValueError(f"the parameters of {state!r} must be a mapping, not {parameters!r}")
        unknown = set(parameters) - {"days", "every_days"}
        if unknown:
            raise ValueError(f"unknown parameter(s) of {state!r}: {', '.join(sorted(map(str, unknown)))}")
        return cls(state, parameters.get("days"), parameters.get("every_days"))  # type: ignore[arg-type]

    def to_spec(self) -> dict[str, Any]:
        """The rule's parameters as a spec mapping (JSON-serializable)."""
        spec: dict[str, Any] = {}
        if self.days is not None:
            spec["days"] = self.days
        if self.every_days is not None:
            spec["every_days"] = self.every_days
        return spec


# ---------------------------------------------------------------------- participations


@dataclass(frozen=True)
class Participation:
    """One participation's facts, checked: ids as text, times as UTC datetimes, ``None`` for never.

    :param id: the participation's id.
    :param user_id: its user's id (``None`` when Learnifier left it out).
    :param project_id: its project's id as sent (``None`` when left out).
    :param activated: whether it is activated; when Learnifier leaves ``activated`` out, whether
        an activation time or an ``accessLink`` was sent
        (:func:`~airflow_provider_learnifier.progress.activation_state`).
    :param in_error: whether Learnifier marks it in error.
    :param error_message: Learnifier's reason (may name the person: keep it out of logs).
    :param activities_completed: activities completed.
    :param activities_total: activities in the course.
    :param access_link: the stable course link (``accessLink``), only an ``https://`` (or loopback
        ``http://``) URL, else ``None``. Never a login link.
    """

    id: str
    user_id: str | None
    project_id: str | None
    activated: bool
    in_error: bool
    error_message: str | None
    activities_completed: int | float
    activities_total: int | float
    first_activation: datetime | None = None
    last_activation: datetime | None = None
    first_access: datetime | None = None
    last_access: datetime | None = None
    expiration: datetime | None = None
    access_link: str | None = None

    @property
    def completed(self) -> bool:
        """Every activity completed (and the course has some)."""
        return self.activities_total > 0 and self.activities_completed >= self.activities_total

    @property
    def activation(self) -> datetime | None:
        """When the participation was activated: ``firstActivation``, else ``lastActivation``."""
        return self.first_activation or self.last_activation

    @property
    def latest_access(self) -> datetime | None:
        """When the user last accessed the course: ``lastAccess``, else ``firstAccess``."""
        return self.last_access or self.first_access

    def expired(self, as_of: datetime) -> bool:
        """Whether access ended at or before ``as_of``."""
        return self.expiration is not None and self.expiration <= as_of

    def usable(self, as_of: datetime) -> bool:
        """Whether the user can work on the course at ``as_of``: activated, not in error, not expired."""
        return self.activated and not self.in_error and not self.expired(as_of)


_TIMESTAMPS = (
    ("first_activation", "firstActivation"),
    ("last_activation", "lastActivation"),
    ("first_access", "firstAccess"),
    ("last_access", "lastAccess"),
    ("expiration", "expiration"),
)


def _data_error(raw: Mapping[str, Any], field: str, value: Any, why: str) -> LearnifierParticipantDataError:
    from airflow_provider_learnifier.exceptions import LearnifierParticipantDataError
    from airflow_provider_learnifier.operators._base import shown

    return LearnifierParticipantDataError(
        f"Learnifier sent participant {shown(raw.get('id'))} (project {shown(raw.get('projectId'))}) "
        f"with {field} {shown(value)}, which {why}",
        participant_id=raw.get("id"),
        project_id=raw.get("projectId"),
        field=field,
    )


def _id_field(raw: Mapping[str, Any], field: str, *, required: bool) -> str | None:
    """The id in ``raw[field]`` as text (:func:`~airflow_provider_learnifier.ids.id_text_or_none`);
    ``None`` when it is absent, ``null`` or empty and not ``required``.

    :raises LearnifierParticipantDataError: for a value that is no id, or not usable as one.
    """
    from airflow_provider_learnifier.ids import id_problem, id_text_or_none

    value = raw.get(field)
    text = id_text_or_none(value)
    if text is None:
        if required or (value is not None and value != ""):
            raise _data_error(raw, field, value, "is no id")
        return None
    problem = id_problem(text)
    if problem:
        raise _data_error(raw, field, value, f"is no id: {problem}")
    return text


def _flag(raw: Mapping[str, Any], field: str) -> bool | None:
    value = raw.get(field)
    if value is None or isinstance(value, bool):
        return value
    raise _data_error(raw, field, value, "is not a boolean")


def _time(raw: Mapping[str, Any], field: str) -> datetime | None:
    from airflow_provider_learnifier.progress import utc_iso

    value = raw.get(field)
    try:
        text = utc_iso(value, field=field)
    except ValueError:
        raise _data_error(raw, field, value, "is not a timestamp") from None
    return None if text is None else datetime.fromisoformat(text.replace("Z", "+00:00"))


def _access_link(raw: Mapping[str, Any]) -> str | None:
    from urllib.parse import urlsplit

    from airflow_provider_learnifier.hooks.learnifier import is_loopback_host

    value = raw.get("accessLink")
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > MAX_LINK_LENGTH or _UNSAFE_IN_LINK.search(value):
        raise _data_error(raw, "accessLink", value, "is not a URL")
    try:
        parts = urlsplit(value)
        hostname = parts.hostname
    except ValueError:
        raise _data_error(raw, "accessLink", value, "is not a URL") from None
    scheme = parts.scheme.lower()
    if not hostname or not (scheme == "https" or (scheme == "http" and is_loopback_host(hostname))):
        raise _data_error(raw, "accessLink", value, "is not an https:// URL")
    if "loginlink" in parts.path.lower():
        raise _data_error(raw, "accessLink", value, "is a login link, which is never mailed")
    return value


def read_participation(raw: Any) -> Participation:
    """Check one participation as Learnifier sent it.

    Ids may be numbers or strings; counts numbers or numeric strings (absent, ``null`` or empty:
    0); timestamps ISO 8601 (naive ones are UTC), dates or epoch numbers; absent or ``null``
    values mean never. Unknown members are ignored.

    :raises LearnifierParticipantDataError: naming the participant, the field and the value, for
        anything else: no object, no id, an id unusable in a URL, a count or a timestamp that is
        none, a flag that is no boolean, an ``accessLink`` that is not an ``https://`` URL.
    """
    from airflow_provider_learnifier.progress import activation_state, activity_count

    if not isinstance(raw, Mapping):
        from airflow_provider_learnifier.exceptions import LearnifierParticipantDataError

        raise LearnifierParticipantDataError(
            f"Learnifier sent a participant that is not an object: {type(raw).__name__}"
        )
    participant_id = _id_field(raw, "id", required=True)
    assert participant_id is not None
    times = {name: _time(raw, field) for name, field in _TIMESTAMPS}
    _flag(raw, "activated")  # a value that is no boolean is an error here, not "unknown"
    activated = activation_state(raw) is True
    error_message = raw.get("errorMessage")
    return Participation(
        id=participant_id,
        user_id=_id_field(raw, "userId", required=False),
        project_id=_id_field(raw, "projectId", required=False),
        activated=activated,
        in_error=bool(_flag(raw, "inError")),
        error_message=error_message if isinstance(error_message, str) else None,
        activities_completed=activity_count(raw, "activitiesCompleted"),
        activities_total=activity_count(raw, "activitiesTotal"),
        access_link=_access_link(raw),
        **times,
    )


# ---------------------------------------------------------------------- classification


@dataclass(frozen=True)
class StateMatch:
    """A state a participation is in, as of a reference time.

    :param state: the state's name.
    :param milestone: what one reminder is sent for: text that stays the same while the state
        lasts (e.g. ``activated:2026-01-05T09:00:00.000Z``) and changes when it starts again.
    :param since: when the state began, if it has a time (e.g. activation + ``days``).
    :param due: the course's due date, else the participation's expiration, else ``None``.
    """

    state: StateName
    milestone: str
    since: datetime | None = None
    due: datetime | None = None


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _shifted(moment: datetime, days: float) -> datetime | None:
    try:
        return moment + timedelta(days=days)
    except OverflowError:
        return None


def _check_as_of(as_of: datetime) -> datetime:
    if not isinstance(as_of, datetime) or as_of.tzinfo is None or as_of.utcoffset() is None:
        raise ValueError(f"as_of must be a timezone-aware datetime, not {as_of!r}")
    return as_of.astimezone(timezone.utc)


def _match(
    rule: StateRule, participation: Participation, as_of: datetime, due: datetime | None
) -> StateMatch | None:
    """The match of one rule, or ``None`` when the participation is not in that state."""
    p = participation
    done = p.completed
    reminder_due = due or p.expiration
    base: str
    since: datetime | None
    if rule.state == "completed":
        return StateMatch("completed", "completed", None, reminder_due) if done else None
    if rule.state == "in_error":
        if not p.in_error:
            return None
        digest = hashlib.sha256((p.error_message or "")[:_MAX_ERROR_TEXT].encode("utf-8", "replace"))
        return StateMatch("in_error", f"in_error:{digest.hexdigest()[:16]}", None, reminder_due)
    if done:
        return None
    days = rule.days or 0.0
    if rule.state == "overdue":
        if not p.activated or due is None or as_of < due:
            return None
        base, since = f"due:{_iso(due)}", due
    else:
        if not p.usable(as_of):
            return None
        if rule.state == "not_started":
            if p.first_access is not None or p.last_access is not None or p.activation is None:
                return None
            since = _shifted(p.activation, days)
            base = f"activated:{_iso(p.activation)}"
        elif rule.state == "stalled":
            latest = p.latest_access
            if latest is None:
                return None
            since = _shifted(latest, days)
            base = f"last_access:{_iso(latest)}"
        else:  # expiring
            if p.expiration is None:
                return None
            since = _shifted(p.expiration, -days)
            base = f"expiration:{_iso(p.expiration)}"
        if since is None or as_of < since:
            return None
    if rule.every_days is not None:
        period = int((as_of - since).total_seconds() // (rule.every_days * 86_400))
        base = f"{base}#{period}"
    return StateMatch(rule.state, base, since, reminder_due)


def classify(
    participation: Participation | Mapping[str, Any],
    as_of: datetime,
    rules: Iterable[StateRule] | None = None,
    *,
    due: datetime | None = None,
) -> tuple[StateMatch, ...]:
    """Return the states ``participation`` is in at ``as_of``, in the order of :data:`STATE_NAMES`.

    A pure function: the same arguments always give the same answer.

    :param participation: a :class:`Participation`, or a dict as Learnifier sent it (checked with
        :func:`read_participation`).
    :param as_of: the reference time, timezone-aware (the run's logical date).
    :param rules: the states to look for; ``None``: every state with its default parameters
        (``overdue`` only with ``due``).
    :param due: the course's due date, for ``overdue`` and the matches' ``due``.
    :raises LearnifierParticipantDataError: for a dict with unusable values.
    :raises ValueError: for a naive ``as_of`` or ``due``.
    """
    checked = participation if isinstance(participation, Participation) else read_participation(participation)
    as_of = _check_as_of(as_of)
    if due is not None:
        due = _check_as_of(due)
    chosen = [StateRule(name) for name in STATE_NAMES] if rules is None else list(rules)
    matches = [match for rule in chosen if (match := _match(rule, checked, as_of, due)) is not None]
    return tuple(sorted(matches, key=lambda m: STATE_NAMES.index(m.state)))


# ---------------------------------------------------------------------- selectors


def _parse_due(value: Any) -> datetime | None:
    from airflow_provider_learnifier.ids import blank
    from airflow_provider_learnifier.progress import utc_iso

    if isinstance(value, str) and blank(value):
        return None
    try:
        text = utc_iso(value, field="due")
    except ValueError as err:
        raise ValueError(f"due must be a UTC ISO 8601 date or time: {err}") from None
    return None if text is None else datetime.fromisoformat(text.replace("Z", "+00:00"))


def _id_tuple(value: Any, name: str) -> tuple[str, ...]:
    from airflow_provider_learnifier.exceptions import LearnifierInputError
    from airflow_provider_learnifier.ids import id_list

    try:
        return tuple(id_list(value, name, optional=True, mappings=False, commas=False))
    except LearnifierInputError as error:
        raise ValueError(str(error)) from None


@dataclass(frozen=True)
class CourseScope:
    """The states to look for in some courses: every course of an organization unit, or named ones.

    :param org_id: the organization unit: with no project named, all its courses; else the
        organization unit of ``project_ids``.
    :param project_ids: courses (projects) by id; they need ``org_id``.
    :param project_external_ids: courses by external id.
    :param rules: the states, each at most once.
    :param due: the courses' due date (for ``overdue``, and the ``due`` of reminders).
    """

    org_id: str | None = None
    project_ids: tuple[str, ...] = ()
    project_external_ids: tuple[str, ...] = ()
    rules: tuple[StateRule, ...] = ()
    due: datetime | None = None

    def __post_init__(self) -> None:
        if self.project_ids and self.org_id is None:
            raise ValueError("project_ids need the org_id of their organization unit")
        if self.org_id is None and not self.project_external_ids:
            raise ValueError(
                "a scope names its courses: give org_id, project_ids and org_id, or project_external_ids"
            )
        if not self.rules:
            raise ValueError("a scope names at least one state")
        names = [rule.state for rule in self.rules]
        if len(set(names)) != len(names):
            raise ValueError(f"a scope names each state once, not {names!r}")
        if self.due is not None:
            object.__setattr__(self, "due", _check_as_of(self.due))

    @property
    def whole_org_unit(self) -> bool:
        """Whether the scope covers every course of its organization unit."""
        return not self.project_ids and not self.project_external_ids

    @classmethod
    def from_spec(cls, spec: Any) -> CourseScope:
        """Read one scope of a selector spec (see :meth:`StateSelector.from_spec`)."""
        from airflow_provider_learnifier.ids import check_id

        if not isinstance(spec, Mapping):
            raise ValueError(f"a scope must be a mapping, not {spec!r}")
        unknown = set(spec) - SCOPE_KEYS
        if unknown:
            raise ValueError(f"unknown scope member(s): {', '.join(sorted(map(str, unknown)))}")
        states = spec.get("states")
        if isinstance(states, str):
            states = [states]
        if isinstance(states, Mapping):
            rules = tuple(StateRule.from_spec(name, params) for name, params in states.items())
        elif isinstance(states, Sequence):
            rules = tuple(StateRule.from_spec(name) for name in states)
        else:
            raise ValueError(
                f"states must be a mapping of state names to parameters, or a list, not {states!r}"
            )
        org_id = spec.get("org_id")
        return cls(
            org_id=None if org_id is None or org_id == "" else check_id("org_id", org_id),
            project_ids=_id_tuple(spec.get("project_ids"), "project_ids"),
            project_external_ids=_id_tuple(spec.get("project_external_ids"), "project_external_ids"),
            rules=rules,
            due=_parse_due(spec.get("due")),
        )

    def to_spec(self) -> dict[str, Any]:
        """The scope as a JSON-serializable spec."""
        spec: dict[str, Any] = {"states": {rule.state: rule.to_spec() for rule in self.rules}}
        if self.org_id is not None:
            spec["org_id"] = self.org_id
        if self.project_ids:
            spec["project_ids"] = list(self.project_ids)
        if self.project_external_ids:
            spec["project_external_ids"] = list(self.project_external_ids)
        if self.due is not None:
            spec["due"] = _iso(self.due)
        return spec

    def covers(self, org_id: str, project_id: str, external_id: str | None) -> bool:
        """Whether the scope covers the course ``project_id`` of ``org_id``."""
        if self.whole_org_unit:
            return self.org_id == org_id
        if self.org_id == org_id and project_id in self.project_ids:
            return True
        return (
            external_id is not None
            and external_id in self.project_external_ids
            and (self.org_id is None or self.org_id == org_id)
        )


@dataclass(frozen=True)
class CourseRules:
    """The combined rules of one course: what :meth:`StateSelector.rules_for` gives."""

    rules: tuple[StateRule, ...]
    due: datetime | None = None

    @property
    def states(self) -> tuple[str, ...]:
        """The states looked for, in the order of :data:`STATE_NAMES`."""
        return tuple(rule.state for rule in self.rules)


@dataclass(frozen=True)
class StateSelector:
    """Which states to look for in which courses: the one definition operators and reports share.

    :param scopes: the scopes (see :class:`CourseScope`); at least one.
    """

    scopes: tuple[CourseScope, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if not self.scopes:
            raise ValueError("a selector needs at least one scope")

    @classmethod
    def from_spec(cls, spec: Any) -> StateSelector:
        """Read a selector: a list of scope mappings, one mapping, their text (JSON or Python), or a selector.

        A course gets the states of every scope that covers it; where its organization unit's scope
        and a scope naming the course both name a state, the course's parameters (and ``due``) win::

            [
                {"org_id": "1001", "states": {"not_started": {"days": 7}, "expiring": {"days": 14}}},
                {"org_id": "1001", "project_ids": ["2002"], "due": "2026-03-01T00:00:00Z",
                 "states": {"overdue": {}, "stalled": {"days": 10, "every_days": 7}}},
                {"project_external_ids": ["onboarding-2026"], "states": ["in_error"]},
            ]

        :raises ValueError: naming what is wrong.
        """
        if isinstance(spec, StateSelector):
            return spec
        if isinstance(spec, str):
            from airflow_provider_learnifier.ids import parse_list_text

            try:
                spec = parse_list_text(spec)  # JSON, or the Python form a template renders as text
            except ValueError:
                raise ValueError(f"a selector given as text must be JSON, not {spec[:80]!r}") from None
        if isinstance(spec, Mapping):
            spec = [spec]
        if not isinstance(spec, Sequence) or isinstance(spec, (str, bytes)):
            raise ValueError(f"a selector is a list of scopes, not {type(spec).__name__}")
        return cls(tuple(CourseScope.from_spec(scope) for scope in spec))

    def to_spec(self) -> list[dict[str, Any]]:
        """The selector as a JSON-serializable spec (:meth:`from_spec` reads it back)."""
        return [scope.to_spec() for scope in self.scopes]

    @property
    def states(self) -> tuple[str, ...]:
        """Every state some scope looks for, in the order of :data:`STATE_NAMES`."""
        named = {rule.state for scope in self.scopes for rule in scope.rules}
        return tuple(name for name in STATE_NAMES if name in named)

    def rules_for(self, org_id: Any, project_id: Any, external_id: str | None = None) -> CourseRules:
        """The rules and due date of one course: its organization unit's scopes, overridden by its own.

        :raises ValueError: when two scopes naming the course give one state different parameters,
            or the course different due dates.
        """
        org, project = str(org_id), str(project_id)
        combined: dict[str, StateRule] = {}
        due: datetime | None = None
        for whole in (True, False):  # the org unit's scopes first, the course's own override them
            level: dict[str, StateRule] = {}
            level_due: datetime | None = None
            for scope in self.scopes:
                if scope.whole_org_unit != whole or not scope.covers(org, project, external_id):
                    continue
                for rule in scope.rules:
                    if level.get(rule.state, rule) != rule:
                        raise ValueError(
                            f"two scopes give course {project} different {rule.state} parameters: "
                            f"{level[rule.state].to_spec()} and {rule.to_spec()}"
                        )
                    level[rule.state] = rule
                if scope.due is not None:
                    if level_due is not None and level_due != scope.due:
                        raise ValueError(f"two scopes give course {project} different due dates")
                    level_due = scope.due
            combined.update(level)
            due = level_due or due
        ordered = tuple(combined[name] for name in STATE_NAMES if name in combined)
        return CourseRules(ordered, due)

    def classify(
        self,
        org_id: Any,
        project_id: Any,
        participation: Participation | Mapping[str, Any],
        as_of: datetime,
        *,
        external_id: str | None = None,
    ) -> tuple[StateMatch, ...]:
        """The states of a participation of one course, by that course's rules (:meth:`rules_for`)."""
        course = self.rules_for(org_id, project_id, external_id)
        return classify(participation, as_of, course.rules, due=course.due)


def reference_time(context: Mapping[str, Any]) -> datetime:
    """The time a run's selection is relative to: its logical date, in UTC.

    A run without a logical date (Airflow 3 runs triggered without one) uses the end of its data
    interval, else the time it was due to run (``dag_run.run_after``).

    :raises ValueError: when the context has none of them.
    """
    candidates = [context.get("logical_date"), context.get("data_interval_end")]
    dag_run = context.get("dag_run")
    candidates.append(getattr(dag_run, "run_after", None))
    for moment in candidates:
        if isinstance(moment, datetime):
            return _check_as_of(moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc))
    raise ValueError("the run has no logical date, data interval or run_after to select participants by")
