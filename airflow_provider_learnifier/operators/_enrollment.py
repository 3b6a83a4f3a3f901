"""The work of :class:`~airflow_provider_learnifier.operators.participants.LearnifierEnrollOperator`.

Imported only when the task runs. One :class:`Enrollment` enrolls one roster in one project, as
its :class:`EnrollmentOptions` say:

1. read the project's participants, and (unless every row names a user id) the account's users;
2. find or create each person's user, concurrently;
3. add each person as a participant unless they are one, and activate them, concurrently
   (:func:`~airflow_provider_learnifier.progress.activation_state` reads a listing that leaves
   ``activated`` out);
4. with ``remove_missing``, remove the participants that are nobody on the roster.

Every step is idempotent, and overlapping runs never activate a participant they added twice
(:doc:`/guides/enrollment` says how, and what a pool must guard); a write whose answer was lost
is settled by :func:`~airflow_provider_learnifier.operators._writes.write_once`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_provider_learnifier.exceptions import (
    LearnifierConflictError,
    LearnifierError,
    LearnifierNotFoundError,
    LearnifierResponseError,
    LearnifierUncertainWriteError,
)
from airflow_provider_learnifier.operators._base import id_text, project_summary, shown
from airflow_provider_learnifier.operators._bulk import (
    Tally,
    UserIndex,
    UserMismatch,
    identity_mismatch,
    run_concurrently,
)
from airflow_provider_learnifier.operators._writes import SETTLE_PAUSES, write_once
from airflow_provider_learnifier.progress import activation_state

if TYPE_CHECKING:
    from airflow_provider_learnifier.hooks.learnifier import LearnifierHook
    from airflow_provider_learnifier.operators._removal_limit import RemovalLimit
    from airflow_provider_learnifier.operators._roster import Person, Roster

JsonObject = dict[str, Any]

#: The lists of the summary, in the order they are reported. ``users_maybe_created``: people whose
#: user may have been created though no answer confirmed it (they are also in ``failed``).
#: ``activation_unknown``: participants left as they are because Learnifier did not say whether
#: they are activated (a second activation may mail them again).
CATEGORIES = (
    "created_users",
    "users_maybe_created",
    "enrolled",
    "already_enrolled",
    "activated",
    "activation_unknown",
    "removed",
)


def read_activation(
    hook: LearnifierHook, org_id: str, project_id: str, user_id: str, participant_id: str
) -> bool | None:
    """Read whether one participation is activated now (``None`` when Learnifier does not say).

    One request: the user's participations (the spec has no ``GET`` of one participant); only
    when the participation is not among them, the project's participants are read.
    """
    for participation in hook.list_user_participations(user_id):
        if id_text(participation.get("id")) == participant_id:
            return activation_state(participation)
    for participant in hook.list_participants(org_id, project_id):
        if id_text(participant.get("userId")) == user_id:
            return activation_state(participant)
    return None


@dataclass(frozen=True)
class _Resolved:
    """A person and their user id (``None`` for a user a dry run would create)."""

    person: Person
    user_id: str | None


@dataclass(frozen=True, kw_only=True)
class EnrollmentOptions:
    """What one enrollment does: built once from the enroll operator's arguments or a policy's course.

    :param activate: activate participants that are not.
    :param create_missing_users: create users for people who have none.
    :param home_org: the home organization unit of created users, unless a row gives one.
    :param remove_missing: remove participants that are nobody on the roster.
    :param max_removals: the most participants ``remove_missing`` may remove (``None``: no limit).
    :param dry_run: change nothing; report what would be done.
    :param max_concurrency: at most this many requests at a time.
    """

    activate: bool
    create_missing_users: bool
    home_org: int | str | None
    remove_missing: bool
    max_removals: RemovalLimit | None
    dry_run: bool
    max_concurrency: int


class Enrollment:
    """Enroll one roster in one project; see the module's description.

    :param hook: the hook, shared by all threads.
    :param project: the project, as the API returned it.
    :param options: what to do (:class:`EnrollmentOptions`).
    :param stop: once set, people not yet started are skipped (the task is being killed).
    :param log: where to log.
    """

    def __init__(
        self,
        hook: LearnifierHook,
        project: Mapping[str, Any],
        options: EnrollmentOptions,
        *,
        stop: threading.Event | None = None,
        log: logging.Logger | Any = None,
    ) -> None:
        self.hook = hook
        self.project = project
        self.org_id = id_text(project["orgId"])
        self.project_id = id_text(project["id"])
        self.options = options
        self.stop = stop
        self.log = log or logging.getLogger(__name__)
        self.tally = Tally(*CATEGORIES, "participant_ids")
        self.participants_by_user: dict[str, Mapping[str, Any]] = {}
        self.index: UserIndex | None = None

    # ------------------------------------------------------------------ the run

    def run(
        self,
        roster: Roster,
        *,
        participants: Sequence[Mapping[str, Any]] | None = None,
        index: UserIndex | None = None,
    ) -> JsonObject:
        """Enroll the roster's people; return the summary. Per-person failures are in it, not raised.

        :param participants: the project's participants, when the caller has just read them.
        :param index: the account's users, when the caller has read them; the users this run
            creates are added to it (an assignment policy shares one index across its courses).
        """
        for problem in roster.problems:
            self.tally.fail(problem["row"], problem["person"], problem["reason"], row=problem["row"])
        if participants is None:
            participants = list(self.hook.list_participants(self.org_id, self.project_id))
        self.participants_by_user = {id_text(p["userId"]): p for p in participants if p.get("userId")}
        if index is not None:
            self.index = index
        elif self.options.remove_missing or any(not person.user_id for person in roster.people):
            self.index = UserIndex.load(self.hook)
        self.log.info(
            "Project %s/%s has %d participant(s); the account has %s user(s). %s %d person(s), "
            "up to %d request(s) at a time.",
            self.org_id,
            self.project_id,
            len(participants),
            len(self.index) if self.index is not None else "(not read)",
            "Dry run for" if self.options.dry_run else "Enrolling",
            len(roster.people),
            self.options.max_concurrency,
        )

        resolved = run_concurrently(
            self._resolve, roster.people, max_workers=self.options.max_concurrency, stop=self.stop
        )
        targets = self._distinct_users(roster.people, resolved)
        run_concurrently(self._enroll, targets, max_workers=self.options.max_concurrency, stop=self.stop)

        summary: JsonObject = {"project": project_summary(self.project), "dry_run": self.options.dry_run}
        if self.options.remove_missing:
            unresolved = sum(result is None for result in resolved)
            summary.update(self._remove_missing(roster, targets, unresolved))
        for category in CATEGORIES:
            summary[category] = self.tally.items(category)
        summary["failed"] = self.tally.failed
        summary["participant_ids"] = dict(self.tally.items("participant_ids"))
        summary["counts"] = {"roster": roster.size} | {
            category: len(summary[category]) for category in (*CATEGORIES, "failed")
        }
        return summary

    def _distinct_users(self, people: list[Person], resolved: list[_Resolved | None]) -> list[_Resolved]:
        """Drop people who turned out to be the same user as an earlier row."""
        claimed: dict[str, Person] = {}
        targets = []
        for person, result in zip(people, resolved, strict=True):
            if result is None:
                continue
            if result.user_id is not None:
                first = claimed.setdefault(result.user_id, person)
                if first is not person:
                    self._fail(person, f"is the same Learnifier user ({result.user_id}) as row {first.row}")
                    continue
            targets.append(result)
        return targets

    def _fail(self, person: Person, reason: str) -> None:
        self.log.warning(
            "Learnifier enrollment of %s (row %d) failed: %s",
            shown(person.label),
            person.row,
            shown(reason, limit=500),
        )
        self.tally.fail(person.row, person.label, reason, row=person.row)

    # ------------------------------------------------------------------ users

    def _resolve(self, person: Person) -> _Resolved | None:
        """Find the person's user, or create it; ``None`` when that failed (recorded)."""
        try:
            if self.index is None:
                return _Resolved(person, person.user_id)
            user = self.index.find(person)
            if user is not None:
                return _Resolved(person, id_text(user["id"]))
            if person.user_id:
                self._fail(person, f"no Learnifier user has the id {person.user_id!r}")
                return None
            if not self.options.create_missing_users:
                self._fail(
                    person, f"no Learnifier user has {_identifiers(person)}, and create_missing_users is off"
                )
                return None
            if self.options.dry_run:
                self.tally.add("created_users", person.row, person.label)
                return _Resolved(person, None)
            user_id, created = self._create_user(person)
            self.index.remember(person, user_id)
            if created:
                self.tally.add("created_users", person.row, person.label)
            return _Resolved(person, user_id)
        except UserMismatch as mismatch:
            self._fail(person, str(mismatch))
        except LearnifierUncertainWriteError as error:
            # Counted apart from the failures' reasons, so that no user this run made goes unreported.
            self.tally.add("users_maybe_created", person.row, person.label)
            self._fail(person, f"the user may have been created (the next run finds it): {error}")
        except (LearnifierError, ValueError) as error:
            self._fail(person, f"finding or creating the user failed: {error}")
        return None

    def _create_user(self, person: Person) -> tuple[str, bool]:
        """Create the person's user; return its id and whether this run created it."""
        fields: dict[str, Any] = {
            "primary_email": person.email,
            "external_id": person.external_id,
            "first_name": person.first_name,
            "last_name": person.last_name,
            "display_name": person.display_name,
            "locale": person.locale,
            "home_org": person.home_org if person.home_org is not None else self.options.home_org,
            "hard_lock": person.hard_lock,
        }

        def existing(conflict: LearnifierConflictError) -> str:
            # Made meanwhile (by another run, or by our first attempt whose answer was lost), or
            # somebody else holds the email: the user Learnifier names must be this person.
            if conflict.existing_id is None:
                raise conflict
            return self._checked_user(person, self.hook.get_user(conflict.existing_id), "answered 409 for")

        return write_once(
            lambda: self.hook.create_user(**fields),
            # Only the external id can be looked up directly; for a person known by email alone,
            # the second POST tells, since Learnifier answers 409 with the id of the user it made.
            read_back=(lambda: self._user_created_without_answer(person)) if person.external_id else None,
            what=f"creating the user of {shown(person.label)}",
            # Learnifier refuses a second user only with a taken email (the spec's one 409): without
            # an email, a second POST while the first may still be applied could make the person
            # twice. So it is not sent: the user is read again for a while, then reported in
            # "users_maybe_created", and the next run finds it.
            deduplicated=bool(person.email),
            on_conflict=existing,
            settle=SETTLE_PAUSES,
            log=self.log,
        )

    def _checked_user(self, person: Person, user: Mapping[str, Any], how: str) -> str:
        """Return the id of ``user`` if it is ``person``; else raise :class:`UserMismatch` naming both."""
        mismatch = identity_mismatch(person, user)
        if mismatch is not None:
            raise UserMismatch(f"Learnifier {how} {shown(person.label)}, but {mismatch}")
        return id_text(user["id"])

    def _user_created_without_answer(self, person: Person) -> str | None:
        """After a lost answer, find the user by the person's external id if the POST was applied."""
        assert person.external_id
        try:
            user = self.hook.get_user_by_external_id(person.external_id)
        except LearnifierNotFoundError:
            return None
        return self._checked_user(person, user, "found by external id")

    # ------------------------------------------------------------------ participants

    def _enroll(self, target: _Resolved) -> None:
        """Make the person a participant and activate them; a failure is recorded, not raised."""
        person, user_id = target.person, target.user_id
        step = "adding the participant"
        try:
            participant = self.participants_by_user.get(user_id) if user_id else None
            enrolled_before = participant is not None
            if participant is None:
                if self.options.dry_run or user_id is None:
                    self.tally.add("enrolled", person.row, person.label)
                    if self.options.activate:
                        self.tally.add("activated", person.row, person.label)
                    return
                participant, added = self._add_participant(user_id)
                self.tally.add("enrolled" if added else "already_enrolled", person.row, person.label)
            else:
                added = False
                self.tally.add("already_enrolled", person.row, person.label)
            participant_id = id_text(participant["id"])
            self.tally.add("participant_ids", person.row, (person.label, participant_id))
            listed = activation_state(participant)
            if not self.options.activate or listed is True:
                return
            if not (added or enrolled_before):
                # Another run added them while this one ran: that run activates them.
                self.log.info(
                    "%s was added to the project by another run meanwhile; that run activates them",
                    shown(person.label),
                )
                return
            step = "activating the participant"
            assert user_id is not None
            if not added and (listed is None or not self.options.dry_run):
                # Enrolled before this run: an overlapping run may have activated them meanwhile,
                # and a listing that did not say must not lead to a second activation.
                step = "reading whether the participant is activated"
                now = read_activation(self.hook, self.org_id, self.project_id, user_id, participant_id)
                if now is True:
                    self.log.info(
                        "Participant %s is activated already%s",
                        participant_id,
                        " (by another run meanwhile)" if listed is False else "",
                    )
                    return
                if now is None and listed is None:
                    self._activation_unknown(person, participant_id)
                    return
                step = "activating the participant"
            if not self.options.dry_run:
                self._activate(user_id, participant_id)
            self.tally.add("activated", person.row, person.label)
        except (LearnifierError, ValueError) as error:
            self._fail(person, f"{step} failed: {error}")

    def _add_participant(self, user_id: str) -> tuple[Mapping[str, Any], bool]:
        """Add the user to the project; return the participant and whether this run added it."""

        def send() -> Mapping[str, Any]:
            participant_id = self.hook.add_participant(self.org_id, self.project_id, user_id=user_id)
            if participant_id is not None:
                return {"id": participant_id, "userId": user_id, "activated": False}
            found = self._read_participant(user_id)
            if found is None:
                raise LearnifierResponseError(
                    f"Learnifier added user {user_id} to project {self.project_id} without saying as "
                    "which participant, and the participant is not listed"
                )
            return found

        def existing(conflict: LearnifierConflictError) -> Mapping[str, Any]:
            # The participant a 409 names is used only as the project's listing shows it: the
            # participation of this very user.
            found = self._read_participant(user_id)
            if found is None:
                raise LearnifierResponseError(
                    f"Learnifier answered 409 to adding user {user_id} to project {self.project_id} "
                    f"(naming participant {conflict.existing_id}), but the user is not among its participants"
                ) from conflict
            return found

        return write_once(
            send,
            read_back=lambda: self._read_participant(user_id),
            what=f"adding user {user_id} to project {self.project_id}",
            deduplicated=True,
            on_conflict=existing,
            log=self.log,
        )

    def _activation_unknown(self, person: Person, participant_id: str) -> None:
        self.log.warning(
            "Not activating %s (participant %s): neither the project's participants nor the user's "
            "participations say whether it is activated, and a second activation may mail them again. "
            "Check it in Learnifier.",
            shown(person.label),
            participant_id,
        )
        self.tally.add("activation_unknown", person.row, person.label)

    def _activate(self, user_id: str, participant_id: str) -> None:
        """Activate the participant; never send it twice in one run."""

        def send() -> bool:
            self.hook.activate_participant(self.org_id, self.project_id, participant_id)
            return True

        def read_back() -> bool | None:
            return True if activation_state(self._read_participant(user_id)) else None

        write_once(
            send,
            read_back=read_back,
            what=f"activating participant {participant_id}",
            deduplicated=False,
            send_again=False,  # an activation may mail the person: never twice in one run
            log=self.log,
        )

    def _read_participant(self, user_id: str) -> Mapping[str, Any] | None:
        """Read the project's participants again and return the user's participation, if any."""
        for participant in self.hook.list_participants(self.org_id, self.project_id):
            if id_text(participant.get("userId")) == user_id:
                return participant
        return None

    # ------------------------------------------------------------------ removal

    def _remove_missing(self, roster: Roster, targets: list[_Resolved], unresolved: int) -> JsonObject:
        """Remove the participants that are nobody on the roster, unless in doubt or too many.

        :return: what goes into the summary: ``removal_skipped`` (why nobody was removed, on
            doubt), or ``removal_refused`` and ``would_remove`` (the guard), or nothing.
        """
        doubt = _removal_doubt(roster, unresolved)
        if doubt is not None:
            self.log.warning("Not removing missing participants: %s", doubt)
            return {"removal_skipped": doubt}
        missing = self._missing_participants(roster, targets)
        current = len(self.participants_by_user)
        limit = self.options.max_removals
        if limit is not None and not limit.allows(len(missing), current):
            reason = (
                f"removing {len(missing)} of the project's {current} participant(s) is more than "
                f"max_removals allows ({limit}); no participant was removed"
            )
            self.log.error("Not removing missing participants: %s", reason)
            return {"removal_refused": reason, "would_remove": [label for label, _ in missing]}
        self._remove(missing, first_row=roster.size + 1)
        return {}

    def _missing_participants(
        self, roster: Roster, targets: list[_Resolved]
    ) -> list[tuple[str, Mapping[str, Any]]]:
        """The participants that are nobody on the roster, each with its label, in the labels' order.

        A participant stays when their user is anyone on the roster, even someone whose row
        failed: by the user id a row resolved to, or by a row's user id, external id or email.
        """
        assert self.index is not None
        index = self.index
        user_ids = {target.user_id for target in targets if target.user_id}
        user_ids.update(person.user_id for person in roster.people if person.user_id)
        external_ids = {person.external_id for person in roster.people if person.external_id}
        emails = {person.email.casefold() for person in roster.people if person.email}

        def on_roster(user_id: str) -> bool:
            user = index.by_id.get(user_id) or {}
            return (
                user_id in user_ids
                or user.get("externalId") in external_ids
                or str(user.get("primaryEmail") or "").casefold() in emails
            )

        return sorted(
            (
                (self._participant_label(participant), participant)
                for user_id, participant in self.participants_by_user.items()
                if not on_roster(user_id)
            ),
            key=lambda item: item[0],
        )

    def _remove(self, missing: list[tuple[str, Mapping[str, Any]]], *, first_row: int) -> None:
        """Remove the participants (a dry run only counts them), concurrently; failures are recorded.

        :param first_row: the summary's row number of the first of them (after the roster's rows).
        """
        self.log.info(
            "%s %d participant(s) that are not on the roster",
            "Would remove" if self.options.dry_run else "Removing",
            len(missing),
        )
        order = {id(participant): first_row + n for n, (_, participant) in enumerate(missing)}

        def remove(item: tuple[str, Mapping[str, Any]]) -> None:
            label, participant = item
            try:
                if not self.options.dry_run:
                    try:
                        self.hook.delete_participant(self.org_id, self.project_id, id_text(participant["id"]))
                    except LearnifierNotFoundError:
                        self.log.info("Participant %s was already removed", participant["id"])
                self.tally.add("removed", order[id(participant)], label)
            except LearnifierError as error:
                self.log.warning("Removing participant %s (%s) failed: %s", participant["id"], label, error)
                self.tally.fail(order[id(participant)], label, f"removing the participant failed: {error}")

        run_concurrently(remove, missing, max_workers=self.options.max_concurrency, stop=self.stop)

    def _participant_label(self, participant: Mapping[str, Any]) -> str:
        user_id = id_text(participant.get("userId"))
        user = self.index.by_id.get(user_id) if self.index is not None else None
        if user:
            return str(user.get("externalId") or user.get("primaryEmail") or user_id)
        return user_id


def _removal_doubt(roster: Roster, unresolved: int) -> str | None:
    """Why the people the roster meant are not all known (so nobody may be removed), or ``None``."""
    doubt = []
    if roster.problems:
        doubt.append(f"{len(roster.problems)} roster row(s) are bad")
    if unresolved:
        doubt.append(f"{unresolved} roster row(s) could not be matched to a Learnifier user")
    if not doubt:
        return None
    return f"{' and '.join(doubt)}, so the people they meant are unknown; no participant was removed"


def _identifiers(person: Person) -> str:
    parts = []
    if person.external_id:
        parts.append(f"the external id {person.external_id!r}")
    if person.email:
        parts.append(f"the email {person.email!r}")
    return " or ".join(parts) or "these identifiers"
