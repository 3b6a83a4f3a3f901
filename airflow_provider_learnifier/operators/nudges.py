"""Remind participants who fall behind, once per milestone: :class:`LearnifierNudgeOperator`.

See :doc:`/guides/nudges` for the states, milestones, the once-per-milestone guarantee and its
limits.

Importing this module is cheap: the hook (and with it ``requests``), Jinja, smtplib and the SMTP
provider are imported when the task runs, not when the DAG processor parses a DAG file.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.providers.common.compat.sdk import BaseOperator, ObjectStoragePath

from airflow_provider_learnifier._arguments import DEFAULT_CONN_ID
from airflow_provider_learnifier.hooks.task import LearnifierHookMixin
from airflow_provider_learnifier.ids import usable_id
from airflow_provider_learnifier.operators._user_directory import (
    DEFAULT_MAX_CACHED_USERS,
    DEFAULT_SCAN_PAGE_SIZE,
    UserLookup,
    check_user_lookup,
)

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_learnifier.hooks.learnifier import LearnifierHook
    from airflow_provider_learnifier.operators._nudge_ledger import NudgeLedger
    from airflow_provider_learnifier.operators._user_directory import UserDirectory
    from airflow_provider_learnifier.participant_states import Participation, StateMatch, StateSelector

JsonObject = dict[str, Any]

#: The subject of a reminder mail when none is given (Jinja; see :class:`Reminder` for the names).
DEFAULT_SUBJECT_TEMPLATE = "Reminder: {{ course.name or 'your course' }}"

#: The body of a reminder mail when none is given (Jinja, HTML, autoescaped).
DEFAULT_BODY_TEMPLATE = """\
<p>Hello {{ person.first_name or person.display_name or '' }},</p>
{% if state == 'not_started' %}<p>You have not started <b>{{ course.name }}</b> yet.</p>
{% elif state == 'stalled' %}<p>You have not been back to <b>{{ course.name }}</b> for a while.</p>
{% elif state == 'expiring' %}<p>Your access to <b>{{ course.name }}</b> ends on {{ expiration_date }}.</p>
{% elif state == 'overdue' %}<p><b>{{ course.name }}</b> was due on {{ due_date }}.</p>
{% elif state == 'completed' %}<p>Well done: you completed <b>{{ course.name }}</b>.</p>
{% else %}<p>About <b>{{ course.name }}</b>.</p>
{% endif %}{% if access_link and state != 'completed' %}\
<p><a href="{{ access_link }}">Open the course</a> (you will be asked to log in).</p>
{% endif %}{% if due_date and state != 'overdue' %}<p>Please complete it by {{ due_date }}.</p>{% endif %}
"""

#: The longest address a reminder is mailed to (RFC 5321's path limit).
MAX_EMAIL_LENGTH = 254

#: The user record's members a reminder's ``person`` is made of, and the names it has there.
_PERSON_FIELDS = (
    ("primaryEmail", "email"),
    ("firstName", "first_name"),
    ("lastName", "last_name"),
    ("displayName", "display_name"),
)


def reminder_ids(
    course: Mapping[str, Any], participant_id: str, user_id: str | None, state: str
) -> JsonObject:
    """A reminder's ids, as logs and the summary show it: no name, email address or link."""
    return {
        "org_id": course["org_id"],
        "project_id": course["id"],
        "participant_id": participant_id,
        "user_id": user_id,
        "state": state,
    }


