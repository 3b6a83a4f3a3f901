"""Operators that plan and apply an assignment policy: who must take which course.

See :doc:`/guides/assignment-policy`. Importing this module is cheap: PyYAML, jsonschema, the hook
and the enrollment engine are imported when a task runs.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_learnifier._arguments import DEFAULT_CONN_ID
from airflow_provider_learnifier.exceptions import (
    LearnifierEnrollmentError,
    LearnifierInputError,
    LearnifierMassRemovalError,
)
from airflow_provider_learnifier.ids import blank
from airflow_provider_learnifier.operators._base import JsonObject, LearnifierBulkOperator, describe_failures

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_learnifier.hooks.learnifier import LearnifierHook
    from airflow_provider_learnifier.operators._bulk import UserIndex
    from airflow_provider_learnifier.operators._policy import PolicyPlan

__all__ = ["LearnifierPolicyApplyOperator", "LearnifierPolicyPlanOperator"]

#: The XCom key of the summary of an apply that failed (``return_value`` of one that succeeded).
POLICY_SUMMARY_XCOM_KEY = "policy_summary"


class _LearnifierPolicyOperator(LearnifierBulkOperator):
    """What planning and applying share: reading the policy and the roster, and planning."""

    template_fields: Sequence[str] = (
        "policy",
        "roster",
        "course",
        "reference_date",
        "plan_path",
        "learnifier_conn_id",
    )
    template_ext: Sequence[str] = ()
    ui_color = "#e0ecf8"

    def __init__(
        self,
        *,
        policy: Any,
        roster: Any,
        course: str | int | None = None,
        reference_date: str | dt.date | None = None,
        create_missing_users: bool = True,
        plan_path: Any = None,
        learnifier_conn_id: str = DEFAULT_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(learnifier_conn_id=learnifier_conn_id, **kwargs)
        self.policy = policy
        self.roster = roster
        self.course = course
        self.reference_date = reference_date
        self.create_missing_users = create_missing_users
        self.plan_path = plan_path

    def _plan(self, hook: LearnifierHook, context: Context) -> tuple[PolicyPlan, UserIndex]:
        """Check the policy against the roster (before any request), then read and plan."""
        from airflow_provider_learnifier.operators._policy import make_plan, write_plan
        from airflow_provider_learnifier.operators._roster import read_roster
        from airflow_provider_learnifier.policy import PolicyError, validate_policy

        roster = read_roster(self.roster)
        try:
            policy = validate_policy(self.policy, roster=roster)
        except PolicyError as error:
            raise PolicyError(error.messages, source=f"{self.task_id}: the policy") from None
        courses = None if blank(self.course) else [policy.course(self.course)]  # type: ignore[arg-type]
        reference = self._reference_date(context)
        self.log.info(
            "Planning %d course(s) of the policy for %d roster row(s); dates relative to %s",
            len(courses or policy.courses),
            roster.size,
            reference.isoformat(),
        )
        plan, index = make_plan(
            hook,
            policy,
            roster,
            reference=reference,
            courses=courses,
            create_missing_users=self.create_missing_users,
            log=self.log,
        )
        self.log.info("%s", plan.table())
        if not blank(self.plan_path):
            self.log.info("The full plan is in %s", write_plan(self.plan_path, plan))
        return plan, index

    def _reference_date(self, context: Context) -> dt.date:
        """The date relative policy dates count from: ``reference_date``, else the run's logical
        date, else (a run without one) its ``run_after``, else today (UTC)."""
        value: Any = self.reference_date
        if blank(value):
            value = context.get("logical_date")
            if value is None:
                dag_run = context.get("dag_run")
                value = getattr(dag_run, "run_after", None)
        if value is None:
            return dt.datetime.now(dt.timezone.utc).date()
        if isinstance(value, dt.datetime):
            return value.astimezone(dt.timezone.utc).date() if value.tzinfo else value.date()
        if isinstance(value, dt.date):
            return value
        from airflow_provider_learnifier.policy import roster_date

        day = roster_date(value)
        if day is None:
            raise LearnifierInputError(f"{self.task_id}: reference_date {value!r} is not a date (YYYY-MM-DD)")
        return day


class LearnifierPolicyPlanOperator(_LearnifierPolicyOperator):
    """Plan an assignment policy: for each course, who would be added, activated, removed and kept.

    It reads, and only reads: the account's users (one paged listing), and per course one project
    lookup and one participant listing (and the participations of a selected participant whom the
    listing does not say is activated or not; see ``activation_unknown`` in
    :doc:`/guides/assignment-policy`). The policy is checked against its JSON Schema and the
    roster's columns before any request; a typo fails the task naming the course and the key.
    The plan is logged as a table, like ``terraform plan``, and returned (XCom)::

        {"plan_id": "…", "reference_date": "2026-12-07",
         "courses": [{"course", "name", "project_id", "org_id", "project_external_id", "plan_id",
                      "counts": {"add", "activate", "remove", "keep"}, ...}, ...],
         "totals": {"add", "activate", "remove", "keep"},
         "unmatched": N, "invalid": N, "refused": [guard messages], "removal_held": reason or None}

    Give the ``plan_id`` to :class:`LearnifierPolicyApplyOperator` so that it applies this plan
    and nothing else. See :doc:`/guides/assignment-policy`.

    :param policy: the policy: a dict, a YAML text, or the path of a YAML or JSON file (local or
        an object-store URL). Templated.
    :param roster: the people, read as
        :class:`~airflow_provider_learnifier.operators.participants.LearnifierEnrollOperator` reads
        them; other columns (department, hire date...) are what the selectors read. Templated.
    :param course: plan only this course (its project external id, ``org_id/project_id``, name
        or position): one course per mapped task. Templated.
    :param reference_date: the date relative dates (``-90d``) count from; default the run's
        logical date. Templated.
    :param create_missing_users: people without a Learnifier user get one (default); else they
        are invalid rows.
    :param plan_path: write the full plan (everyone per action and course) as JSON to this path
        or object-store URL. Templated.
    :param learnifier_conn_id: the Learnifier connection. Templated.
    """

    def execute_with_hook(self, hook: LearnifierHook, context: Context) -> JsonObject:
        """Plan; return the summary."""
        plan, _ = self._plan(hook, context)
        return plan.summary()


class LearnifierPolicyApplyOperator(_LearnifierPolicyOperator):
    """Apply an assignment policy: plan it, then enroll, activate and remove, course by course.

    Each course goes through the engine of
    :class:`~airflow_provider_learnifier.operators.participants.LearnifierEnrollOperator`: users
    are found before any is created and checked to be the person, a write whose answer was lost
    is read back before it is sent again, and overlapping runs do not activate anyone twice. A
    second apply with the same inputs changes nothing, and so does a rerun after a crash.

    **Guards**, checked on the whole plan before any change: each course's ``max_removals``
    (default: more than 10% and more than 10 people is refused) and the policy's
    ``max_total_removals``. When one trips, nothing is changed anywhere and the task fails with
    :class:`~airflow_provider_learnifier.exceptions.LearnifierMassRemovalError` naming the courses
    and counts. Invalid roster rows: more than ``max_failures`` fail the task before any change;
    fewer are reported, and then nobody is removed anywhere (their people are unknown).

    **Plan, approve, apply**: with ``plan_id`` (from :class:`LearnifierPolicyPlanOperator`), the
    apply refuses, changing nothing, unless the policy, the roster and Learnifier's state are
    still what was planned; the error says which changed.

    Returns the plan's summary with what was done: per course ``counts`` of people added,
    activated, removed and kept, and ``failed`` (who, and why); ``failed`` at the top counts them.
    When more than ``max_failures`` failed, the task fails at the end with
    :class:`~airflow_provider_learnifier.exceptions.LearnifierEnrollmentError`, and the summary is
    in the ``policy_summary`` XCom.

    Takes the arguments of :class:`LearnifierPolicyPlanOperator`, and:

    :param plan_id: apply only if the plan is still this one (a course's own ``plan_id`` with
        ``course``). Templated.
    :param allow_empty_roster: allow an empty roster when a course removes people (it would
        remove everyone).
    :param max_concurrency: at most this many requests at a time (default 8).
    :param max_failures: how many people may fail, or roster rows be invalid (default 0).
    """

    template_fields: Sequence[str] = (*_LearnifierPolicyOperator.template_fields, "plan_id")

    def __init__(
        self, *, plan_id: str | None = None, allow_empty_roster: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.plan_id = plan_id
        self.allow_empty_roster = allow_empty_roster
        self._stop_event: threading.Event | None = None

    def execute_with_hook(self, hook: LearnifierHook, context: Context) -> JsonObject:
        """Plan, check the plan id and the guards, apply; return the summary."""
        from airflow_provider_learnifier.operators._policy import apply_plan, check_plan_id

        plan, index = self._plan(hook, context)
        if not blank(self.plan_id):
            check_plan_id(str(self.plan_id), plan, course=None if blank(self.course) else str(self.course))
        removing = any(course_plan.course.remove for course_plan in plan.courses)
        if removing and not roster_people(plan) and not self.allow_empty_roster:
            raise LearnifierInputError(
                f"{self.task_id}: the roster is empty, and the policy would remove every participant of "
                "its removing courses; set allow_empty_roster=True if that is what you want"
            )
        if plan.refused:
            summary = plan.summary()
            context["ti"].xcom_push(key=POLICY_SUMMARY_XCOM_KEY, value=summary)
            raise LearnifierMassRemovalError(
                f"{self.task_id}: the plan removes more than the policy's guards allow; nothing was "
                "changed in any course:\n" + "\n".join(f"  - {message}" for message in plan.refused),
                failures=[],
                summary=summary,
            )
        invalid = plan.selection.invalid
        if self.too_many_failures(len(invalid)):
            raise LearnifierInputError(
                f"{self.task_id}: {len(invalid)} roster row(s) are invalid "
                f"(max_failures={self.max_failures}); nothing was changed:\n{describe_failures(invalid)}",
                problems=invalid,
            )
        if not plan.changes:
            self.log.info("Nothing to apply.")
        self._stop_event = threading.Event()
        summary = apply_plan(
            hook,
            plan,
            index,
            create_missing_users=self.create_missing_users,
            max_concurrency=self.max_concurrency,
            stop=self._stop_event,
            log=self.log,
        )
        failed = [
            failure | {"course": entry["course"]}
            for entry in summary["courses"]
            for failure in entry["failed"]
        ]
        if self.too_many_failures(len(failed) + len(invalid)):
            context["ti"].xcom_push(key=POLICY_SUMMARY_XCOM_KEY, value=summary)
            raise LearnifierEnrollmentError(
                f"{self.task_id}: {len(failed)} failure(s) applying the policy "
                f"(max_failures={self.max_failures}); everything else was done:\n{describe_failures(failed)}",
                failures=failed,
                summary=summary,
            )
        return summary

    def on_kill(self) -> None:
        """Stop starting people; requests in flight finish."""
        if self._stop_event is not None:
            self._stop_event.set()


def roster_people(plan: PolicyPlan) -> int:
    """How many good rows the planned roster had: selected by a course, or by none."""
    selected = {person.row for course_plan in plan.courses for person in course_plan.selected}
    return len(selected) + len(plan.selection.unmatched)
