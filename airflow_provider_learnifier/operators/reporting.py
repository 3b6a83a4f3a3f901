"""Export participant progress from Learnifier to a CSV or JSON Lines report.

:class:`LearnifierProgressReportOperator` writes one row per participant of one project, a list
of projects, or every project of an organization unit, to a local path or any
:class:`~airflow.sdk.ObjectStoragePath` (``file://``, ``s3://``, ``gs://``, ... with the matching
Airflow provider installed).

Importing this module is cheap: the hook (and with it ``requests``), ``csv`` and the timestamp
parser are imported when the task runs, not when the DAG processor parses a DAG file.
"""

from __future__ import annotations

import json
import os
import re
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Literal, NamedTuple, TextIO

from airflow.providers.common.compat.sdk import Asset, BaseOperator, ObjectStoragePath

from airflow_provider_learnifier._arguments import DEFAULT_CONN_ID
from airflow_provider_learnifier.at_risk_page import DEFAULT_MAX_PEOPLE_PER_COURSE
from airflow_provider_learnifier.hooks.task import LearnifierHookMixin
from airflow_provider_learnifier.ids import blank, id_list, id_text_or_none
from airflow_provider_learnifier.operators._base import id_text
from airflow_provider_learnifier.operators._user_directory import (
    DEFAULT_MAX_CACHED_USERS,
    DEFAULT_SCAN_PAGE_SIZE,
    UserDirectory,
    UserLookup,
    check_user_lookup,
)
from airflow_provider_learnifier.progress import (
    activation_state,
    activity_count,
    completed_share,
    in_error,
    percent,
    share_of,
    utc_iso,
)

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context
    from airflow.providers.openlineage.extractors import OperatorLineage

    from airflow_provider_learnifier.at_risk_page import PageState
    from airflow_provider_learnifier.hooks.learnifier import LearnifierHook
    from airflow_provider_learnifier.lineage import LineageRecord
    from airflow_provider_learnifier.participant_states import CourseRules, StateSelector

ReportFormat = Literal["csv", "jsonl"]
BadDataAction = Literal["warn", "fail"]
JsonObject = dict[str, Any]
IdList = str | int | Sequence[str | int] | None

#: The report's columns, in order: the CSV header, and the keys of every JSON Lines object.
COLUMNS: tuple[str, ...] = (
    "project_id",
    "project_name",
    "project_external_id",
    "org_id",
    "participant_id",
    "user_id",
    "user_external_id",
    "user_email",
    "participation_external_id",
    "activated",
    "activities_completed",
    "activities_total",
    "completion_share",
    "first_access",
    "last_access",
    "expiration",
    "in_error",
    "error_message",
    "data_error",
)

#: The column that ``states`` adds after :data:`COLUMNS`: the participant's states (see
#: :mod:`~airflow_provider_learnifier.participant_states`), ``;``-separated in CSV, a list in JSON Lines.
STATES_COLUMN = "states"

#: The at-risk page's title.
PAGE_TITLE = "Learnifier courses: who is at risk"

#: File name endings and the format they mean, for ``file_format=None``.
FORMAT_SUFFIXES: dict[str, ReportFormat] = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}

#: A temporary report of a run that died (killed, out of memory) is removed by a later run of the
#: same report once it is this old (seconds); a younger one may belong to a run still writing.
STALE_TEMPORARY_SECONDS = 3600.0


_TIMESTAMP_FIELDS = (
    ("first_access", "firstAccess"),
    ("last_access", "lastAccess"),
    ("expiration", "expiration"),
)