@dataclass(frozen=True)
class Reminder:
    """One reminder: a person, a course, the state they are in and the stable course link.

    What a delivery callable receives, and what the mail templates see (as ``reminder``, and its
    fields by name: ``person``, ``course``, ``state``, ``milestone``, ``access_link``, ``due``,
    ``due_date``, ``expiration``, ``expiration_date``, ``as_of``).

    :param person: ``user_id``, ``email``, ``first_name``, ``last_name``, ``display_name``.
    :param course: ``org_id``, ``id``, ``name``, ``external_id``.
    :param participant_id: the participation's id.
    :param state: the state (see :data:`~airflow_provider_learnifier.participant_states.STATE_NAMES`).
    :param milestone: the milestone the reminder is sent for.
    :param access_link: the participation's ``accessLink``: the stable course link, behind the
        user's own login. Never a login link.
    :param due: the course's due date, else the participation's expiration, else ``None``.
    :param expiration: when the participation's access ends, if known.
    :param as_of: the run's reference time.
    """

    person: Mapping[str, Any]
    course: Mapping[str, Any]
    participant_id: str
    state: str
    milestone: str
    access_link: str | None
    due: datetime | None
    expiration: datetime | None
    as_of: datetime

    @property
    def ids(self) -> JsonObject:
        """The reminder's ids, as logs and the summary show it (no name, email or link)."""
        return reminder_ids(self.course, self.participant_id, self.person.get("user_id"), self.state)

    def template_context(self) -> JsonObject:
        """The names the subject and body templates see."""
        return {
            "reminder": self,
            "person": self.person,
            "course": self.course,
            "participant_id": self.participant_id,
            "state": self.state,
            "milestone": self.milestone,
            "access_link": self.access_link,
            "due": self.due,
            "due_date": self.due.date().isoformat() if self.due else None,
            "expiration": self.expiration,
            "expiration_date": self.expiration.date().isoformat() if self.expiration else None,
            "as_of": self.as_of,
        }


class ReminderRefused(Exception):
    """A delivery was refused for sure (the reminder was not delivered): it is tried again next run.

    A delivery callable raises it, or any other exception, to say so. Raise
    :class:`DeliveryUncertain` instead when the reminder may have been delivered.
    """


class DeliveryUncertain(Exception):
    """A delivery may or may not have happened (e.g. the connection dropped after the mail was sent).

    The reminder's claim is kept, unconfirmed: it is not tried again, and later runs name it.
    """


class _DeliveryUnavailable(Exception):
    """No reminder can be delivered now (the SMTP server cannot be reached): stop trying this run."""


@dataclass
class _Candidate:
    course: Mapping[str, Any]
    participation: Participation
    match: StateMatch
    key: str

    @property
    def ids(self) -> JsonObject:
        return reminder_ids(self.course, self.participation.id, self.participation.user_id, self.match.state)


@dataclass
class _Tally:
    selected: int = 0
    by_state: dict[str, int] = field(default_factory=dict)
    projects: int = 0
    participants: int = 0
    bad_data: list[JsonObject] = field(default_factory=list)
    already_sent: int = 0
    unconfirmed: list[JsonObject] = field(default_factory=list)
    pending: list[_Candidate] = field(default_factory=list)
    sent: list[JsonObject] = field(default_factory=list)
    failed: list[JsonObject] = field(default_factory=list)


