"""The simulator's version: one place for the package metadata and the ``Server`` header."""

from __future__ import annotations

__version__ = "0.1.0"
