"""What the Learnifier operators share: the hook, bulk limits, resolving org units and projects.

Importing this module is cheap: the hook (and with it ``requests``) is imported when a task
runs, not when the DAG processor parses a DAG file.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import BaseOperator

from airflow_provider_learnifier._arguments import DEFAULT_CONN_ID
from airflow_provider_learnifier.hooks.task import LearnifierHookMixin
from airflow_provider_learnifier.ids import blank

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_learnifier.hooks.learnifier import LearnifierHook

JsonObject = dict[str, Any]

#: How many failures an error message lists before it says "and N more".
MAX_LISTED_FAILURES = 20


def describe_failures(failures: Sequence[Mapping[str, Any]], *, subject: str = "person") -> str:
    """List failures as ``"<who>: <reason>"`` lines, at most :data:`MAX_LISTED_FAILURES` of them."""
    lines = []
    for failure in failures[:MAX_LISTED_FAILURES]:
        who = shown(failure.get(subject) or failure.get("id") or "?")
        row = f" (row {failure['row']})" if failure.get("row") else ""
        lines.append(f"  - {who}{row}: {shown(failure.get('reason'), limit=500)}")
    if len(failures) > MAX_LISTED_FAILURES:
        lines.append(f"  ... and {len(failures) - MAX_LISTED_FAILURES} more")
    return "\n".join(lines)


def shown(value: Any, *, limit: int = 80) -> str:
    """Input as it may appear in a log line or an error: on one line, escaped, and cut short.

    Roster values come from outside; a newline in one must not forge a log line, and a
    megabyte-long one must not fill the log.
    """
    text = value if isinstance(value, str) else repr(value)
    text = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def id_text(value: Any) -> str:
    """An API id (the spec types some as int64, others as strings) as the string used in results."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


def project_summary(project: Mapping[str, Any], **extra: Any) -> JsonObject:
    """A project as the operators return it: JSON-serializable, ids as strings."""
    summary: JsonObject = {
        "org_id": id_text(project["orgId"]),
        "project_id": id_text(project["id"]),
        "name": project.get("name"),
        "external_id": project.get("externalId"),
        "design_id": None if project.get("designId") is None else id_text(project["designId"]),
        "status": project.get("status"),
        "admin_url": project.get("adminUrl"),
    }
    summary.update(extra)
    return summary


class LearnifierBaseOperator(LearnifierHookMixin, BaseOperator):
    """Base class of the Learnifier operators: one :class:`LearnifierHook` per task, closed at the end.

    Subclasses implement :meth:`execute_with_hook` instead of ``execute``.

    :param learnifier_conn_id: the Airflow connection of type ``learnifier`` to use.
    """

    ui_color = "#e8f4ea"

    def __init__(self, *, learnifier_conn_id: str = DEFAULT_CONN_ID, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.learnifier_conn_id = learnifier_conn_id

    def execute(self, context: Context) -> Any:
        """Run the operation, then close the hook's HTTP session."""
        try:
            return self.execute_with_hook(self.hook, context)
        finally:
            self.hook.close()

    def execute_with_hook(self, hook: LearnifierHook, context: Context) -> Any:
        """Do the operator's work with ``hook``; return a JSON-serializable result for XCom."""
        raise NotImplementedError

    # ------------------------------------------------------------------ shared lookups

    @staticmethod
    def resolve_org_id(
        hook: LearnifierHook, org_id: Any, org_external_id: Any, *, what: str = "org unit"
    ) -> str:
        """Return the id of the organization unit named by ``org_id`` or by ``org_external_id``.

        :raises ValueError: unless exactly one of them is given.
        :raises LearnifierNotFoundError: when no org unit has the external id.
        """
        if blank(org_id) == blank(org_external_id):
            raise ValueError(f"name the {what} by org_id or by org_external_id (exactly one of them)")
        if not blank(org_id):
            return id_text(org_id).strip()
        unit = hook.get_org_unit_by_external_id(str(org_external_id).strip())
        return id_text(unit["id"])

    @staticmethod
    def resolve_project(
        hook: LearnifierHook, org_id: Any, project_id: Any, project_external_id: Any
    ) -> JsonObject:
        """Return the project named by ``org_id`` and ``project_id``, or by ``project_external_id``.

        :meth:`LearnifierHook.resolve_project`, for templated arguments: one left empty (``None``
        or blank) counts as not given. With ``project_external_id``, ``org_id`` is optional; when
        given, the project must be in it.

        :raises ValueError: unless exactly one way of naming the project is given.
        :raises LearnifierNotFoundError: when there is no such project.
        """
        if blank(project_id) == blank(project_external_id):
            raise ValueError(
                "name the project either by org_id and project_id, or by project_external_id (not both)"
            )
        return hook.resolve_project(
            org_id=None if blank(org_id) else id_text(org_id).strip(),
            project_id=None if blank(project_id) else id_text(project_id).strip(),
            external_id=None if blank(project_external_id) else str(project_external_id).strip(),
        )


class LearnifierBulkOperator(LearnifierBaseOperator):
    """Base class of the operators that act on many items: bounded concurrency, a failure budget.

    Items are handled from at most ``max_concurrency`` threads over one HTTP session with as many
    connections; the task fails once every item was tried when more than ``max_failures`` failed.

    :param max_concurrency: at most this many requests at a time (default 8).
    :param max_failures: how many items may fail before the task fails (default 0).
    """

    def __init__(self, *, max_concurrency: int = 8, max_failures: int = 0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(max_concurrency, bool) or not isinstance(max_concurrency, int) or max_concurrency < 1:
            raise ValueError(f"max_concurrency must be a positive integer, not {max_concurrency!r}")
        if isinstance(max_failures, bool) or not isinstance(max_failures, int) or max_failures < 0:
            raise ValueError(f"max_failures must be a non-negative integer, not {max_failures!r}")
        self.max_concurrency = max_concurrency
        self.max_failures = max_failures

    @property
    def http_pool_size(self) -> int:
        """One connection per concurrent request."""
        return self.max_concurrency

    def too_many_failures(self, failed: int) -> bool:
        """Tell whether ``failed`` items are more than ``max_failures`` allows."""
        return failed > self.max_failures
