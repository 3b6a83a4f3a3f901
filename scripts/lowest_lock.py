"""Write constraints/lowest-direct-py3.10.txt: what ``make test-lowest`` installs.

A lowest-direct resolution (uv's ``--resolution lowest-direct``) of ``pyproject.toml``'s
dependencies and ``[test]`` extra on the lowest Python the package declares (3.10): each direct
dependency at the lowest version its floor allows. Everything else is held where the Airflow 2.11.2
matrix environment has it (``constraints/airflow-2.11.2-py3.11.txt``), as a user installing with
Airflow's constraints has it: left free, newer releases of Airflow's own dependencies
(``cryptography``, ``universal-pathlib``) break Airflow 2.11 itself, which tests nothing of ours.
A held version that does not install on Python 3.10 (it needs 3.11) is let go, and the resolver picks
one that does; the script names each.

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
PYTHON_VERSION = "3.10"
OUTPUT = REPO / "constraints" / f"lowest-direct-py{PYTHON_VERSION}.txt"
AIRFLOW_2_CONSTRAINTS = REPO / "constraints" / "airflow-2.11.2-py3.11.txt"
HEADER = [
    "# The lowest-direct resolution of pyproject.toml's dependencies and [test] extra on Python",
    f"# {PYTHON_VERSION}: every direct dependency at its declared floor, the rest as in",
    f"# airflow-2.11.2-py3.11.txt where that version installs on Python {PYTHON_VERSION}",
    "# (make test-lowest). Regenerate with 'make lowest-lock'.",
]
#: uv's reason for refusing a held pin: that version, or one a package pins, needs a newer Python.
TOO_NEW_FOR_PYTHON = re.compile(
    r"does not satisfy Python>=3\.1\d and "
    r"(?:(?P<held>[\w.-]+)==\S+ depends on Python>="
    r"|(?:all of:.*?|\S+ )depends? on (?P<pinned>(?!Python\b)[\w.-]+))",
    re.DOTALL,
)


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def direct_names() -> set[str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    requirements = [*project["dependencies"], *project["optional-dependencies"]["test"]]
    return {normalized(re.split(r"[<>=!~;\[ ]", text, maxsplit=1)[0]) for text in requirements}


def airflow_floor() -> str:
    """``apache-airflow==FLOOR``: what lowest-direct picks anyway, given so uv need not search Airflow 3."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    (floor,) = [text for text in project["dependencies"] if re.match(r"apache-airflow\s*>=", text)]
    return "apache-airflow==" + floor.split(">=", 1)[1].strip()


def resolve(uv: str, held: dict[str, str]) -> str:
    """uv's lowest-direct resolution with ``held`` as constraints, letting go of those too new."""
    with tempfile.TemporaryDirectory(prefix="learnifier-lowest-") as tmp:
        constraints = Path(tmp) / "held.txt"
        command = [uv, "pip", "compile", str(REPO / "pyproject.toml"), "--extra", "test"]
        command += ["--resolution", "lowest-direct", "--python-version", PYTHON_VERSION]
        command += ["--constraint", str(constraints), "--no-header", "--no-annotate", "--quiet"]
        while True:
            constraints.write_text("\n".join([airflow_floor(), *held.values()]) + "\n", encoding="utf-8")
            result = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
            if result.returncode == 0:
                return result.stdout
            culprits = [
                normalized(found["held"] or found["pinned"])
                for found in TOO_NEW_FOR_PYTHON.finditer(result.stderr)
            ]
            name = next((name for name in culprits if name in held), None)
            if name is None:
                sys.stderr.write(result.stderr[-5000:])
                raise SystemExit("uv found no lowest-direct resolution")
            print(f"let go of {held.pop(name)}: it does not install on Python {PYTHON_VERSION}")


def main() -> int:
    uv = sys.argv[1]
    direct = direct_names()
    held = {
        normalized(line.split("==")[0]): line
        for line in AIRFLOW_2_CONSTRAINTS.read_text(encoding="utf-8").splitlines()
        if "==" in line and not line.startswith("#") and normalized(line.split("==")[0]) not in direct
    }
    OUTPUT.write_text("\n".join(HEADER) + "\n" + resolve(uv, held), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
