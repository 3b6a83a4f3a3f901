"""Operators for a project's participants: enroll a roster, and make login links.

Importing this module is cheap: the hook, the thread pool and the CSV/JSON readers are
imported when a task runs.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_learnifier._arguments import DEFAULT_CONN_ID
from airflow_provider_learnifier.exceptions import (
    LearnifierBulkOperationError,
    LearnifierEnrollmentError,
    LearnifierInputError,
    LearnifierMassRemovalError,
)
from airflow_provider_learnifier.ids import id_list
from airflow_provider_learnifier.links.projects import LearnifierProjectLink
from airflow_provider_learnifier.operators._base import (
    JsonObject,
    LearnifierBulkOperator,
    describe_failures,
    id_text,
)
from airflow_provider_learnifier.operators._removal_limit import DEFAULT_MAX_REMOVALS, RemovalLimit

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context
    from airflow.providers.openlineage.extractors import OperatorLineage

    from airflow_provider_learnifier.hooks.learnifier import LearnifierHook
    from airflow_provider_learnifier.lineage import LineageRecord

__all__ = [
    "LearnifierEnrollOperator",
    "LearnifierLoginLinkOperator",
    "RemovalLimit",
]

#: The XCom key of the enrollment summary of a run that failed (``return_value`` of one that succeeded).
ENROLLMENT_SUMMARY_XCOM_KEY = "enrollment_summary"


class LearnifierEnrollOperator(LearnifierBulkOperator):
    """Enroll a roster of people in a Learnifier project: users, participants, activation.

    For each person of the roster, the operator makes sure that a Learnifier user exists
    (creating it when ``create_missing_users``), that the user is a participant of the project,
    and (with ``activate``) that the participant is activated. People are handled concurrently,
    with at most ``max_concurrency`` requests in flight over one HTTP session.

    It is idempotent: it reads the project's participants and the account's users first, treats
    a 409 as "already there", and when a request that creates something got no answer it reads
    the state again before trying once more. A rerun, or a retry after a crash half-way, ends in
    the same state without duplicate users or participants.

    **The roster** is a list of dicts (from XCom or params), a JSON or CSV text, or the path of
    a CSV, JSON or JSON Lines file, local or an :class:`~airflow.sdk.ObjectStoragePath`
    (``s3://bucket/people.csv``). Each person has an ``email``, an ``external_id`` or a
    ``user_id``, and optionally ``first_name``, ``last_name``, ``display_name``, ``locale``,
    ``home_org`` and ``hard_lock``, used when a user is created. Column names are forgiving
    (``Email``, ``externalId``...); other columns are ignored. A user is found by user id, else
    by external id, else by email (case-insensitive).

    Rows are checked before anything is changed: rows without an identifier, with a malformed
    email, or repeating another row's email, external id or user id are bad. When there are
    more bad rows than ``max_failures``, the task fails naming them and changes nothing; else
    they are reported as failures and the other rows are enrolled.

    **Failures** of one person (a refused activation, say) do not stop the others. The task
    returns a summary and fails at the end with :class:`LearnifierEnrollmentError` when more
    than ``max_failures`` people failed; the summary is then in XCom under
    ``enrollment_summary``.

    **Sync**: with ``remove_missing``, participants who are nobody on the roster are removed.
    It never acts on an incomplete picture: the account's whole user list is read (a listing that
    cannot be read to its end fails the task), and nobody is removed when a roster row is bad or
    could not be matched to a user (the summary's ``removal_skipped`` says why). A guard,
    ``max_removals``, refuses a sync that would remove more than usual: by default more than 10%
    of the participants and more than 10 people. Then no participant is removed, the task fails
    with :class:`LearnifierMassRemovalError` naming the count, and the summary in XCom
    (``enrollment_summary``) has ``removal_refused`` and ``would_remove``, who would have been
    removed. An empty roster with ``remove_missing`` is refused unless ``allow_empty_roster``.
    ``dry_run`` changes nothing and reports what would be done (a guard's refusal included,
    without failing).

    **Overlapping runs** of one project (a manual run during the scheduled one, two DAGs feeding
    one course) never activate a participant added while both ran twice: only the run whose add
    Learnifier accepted activates them. A participant enrolled but not activated before both runs
    is read again just before activation, which narrows the window but cannot close it; to close
    it, run every task that enrolls into one project in one Airflow pool with one slot.

    The result (JSON, in XCom)::

        {"project": {"org_id", "project_id", "name", "admin_url", ...},
         "dry_run": false,
         "created_users": [person, ...], "users_maybe_created": [...], "enrolled": [...],
         "already_enrolled": [...], "activated": [...], "activation_unknown": [...],
         "removed": [...], "failed": [{"person": ..., "row": ..., "reason": ...}, ...],
         "participant_ids": {person: participant_id, ...},
         "counts": {"roster", "created_users", "users_maybe_created", "enrolled",
                    "already_enrolled", "activated", "activation_unknown", "removed", "failed"}}

    A person is named by their external id, else their email, else their user id.
    ``users_maybe_created`` names the people whose user may have been created though no answer
    confirmed it (the create and its one resend got no clear answer, and the user could not be
    read back); they are also in ``failed``, and the next run finds their user. A person without
    an email whose create got no answer is never sent again (Learnifier refuses a second user
    only for a taken email): their user is read back by external id for a few seconds, and if it
    does not show, they are in ``users_maybe_created``.

    **Activation** is sent only to a participant known not to be activated: Learnifier's answers
    may leave ``activated`` out, and a second activation renews access and may mail the person
    again. When the listing does not say, an activation timestamp or an ``accessLink`` means
    activated; else the user's participations are read, and if they do not say either, the person
    is not activated but named in ``activation_unknown`` with a warning (not a failure).

    :param roster: the people (see above). Templated.
    :param org_id: the project's organization unit, with ``project_id``. Templated.
    :param project_id: the project's id. Templated.
    :param project_external_id: the project's external id, instead of ``org_id``/``project_id``. Templated.
    :param activate: activate participants that are not activated.
    :param create_missing_users: create users for people who have none; else they fail.
    :param home_org: the home organization unit of created users when a row gives none;
        default: the project's organization unit. Templated.
    :param remove_missing: remove the project's participants who are not on the roster.
    :param dry_run: change nothing; the summary's lists name what would be done.
    :param allow_empty_roster: allow ``remove_missing`` with an empty roster (removes everyone).
    :param max_removals: the most participants ``remove_missing`` may remove: a count, a share
        below 1 of the project's participants, a :class:`RemovalLimit`, or ``None`` for no
        guard. Default: :data:`DEFAULT_MAX_REMOVALS` (more than 10% and more than 10 is refused).
        Templated (a blank rendering means the default).
    :param max_concurrency: at most this many requests at a time (default 8).
    :param max_failures: how many people may fail before the task fails (default 0).
    :param learnifier_conn_id: the Learnifier connection. Templated.
    """

    template_fields: Sequence[str] = (
        "roster",
        "org_id",
        "project_id",
        "project_external_id",
        "home_org",
        "max_removals",
        "learnifier_conn_id",
    )
    operator_extra_links = (LearnifierProjectLink(),)
    # What the last run read and wrote, for get_openlineage_facets_on_complete.
    _lineage_record: LineageRecord | None = None

    def __init__(
        self,
        *,
        roster: Any,
        org_id: str | int | None = None,
        project_id: str | int | None = None,
        project_external_id: str | None = None,
        activate: bool = True,
        create_missing_users: bool = True,
        home_org: str | int | None = None,
        remove_missing: bool = False,
        dry_run: bool = False,
        allow_empty_roster: bool = False,
        max_removals: int | float | RemovalLimit | None = DEFAULT_MAX_REMOVALS,
        learnifier_conn_id: str = DEFAULT_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(learnifier_conn_id=learnifier_conn_id, **kwargs)
        # A template is read when the task runs; anything else is checked now.
        self.max_removals: Any = max_removals
        if not isinstance(max_removals, str):
            self.max_removals = RemovalLimit.of(max_removals)
        self.roster = roster
        self.org_id = org_id
        self.project_id = project_id
        self.project_external_id = project_external_id
        self.activate = activate
        self.create_missing_users = create_missing_users
        self.home_org = home_org
        self.remove_missing = remove_missing
        # Not ``self.dry_run``: that would hide BaseOperator.dry_run(), which renders the templates.
        self.is_dry_run = dry_run
        self.allow_empty_roster = allow_empty_roster
        self._stop_event: threading.Event | None = None

    def execute_with_hook(self, hook: LearnifierHook, context: Context) -> JsonObject:
        """Enroll the roster; return the summary."""
        from airflow_provider_learnifier.lineage import LineageRecord, file_dataset, project_dataset
        from airflow_provider_learnifier.operators._enrollment import Enrollment, EnrollmentOptions
        from airflow_provider_learnifier.operators._roster import read_roster, roster_error, roster_file

        self._lineage_record = lineage = LineageRecord()
        try:
            max_removals = RemovalLimit.of(self.max_removals)
        except ValueError as error:
            raise LearnifierInputError(f"{self.task_id}: {error}") from None
        roster = read_roster(self.roster)
        roster_path = roster_file(self.roster)
        if roster_path is not None:
            lineage.inputs.append(file_dataset(roster_path))
        if roster.ignored_columns:
            self.log.info("Ignoring roster column(s) %s", ", ".join(roster.ignored_columns))
        if self.too_many_failures(len(roster.problems)):
            raise roster_error(roster, max_failures=self.max_failures)
        if self.remove_missing and not roster.people and not self.allow_empty_roster:
            raise LearnifierInputError(
                "the roster is empty, and remove_missing would remove every participant of the project; "
                "set allow_empty_roster=True if that is what you want"
            )
        try:
            project = self.resolve_project(hook, self.org_id, self.project_id, self.project_external_id)
        except ValueError as error:
            raise LearnifierInputError(f"{self.task_id}: {error}") from None
        LearnifierProjectLink.persist(context, project)
        if not self.is_dry_run:
            project_ids = id_text(project["orgId"]), id_text(project["id"])
            lineage.outputs.append(project_dataset(hook.base_url, *project_ids))
        from airflow_provider_learnifier.ids import int_like

        home_org = int_like(self.home_org) if self.home_org not in (None, "") else project["orgId"]

        self._stop_event = threading.Event()
        options = EnrollmentOptions(
            activate=self.activate,
            create_missing_users=self.create_missing_users,
            home_org=home_org,
            remove_missing=self.remove_missing,
            max_removals=max_removals,
            dry_run=self.is_dry_run,
            max_concurrency=self.max_concurrency,
        )
        enrollment = Enrollment(hook, project, options, stop=self._stop_event, log=self.log)
        summary = enrollment.run(roster)
        counts = summary["counts"]
        self.log.info(
            "%sProject %s (%s): %s",
            "[dry run] " if self.is_dry_run else "",
            summary["project"]["project_id"],
            summary["project"]["name"],
            ", ".join(f"{name.replace('_', ' ')} {count}" for name, count in counts.items()),
        )
        failed = summary["failed"]
        if "removal_refused" in summary and not self.is_dry_run:
            context["ti"].xcom_push(key=ENROLLMENT_SUMMARY_XCOM_KEY, value=summary)
            raise LearnifierMassRemovalError(
                f"{self.task_id}: {summary['removal_refused']}. Who would have been removed is in the "
                f"'{ENROLLMENT_SUMMARY_XCOM_KEY}' XCom (would_remove); raise max_removals, or set it to "
                "None, if this is meant. Everything else was done.",
                failures=failed,
                summary=summary,
            )
        if self.too_many_failures(len(failed)):
            context["ti"].xcom_push(key=ENROLLMENT_SUMMARY_XCOM_KEY, value=summary)
            raise LearnifierEnrollmentError(
                f"{len(failed)} failure(s) enrolling {counts['roster']} roster row(s) in project "
                f"{summary['project']['project_id']} (max_failures={self.max_failures}); everything else "
                f"was done:\n{describe_failures(failed)}",
                failures=failed,
                summary=summary,
            )
        return summary

    def on_kill(self) -> None:
        """Stop starting people; requests in flight finish."""
        if self._stop_event is not None:
            self._stop_event.set()

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> OperatorLineage:
        """The OpenLineage datasets of the run, for ``apache-airflow-providers-openlineage``.

        Input: the roster file (``file`` and its path, or ``s3://<bucket>`` and its key...), when
        the roster was a path; nothing for people given inline. Output: the project, as a
        ``learnifier://<host>`` dataset named ``org/<org id>/project/<project id>``, unless the
        run was a dry run. Recorded while the task ran; no request is made here.
        """
        from airflow_provider_learnifier.lineage import LineageRecord

        return (self._lineage_record or LineageRecord()).operator_lineage()


#: What a login link is replaced with in a text that leaves the task.
_REDACTED_LINK = "<login link redacted>"


def _token_like(part: str) -> bool:
    return len(part) >= 16 or (len(part) >= 8 and any(ch.isdigit() for ch in part))


def _redact_link(text: str, link: str) -> str:
    """``text`` without ``link``: as given, percent-encoded, JSON-escaped, and its token-like parts.

    The token-like parts (path segments and query values of 16 characters or more, or of 8 or more
    with a digit) are redacted too, so an error that quotes only the link's token does not leak it.
    """
    from urllib.parse import parse_qsl, quote, quote_plus, urlsplit

    parts = urlsplit(link)
    forms = {link, quote(link, safe=""), quote_plus(link), link.replace("/", "\\/"), parts.query}
    forms.update(segment for segment in parts.path.split("/") if _token_like(segment))
    forms.update(value for _, value in parse_qsl(parts.query) if _token_like(value))
    for form in sorted((form for form in forms if form), key=len, reverse=True):
        text = text.replace(form, _REDACTED_LINK)
    return text


class LearnifierLoginLinkOperator(LearnifierBulkOperator):
    """Create single-use login links for participants of a project.

    A login link is a credential: the hook masks it in task logs, and it is not put in XCom
    unless ``push_links=True`` (XCom is stored unencrypted in Airflow's database; only push links
    when the next task sends them on at once). To deliver links without XCom, give ``on_link``,
    a callable that receives ``(participant_id, link)`` as each link is made; it may be called
    from several threads at once. Learnifier makes links only for activated participants; a
    link expires in minutes. When ``on_link`` raises, the participant fails, and the link is
    redacted from the reason (in the result and in the task's error), whatever the error quotes.

    A link request whose answer is lost (a dropped connection, a 5xx) is sent once more: the lost
    link is unusable and a new one replaces it.

    The result (JSON, in XCom)::

        {"org_id": ..., "project_id": ..., "participant_ids": [ids that got a link],
         "count": n, "failed": [{"participant_id": ..., "reason": ...}],
         "links": {participant_id: link}}   # only with push_links=True

    :param participant_ids: the participants: a list of ids, a ``{name: participant_id}`` mapping
        (such as the enroll operator's ``participant_ids``), or a comma-separated text. Templated.
    :param org_id: the project's organization unit, with ``project_id``. Templated.
    :param project_id: the project's id. Templated.
    :param project_external_id: the project's external id, instead of ``org_id``/``project_id``. Templated.
    :param push_links: put the links in the result (in XCom).
    :param on_link: called with ``(participant_id, link)`` for each link made.
    :param max_concurrency: at most this many requests at a time (default 8).
    :param max_failures: how many participants may fail before the task fails (default 0).
    :param learnifier_conn_id: the Learnifier connection. Templated.
    """

    template_fields: Sequence[str] = (
        "participant_ids",
        "org_id",
        "project_id",
        "project_external_id",
        "learnifier_conn_id",
    )

    def __init__(
        self,
        *,
        participant_ids: Any,
        org_id: str | int | None = None,
        project_id: str | int | None = None,
        project_external_id: str | None = None,
        push_links: bool = False,
        on_link: Callable[[str, str], Any] | None = None,
        learnifier_conn_id: str = DEFAULT_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(learnifier_conn_id=learnifier_conn_id, **kwargs)
        if on_link is not None and not callable(on_link):
            raise ValueError(f"on_link must be callable, not {type(on_link).__name__}")
        self.participant_ids = participant_ids
        self.org_id = org_id
        self.project_id = project_id
        self.project_external_id = project_external_id
        self.push_links = push_links
        self.on_link = on_link

    def execute_with_hook(self, hook: LearnifierHook, context: Context) -> JsonObject:
        """Make a link for each participant; return ids and counts (and the links with ``push_links``)."""
        from airflow_provider_learnifier.exceptions import LearnifierError
        from airflow_provider_learnifier.operators._bulk import Tally, run_concurrently
        from airflow_provider_learnifier.operators._writes import write_once

        participant_ids = id_list(self.participant_ids, "participant_ids")
        try:
            project = self.resolve_project(hook, self.org_id, self.project_id, self.project_external_id)
        except ValueError as error:
            raise LearnifierInputError(f"{self.task_id}: {error}") from None
        org_id, project_id = id_text(project["orgId"]), id_text(project["id"])
        if not self.push_links and self.on_link is None:
            self.log.warning(
                "The login links are neither pushed to XCom (push_links) nor handed to on_link: they are "
                "made and dropped"
            )
        tally = Tally("made", "links")

        def make(numbered: tuple[int, str]) -> None:
            order, participant_id = numbered
            try:
                # A link is not a state change that can be read back; one whose answer was lost is
                # unusable (nobody holds it) and expires, and a new one replaces it. So nothing is
                # read back, and the request may be sent again, once, as if Learnifier deduplicated it.
                link, _ = write_once(
                    lambda: hook.create_login_link(org_id, project_id, participant_id),
                    read_back=lambda: None,
                    what=f"creating a login link for participant {participant_id}",
                    deduplicated=True,
                    log=self.log,
                )
            except LearnifierError as error:
                self.log.warning("No login link for participant %s: %s", participant_id, error)
                tally.fail(order, participant_id, str(error))
                return
            if self.on_link is not None:
                try:
                    self.on_link(participant_id, link)
                except Exception as error:
                    # The error's text may quote the link: it never leaves the task (XCom, logs, errors).
                    reason = _redact_link(f"on_link failed: {type(error).__name__}: {error}", link)
                    self.log.warning("For participant %s, %s", participant_id, reason)
                    tally.fail(order, participant_id, reason)
                    return
            tally.add("made", order, participant_id)
            if self.push_links:
                tally.add("links", order, (participant_id, link))

        run_concurrently(make, list(enumerate(participant_ids)), max_workers=self.max_concurrency)
        made = tally.items("made")
        failed = [{"participant_id": f["person"], "reason": f["reason"]} for f in tally.failed]
        self.log.info("Made %d login link(s) for project %s; %d failed", len(made), project_id, len(failed))
        result: JsonObject = {
            "org_id": org_id,
            "project_id": project_id,
            "participant_ids": made,
            "count": len(made),
            "failed": failed,
        }
        if self.push_links:
            result["links"] = dict(tally.items("links"))
        if self.too_many_failures(len(failed)):
            raise LearnifierBulkOperationError(
                f"{len(failed)} of {len(participant_ids)} login link(s) failed for project {project_id} "
                f"(max_failures={self.max_failures}):\n"
                + describe_failures([{"person": f["participant_id"], "reason": f["reason"]} for f in failed]),
                failures=failed,
                summary={key: value for key, value in result.items() if key != "links"},
            )
        return result
