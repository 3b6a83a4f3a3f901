"""The work of the assignment policy operators: plan a policy against Learnifier, and apply a plan.

Imported only when a task runs. :func:`make_plan` reads, and only reads: the account's users
once (its pages), then per course one project lookup and one participant listing, and the
participations of a selected participant whom the listing does not say is activated or not. It compares
what each course's selector selects with the course's participants, and gives a
:class:`PolicyPlan`. :func:`apply_plan` then applies it course by course through
:class:`~airflow_provider_learnifier.operators._enrollment.Enrollment`, the engine of
:class:`~airflow_provider_learnifier.operators.participants.LearnifierEnrollOperator`, reusing
what the plan read.

A plan's id is four digests joined by dashes: of the policy (with the date that relative dates
count from), of the roster, of the state read from Learnifier (the projects and their
participants), and of what the plan does (which also changes when a roster person's user
changed). An apply given a plan id compares each part and names what changed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_provider_learnifier.exceptions import LearnifierError, LearnifierInputError
from airflow_provider_learnifier.operators._base import id_text, shown
from airflow_provider_learnifier.operators._bulk import UserIndex, UserMismatch
from airflow_provider_learnifier.operators._enrollment import read_activation
from airflow_provider_learnifier.operators._roster import PERSON_FIELDS
from airflow_provider_learnifier.policy import Course, Policy, Selection, canonical_json, select
from airflow_provider_learnifier.progress import activation_state

if TYPE_CHECKING:
    import threading

    from airflow_provider_learnifier.hooks.learnifier import LearnifierHook
    from airflow_provider_learnifier.operators._roster import Person, Roster

JsonObject = dict[str, Any]

#: The actions of a plan, in the order they are reported.
ACTIONS = ("add", "activate", "remove", "keep")
#: How many people per action and course the logged table lists.
LISTED_PEOPLE = 10


class PlanChangedError(LearnifierInputError):
    """The plan an apply was given is not the plan of the current policy, roster and state."""


@dataclass
class CoursePlan:
    """What a policy means for one course: who to add, activate, remove and keep.

    ``remove`` is what an apply removes; ``held`` is who it would remove were removal not held
    back (the roster has invalid rows); ``unknown``: participants kept because neither the listing
    nor their participations said whether they are activated (an apply reads them again, and
    activates none that is still unknown: a second activation may mail the person again).
    """

    course: Course
    project: Mapping[str, Any]
    participants: Sequence[Mapping[str, Any]]
    selected: list[Person]
    add: list[str] = field(default_factory=list)
    activate: list[str] = field(default_factory=list)
    remove: list[str] = field(default_factory=list)
    keep: list[str] = field(default_factory=list)
    held: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    plan_id: str = ""

    @property
    def project_id(self) -> str:
        """The project's id, as text."""
        return id_text(self.project["id"])

    @property
    def org_id(self) -> str:
        """The project's organization unit id, as text."""
        return id_text(self.project["orgId"])

    def counts(self) -> dict[str, int]:
        """How many people each action concerns."""
        return {action: len(getattr(self, action)) for action in ACTIONS}

    def entry(self, **extra: Any) -> JsonObject:
        """The course's line of the summary."""
        entry: JsonObject = {
            "course": self.course.key,
            "name": self.course.name,
            "project_id": self.project_id,
            "org_id": self.org_id,
            "project_external_id": self.project.get("externalId"),
            "project_name": self.project.get("name"),
            "plan_id": self.plan_id,
            "remove_enabled": self.course.remove,
            "counts": self.counts(),
        }
        if self.held:
            entry["removal_held"] = len(self.held)
        if self.unknown:
            entry["activation_unknown"] = len(self.unknown)
        entry.update(extra)
        return entry