class LearnifierNudgeOperator(LearnifierHookMixin, BaseOperator):
    """Remind the participants in chosen states, each at most once per (course, state, milestone).

    ``selector`` names the states to look for per organization unit and per course (a
    :class:`~airflow_provider_learnifier.participant_states.StateSelector` or its JSON spec; see
    :doc:`/guides/nudges`). Each course's participants are listed once; times are relative to the
    run's logical date (``as_of`` overrides it), so a rerun of a past run selects what it selected.

    Each selected participant gets one :class:`Reminder` per state and milestone: to
    ``deliver`` (a callable taking the reminder), or else by email through the SMTP connection
    ``smtp_conn_id`` (``apache-airflow-providers-smtp``), rendered from ``subject_template`` and
    ``body_template`` (Jinja, the body HTML and autoescaped). A reminder carries the
    participation's ``accessLink``, the stable course link; a login link is never fetched nor
    mailed (it is a single-use credential).

    **Once per milestone.** A ledger under ``ledger_path`` (one small file per reminder, created
    only if absent) is claimed before each delivery and marked ``sent`` after it, so reruns,
    retries and overlapping runs never deliver a reminder twice. A definite refusal (the SMTP
    server refused the recipient or the message; the callable raised) releases the claim: the
    next run tries again, without touching the others. A run killed between a claim and its
    record leaves an *unconfirmed* claim: that reminder may have been delivered, so it is never
    sent again by itself, and every later run's summary names it (``unconfirmed``).

    **Guards.** ``max_nudges`` refuses a run that would send more reminders (the task fails with
    :class:`~airflow_provider_learnifier.exceptions.LearnifierNudgeLimitError`, nothing is sent);
    ``dry_run`` selects and counts, and sends and records nothing. A failure for one person does
    not stop the others; once all were tried, the task fails with
    :class:`~airflow_provider_learnifier.exceptions.LearnifierNudgeError` when any failed (after
    pushing the summary to XCom as ``return_value``), so a retry or the next run tries them again.
    A participation with unusable data (a timestamp that is none, an ``accessLink`` that is not
    an ``https://`` URL) is skipped and counted in ``bad_data``.

    Logs and the summary hold ids and counts only: never a name, an email address or a link.

    **Users.** A participation holds its user's id only; the name and email address come from the
    user record, read as the progress report reads them (``user_lookup``): ``"get"`` fetches
    each person once with ``GET /users/{id}``; ``"auto"`` (the default) does so until
    ``scan_page_size`` people were fetched, then reads every user of the account once with a
    paged ``GET /users`` (one request per ``scan_page_size`` users instead of one per person);
    ``"scan"`` reads them all before the first reminder. A person the listing did not hold is
    fetched on their own, never skipped; a listing that cannot be read to its end is dropped and
    everyone is fetched one by one. A user that does not exist is a failure for that reminder.

    :param selector: the states per organization unit and course: a selector, a spec (list of
        scopes) or its JSON text. Templated.
    :param ledger_path: the directory of the ledger: an absolute local path, a ``file://`` URL,
        or another :class:`~airflow.sdk.ObjectStoragePath` whose file system can create files
        exclusively. Keep it for as long as reminders must not repeat. Templated.
    :param deliver: a callable ``deliver(reminder)``; raise to report that it was not delivered
        (:class:`DeliveryUncertain` when it may have been). With it, no mail is sent.
    :param smtp_conn_id: the SMTP connection for email delivery (when ``deliver`` is not given).
    :param from_email: the sender; by default the connection's ``from_email``. Templated.
    :param subject_template: Jinja template of the subject (one line). See :class:`Reminder`.
    :param body_template: Jinja template of the HTML body, autoescaped.
    :param as_of: the reference time instead of the run's logical date (ISO 8601, or a datetime). Templated.
    :param max_nudges: the most reminders one run may send; ``None``: no limit.
    :param dry_run: select and count only; send nothing, record nothing.
    :param user_lookup: ``"auto"`` (default), ``"get"`` or ``"scan"``; see *Users* above.
    :param max_cached_users: how many users fetched one by one are kept cached.
    :param scan_page_size: the page size of the user listing, and with ``"auto"`` how many users
        are fetched one by one before it.
    :param learnifier_conn_id: the Learnifier connection. Templated.
    :param storage_conn_id: the Airflow connection of the object store, for a ``ledger_path`` URL
        (same as writing ``s3://<conn_id>@bucket/key``).
    :return: the summary pushed to XCom (counts and ids): ``as_of``, ``dry_run``, ``projects``,
        ``participants``, ``selected``, ``by_state``, ``already_sent``, ``to_send``, ``sent``,
        ``failed``, ``unconfirmed``, ``bad_data``, and the id lists ``sent_ids``,
        ``failed_ids`` (with the error's kind), ``unconfirmed_ids``, ``bad_data_ids`` and, in a
        dry run, ``would_send_ids``.
    """

    template_fields: Sequence[str] = ("selector", "ledger_path", "from_email", "as_of", "learnifier_conn_id")
    template_fields_renderers: ClassVar[dict[str, str]] = {"selector": "json"}
    ui_color = "#fdf1d6"

    def __init__(
        self,
        *,
        selector: Any,
        ledger_path: str | ObjectStoragePath,
        deliver: Callable[[Reminder], Any] | None = None,
        smtp_conn_id: str = "smtp_default",
        from_email: str | None = None,
        subject_template: str = DEFAULT_SUBJECT_TEMPLATE,
        body_template: str = DEFAULT_BODY_TEMPLATE,
        as_of: str | datetime | None = None,
        max_nudges: int | None = 500,
        dry_run: bool = False,
        learnifier_conn_id: str = DEFAULT_CONN_ID,
        storage_conn_id: str | None = None,
        user_lookup: UserLookup = "auto",
        max_cached_users: int = DEFAULT_MAX_CACHED_USERS,
        scan_page_size: int = DEFAULT_SCAN_PAGE_SIZE,
        **kwargs: Any,
    ) -> None:
        if deliver is not None and not callable(deliver):
            raise TypeError(f"deliver must be a callable taking a Reminder, not {type(deliver).__name__}")
        if max_nudges is not None and (
            isinstance(max_nudges, bool) or not isinstance(max_nudges, int) or max_nudges < 0
        ):
            raise ValueError(f"max_nudges must be a non-negative integer or None, not {max_nudges!r}")
        check_user_lookup(user_lookup, max_cached_users, scan_page_size)
        for name, template in (("subject_template", subject_template), ("body_template", body_template)):
            _check_template(name, template)
        super().__init__(**kwargs)
        self.selector = selector
        self.ledger_path = ledger_path
        self.deliver = deliver
        self.smtp_conn_id = smtp_conn_id
        self.from_email = from_email
        self.subject_template = subject_template
        self.body_template = body_template
        self.as_of = as_of
        self.max_nudges = max_nudges
        # Not ``self.dry_run``: that would hide BaseOperator.dry_run(), which renders the templates.
        self.is_dry_run = dry_run
        self.learnifier_conn_id = learnifier_conn_id
        self.storage_conn_id = storage_conn_id
        self.user_lookup = user_lookup
        self.max_cached_users = max_cached_users
        self.scan_page_size = scan_page_size
        if not _is_templated(selector):
            from airflow_provider_learnifier.participant_states import StateSelector

            StateSelector.from_spec(selector)  # a selector that cannot work fails when the DAG is parsed

    # ------------------------------------------------------------------ the run

    def execute(self, context: Context) -> JsonObject:
        """Select, check the guard, deliver, and return the summary."""
        from airflow_provider_learnifier.participant_states import StateSelector

        selector = StateSelector.from_spec(self.selector)
        as_of = self._reference_time(context)
        ledger = self._ledger()
        hook = self.hook
        tally = _Tally()
        try:
            self._select(hook, selector, ledger, as_of, tally)
            self.log.info(
                "As of %s: %d participant(s) of %d course(s); %d selected %s; %d already reminded; "
                "%d unconfirmed; %d to remind; %d with unusable data",
                _iso(as_of),
                tally.participants,
                tally.projects,
                tally.selected,
                tally.by_state,
                tally.already_sent,
                len(tally.unconfirmed),
                len(tally.pending),
                len(tally.bad_data),
            )
            for entry in tally.unconfirmed:
                self.log.warning(
                    "Unconfirmed reminder (a run stopped between handing it over and recording it; "
                    "it is not sent again): %s",
                    _ids_text(entry),
                )
            if self.is_dry_run:
                summary = self._summary(tally, as_of, would_send=[c.ids for c in tally.pending])
                summary["refused_by_max_nudges"] = self._over_limit(tally)
                self.log.info("[dry run] %d reminder(s) would be sent; nothing was sent", len(tally.pending))
                return summary
            self._check_limit(tally, as_of)
            if tally.pending:
                self._deliver_all(hook, ledger, as_of, tally, context)
        finally:
            hook.close()
        summary = self._summary(tally, as_of)
        self.log.info(
            "Sent %d reminder(s); %d failed (tried again next run); %d unconfirmed",
            len(tally.sent),
            len(tally.failed),
            len(tally.unconfirmed),
        )
        if tally.failed:
            from airflow_provider_learnifier.exceptions import LearnifierNudgeError

            _push_summary(context, summary)
            raise LearnifierNudgeError(
                f"{len(tally.failed)} of {len(tally.pending)} reminder(s) could not be delivered; the "
                f"{len(tally.sent)} others were, and the failed ones are tried again by the next run: "
                + "; ".join(_ids_text(failure) for failure in tally.failed[:20]),
                failures=tally.failed,
                summary=summary,
            )
        return summary

    def _reference_time(self, context: Context) -> datetime:
        from airflow_provider_learnifier.ids import blank
        from airflow_provider_learnifier.participant_states import _parse_due, reference_time

        if self.as_of is None or blank(self.as_of):
            return reference_time(context)
        try:
            moment = _parse_due(self.as_of)
        except ValueError:
            raise ValueError(f"as_of must be an ISO 8601 time, not {self.as_of!r}") from None
        assert moment is not None
        return moment

    def _ledger(self) -> NudgeLedger:
        from airflow_provider_learnifier.operators._nudge_ledger import NudgeLedger

        path = self.ledger_path
        if isinstance(path, ObjectStoragePath):
            return NudgeLedger(path)
        if not isinstance(path, str) or not path.strip():
            raise ValueError(f"ledger_path must be a non-empty path or URL, not {path!r}")
        text = path.strip()
        if "://" not in text and not text.startswith("/"):
            raise ValueError(f"ledger_path {text!r} is relative: give an absolute path or a URL")
        return NudgeLedger(ObjectStoragePath(text, conn_id=self.storage_conn_id))

    def _select(
        self,
        hook: LearnifierHook,
        selector: StateSelector,
        ledger: NudgeLedger,
        as_of: datetime,
        tally: _Tally,
    ) -> None:
        """List each course once, classify its participants, and sort the matches by the ledger."""
        from airflow_provider_learnifier.exceptions import LearnifierParticipantDataError
        from airflow_provider_learnifier.operators._nudge_ledger import reminder_key
        from airflow_provider_learnifier.participant_states import classify as classify_one
        from airflow_provider_learnifier.participant_states import read_participation

        for course in _courses(hook, selector):
            rules = selector.rules_for(course["org_id"], course["id"], course["external_id"])
            if not rules.rules:
                continue
            tally.projects += 1
            for raw in hook.list_participants(course["org_id"], course["id"]):
                tally.participants += 1
                try:
                    participation = read_participation(raw)
                    matches = classify_one(participation, as_of, rules.rules, due=rules.due)
                except LearnifierParticipantDataError as err:
                    problem = {
                        "org_id": course["org_id"],
                        "project_id": course["id"],
                        "participant_id": usable_id(raw.get("id") if isinstance(raw, Mapping) else None),
                        "field": err.field,
                    }
                    tally.bad_data.append(problem)
                    self.log.warning("Skipped a participation with unusable data: %s", _ids_text(problem))
                    continue
                for match in matches:
                    tally.selected += 1
                    tally.by_state[match.state] = tally.by_state.get(match.state, 0) + 1
                    key = reminder_key(
                        course["org_id"], course["id"], participation.id, match.state, match.milestone
                    )
                    candidate = _Candidate(course, participation, match, key)
                    entry = ledger.get(key)
                    if entry is None:
                        tally.pending.append(candidate)
                    elif entry.status == "sent":
                        tally.already_sent += 1
                    else:
                        tally.unconfirmed.append({**candidate.ids, "key": key})

    def _over_limit(self, tally: _Tally) -> bool:
        return self.max_nudges is not None and len(tally.pending) > self.max_nudges

    def _check_limit(self, tally: _Tally, as_of: datetime) -> None:
        if not self._over_limit(tally):
            return
        from airflow_provider_learnifier.exceptions import LearnifierNudgeLimitError

        raise LearnifierNudgeLimitError(
            f"this run would send {len(tally.pending)} reminder(s), more than max_nudges "
            f"({self.max_nudges}) allows; none was sent. Check the selector and the data, then raise "
            "max_nudges if this is expected",
            failures=[],
            summary=self._summary(tally, as_of),
        )

    def _deliver_all(
        self, hook: LearnifierHook, ledger: NudgeLedger, as_of: datetime, tally: _Tally, context: Context
    ) -> None:
        try_number = getattr(context.get("ti"), "try_number", None)
        run = {
            "run_id": str(context.get("run_id") or ""),
            "try_number": try_number if isinstance(try_number, int) else None,
        }
        from airflow_provider_learnifier.operators._user_directory import UserDirectory

        users = UserDirectory(
            hook,
            fields=[member for member, _ in _PERSON_FIELDS],
            user_lookup=self.user_lookup,
            max_cached=self.max_cached_users,
            page_size=self.scan_page_size,
            log=self.log,
        )
        with _Delivery.open(self) as delivery:
            for position, candidate in enumerate(tally.pending):
                ids = candidate.ids
                try:
                    reminder = self._reminder(users, candidate, as_of)
                except Exception as err:
                    self._failed(tally, ids, err)
                    continue
                record = {**ids, "milestone": candidate.match.milestone, **run}
                if not ledger.claim(candidate.key, record):
                    # Another run claimed it since it was selected (overlapping runs).
                    entry = ledger.get(candidate.key)
                    if entry is not None and entry.status == "sent":
                        tally.already_sent += 1
                    else:
                        tally.unconfirmed.append({**ids, "key": candidate.key})
                    continue
                try:
                    delivery.send(reminder)
                except DeliveryUncertain as err:
                    tally.unconfirmed.append({**ids, "key": candidate.key})
                    self.log.warning(
                        "The reminder %s may or may not have been delivered (%s); it is kept as unconfirmed",
                        _ids_text(ids),
                        _error_kind(err),
                    )
                    continue
                except _DeliveryUnavailable as err:
                    # No mail server to talk to: the others would fail the same way, so none is
                    # tried; nothing was claimed for them, and the next run sends them all.
                    ledger.release(candidate.key)
                    for skipped in tally.pending[position:]:
                        self._failed(tally, skipped.ids, err)
                    break
                except Exception as err:
                    ledger.release(candidate.key)
                    self._failed(tally, ids, err)
                    continue
                ledger.confirm(candidate.key, record)
                tally.sent.append(ids)
                self.log.info("Reminded %s", _ids_text(ids))
        self.log.info("User lookups: %s", users.stats())

    def _failed(self, tally: _Tally, ids: JsonObject, err: BaseException) -> None:
        tally.failed.append({**ids, "error": _error_kind(err)})
        self.log.warning("Could not remind %s: %s", _ids_text(ids), _error_kind(err))

    def _reminder(self, users: UserDirectory, candidate: _Candidate, as_of: datetime) -> Reminder:
        participation = candidate.participation
        person: JsonObject = {"user_id": participation.user_id}
        if participation.user_id is not None:
            found = users.find(participation.user_id)
            if found is None:
                raise ReminderRefused("the user does not exist")
            fields = zip(_PERSON_FIELDS, found, strict=True)
            person.update((name, _nonempty_string(value)) for (_, name), value in fields)
        return Reminder(
            person=person,
            course=candidate.course,
            participant_id=participation.id,
            state=candidate.match.state,
            milestone=candidate.match.milestone,
            access_link=participation.access_link,
            due=candidate.match.due,
            expiration=participation.expiration,
            as_of=as_of,
        )

    def _summary(
        self, tally: _Tally, as_of: datetime, would_send: list[JsonObject] | None = None
    ) -> JsonObject:
        summary: JsonObject = {
            "as_of": _iso(as_of),
            "dry_run": bool(self.is_dry_run),
            "projects": tally.projects,
            "participants": tally.participants,
            "selected": tally.selected,
            "by_state": dict(tally.by_state),
            "already_sent": tally.already_sent,
            "to_send": len(tally.pending),
            "sent": len(tally.sent),
            "failed": len(tally.failed),
            "unconfirmed": len(tally.unconfirmed),
            "bad_data": len(tally.bad_data),
            "sent_ids": list(tally.sent),
            "failed_ids": list(tally.failed),
            "unconfirmed_ids": list(tally.unconfirmed),
            "bad_data_ids": list(tally.bad_data),
        }
        if would_send is not None:
            summary["would_send_ids"] = would_send
        return summary