class LearnifierProgressReportOperator(LearnifierHookMixin, BaseOperator):
    """Write Learnifier participant progress to a CSV or JSON Lines file, atomically.

    Choose the projects with ``project_ids`` (with their ``org_id``) and/or
    ``project_external_ids``; with neither, every project of the organization unit ``org_id`` is
    reported. Only leaving both out means "every project": when either is given and they render to
    no project at all (``[]``, ``None``, a template rendering ``"[]"`` or ``"None"``), the task
    fails before anything is written, never widening the report to the whole organization unit.
    Each project's participants are fetched, turned into rows and written before the
    next project is fetched, so memory does not grow with the number of projects or rows: it
    holds one project's participant list (the API does not page it) and, for a whole org unit,
    the ids and names of its projects.

    The report is written to a temporary file next to ``path`` (``.<name>.<random>.tmp``, in the
    same directory or key prefix) and moved onto ``path`` only once it is complete. A failed
    run removes the temporary file and leaves whatever was at ``path`` untouched. On a local
    file system the move is an atomic ``rename``; on object stores (S3, GCS, ...) it is a
    server-side copy followed by a delete, and readers see either the old object or the whole
    new one, never a partial one.

    Columns (see :data:`COLUMNS`): project id, name and external id, org unit id, participant
    id, user id, user external id and email, participation external id, ``activated``,
    activities completed and total, ``completion_share`` (0.0 to 1.0), first and last access,
    expiration (UTC ISO 8601 to the millisecond, ``Z`` suffix), ``in_error`` and
    ``error_message`` (Learnifier's participation error), and ``data_error``. Ids are written as
    strings. In CSV, booleans are ``true``/``false`` and missing values empty; in JSON Lines they
    are JSON booleans and ``null``.

    **Bad data.** One participant's unreadable value does not stop the report. An activity count
    that is no number (``"five"``, ``true``) leaves that count's cell and ``completion_share``
    empty; a timestamp that is no timestamp (``2026-02-30T10:00:00Z``, a time beyond the year
    9999 in UTC) leaves its cell empty. Either way the row's ``data_error`` says what was sent
    (``activitiesTotal 'five' is not a number``), the task log has a warning naming the project
    and the participant, and the summary counts the row in ``bad_rows``. A participant whose
    counts cannot be read counts as not completed. ``on_bad_data="fail"`` fails the task instead,
    at the first such value, with
    :class:`~airflow_provider_learnifier.exceptions.LearnifierParticipantDataError` naming the
    project, the participant, the field and the value (nothing is written then).

    **Spreadsheet formulas.** Names, ids, emails and error messages come from Learnifier and,
    through rosters, from whoever edits the HR export. In CSV, a text cell that a spreadsheet
    would evaluate (one starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return) is
    written with a leading ``'`` (the OWASP rule), so ``=HYPERLINK(...)`` shows as text instead
    of running. The numbers the report writes itself (activity counts, ``completion_share``)
    stay numbers. Machine consumers that want the values as sent can pass
    ``csv_formula_guard=False``. JSON Lines is never changed.

    **Asset.** Give ``asset`` to declare the report as an outlet of the task: ``asset=True``
    derives the asset from a non-templated ``path`` (``file:///reports/progress.csv``,
    ``s3://bucket/reports/progress.csv``); an :class:`~airflow.sdk.Asset` or a URI string is used
    as it is (needed when ``path`` is templated, e.g. holds ``{{ ds }}``). Each successful run
    emits an asset event whose ``extra`` is the returned summary, so a DAG scheduled with
    ``schedule=[Asset(uri)]`` runs after every new report and finds the file of the run that
    triggered it in ``triggering_asset_events[asset][-1].extra["path"]``. Passing
    ``outlets=[Asset(uri)]`` yourself also works, but without the ``extra``.

    **Users.** The participant list holds user ids only; the user's external id and email come
    from the user records. With ``user_lookup="get"`` each distinct user is fetched
    once with ``GET /users/{id}`` and kept in a bounded cache: the cost follows the size of the
    report, which suits a few projects in a large account. ``user_lookup="auto"`` (the default)
    starts so, and once it has fetched ``scan_page_size`` users one by one (a report that needs
    more users than one page of ``GET /users`` holds) reads the rest as ``"scan"`` does.
    ``user_lookup="scan"`` reads every
    user of the account once (``GET /users``, paged) before the first row: fewer requests when
    the report covers a large part of the account (more than one distinct user per
    ``scan_page_size`` users in the account), at the price of keeping an id-to-(external id,
    email) map of all the account's users in memory. A user the scan did not see (created
    since, or left out by a short page) is fetched on its own; a listing that cannot be read to
    its end (or that the API key may not read) is dropped and users are fetched one by one; a
    user that no longer exists leaves its columns empty.

    :param path: where to write the report: an absolute local path, a URL such as
        ``s3://bucket/key.csv`` or ``file:///data/report.jsonl``, or an
        :class:`~airflow.sdk.ObjectStoragePath`. A ``file:`` URL follows RFC 8089: its host is
        empty or ``localhost`` and its path absolute (``file://reports/x.csv`` names the host
        ``reports`` and is refused). Templated.
    :param org_id: the organization unit: whose projects to report when no project is named,
        and the org unit of ``project_ids``. Templated.
    :param project_ids: a project id or a list of them (they belong to ``org_id``). Templated;
        a rendered list such as ``"[2001, 2002]"`` is read back as a list.
    :param project_external_ids: a project external id or a list of them. When ``org_id`` is
        also given, each project must belong to it. Templated, like ``project_ids``.
    :param file_format: ``"csv"`` or ``"jsonl"``; ``None`` infers it from the end of ``path``
        (``.csv``; ``.jsonl`` or ``.ndjson``).
    :param asset: declare the report as an outlet: ``True`` for the asset of ``path``, or an
        :class:`~airflow.sdk.Asset` or URI. ``False`` (default) declares nothing.
    :param learnifier_conn_id: the Learnifier connection. Templated.
    :param storage_conn_id: the Airflow connection of the object store, for a string ``path``
        (same as writing ``s3://<conn_id>@bucket/key``).
    :param user_lookup: ``"auto"`` (default), ``"get"`` or ``"scan"``; see *Users* above.
    :param max_cached_users: how many users fetched one by one are kept cached.
    :param scan_page_size: the page size of the scan, and with ``"auto"`` how many users are
        fetched one by one before it.
    :param csv_formula_guard: in CSV, prefix text cells that a spreadsheet would evaluate with
        ``'`` (default ``True``); see *Spreadsheet formulas* above.
    :param on_bad_data: ``"warn"`` (default) or ``"fail"``; see *Bad data* above.
    :param states: add the column ``states`` (:data:`STATES_COLUMN`): each participant's states as
        of the run's logical date, by :mod:`~airflow_provider_learnifier.participant_states`.
        ``True`` looks for :data:`DEFAULT_REPORT_STATES` with their default parameters in every
        course; a selector spec (or a
        :class:`~airflow_provider_learnifier.participant_states.StateSelector`) names the states
        per organization unit and course. ``None`` (default): no such column. A participation
        whose states cannot be told is a bad row (see *Bad data*). Templated.
    :param html_path: also write the at-risk page there (see
        :mod:`~airflow_provider_learnifier.at_risk_page`), after the report and atomically like
        it; implies ``states=True`` when ``states`` is left out. Templated. See
        :doc:`/guides/reporting`.
    :param html_max_people: how many people at risk the page lists per course (the report lists
        them all).
    :return: the summary pushed to XCom: ``{"path", "format", "projects", "rows", "activated",
        "completed", "completion_share", "bad_rows"}``; ``completed`` counts activated
        participants who completed every activity, ``completion_share`` is ``completed /
        activated`` (0.0 when none are activated), and ``bad_rows`` counts the rows with a
        ``data_error``. With ``states``, also ``states``: how many participants are in each
        state; with ``html_path``, ``html_path``: where the page is.
    """

    template_fields: Sequence[str] = (
        "path",
        "org_id",
        "project_ids",
        "project_external_ids",
        "learnifier_conn_id",
        "states",
        "html_path",
    )
    template_fields_renderers: ClassVar[dict[str, str]] = {
        "project_ids": "json",
        "project_external_ids": "json",
        "states": "json",
    }
    ui_color = "#e8f4ea"
    # What the last run read and wrote, for get_openlineage_facets_on_complete.
    _lineage_record: LineageRecord | None = None

    def __init__(
        self,
        *,
        path: str | ObjectStoragePath,
        org_id: str | int | None = None,
        project_ids: IdList = None,
        project_external_ids: str | Sequence[str] | None = None,
        file_format: ReportFormat | None = None,
        asset: Asset | str | bool = False,
        learnifier_conn_id: str = DEFAULT_CONN_ID,
        storage_conn_id: str | None = None,
        user_lookup: UserLookup = "auto",
        max_cached_users: int = DEFAULT_MAX_CACHED_USERS,
        scan_page_size: int = DEFAULT_SCAN_PAGE_SIZE,
        csv_formula_guard: bool = True,
        on_bad_data: BadDataAction = "warn",
        states: Any = None,
        html_path: str | ObjectStoragePath | None = None,
        html_max_people: int = DEFAULT_MAX_PEOPLE_PER_COURSE,
        **kwargs: Any,
    ) -> None:
        if file_format is not None and file_format not in ("csv", "jsonl"):
            raise ValueError(f"file_format must be 'csv', 'jsonl' or None, not {file_format!r}")
        check_user_lookup(user_lookup, max_cached_users, scan_page_size)
        if on_bad_data not in ("warn", "fail"):
            raise ValueError(f"on_bad_data must be 'warn' or 'fail', not {on_bad_data!r}")
        if not _is_int_at_least(html_max_people, 0):
            raise ValueError(f"html_max_people must be a non-negative integer, not {html_max_people!r}")
        if html_path is not None and states is None:
            states = True  # the page shows the states: the report gives them too
        if states is not None and states is not True and not _is_templated(states):
            _state_selector(states)  # fail when the DAG is parsed for a spec that cannot work
        # Only a selection left out altogether means "every project of org_id"; one that was given
        # (a template too) and names no project is refused when the task runs, never widened.
        self.projects_named = project_ids is not None or project_external_ids is not None
        self.report_asset = _report_asset(asset, path, storage_conn_id)
        if self.report_asset is not None:
            outlets = kwargs.pop("outlets", None)
            if outlets is None:
                outlets = []
            elif not isinstance(outlets, (list, tuple)):
                outlets = [outlets]
            kwargs["outlets"] = [*outlets, self.report_asset]
        super().__init__(**kwargs)
        self.path = path
        self.org_id = org_id
        self.project_ids = project_ids
        self.project_external_ids = project_external_ids
        self.file_format = file_format
        self.learnifier_conn_id = learnifier_conn_id
        self.storage_conn_id = storage_conn_id
        self.user_lookup = user_lookup
        self.max_cached_users = max_cached_users
        self.scan_page_size = scan_page_size
        self.csv_formula_guard = csv_formula_guard
        self.on_bad_data = on_bad_data
        self.states = states
        self.html_path = html_path
        self.html_max_people = html_max_people
        if not _is_templated(path):
            # Fail when the DAG is parsed, not when the task runs, for a path that cannot work.
            _report_format(_target_path(path, storage_conn_id), file_format)
        if html_path is not None and not _is_templated(html_path):
            _page_target(_target_path(html_path, storage_conn_id), path)

    def execute(self, context: Context) -> JsonObject:
        """Write the report and return its summary (also the ``extra`` of the asset event)."""
        from airflow_provider_learnifier.lineage import LineageRecord, file_dataset, project_dataset

        self._lineage_record = lineage = LineageRecord()
        target = _target_path(self.path, self.storage_conn_id)
        report_format = _report_format(target, self.file_format)
        selection = _Selection.from_arguments(
            self.org_id, self.project_ids, self.project_external_ids, named=self.projects_named
        )
        self.log.info("Writing the Learnifier progress of %s to %s as %s", selection, target, report_format)
        states = None
        if self.states is not None:
            from airflow_provider_learnifier.participant_states import reference_time

            states = _ParticipantStates(_state_selector(self.states), reference_time(context), self.log)
        page_target = page = None
        if self.html_path is not None and states is not None:  # html_path implies states
            from airflow_provider_learnifier.at_risk_page import AtRiskPage

            page_target = _page_target(_target_path(self.html_path, self.storage_conn_id), target)
            page = AtRiskPage(states.page_states(), max_people_per_course=self.html_max_people)
        hook = self.hook
        try:
            users = UserDirectory(
                hook,
                fields=("externalId", "primaryEmail"),
                user_lookup=self.user_lookup,
                max_cached=self.max_cached_users,
                page_size=self.scan_page_size,
                log=self.log,
            )
            totals = _Totals()

            def write(handle: TextIO) -> None:
                columns = COLUMNS if states is None else (*COLUMNS, STATES_COLUMN)
                add_row = _row_writer(
                    handle, report_format, formula_guard=self.csv_formula_guard, columns=columns
                )
                fail_on_bad_data = self.on_bad_data == "fail"
                for project in selection.projects(hook):
                    lineage.inputs.append(project_dataset(hook.base_url, project.org_id, project.id))
                    participants = hook.list_participants(project.org_id, project.id)
                    before = (totals.rows, totals.activated, totals.completed, totals.bad_rows)
                    course = None if states is None else states.course(project)
                    if page is not None and course is not None:
                        page.add_course(
                            project.org_id,
                            project.id,
                            project.name,
                            project.external_id,
                            states=course.states,
                        )
                    for participant in participants:
                        row, completed = _row(
                            project, participant, users, self.log, fail_on_bad_data=fail_on_bad_data
                        )
                        if states is not None and course is not None:
                            states.add_to(
                                row, participant, project, course, fail_on_bad_data=fail_on_bad_data
                            )
                            totals.count_states(row[STATES_COLUMN])
                            if page is not None:
                                page.add(row, row[STATES_COLUMN] or (), completed)
                        add_row(row)
                        totals.count(row, completed)
                    totals.projects += 1
                    self.log.info(
                        "Project %s (%s): %d participant(s), %d activated, %d completed, %d with bad data",
                        project.id,
                        project.name,
                        totals.rows - before[0],
                        totals.activated - before[1],
                        totals.completed - before[2],
                        totals.bad_rows - before[3],
                    )

            write_atomically(target, write, log=self.log)
            if page is not None and page_target is not None and states is not None:
                html = page.render(title=PAGE_TITLE, generated_at=states.as_of, source=target.name)
                write_atomically(page_target, lambda handle: handle.write(html), log=self.log)
                self.log.info("Wrote the at-risk page of %d course(s) to %s", page.courses, page_target)
        finally:
            hook.close()
        lineage.outputs.append(file_dataset(target))
        summary = totals.summary(path=str(target), report_format=report_format)
        if states is not None:
            summary["states"] = totals.state_counts(states.names)
        if page_target is not None:
            summary["html_path"] = str(page_target)
            lineage.outputs.append(file_dataset(page_target))
        self.log.info(
            "Wrote %d row(s) of %d project(s) to %s: %d of %d activated participant(s) completed (%s); "
            "%d row(s) with bad data; user lookups: %s",
            summary["rows"],
            summary["projects"],
            target,
            summary["completed"],
            summary["activated"],
            percent(summary["completion_share"]),
            summary["bad_rows"],
            users.stats(),
        )
        outlet_events = context.get("outlet_events") if isinstance(context, Mapping) else None
        if self.report_asset is not None and outlet_events is not None:
            outlet_events[self.report_asset].extra = summary
        return summary

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> OperatorLineage:
        """The OpenLineage datasets of the run, for ``apache-airflow-providers-openlineage``.

        Inputs: the projects read, as ``learnifier://<host>`` datasets named
        ``org/<org id>/project/<project id>``. Output: the report file (``file`` and its path, or
        ``s3://<bucket>`` and its key...), once it was written. Recorded while the task ran; no
        request is made here.
        """
        from airflow_provider_learnifier.lineage import LineageRecord

        return (self._lineage_record or LineageRecord()).operator_lineage()


