"""Apache Airflow provider for the Learnifier learning platform."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