# ---------------------------------------------------------------------- delivery


class _Delivery:
    """Hands reminders to the callable, or mails them through one SMTP connection."""

    def __init__(self, operator: LearnifierNudgeOperator) -> None:
        self._operator = operator
        self._smtp: Any = None
        self._templates: tuple[Any, Any] | None = None

    @classmethod
    def open(cls, operator: LearnifierNudgeOperator) -> _Delivery:
        return cls(operator)

    def __enter__(self) -> _Delivery:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._close_smtp()

    def send(self, reminder: Reminder) -> None:
        if self._operator.deliver is not None:
            self._operator.deliver(reminder)
            return
        self._mail(reminder)

    def _mail(self, reminder: Reminder) -> None:
        import smtplib

        email = reminder.person.get("email")
        if not _usable_email(email):
            raise ReminderRefused("the person has no usable email address")
        subject, body = self._render(reminder)
        try:
            hook = self._smtp_hook()
        except Exception as err:
            raise _DeliveryUnavailable(f"the SMTP server could not be reached: {_error_kind(err)}") from None
        try:
            hook.send_email_smtp(
                to=[email], subject=subject, html_content=body, from_email=self._operator.from_email or None
            )
        except (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as err:
            raise ReminderRefused(_error_kind(err)) from None
        except smtplib.SMTPResponseException as err:  # the server answered: it did not take the mail
            raise ReminderRefused(_error_kind(err)) from None
        except OSError as err:
            # The connection broke (SMTPServerDisconnected, a timeout...): the server may have
            # taken the mail before it did.
            self._close_smtp()
            raise DeliveryUncertain(_error_kind(err)) from None

    def _smtp_hook(self) -> Any:
        if self._smtp is None:
            try:
                from airflow.providers.smtp.hooks.smtp import SmtpHook
            except ImportError as err:
                raise RuntimeError(
                    "email delivery needs apache-airflow-providers-smtp (pip install "
                    "'airflow-provider-learnifier[smtp]'), or give deliver= a callable"
                ) from err
            hook = SmtpHook(smtp_conn_id=self._operator.smtp_conn_id)
            hook.__enter__()
            self._smtp = hook
        return self._smtp

    def _close_smtp(self) -> None:
        hook, self._smtp = self._smtp, None
        if hook is not None:
            # Closing a broken connection must not hide what broke it.
            with contextlib.suppress(Exception):
                hook.__exit__(None, None, None)

    def _render(self, reminder: Reminder) -> tuple[str, str]:
        if self._templates is None:
            from jinja2.sandbox import SandboxedEnvironment

            plain = SandboxedEnvironment(autoescape=False)
            html = SandboxedEnvironment(autoescape=True)
            self._templates = (
                plain.from_string(self._operator.subject_template),
                html.from_string(self._operator.body_template),
            )
        subject_template, body_template = self._templates
        values = reminder.template_context()
        subject = " ".join(subject_template.render(values).split())  # one line: no header injection
        return subject[:998], body_template.render(values)


# ---------------------------------------------------------------------- helpers


def _courses(hook: LearnifierHook, selector: StateSelector) -> list[JsonObject]:
    """The courses the selector's scopes cover, each once, in the order the scopes name them."""
    from airflow_provider_learnifier.operators.reporting import _Project

    seen: dict[tuple[str, str], JsonObject] = {}

    def add(project: _Project) -> None:
        key = (project.org_id, project.id)
        if key not in seen:
            seen[key] = {
                "org_id": project.org_id,
                "id": project.id,
                "name": _nonempty_string(project.name),
                "external_id": _nonempty_string(project.external_id),
            }

    for scope in selector.scopes:
        if scope.whole_org_unit:
            for found in hook.list_projects(scope.org_id or ""):
                add(_Project.from_api(found, scope.org_id))
            continue
        for project_id in scope.project_ids:
            add(
                _Project.from_api(
                    hook.resolve_project(org_id=scope.org_id, project_id=project_id), scope.org_id
                )
            )
        for external_id in scope.project_external_ids:
            found = hook.resolve_project(org_id=scope.org_id, external_id=external_id)
            add(_Project.from_api(found, scope.org_id))
    return list(seen.values())


def _check_template(name: str, template: Any) -> None:
    """Refuse a template that is empty or not Jinja, when the DAG is parsed rather than per person."""
    if not isinstance(template, str) or not template.strip():
        raise ValueError(f"{name} must be a non-empty Jinja template")
    from jinja2 import TemplateSyntaxError
    from jinja2.sandbox import SandboxedEnvironment

    try:
        SandboxedEnvironment().parse(template)
    except TemplateSyntaxError as err:
        raise ValueError(f"{name} is not a valid Jinja template: {err.message} (line {err.lineno})") from None


def _usable_email(value: Any) -> bool:
    if not isinstance(value, str) or not 3 <= len(value) <= MAX_EMAIL_LENGTH:
        return False
    local, at, domain = value.rpartition("@")
    return bool(at and local and domain) and not any(
        ch.isspace() or ch in ',;<>"()[]\\' or ord(ch) < 32 for ch in value
    )


def _nonempty_string(value: Any) -> str | None:
    """``value`` when it is a string that is not empty, else ``None``."""
    return value if isinstance(value, str) and value else None


def _error_kind(err: BaseException) -> str:
    """What went wrong, without the message (an SMTP error's text may hold the address)."""
    import smtplib

    own = (ReminderRefused, DeliveryUncertain, _DeliveryUnavailable)
    if isinstance(err, own) and err.args and isinstance(err.args[0], str):
        return err.args[0]
    kind = type(err).__name__
    if isinstance(err, smtplib.SMTPResponseException):
        return f"{kind} {err.smtp_code}"
    if isinstance(err, smtplib.SMTPRecipientsRefused):
        codes = sorted({str(code) for code, _ in err.recipients.values()})
        return f"{kind} {','.join(codes)}"
    status = getattr(err, "status", None)
    return f"{kind} {status}" if isinstance(status, int) else kind


def _ids_text(ids: Mapping[str, Any]) -> str:
    from airflow_provider_learnifier.operators._base import shown

    return ", ".join(
        f"{name} {shown(value)}" for name, value in ids.items() if value is not None and name != "key"
    )


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _is_templated(value: Any) -> bool:
    """Whether ``value``, or any string inside its lists and mappings, is a Jinja template."""
    if isinstance(value, str):
        return "{{" in value or "{%" in value
    if isinstance(value, Mapping):
        return any(_is_templated(key) or _is_templated(item) for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return any(_is_templated(item) for item in value)
    return False


def _push_summary(context: Context, summary: JsonObject) -> None:
    ti = context.get("ti") if isinstance(context, Mapping) else None
    if ti is not None:
        ti.xcom_push(key="return_value", value=summary)
