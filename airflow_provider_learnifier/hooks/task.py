"""How a Learnifier task gets its hook: operators, sensors and the report operator alike.

Importing this module is cheap: the hook (and with it ``requests``) is imported when a task
first uses it, not when the DAG processor parses a DAG file.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow_provider_learnifier.hooks.learnifier import LearnifierHook


class LearnifierHookMixin:
    """One :class:`~airflow_provider_learnifier.hooks.learnifier.LearnifierHook` per task.

    The class mixed with it sets ``learnifier_conn_id``; the task closes the hook when it ends
    (``self.hook.close()``).
    """

    learnifier_conn_id: str

    @property
    def http_pool_size(self) -> int:
        """How many connections the hook's session keeps open; bulk operators size it to their concurrency."""
        return 4

    @cached_property
    def hook(self) -> LearnifierHook:
        """The task's hook for ``learnifier_conn_id``; its session is shared by all of the task's threads."""
        from airflow_provider_learnifier.hooks.learnifier import LearnifierHook

        return LearnifierHook(self.learnifier_conn_id, pool_maxsize=self.http_pool_size)
