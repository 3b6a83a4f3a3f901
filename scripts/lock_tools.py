"""Pin the documentation and release tools: what ``make tools-lock`` runs.

Resolves the package's ``[docs]`` and ``[release]`` extras within the main constraints
(``constraints/airflow-3.3.2-py3.11.txt``) with pip's dry run, and writes every package they
need, pinned, to ``constraints/tools-py3.11.txt``; a package the main constraints pin has the same
version there. ``make docs`` and ``make dist`` install exactly those into ``.venv``.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import tomllib

REPO = Path(__file__).resolve().parent.parent
MAIN = REPO / "constraints" / "airflow-3.3.2-py3.11.txt"
TOOLS = REPO / "constraints" / "tools-py3.11.txt"


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def main() -> int:
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    requirements = [*extras["docs"], *extras["release"]]
    report = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--dry-run",
            "--ignore-installed",
            "--report",
            "-",
            "--constraint",
            str(MAIN),
            *requirements,
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    resolved = {
        canonical(item["metadata"]["name"]): (item["metadata"]["name"], item["metadata"]["version"])
        for item in json.loads(report)["install"]
    }
    pins = sorted(f"{name}=={version}" for name, version in resolved.values())
    header = [
        "# Pinned documentation and release tools (the [docs] and [release] extras) and what they need,",
        "# within constraints/airflow-3.3.2-py3.11.txt.",
        "# Regenerate with 'make tools-lock'.",
    ]
    TOOLS.write_text("\n".join([*header, *sorted(pins, key=str.lower)]) + "\n")
    print(f"wrote {len(pins)} pins to {TOOLS.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