@dataclass
class PolicyPlan:
    """A policy's plan over the courses in scope.

    :param refused: the removal guards that trip, one message each (an apply then changes nothing).
    :param hold_reason: why no participant is removed anywhere (invalid rows), or ``None``.
    """

    policy: Policy
    reference: dt.date
    courses: list[CoursePlan]
    selection: Selection
    plan_id: str
    refused: list[str]
    hold_reason: str | None
    resolved: dict[int, str | None]

    def summary(self) -> JsonObject:
        """The JSON summary returned in XCom."""
        return {
            "plan_id": self.plan_id,
            "reference_date": self.reference.isoformat(),
            "courses": [course.entry() for course in self.courses],
            "totals": {action: sum(len(getattr(c, action)) for c in self.courses) for action in ACTIONS},
            "unmatched": len(self.selection.unmatched),
            "invalid": len(self.selection.invalid),
            "refused": list(self.refused),
            "removal_held": self.hold_reason,
        }

    def full(self) -> JsonObject:
        """The whole plan: the summary, with the people of each action of each course."""
        full = self.summary()
        for entry, course in zip(full["courses"], self.courses, strict=True):
            entry["people"] = {action: list(getattr(course, action)) for action in ACTIONS}
            if course.held:
                entry["people"]["held"] = list(course.held)
            if course.unknown:
                entry["people"]["activation_unknown"] = list(course.unknown)
        full["unmatched_people"] = [person.label for person in self.selection.unmatched]
        full["invalid_rows"] = list(self.selection.invalid)
        return full

    @property
    def changes(self) -> int:
        """How many changes the plan makes: adds, activations and removals."""
        return sum(len(c.add) + len(c.activate) + len(c.remove) for c in self.courses)

    def table(self) -> str:
        """The plan as a readable table, the way ``terraform plan`` prints one."""
        width = max([len("COURSE"), *(len(shown(c.course.name, limit=48)) for c in self.courses)])
        lines = [
            f"Learnifier assignment plan {self.plan_id} (dates relative to {self.reference.isoformat()})",
            "",
            f"  {'COURSE':<{width}}  {'ADD':>6}  {'ACTIVATE':>8}  {'REMOVE':>13}  {'KEEP':>6}",
        ]
        for course in self.courses:
            counts = course.counts()
            remove = f"{counts['remove']}" + (f" (+{len(course.held)} held)" if course.held else "")
            if not course.course.remove:
                remove = "-"
            lines.append(
                f"  {shown(course.course.name, limit=48):<{width}}  {counts['add']:>6}  "
                f"{counts['activate']:>8}  {remove:>13}  {counts['keep']:>6}"
            )
        for course in self.courses:
            marks = (("+", "add"), ("~", "activate"), ("-", "remove"))
            listed = [(mark, label) for mark, action in marks for label in getattr(course, action)]
            if not listed:
                continue
            lines.append("")
            lines.append(f"  {shown(course.course.name)} (project {course.org_id}/{course.project_id}):")
            for mark, label in listed[:LISTED_PEOPLE]:
                lines.append(f"    {mark} {shown(label)}")
            if len(listed) > LISTED_PEOPLE:
                lines.append(f"    ... and {len(listed) - LISTED_PEOPLE} more (the full plan lists everyone)")
        lines.append("")
        lines.append(
            f"  {len(self.selection.unmatched)} roster row(s) match no course; "
            f"{len(self.selection.invalid)} row(s) are invalid."
        )
        for problem in self.selection.invalid[:LISTED_PEOPLE]:
            lines.append(
                f"    ! row {problem.get('row')} {shown(problem.get('person'))}: "
                f"{shown(problem.get('reason'), limit=200)}"
            )
        if len(self.selection.invalid) > LISTED_PEOPLE:
            lines.append(f"    ... and {len(self.selection.invalid) - LISTED_PEOPLE} more")
        if self.hold_reason:
            lines.append(f"  Removal held: {self.hold_reason}.")
        unknown = sum(len(course.unknown) for course in self.courses)
        if unknown:
            lines.append(
                f"  {unknown} kept participant(s): Learnifier does not say whether they are activated; "
                "the apply does not activate them (a second activation may mail them again)."
            )
        for message in self.refused:
            lines.append(f"  Refused: {message}")
        totals = self.summary()["totals"]
        if self.changes:
            lines.append(
                f"Plan: {totals['add']} to add, {totals['activate']} to activate, "
                f"{totals['remove']} to remove, {totals['keep']} kept."
            )
        else:
            lines.append(f"No changes. Learnifier matches the policy ({totals['keep']} kept).")
        return "\n".join(lines)


# ---------------------------------------------------------------------- planning


