"""Importing the hook stays cheap: the transport's heavy modules load when the first session is made."""

from __future__ import annotations

from tests.compat import modules_imported_by


def test_importing_the_hook_loads_neither_requests_nor_urllib3():
    loaded = modules_imported_by("airflow_provider_learnifier.hooks.learnifier")
    assert [m for m in loaded if m.split(".")[0] in ("requests", "urllib3")] == []
    # The modules that import them, imported where a session is made or a body read.
    heavy = {"session", "tls", "urllib3_internals"}
    assert [m for m in loaded if m.rsplit(".", 1)[-1] in heavy and "_transport" in m] == []
