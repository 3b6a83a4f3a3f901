"""The floors of pyproject.toml's dependencies are what CI installs and tests (``make test-lowest``).

``constraints/lowest-direct-py3.10.txt`` is a lowest-direct resolution on the lowest Python the
package declares: each direct dependency at the lowest version its floor allows. These tests fail
when a floor changes without the file being regenerated (``make lowest-lock``), so the lowest job
never tests other versions than the floors.
"""

from __future__ import annotations

import sys
from pathlib import Path

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: pytest's own TOML reader
    import tomli as tomllib

REPO = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
#: The lowest Python the package declares, and the one the lowest-direct resolution is for.
LOWEST_PYTHON = "3.10"
LOWEST = REPO / "constraints" / f"lowest-direct-py{LOWEST_PYTHON}.txt"


def _pins(path: Path) -> dict[str, Version]:
    pins = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            pins[_normalized(name)] = Version(version.split(";", 1)[0].strip())
    return pins


def _normalized(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def _direct_requirements() -> list[Requirement]:
    project = PYPROJECT["project"]
    return [
        Requirement(text) for text in [*project["dependencies"], *project["optional-dependencies"]["test"]]
    ]


def _floor(specifier: SpecifierSet) -> Version | None:
    floors = [Version(spec.version) for spec in specifier if spec.operator in (">=", "==", "~=")]
    return max(floors) if floors else None


def test_every_direct_dependency_has_a_floor():
    assert [str(req) for req in _direct_requirements() if _floor(req.specifier) is None] == []


def test_the_lowest_direct_resolution_pins_each_direct_dependency_at_its_floor():
    pins = _pins(LOWEST)
    for requirement in _direct_requirements():
        floor = _floor(requirement.specifier)
        pinned = pins.get(_normalized(requirement.name))
        assert pinned is not None, f"{requirement.name} is not in {LOWEST.name}: run 'make lowest-lock'"
        # The lowest release the floor allows: the floor itself, or the first release after it
        # (urllib3 2.0.0 and 2.0.1 were yanked: 2.0.2).
        assert pinned in requirement.specifier, (requirement, pinned)
        assert floor is not None
        assert ((*pinned.release, 0, 0))[:2] == ((*floor.release, 0, 0))[:2], (
            f"{requirement}: {LOWEST.name} pins {pinned}"
        )


def test_the_declared_pythons_are_the_tested_ones():
    project = PYPROJECT["project"]
    classifiers = {
        c.rsplit(" :: ", 1)[1]
        for c in project["classifiers"]
        if c.startswith("Programming Language :: Python :: 3.")
    }
    assert classifiers == {"3.10", "3.11", "3.12", "3.13"}
    assert SpecifierSet(project["requires-python"]) == SpecifierSet(f">={LOWEST_PYTHON}")
    # The lowest declared Python runs the lowest-direct resolution (make test-lowest), the highest
    # the suite with Airflow 3.3.2 (make test-python); each has its constraints, as has 3.10 with
    # Airflow 3.3.2 (make test-python PYTHON_VERSION=3.10).
    assert f"Python {LOWEST_PYTHON}" in LOWEST.read_text(encoding="utf-8").replace("\n# ", " ")
    for python in ("3.10", "3.13"):
        assert (REPO / "constraints" / f"airflow-3.3.2-py{python}.txt").exists()


def test_the_tooling_targets_the_lowest_declared_python():
    """mypy flags standard-library names the lowest Python lacks (``datetime.UTC``, ``tomllib``, ...);
    ruff its syntax, and rewrites only to what it has."""
    target = PYPROJECT["tool"]["ruff"]["target-version"]
    assert target == "py" + LOWEST_PYTHON.replace(".", "")
    assert PYPROJECT["tool"]["mypy"]["python_version"] == LOWEST_PYTHON