def make_plan(
    hook: LearnifierHook,
    policy: Policy,
    roster: Roster,
    *,
    reference: dt.date,
    courses: Sequence[Course] | None = None,
    create_missing_users: bool = True,
    index: UserIndex | None = None,
    log: logging.Logger | Any = None,
) -> tuple[PolicyPlan, UserIndex]:
    """Plan the policy's ``courses`` (default: all of them); read Learnifier, change nothing.

    :return: the plan, and the user index it read (an apply reuses it).
    """
    log = log or logging.getLogger(__name__)
    scope = list(courses if courses is not None else policy.courses)
    selection = select(policy, roster, reference)
    if index is None:
        index = UserIndex.load(hook)
    invalid = list(selection.invalid)
    wanted = {person.row: person for course in scope for person in selection.chosen[course.key]}
    resolved: dict[int, str | None] = {}
    for row, person in sorted(wanted.items()):
        problem = None
        try:
            user = index.find(person)
        except UserMismatch as mismatch:
            problem = str(mismatch)
        else:
            if user is not None:
                resolved[row] = id_text(user["id"])
            elif person.user_id:
                problem = f"no Learnifier user has the id {person.user_id!r}"
            elif not create_missing_users:
                problem = "has no Learnifier user, and create_missing_users is off"
            else:
                resolved[row] = None
        if problem is not None:
            invalid.append({"person": person.label, "row": row, "reason": problem})
    invalid.sort(key=lambda problem: problem.get("row") or 0)
    selection = Selection(chosen=selection.chosen, unmatched=selection.unmatched, invalid=invalid)
    hold_reason = None
    if invalid and any(course.remove for course in scope):
        hold_reason = (
            f"{len(invalid)} roster row(s) are invalid, so the people they meant are unknown; "
            "no participant is removed from any course"
        )

    plans = []
    seen_projects: dict[str, str] = {}
    for course in scope:
        project = hook.resolve_project(
            org_id=course.org_id, project_id=course.project_id, external_id=course.project_external_id
        )
        ids = f"{id_text(project['orgId'])}/{id_text(project['id'])}"
        if ids in seen_projects:
            raise LearnifierInputError(
                f"{course.label} and {seen_projects[ids]} of the policy are the same project ({ids})"
            )
        seen_projects[ids] = course.label
        participants: list[Mapping[str, Any]] = list(hook.list_participants(project["orgId"], project["id"]))
        people = [person for person in selection.chosen[course.key] if person.row in resolved]
        if course.activate:
            selected_users = {user_id for person in people if (user_id := resolved[person.row])}
            participants = _read_activations(hook, project, participants, selected_users)
        plans.append(_plan_course(course, project, participants, people, resolved, index, hold_reason))

    refused = _guards(policy, plans)
    policy_part = _digest(
        {
            "courses": [course.document for course in scope],
            "defaults": policy.document.get("defaults"),
            "max_total_removals": policy.max_total_removals,
            "reference": reference.isoformat(),
        }
    )
    roster_part = roster_digest(roster)
    for course_plan in plans:
        course_policy = _digest(
            {
                "courses": [course_plan.course.document],
                "defaults": policy.document.get("defaults"),
                "max_total_removals": policy.max_total_removals,
                "reference": reference.isoformat(),
            }
        )
        course_plan.plan_id = _plan_id(
            course_policy, roster_part, _digest(_state(course_plan, index)), _digest(_actions(course_plan))
        )
    state_part = _digest([_state(course_plan, index) for course_plan in plans])
    actions_part = _digest(
        {"courses": [_actions(course_plan) for course_plan in plans], "invalid": selection.invalid}
    )
    plan = PolicyPlan(
        policy=policy,
        reference=reference,
        courses=plans,
        selection=selection,
        plan_id=_plan_id(policy_part, roster_part, state_part, actions_part),
        refused=refused,
        hold_reason=hold_reason,
        resolved=resolved,
    )
    return plan, index


def _read_activations(
    hook: LearnifierHook,
    project: Mapping[str, Any],
    participants: Sequence[Mapping[str, Any]],
    user_ids: set[str],
) -> list[Mapping[str, Any]]:
    """Read, as the apply's engine does, whether the selected participants that the listing does
    not say are activated are; return the participants, those with ``activated`` as read."""
    org_id, project_id = id_text(project["orgId"]), id_text(project["id"])
    settled = []
    for participant in participants:
        user_id = id_text(participant.get("userId"))
        if user_id in user_ids and activation_state(participant) is None:
            now = read_activation(hook, org_id, project_id, user_id, id_text(participant["id"]))
            if now is not None:
                participant = {**participant, "activated": now}
        settled.append(participant)
    return settled


