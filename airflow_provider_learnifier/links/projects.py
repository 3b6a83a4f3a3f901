"""The "Learnifier project" extra link: from a task to the project it created or worked on.

An operator that has the link stores the project with :meth:`LearnifierProjectLink.persist`
while it runs; when the task ends, Airflow asks the link for its URL (the project's
``adminUrl``, as Learnifier returned it) and keeps it for the UI's button.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow.providers.common.compat.sdk import BaseOperatorLink

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import BaseOperator, Context
    from airflow.sdk.types import TaskInstanceKey

#: The XCom key under which operators store the project the link points at.
PROJECT_XCOM_KEY = "learnifier_project"


class LearnifierProjectLink(BaseOperatorLink):
    """Link to the Learnifier project a task created or acted on (the project's ``adminUrl``).

    Operators that carry it list it in ``operator_extra_links`` and call :meth:`persist` with the
    project once they know it.
    """

    name = "Learnifier project"

    @staticmethod
    def persist(context: Context, project: Mapping[str, Any]) -> None:
        """Store ``project`` (an API ``Project`` object) in XCom for the link to read."""
        context["ti"].xcom_push(
            key=PROJECT_XCOM_KEY,
            value={
                "org_id": str(project.get("orgId", "")),
                "project_id": str(project.get("id", "")),
                "admin_url": project.get("adminUrl"),
            },
        )

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        """Return the project's ``adminUrl`` for the task instance, or ``""`` when there is none.

        Only ``http(s)`` URLs are returned, so that an unexpected value never becomes a link.
        """
        from airflow.providers.common.compat.sdk import XCom

        stored = XCom.get_value(ti_key=ti_key, key=PROJECT_XCOM_KEY)
        url = stored.get("admin_url") if isinstance(stored, Mapping) else None
        if (
            not isinstance(url, str)
            or urlsplit(url).scheme not in ("https", "http")
            or not urlsplit(url).netloc
        ):
            return ""
        return url
