"""Participant and project progress, computed one way for sensors, triggers and reports; and the
timestamps Learnifier sends, read one way (:func:`timestamp`, :func:`utc_iso`)."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_learnifier.exceptions import LearnifierParticipantDataError


#: What says a participation is activated when Learnifier leaves ``activated`` out (the spec makes
#: every member optional): a timestamp of its activation, or its ``accessLink``, which the spec
#: says is null while the participation is not activated.
ACTIVATION_EVIDENCE = ("firstActivation", "lastActivation", "accessLink")


def activation_state(participation: Mapping[str, Any] | None) -> bool | None:
    """Tell whether a participation, as Learnifier sent it, is activated: ``None`` when it does not say.

    ``activated`` when it is a boolean; else an activation timestamp or an ``accessLink`` (see
    :data:`ACTIVATION_EVIDENCE`) means activated, and their absence proves nothing (they are
    optional too). A value of ``activated`` that is no boolean says nothing either. One rule for
    the enrollment, the completion checks and the reports.
    """
    if participation is None:
        return None
    activated = participation.get("activated")
    if isinstance(activated, bool):
        return activated
    for name in ACTIVATION_EVIDENCE:
        value = participation.get(name)
        if isinstance(value, str) and value.strip():
            return True
        epoch = isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0
        if epoch and name != "accessLink":
            return True
    return None


def in_error(participation: Mapping[str, Any] | None) -> bool:
    """Tell whether a participation, as Learnifier sent it, is in error (the user cannot access it).

    Only ``inError: true`` says so. A value that is no boolean (``"false"``, say) says nothing: it
    never fails a completion check nor marks a report row in error (the report names it in its
    ``data_error`` cell). One rule for the completion checks and the reports.
    """
    return participation is not None and participation.get("inError") is True


def activity_count(participant: Mapping[str, Any], field: str) -> int | float:
    """Read an activity count (``activitiesCompleted`` or ``activitiesTotal``) of a participant.

    A number or a numeric string (the spec's own example sends ``"3"``) is read as a number,
    whole numbers as ``int``; an absent, ``null`` or empty count is 0.

    :raises LearnifierParticipantDataError: for anything else (``"three"``, ``true``, ``NaN``),
        naming the participant, its project, the field and the value.
    """
    value = participant.get(field)
    if value is None or (isinstance(value, str) and not value.strip()):
        return 0
    number: int | float | None = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str):
        text = value.strip()
        try:
            number = int(text)
        except ValueError:
            try:
                number = float(text)
            except ValueError:
                number = None
    if number is None or not math.isfinite(number):
        from airflow_provider_learnifier.exceptions import LearnifierParticipantDataError

        raise LearnifierParticipantDataError(
            f"Learnifier sent participant {participant.get('id')} (project {participant.get('projectId')}) "
            f"with {field} {value!r}, which is not a number",
            participant_id=participant.get("id"),
            project_id=participant.get("projectId"),
            field=field,
        )
    return int(number) if isinstance(number, float) and number.is_integer() else number


def share_of(completed: float, total: float) -> float:
    """Share of ``total`` activities that ``completed`` is, from 0.0 to 1.0 (0.0 when there are none)."""
    if total <= 0:
        return 0.0
    return min(1.0, max(0.0, completed / total))


def completion_share(participant: Mapping[str, Any]) -> float:
    """Share of a participant's activities completed, from 0.0 to 1.0 (0.0 when there are none).

    :raises LearnifierParticipantDataError: for a count that is not a number (see :func:`activity_count`).
    """
    total = activity_count(participant, "activitiesTotal")  # read first: its error is the one raised
    return share_of(activity_count(participant, "activitiesCompleted"), total)


def completed_share(completed: float, total: float, min_share: float = 1.0) -> bool:
    """Tell whether ``completed`` of ``total`` activities is at least ``min_share`` (and there are some)."""
    return total > 0 and share_of(completed, total) >= min_share


def is_completed(participant: Mapping[str, Any], min_share: float = 1.0) -> bool:
    """Tell whether a participant completed at least ``min_share`` of the activities.

    With the default, that is ``activitiesCompleted >= activitiesTotal`` (and some activities).

    :raises LearnifierParticipantDataError: for a count that is not a number (see :func:`activity_count`).
    """
    total = activity_count(participant, "activitiesTotal")
    return completed_share(activity_count(participant, "activitiesCompleted"), total, min_share)


def percent(share: float) -> str:
    """A share as a whole percentage, never rounded up to ``100%`` while it is short of 1.

    ``2 / 3`` is ``67%``, as rounding gives; ``999 / 1000`` is ``99%``, not ``100%``.
    """
    text = f"{share:.0%}"
    return "99%" if text == "100%" and share < 1 else text


def never_completes(participant: Mapping[str, Any], now: datetime | None = None) -> str | None:
    """Why a participant who has not completed never will, or ``None`` while they still can.

    A participation in error (``inError``: the user cannot access the course) or past its
    ``expiration`` cannot be completed; a completed one is never reported here. An ``expiration``
    that is not an ISO 8601 timestamp is ignored.

    :param now: the current time (UTC); the clock by default.
    """
    if is_completed(participant):
        return None
    if in_error(participant):
        return f"the participation is in error: {participant.get('errorMessage') or 'no reason given'}"
    expiration = timestamp(participant.get("expiration"))
    if expiration is not None and expiration <= (now or datetime.now(timezone.utc)):
        return f"the participation expired at {expiration.isoformat(timespec='seconds')}"
    return None


def timestamp(value: Any) -> datetime | None:
    """Read a timestamp Learnifier sent (ISO 8601; UTC when it names no zone); ``None`` when it is
    absent, ``null`` or not a timestamp."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if text[-1:] in ("Z", "z"):
        text = text[:-1] + "+00:00"  # Python 3.10's fromisoformat reads no "Z"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        # Python 3.10's fromisoformat reads only the forms isoformat() writes (not ".1", seven
        # fractional digits or the basic format); pendulum reads the rest of ISO 8601, as in reports.
        import pendulum

        try:
            parsed = pendulum.parse(text, tz="UTC")
        except (ValueError, TypeError, OverflowError):
            return None
        if not isinstance(parsed, datetime):
            return None
        moment = parsed
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def utc_iso(value: Any, *, field: str = "timestamp") -> str | None:
    """Normalise a timestamp the API sent to UTC ISO 8601 with milliseconds and ``Z``.

    Takes ISO 8601 strings in the extended (``2026-03-01T10:00:00+02:00``) or basic
    (``20260301T100000Z``, ``20260301``) format with any offset or none (read as UTC, as
    Learnifier's timestamps are), dates (midnight UTC), and epoch numbers or other digit strings
    (seconds, or milliseconds when beyond the year 5138). ``None`` and ``""`` give ``None``.

    :raises ValueError: for a value that is not a timestamp, or one outside the years 1 to 9999
        once in UTC.
    """
    if value is None or value == "":
        return None
    moment: datetime
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        moment = _from_epoch(value, field)
    elif isinstance(value, str) and value.strip().lstrip("-").isdigit() and len(value.strip()) != 8:
        moment = _from_epoch(int(value.strip()), field)
    elif isinstance(value, str):
        moment = _parse_iso(value.strip(), field)
    else:
        raise ValueError(f"{field} {value!r} is not a timestamp")
    try:
        utc = moment.astimezone(timezone.utc)
    except OverflowError:
        raise ValueError(f"{field} {value!r} is not a timestamp of the years 1 to 9999 in UTC") from None
    if type(utc) is not datetime:  # a subclass (pendulum's) may write itself otherwise
        utc = datetime(
            utc.year,
            utc.month,
            utc.day,
            utc.hour,
            utc.minute,
            utc.second,
            utc.microsecond,
            tzinfo=timezone.utc,
        )
    return utc.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _parse_iso(text: str, field: str) -> datetime:
    """Parse ISO 8601; naive times are UTC. The standard library first: it is fifty times faster
    than pendulum, which reads the forms it does not (and the export parses three per row)."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        import pendulum

        try:
            parsed = pendulum.parse(text, tz="UTC")
        except (ValueError, TypeError, OverflowError) as err:
            raise ValueError(f"{field} {text!r} is not an ISO 8601 timestamp: {err}") from None
        if not isinstance(parsed, datetime):
            raise ValueError(f"{field} {text!r} is not an ISO 8601 timestamp") from None
        return parsed
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _from_epoch(value: float, field: str) -> datetime:
    seconds = value / 1000 if abs(value) >= 1e11 else value
    try:
        return datetime.fromtimestamp(seconds, tz=timezone.utc)
    except (OverflowError, OSError, ValueError):
        raise ValueError(f"{field} {value!r} is not a timestamp of the years 1 to 9999") from None


@dataclass(frozen=True)
class ProjectProgress:
    """Progress of one project's activated participants.

    :param participants: all participants of the project.
    :param activated: the activated ones: the population that progress is measured on.
    :param completed: activated participants who completed (see :func:`is_completed`).
    :param never_completing: activated participants who have not completed and never will (in error
        or expired, see :func:`never_completes`).
    :param unreadable: activated participants whose activity counts are no numbers: they count as
        not completed, and not as never completing (the data may be fixed).
    """

    participants: int
    activated: int
    completed: int
    never_completing: int = 0
    unreadable: int = 0

    @property
    def share(self) -> float:
        """Completed share of the activated participants (0.0 when none are activated)."""
        return self.completed / self.activated if self.activated else 0.0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serializable summary, e.g. for XCom or a trigger event."""
        return {**asdict(self), "share": self.share}

    def __str__(self) -> str:
        text = (
            f"{self.completed} of {self.activated} activated participant(s) completed ({percent(self.share)})"
        )
        if self.never_completing:
            text += f"; {self.never_completing} can never complete (in error or expired)"
        if self.unreadable:
            text += f"; {self.unreadable} with activity counts that are no numbers, counted as not completed"
        return text


def project_progress(
    participants: Iterable[Mapping[str, Any]],
    min_share: float = 1.0,
    on_unreadable: Callable[[Mapping[str, Any], LearnifierParticipantDataError], None] | None = None,
) -> ProjectProgress:
    """Summarise a project's participants: how many are activated, completed, and never completing.

    One participant's unreadable activity counts do not fail the whole project: that participant
    counts as not completed (in ``unreadable``), and ``on_unreadable(participant, error)`` is
    called, e.g. to log it by name.
    """
    from airflow_provider_learnifier.exceptions import LearnifierParticipantDataError

    total = activated = completed = never_completing = unreadable = 0
    now = datetime.now(timezone.utc)
    for participant in participants:
        total += 1
        if activation_state(participant) is not True:
            continue
        activated += 1
        try:
            done = is_completed(participant, min_share)
            never = not done and never_completes(participant, now) is not None
        except LearnifierParticipantDataError as err:
            unreadable += 1
            if on_unreadable is not None:
                on_unreadable(participant, err)
            continue
        completed += done
        never_completing += never
    return ProjectProgress(
        participants=total,
        activated=activated,
        completed=completed,
        never_completing=never_completing,
        unreadable=unreadable,
    )