def _plan_course(
    course: Course,
    project: Mapping[str, Any],
    participants: Sequence[Mapping[str, Any]],
    people: list[Person],
    resolved: Mapping[int, str | None],
    index: UserIndex,
    hold_reason: str | None,
) -> CoursePlan:
    plan = CoursePlan(course=course, project=project, participants=participants, selected=people)
    by_user = {id_text(p["userId"]): p for p in participants if p.get("userId")}
    claimed: set[str] = set()
    for person in people:
        user_id = resolved[person.row]
        participant = by_user.get(user_id) if user_id else None
        if user_id:
            claimed.add(user_id)
        if participant is None:
            plan.add.append(person.label)
        elif course.activate and activation_state(participant) is None:
            # The spec lets answers leave ``activated`` out: unknown is not "to activate".
            plan.keep.append(person.label)
            plan.unknown.append(person.label)
        elif course.activate and activation_state(participant) is False:
            plan.activate.append(person.label)
        else:
            plan.keep.append(person.label)
    if course.remove:
        external_ids = {person.external_id for person in people if person.external_id}
        emails = {person.email.casefold() for person in people if person.email}
        for user_id in sorted(by_user):
            user = index.by_id.get(user_id) or {}
            if (
                user_id in claimed
                or user.get("externalId") in external_ids
                or str(user.get("primaryEmail") or "").casefold() in emails
            ):
                continue
            label = str(user.get("externalId") or user.get("primaryEmail") or user_id)
            (plan.held if hold_reason else plan.remove).append(label)
        plan.remove.sort()
        plan.held.sort()
    return plan


def _guards(policy: Policy, plans: Sequence[CoursePlan]) -> list[str]:
    refused = []
    for plan in plans:
        limit = plan.course.max_removals
        removals = len(plan.remove)
        if removals and limit is not None and not limit.allows(removals, len(plan.participants)):
            refused.append(
                f"{plan.course.label}: removing {removals} of its {len(plan.participants)} participant(s) "
                f"is more than its max_removals allows ({limit})"
            )
    total = sum(len(plan.remove) for plan in plans)
    if policy.max_total_removals is not None and total > policy.max_total_removals:
        per_course = ", ".join(f"{plan.course.name}: {len(plan.remove)}" for plan in plans if plan.remove)
        refused.append(
            f"removing {total} participant(s) in all is more than max_total_removals "
            f"({policy.max_total_removals}) allows ({per_course})"
        )
    return refused


def _actions(plan: CoursePlan) -> JsonObject:
    """What the plan of one course does, for its digest: who is found to be whom matters only
    through it (a user that another course's apply created meanwhile changes nothing here)."""
    return {action: getattr(plan, action) for action in (*ACTIONS, "held")}


def _state(plan: CoursePlan, index: UserIndex) -> JsonObject:
    """What the plan of one course read from Learnifier, for its digest."""
    users = []
    for participant in plan.participants:
        user = index.by_id.get(id_text(participant.get("userId"))) or {}
        users.append([id_text(participant.get("userId")), user.get("externalId"), user.get("primaryEmail")])
    return {
        "project": [plan.org_id, plan.project_id],
        "participants": sorted(
            [id_text(p.get("id")), id_text(p.get("userId")), activation_state(p)] for p in plan.participants
        ),
        "participant_users": sorted(users, key=str),
    }


def roster_digest(roster: Roster) -> str:
    """A digest of a roster's rows: equal for rosters with equal rows in equal order."""
    rows = [
        {
            "row": person.row,
            "fields": {
                name: getattr(person, name) for name in PERSON_FIELDS if getattr(person, name) is not None
            },
            "attributes": dict(person.attributes),
        }
        for person in roster.people
    ]
    return _digest({"people": rows, "problems": roster.problems})


def _digest(value: Any) -> str:
    return hashlib.sha256(canonical_json(value).encode()).hexdigest()


def _plan_id(policy_part: str, roster_part: str, state_part: str, actions_part: str) -> str:
    return f"{policy_part[:8]}-{roster_part[:8]}-{state_part[:8]}-{actions_part[:8]}"


def check_plan_id(expected: str, plan: PolicyPlan, *, course: str | None = None) -> None:
    """Refuse unless ``expected`` is the plan's id (or, with one course in scope, that course's).

    :param course: the course the apply was limited to, if any (the error then says which id to give).
    :raises PlanChangedError: naming what changed: the policy, the roster, or Learnifier's state.
    """
    expected = str(expected).strip()
    current = [plan.plan_id]
    if len(plan.courses) == 1:
        current.append(plan.courses[0].plan_id)
    if expected in current:
        return
    parts = expected.split("-")
    changed = []
    if len(parts) == 4:
        now = [value.split("-") for value in current]
        names = (
            "the policy (or the date its relative dates count from)",
            "the roster",
            "Learnifier's state (the courses' participants)",
        )
        for position, name in enumerate(names):
            if all(parts[position] != other[position] for other in now):
                changed.append(name)
        if not changed:
            changed.append("Learnifier's users (who the roster's people are)")
    what = " and ".join(changed) if changed else "the plan's inputs"
    hint = ""
    if course is not None:
        hint = (
            f" An apply limited to course {shown(course)!r} compares its plan_id with that course's own "
            "(the plan_id of its entry in the plan's courses), not with the whole plan's."
        )
    raise PlanChangedError(
        f"the approved plan {shown(expected)} is not the plan now ({plan.plan_id}): {what} changed since. "
        f"Nothing was changed; plan again and approve the new plan.{hint}"
    )