# ---------------------------------------------------------------------- the target and its writing


def _is_int_at_least(value: Any, minimum: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def _is_templated(value: Any) -> bool:
    return "{{" in str(value) or "{%" in str(value)


def _target_path(path: str | ObjectStoragePath, storage_conn_id: str | None) -> ObjectStoragePath:
    """Turn ``path`` into an :class:`ObjectStoragePath`; a local path must be absolute.

    :raises ValueError: for an empty or relative path, or a path ending in ``/``.
    """
    if isinstance(path, ObjectStoragePath):
        target = path
    else:
        if not isinstance(path, str) or not path.strip():
            raise ValueError(f"path must be a non-empty string or an ObjectStoragePath, not {path!r}")
        text = path.strip()
        if text.endswith("/"):
            raise ValueError(f"path {text!r} names a directory, not a file")
        if text[:5].lower() == "file:":
            text = "file://" + _file_url_path(text)
        elif "://" not in text and not text.startswith("/"):
            raise ValueError(
                f"path {text!r} is relative: give an absolute path or a URL (the worker's working "
                "directory is not a place to keep reports)"
            )
        target = ObjectStoragePath(text, conn_id=storage_conn_id)
    if str(target).endswith("/") or not target.name:
        raise ValueError(f"path {str(target)!r} names a directory, not a file")
    return target


def _file_url_path(url: str) -> str:
    """The absolute local path of a ``file:`` URL, read as RFC 8089 says.

    ``file:///abs/x.csv``, ``file://localhost/abs/x.csv`` and ``file:/abs/x.csv`` all name
    ``/abs/x.csv``. The rest of the URL is taken as it is, as :class:`ObjectStoragePath` takes it
    (``#``, ``?`` and ``%`` are part of the file name).

    :raises ValueError: for a URL naming another host (``file://reports/x.csv`` names the host
        ``reports``), or a relative path (``file:x.csv``).
    """
    rest = url[5:]
    if rest.startswith("//"):
        host, _, path = rest[2:].partition("/")
        if host.lower() not in ("", "localhost"):
            raise ValueError(
                f"path {url!r} names the host {host!r}: a file URL names a local file only with an "
                f"empty host or 'localhost' (RFC 8089), e.g. file:///{rest[2:]} for /{rest[2:]}; "
                "reports are not written to other hosts"
            )
        return "/" + path
    if rest.startswith("/"):
        return rest
    raise ValueError(
        f"path {url!r} is relative: give an absolute path or a URL such as file:///data/report.csv "
        "(the worker's working directory is not a place to keep reports)"
    )


def _report_format(target: ObjectStoragePath, file_format: ReportFormat | None) -> ReportFormat:
    if file_format is not None:
        return file_format
    name = target.name.lower()
    for suffix, report_format in FORMAT_SUFFIXES.items():
        if name.endswith(suffix):
            return report_format
    raise ValueError(
        f"cannot tell the report format from {target.name!r}: end the path in .csv, .jsonl or .ndjson, "
        "or give file_format='csv' or 'jsonl'"
    )


def _is_local(target: ObjectStoragePath) -> bool:
    return target.protocol in ("", "file", "local")


def asset_uri(target: ObjectStoragePath) -> str:
    """The asset URI of a report path: ``file:///abs/path`` locally, else ``<protocol>://<bucket>/<key>``.

    It never holds the path's connection id: the same object is the same asset whichever
    connection reaches it. The path is percent-encoded (``#``, ``?``, ``%``, spaces, non-ASCII
    characters...), so the URI names exactly that file and two files never share one asset:
    ``/data/team#1.csv`` is ``file:///data/team%231.csv``.
    """
    from urllib.parse import quote

    path = quote(target.path, safe=_URI_PATH_SAFE)
    if _is_local(target):
        return "file://" + path
    protocol = target.protocol if isinstance(target.protocol, str) else target.protocol[0]
    return f"{protocol}://{path}"


#: What an Asset URI's path keeps as it is: RFC 3986 path characters but ``%``.
_URI_PATH_SAFE = "/!$&'()*+,;=:@-._~"


def _report_asset(asset: Asset | str | bool, path: Any, storage_conn_id: str | None) -> Asset | None:
    if asset is False or asset is None:
        return None
    if asset is True:
        if _is_templated(path):
            raise ValueError(
                "asset=True needs a path without templates, for the asset is fixed when the DAG is "
                "parsed: give asset=Asset('<uri>') instead (each event's extra['path'] names the file)"
            )
        return Asset(asset_uri(_target_path(path, storage_conn_id)))
    if isinstance(asset, str):
        return Asset(asset)
    if isinstance(asset, Asset):
        return asset
    raise TypeError(f"asset must be True, False, an Asset or a URI string, not {type(asset).__name__}")


def write_atomically(
    target: ObjectStoragePath, write: Callable[[TextIO], object], *, log: Any | None = None
) -> None:
    """Write a UTF-8 text file to ``target`` through a temporary file next to it, then move it into place.

    ``write`` gets the open temporary file. If ``write`` or the move fails (or the task is
    killed), the temporary file is removed and ``target`` keeps its old content.

    The temporary file is ``.<name>.<random hex>.tmp`` in the target's directory (key prefix),
    so it is on the same file system (bucket) and the final move is a rename (server-side copy).
    On a local file system it is flushed and ``fsync``-ed before the rename, so that a crash
    cannot leave ``target`` empty or partial; and temporaries of the same target that a killed
    run left (older than :data:`STALE_TEMPORARY_SECONDS`) are removed first.

    :raises IsADirectoryError: when ``target`` is a directory.
    """
    fs = target.fs
    if target.is_dir():
        raise IsADirectoryError(f"{target} is a directory; the report needs a file path")
    temporary = target.parent / f".{target.name}.{uuid.uuid4().hex}.tmp"
    local = _is_local(target)
    if local:
        target.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale_temporaries(target, log)
    try:
        with fs.open(temporary.path, "w", encoding="utf-8", newline="") as handle:
            write(handle)
            if local:
                handle.flush()
                os.fsync(handle.fileno())
        fs.mv(temporary.path, target.path)
    except BaseException:
        _remove_quietly(fs, temporary.path, log)
        raise


def _remove_stale_temporaries(target: ObjectStoragePath, log: Any | None) -> None:
    """Remove the temporary files of ``target`` that killed runs left behind (local file systems)."""
    own_name = re.compile(rf"\.{re.escape(target.name)}\.[0-9a-f]{{32}}\.tmp")
    directory = str(target.parent.path)
    try:
        names = os.listdir(directory)
    except OSError:
        return
    now = time.time()
    for name in names:
        if not own_name.fullmatch(name):
            continue
        path = os.path.join(directory, name)
        try:
            if now - os.stat(path).st_mtime < STALE_TEMPORARY_SECONDS:
                continue
            os.remove(path)
        except OSError as err:
            if log is not None:
                log.warning("Could not remove the stale temporary report %s: %s", path, err)
            continue
        if log is not None:
            log.info("Removed the temporary report %s that an earlier run left", path)


def _remove_quietly(fs: Any, path: str, log: Any | None) -> None:
    try:
        if fs.exists(path):
            fs.rm(path)
    except Exception as err:  # never hide the error that made the write fail
        if log is not None:
            log.warning("Could not remove the temporary report %s: %s", path, err)


def _row_writer(
    handle: TextIO,
    report_format: ReportFormat,
    *,
    formula_guard: bool = True,
    columns: Sequence[str] = COLUMNS,
) -> Callable[[Mapping[str, Any]], None]:
    """Write the header (CSV) and return a function that writes one row.

    :param formula_guard: in CSV, neutralise text cells a spreadsheet would evaluate
        (:func:`csv_safe_text`).
    :param columns: the CSV's columns (the rows' keys are written as they are in JSON Lines).
    """
    if report_format == "jsonl":

        def write_json_line(row: Mapping[str, Any]) -> None:
            handle.write(_escape_line_separators(json.dumps(row, ensure_ascii=False, allow_nan=False)) + "\n")

        return write_json_line

    import csv

    writer = csv.writer(handle)
    writer.writerow(columns)

    def write_csv_row(row: Mapping[str, Any]) -> None:
        writer.writerow([_csv_cell(row[column], formula_guard) for column in columns])

    return write_csv_row


#: What a spreadsheet takes for the start of a formula (OWASP's list for CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_safe_text(text: str) -> str:
    """Return ``text`` with a leading ``'`` when a spreadsheet would evaluate it as a formula.

    The OWASP rule for CSV injection: a cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a
    carriage return is prefixed, so the spreadsheet shows it as text.
    """
    return "'" + text if text.startswith(FORMULA_STARTS) else text


#: Characters that JSON leaves raw but line splitters (Python's ``str.splitlines``, JavaScript)
#: break lines on; JSON control characters below U+0020 are escaped by ``json.dumps`` already.
_LINE_SEPARATORS = {"\u0085": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def _escape_line_separators(line: str) -> str:
    """Escape U+0085, U+2028 and U+2029 in a JSON text, so that one row stays one line."""
    for raw, escaped in _LINE_SEPARATORS.items():
        line = line.replace(raw, escaped)
    return line


def _csv_cell(value: Any, formula_guard: bool = True) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        # A number the report computed or counted: the csv module writes it as digits.
        return value
    if isinstance(value, (list, tuple)):
        value = ";".join(map(str, value))
    text = value if isinstance(value, str) else str(value)
    return csv_safe_text(text) if formula_guard else text


# ---------------------------------------------------------------------- participant states

#: The states ``states=True`` gives: every state with its default parameters but ``overdue``,
#: which needs a course's due date (give a selector spec with ``due`` for it).
DEFAULT_REPORT_STATES: tuple[str, ...] = ("not_started", "stalled", "expiring", "in_error", "completed")

#: How the at-risk page names each state, and what it means (``{days}``: the rule's days).
_STATE_WORDING: dict[str, tuple[str, str]] = {
    "not_started": ("Not started", "activated {days} ago or more and never opened the course"),
    "stalled": ("Stalled", "opened the course, not completed, and no access for {days} or more"),
    "expiring": ("Expiring", "not completed, and the access to the course ends within {days}"),
    "in_error": ("In error", "the participation is in error: the person cannot open the course"),
    "overdue": ("Overdue", "not completed by the course's due date"),
    "completed": ("Completed", "completed every activity of the course"),
}


def _state_selector(spec: Any) -> StateSelector | None:
    """Read ``states``: ``True`` (``None`` here: every state with its defaults) or a selector spec.

    :raises ValueError: for a spec that cannot be read, naming what is wrong.
    """
    from airflow_provider_learnifier.participant_states import StateSelector

    if spec is True or (isinstance(spec, str) and spec.strip().lower() == "true"):
        return None
    if spec is False or spec is None:
        raise ValueError(
            "states must be True or a selector spec (see participant_states); leave it out for none"
        )
    try:
        return StateSelector.from_spec(spec)
    except ValueError as err:
        raise ValueError(f"states: {err}") from None


class _ParticipantStates:
    """The ``states`` column: each participant's states as of the run's reference time.

    :param selector: which states to look for in which course; ``None``: :data:`DEFAULT_REPORT_STATES`
        with their default parameters, in every course.
    :param as_of: the run's reference time (its logical date).
    """

    def __init__(self, selector: StateSelector | None, as_of: Any, log: Any) -> None:
        self.selector = selector
        self.as_of = as_of
        self.log = log
        self.names: tuple[str, ...] = selector.states if selector is not None else DEFAULT_REPORT_STATES

    def course(self, project: _Project) -> CourseRules:
        """The rules and due date of one course."""
        from airflow_provider_learnifier.participant_states import CourseRules, StateRule

        if self.selector is None:
            return CourseRules(tuple(StateRule(name) for name in DEFAULT_REPORT_STATES))  # type: ignore[arg-type]
        return self.selector.rules_for(project.org_id, project.id, project.external_id)

    def add_to(
        self,
        row: JsonObject,
        participant: Mapping[str, Any],
        project: _Project,
        course: CourseRules,
        *,
        fail_on_bad_data: bool,
    ) -> None:
        """Set ``row["states"]``; for a participation whose states cannot be told, leave it empty and
        say why in ``data_error`` (or raise, with ``fail_on_bad_data``)."""
        from airflow_provider_learnifier.exceptions import LearnifierParticipantDataError
        from airflow_provider_learnifier.participant_states import classify

        try:
            matches = classify(participant, self.as_of, course.rules, due=course.due)
        except LearnifierParticipantDataError as err:
            if fail_on_bad_data:
                raise
            row[STATES_COLUMN] = None
            row["data_error"] = "; ".join(filter(None, [row["data_error"], f"states unknown: {err}"]))
            self.log.warning(
                "Project %s, participant %s: %s; the states cell left empty",
                project.id,
                row["participant_id"],
                err,
            )
            return
        row[STATES_COLUMN] = [match.state for match in matches]

    def page_states(self) -> list[PageState]:
        """The states as the at-risk page shows them, with the days of their rules."""
        from airflow_provider_learnifier.at_risk_page import PageState

        days: dict[str, set[float]] = {}
        if self.selector is not None:
            for scope in self.selector.scopes:
                for rule in scope.rules:
                    if rule.days is not None:
                        days.setdefault(rule.state, set()).add(rule.days)
        else:
            from airflow_provider_learnifier.participant_states import StateRule

            for name in self.names:
                rule = StateRule(name)  # type: ignore[arg-type]
                if rule.days is not None:
                    days[name] = {rule.days}
        shown = []
        for name in self.names:
            label, meaning = _STATE_WORDING.get(name, (name, name))
            values = sorted(days.get(name, ()))
            period = f"{values[0]:g} day(s)" if len(values) == 1 else "the days set for the course"
            shown.append(PageState(name, label, meaning.format(days=period), at_risk=name != "completed"))
        return shown


def _page_target(page: ObjectStoragePath, report: Any) -> ObjectStoragePath:
    """Check the at-risk page's path: a file other than the report's.

    :raises ValueError: when it is the report's own path.
    """
    if not _is_templated(report) and str(page) == str(
        report if isinstance(report, ObjectStoragePath) else _target_path(report, None)
    ):
        raise ValueError(f"html_path {str(page)!r} is the report's own path: give the page a file of its own")
    return page


# ---------------------------------------------------------------------- which projects


class _Project(NamedTuple):
    """The few fields of a project that a row needs."""

    org_id: str
    id: str
    name: str | None
    external_id: str | None

    @classmethod
    def from_api(cls, project: Mapping[str, Any], org_id: str | int | None = None) -> _Project:
        from airflow_provider_learnifier.exceptions import LearnifierResponseError

        project_org = project.get("orgId", org_id)
        if project.get("id") is None or project_org is None:
            raise LearnifierResponseError(f"Learnifier sent a project without id or orgId: {dict(project)!r}")
        return cls(
            id_text(project_org), id_text(project["id"]), project.get("name"), project.get("externalId")
        )


class _Selection(NamedTuple):
    """The projects to report, as rendered from the operator's arguments."""

    org_id: str | None
    project_ids: list[str]
    external_ids: list[str]

    @classmethod
    def from_arguments(
        cls, org_id: Any, project_ids: Any, external_ids: Any, *, named: bool = False
    ) -> _Selection:
        """Read the rendered arguments.

        :param named: whether ``project_ids`` or ``project_external_ids`` was given at all; if so,
            the rendered values must name at least one project.
        :raises ValueError: for a selection that names no project, or an incomplete one.
        """
        selection = cls(_optional_id(org_id, "org_id"), _id_list(project_ids, "project_ids"), [])
        selection = selection._replace(external_ids=_id_list(external_ids, "project_external_ids"))
        if selection.project_ids and selection.org_id is None:
            raise ValueError("project_ids need the org_id of their organization unit")
        if selection.org_id is None and not selection.external_ids:
            raise ValueError(
                "name the projects: give org_id, project_ids and org_id, or project_external_ids"
            )
        if named and not selection.project_ids and not selection.external_ids:
            raise ValueError(
                f"project_ids ({project_ids!r}) and project_external_ids ({external_ids!r}) name no "
                "project: an empty selection is refused, not widened to every project of the "
                "organization unit; leave both out to report every project of org_id"
            )
        return selection

    def __str__(self) -> str:
        if not self.project_ids and not self.external_ids:
            return f"every project of organization unit {self.org_id}"
        parts = []
        if self.project_ids:
            parts.append(f"project(s) {', '.join(self.project_ids)} of organization unit {self.org_id}")
        if self.external_ids:
            parts.append(f"project(s) with external id {', '.join(self.external_ids)}")
        return " and ".join(parts)

    def projects(self, hook: LearnifierHook) -> Iterator[_Project]:
        """Yield the projects one by one, each once, fetching each named project as it is reached."""
        if not self.project_ids and not self.external_ids and self.org_id is not None:
            # The API lists an org unit's projects in one answer; keep only what the rows need.
            yield from [_Project.from_api(p, self.org_id) for p in hook.list_projects(self.org_id)]
            return
        seen: set[tuple[str, str]] = set()
        for project_id in self.project_ids:
            found = hook.resolve_project(org_id=self.org_id, project_id=project_id)
            project = _Project.from_api(found, self.org_id)
            if (project.org_id, project.id) not in seen:
                seen.add((project.org_id, project.id))
                yield project
        for external_id in self.external_ids:
            project = _Project.from_api(hook.resolve_project(org_id=self.org_id, external_id=external_id))
            if (project.org_id, project.id) not in seen:
                seen.add((project.org_id, project.id))
                yield project


def _optional_id(value: Any, name: str) -> str | None:
    """A templated id argument as stripped text, or ``None`` when it was left :func:`blank`.

    :raises ValueError: naming ``name``, for a value that is no id (:func:`id_text_or_none`).
    """
    if blank(value):
        return None
    text = id_text_or_none(value)
    if text is None:
        raise ValueError(f"{name} must be a string or an integer, not {value!r}")
    return text.strip()


def _id_list(value: Any, name: str) -> list[str]:
    """Read one id or a list of them (:func:`~airflow_provider_learnifier.ids.id_list`).

    Optional (a blank value or item names nothing), a text is one id (project external ids may
    hold commas), a mapping is refused; a bad value is a ``ValueError``, as every bad argument of
    the report is.
    """
    from airflow_provider_learnifier.exceptions import LearnifierInputError

    try:
        return id_list(value, name, optional=True, mappings=False, commas=False)
    except LearnifierInputError as error:
        raise ValueError(str(error)) from None


# ---------------------------------------------------------------------- rows


class _Totals:
    """The running counts of the summary."""

    def __init__(self) -> None:
        self.projects = 0
        self.rows = 0
        self.activated = 0
        self.completed = 0
        self.bad_rows = 0
        self.states: dict[str, int] = {}

    def count_states(self, names: Sequence[str] | None) -> None:
        for name in names or ():
            self.states[name] = self.states.get(name, 0) + 1

    def state_counts(self, names: Sequence[str]) -> dict[str, int]:
        return {name: self.states.get(name, 0) for name in names}

    def count(self, row: Mapping[str, Any], completed: bool) -> None:
        self.rows += 1
        self.bad_rows += row["data_error"] is not None
        if row["activated"]:
            self.activated += 1
            self.completed += completed

    def summary(self, *, path: str, report_format: ReportFormat) -> JsonObject:
        return {
            "path": path,
            "format": report_format,
            "projects": self.projects,
            "rows": self.rows,
            "activated": self.activated,
            "completed": self.completed,
            "completion_share": self.completed / self.activated if self.activated else 0.0,
            "bad_rows": self.bad_rows,
        }


_COUNT_FIELDS = (("activities_completed", "activitiesCompleted"), ("activities_total", "activitiesTotal"))


def _row(
    project: _Project,
    participant: Mapping[str, Any],
    users: UserDirectory,
    log: Any = None,
    *,
    fail_on_bad_data: bool = False,
) -> tuple[JsonObject, bool]:
    """One report row, with the keys of :data:`COLUMNS` in order, and whether the participant completed.

    A value that cannot be read leaves its cell empty, is named in ``data_error`` and in a warning
    naming the project and the participant; one that is no number leaves ``completion_share``
    empty too, and the participant counts as not completed.

    :param fail_on_bad_data: raise instead, at the first value that cannot be read.
    :raises LearnifierParticipantDataError: with ``fail_on_bad_data``, naming the project, the
        participant, the field and the value.
    """
    from airflow_provider_learnifier.exceptions import LearnifierParticipantDataError

    participant_id = None if participant.get("id") is None else id_text(participant["id"])
    problems: list[str] = []

    def unreadable(field: str, problem: str, columns: str) -> None:
        if fail_on_bad_data:
            raise LearnifierParticipantDataError(
                f"Learnifier project {project.id} (organization unit {project.org_id}), participant "
                f"{participant_id}: {problem} (on_bad_data='fail')",
                participant_id=participant_id,
                project_id=project.id,
                field=field,
            )
        problems.append(problem)
        if log is not None:
            log.warning(
                "Project %s, participant %s: %s; the %s left empty",
                project.id,
                participant_id,
                problem,
                columns,
            )

    counts: dict[str, int | float | None] = {}
    for column, field in _COUNT_FIELDS:
        try:
            counts[column] = activity_count(participant, field)
        except LearnifierParticipantDataError:
            counts[column] = None
            unreadable(
                field,
                f"{field} {participant.get(field)!r} is not a number",
                f"{column} and completion_share cells are",
            )
    readable = None not in counts.values()
    done, total = counts["activities_completed"] or 0, counts["activities_total"] or 0
    user_id = participant.get("userId")
    user = users.find(id_text(user_id)) if user_id is not None and user_id != "" else None
    user_external_id, user_email = user or (None, None)
    row: JsonObject = {
        "project_id": project.id,
        "project_name": project.name,
        "project_external_id": project.external_id,
        "org_id": project.org_id,
        "participant_id": participant_id,
        "user_id": None if user_id is None else id_text(user_id),
        "user_external_id": user_external_id,
        "user_email": user_email,
        "participation_external_id": participant.get("externalId"),
        "activated": activation_state(participant) is True,
        **counts,
        "completion_share": share_of(done, total) if readable else None,
    }
    for column, field in _TIMESTAMP_FIELDS:
        try:
            row[column] = utc_iso(participant.get(field), field=field)
        except ValueError as err:
            row[column] = None
            unreadable(field, str(err), f"{column} cell is")
    error_flag = participant.get("inError")
    if error_flag is None or isinstance(error_flag, bool):
        row["in_error"] = in_error(participant)
    else:
        row["in_error"] = None
        unreadable("inError", f"inError {error_flag!r} is not a boolean", "in_error cell is")
    row["error_message"] = participant.get("errorMessage") or None
    row["data_error"] = "; ".join(problems) or None
    return row, readable and completed_share(done, total)
