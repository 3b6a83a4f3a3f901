"""The deployment tests: a real Airflow 3 on loopback (``scripts/airflow_deployment.py``)."""

from __future__ import annotations

#: Lines the deployment tests print in pytest's terminal summary (``conftest.py``).
SUMMARY_LINES: list[str] = []