# ---------------------------------------------------------------------- applying


def apply_plan(
    hook: LearnifierHook,
    plan: PolicyPlan,
    index: UserIndex,
    *,
    create_missing_users: bool,
    max_concurrency: int,
    stop: threading.Event | None = None,
    log: logging.Logger | Any = None,
) -> JsonObject:
    """Apply a plan course by course with the enroll operator's engine; return the summary.

    The plan's guards must have been checked. Each course's removals are capped at what the plan
    counted: participants that appeared since are not removed (the course's summary says so).
    """
    from airflow_provider_learnifier.operators._enrollment import Enrollment, EnrollmentOptions
    from airflow_provider_learnifier.operators._removal_limit import RemovalLimit
    from airflow_provider_learnifier.operators._roster import Roster as RosterType

    log = log or logging.getLogger(__name__)
    entries = []
    failed_total = 0
    for course_plan in plan.courses:
        course = course_plan.course
        remove = course.remove and plan.hold_reason is None
        options = EnrollmentOptions(
            activate=course.activate,
            create_missing_users=create_missing_users,
            home_org=course_plan.project["orgId"],
            remove_missing=remove,
            max_removals=RemovalLimit(count=len(course_plan.remove)),
            dry_run=False,
            max_concurrency=max_concurrency,
        )
        enrollment = Enrollment(hook, course_plan.project, options, stop=stop, log=log)
        people = RosterType(people=list(course_plan.selected), problems=[], ignored_columns=[])
        try:
            result = enrollment.run(people, participants=course_plan.participants, index=index)
        except LearnifierError as error:
            # A listing that could not be read: this course is not done; the others go on.
            log.error("Applying the policy to %s failed: %s", course.label, error)
            failures = [{"person": None, "reason": f"the course could not be applied: {error}"}]
            entries.append(course_plan.entry(counts=dict.fromkeys(ACTIONS, 0), failed=failures))
            failed_total += 1
            continue
        enrolled = set(result["enrolled"])
        activated = set(result["activated"])
        counts = {
            "add": len(result["enrolled"]),
            "activate": len(activated - enrolled),
            "remove": len(result["removed"]),
            "keep": len(set(result["already_enrolled"]) - activated),
        }
        failures = list(result["failed"])
        extra: JsonObject = {}
        if "removal_refused" in result:
            reason = (
                f"more participants to remove than the plan counted ({len(result['would_remove'])} now, "
                f"{len(course_plan.remove)} planned): the state changed while applying; nobody was removed"
            )
            failures.append({"person": None, "reason": reason})
            extra["would_remove"] = result["would_remove"]
        if "removal_skipped" in result:
            extra["removal_skipped"] = result["removal_skipped"]
        if result["users_maybe_created"]:
            extra["users_maybe_created"] = result["users_maybe_created"]
        if result["activation_unknown"] or course_plan.unknown:
            extra["activation_unknown"] = len(result["activation_unknown"])
        if result["activation_unknown"]:
            extra["activation_unknown_people"] = result["activation_unknown"]
        entries.append(course_plan.entry(counts=counts, failed=failures, **extra))
        failed_total += len(failures)
        log.info(
            "%s: added %d, activated %d, removed %d, kept %d, failed %d",
            course.label,
            counts["add"],
            counts["activate"],
            counts["remove"],
            counts["keep"],
            len(failures),
        )
    summary = plan.summary()
    summary["courses"] = entries
    summary["totals"] = {action: sum(entry["counts"][action] for entry in entries) for action in ACTIONS}
    summary["failed"] = failed_total
    return summary


def write_plan(path: Any, plan: PolicyPlan) -> str:
    """Write the full plan as JSON to a local path or an object-store URL; return where."""
    from airflow_provider_learnifier.operators._roster import roster_file

    target = roster_file(str(path)) if isinstance(path, str) else path
    if target is None:
        raise LearnifierInputError(f"plan_path must be a file path or URL, not {shown(path)!r}")
    # A local path (pathlib's own classes, in "pathlib._local" since Python 3.13): make its folder.
    # Object stores have no folders (ObjectStoragePath may subclass Path too).
    if isinstance(target, Path) and type(target).__module__.partition(".")[0] == "pathlib":
        target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(plan.full(), indent=2, ensure_ascii=False) + "\n")
    return str(target)
