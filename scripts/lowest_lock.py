"""Write constraints/lowest-direct-py3.11.txt: what ``make test-lowest`` installs.

A lowest-direct resolution (uv's ``--resolution lowest-direct``) of ``pyproject.toml``'s
dependencies and ``[test]`` extra: each direct dependency at the lowest version its floor allows.
Everything else is held where the Airflow 2.11.2 matrix environment has it
(``constraints/airflow-2.11.2-py3.11.txt``), as a user installing with Airflow's constraints has
it: left free, newer releases of Airflow's own dependencies (``cryptography``,
``universal-pathlib``) break Airflow 2.11 itself, which tests nothing of ours.

Usage: ``python scripts/lowest_lock.py UV`` (``make lowest-lock`` installs uv and runs it).
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

import tomllib

REPO = Path(__file__).resolve().parent.parent
OUTPUT = REPO / "constraints" / "lowest-direct-py3.11.txt"
AIRFLOW_2_CONSTRAINTS = REPO / "constraints" / "airflow-2.11.2-py3.11.txt"
HEADER = [
    "# The lowest-direct resolution of pyproject.toml's dependencies and [test] extra on Python 3.11:",
    "# every direct dependency at its declared floor, the rest as in airflow-2.11.2-py3.11.txt",
    "# (make test-lowest). Regenerate with 'make lowest-lock'.",
]


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def direct_names() -> set[str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    requirements = [*project["dependencies"], *project["optional-dependencies"]["test"]]
    return {normalized(re.split(r"[<>=!~;\[ ]", text, maxsplit=1)[0]) for text in requirements}


def main() -> int:
    uv = sys.argv[1]
    direct = direct_names()
    held = [
        line
        for line in AIRFLOW_2_CONSTRAINTS.read_text(encoding="utf-8").splitlines()
        if "==" in line and not line.startswith("#") and normalized(line.split("==")[0]) not in direct
    ]
    with tempfile.TemporaryDirectory(prefix="learnifier-lowest-") as tmp:
        constraints = Path(tmp) / "held.txt"
        constraints.write_text("\n".join(held) + "\n", encoding="utf-8")
        command = [uv, "pip", "compile", str(REPO / "pyproject.toml"), "--extra", "test"]
        command += ["--resolution", "lowest-direct", "--python-version", "3.11"]
        command += ["--constraint", str(constraints), "--no-header", "--no-annotate", "--quiet"]
        resolved = subprocess.run(
            command,
            check=True,
            capture_output=True,
            text=True,
            cwd=REPO,
        ).stdout
    OUTPUT.write_text("\n".join(HEADER) + "\n" + resolved, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
