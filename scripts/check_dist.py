"""Check the built distributions as a user gets them: what ``make check-dist`` runs.

Given ``dist/`` (from ``make dist``: the provider's wheel and sdist, and the simulator's), it
checks that

- the provider's wheel holds ``py.typed``, the provider's modules and the license, and not the
  simulator; its sdist the docs, tests, example DAGs, license and changelog;
- the simulator's wheel holds its package, ``py.typed``, the license, the ``learnifier-simulator``
  command and the ``pytest11`` entry point, and requires neither the provider nor Airflow;
- the wheel, installed alone (no source tree on ``sys.path``) into a clean virtualenv with the
  pinned Airflow, registers the provider with Airflow: ``airflow providers list`` shows it,
  ``airflow providers hooks`` the hook of the ``learnifier`` connection type, and
  ``airflow providers behaviours`` / ``widgets`` its connection form;
- every ``airflow_provider_learnifier`` import that the example DAGs, the README and the docs show
  resolves in that environment, and the simulator is not importable there;
- the simulator's wheel, installed alone with pytest into another clean virtualenv, serves the
  API over HTTPS, runs as ``learnifier-simulator`` and ``python -m learnifier_simulator``, gives
  pytest its fixtures, and every documented ``learnifier_simulator`` import resolves there.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from pathlib import Path

import tomllib

REPO = Path(__file__).resolve().parent.parent
CONSTRAINTS = REPO / "constraints" / "airflow-3.3.2-py3.11.txt"
PACKAGE = "airflow_provider_learnifier"
DISTRIBUTION = "airflow-provider-learnifier"
SIMULATOR_PACKAGE = "learnifier_simulator"
CONN_TYPE = "learnifier"
HOOK_CLASS = f"{PACKAGE}.hooks.learnifier.LearnifierHook"

failures: list[str] = []


def check(condition: bool, what: str) -> None:
    print(f"  {'ok  ' if condition else 'FAIL'} {what}", flush=True)
    if not condition:
        failures.append(what)


def wheel_contents(wheel: Path) -> tuple[set[str], str, str]:
    """The wheel's file names, its METADATA and its entry_points.txt."""
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        metadata = next((archive.read(n).decode() for n in names if n.endswith(".dist-info/METADATA")), "")
        entry_points = next((archive.read(n).decode() for n in names if n.endswith("entry_points.txt")), "")
    return names, metadata, entry_points


def check_archives(dist: Path) -> tuple[Path, Path]:
    """Check the four archives; return the provider's wheel and the simulator's."""
    wheels = sorted(dist.glob(f"{PACKAGE}-*.whl"))
    sdists = sorted(dist.glob(f"{PACKAGE}-*.tar.gz"))
    simulator_wheels = sorted(dist.glob(f"{SIMULATOR_PACKAGE}-*.whl"))
    simulator_sdists = sorted(dist.glob(f"{SIMULATOR_PACKAGE}-*.tar.gz"))
    check(
        [len(found) for found in (wheels, sdists, simulator_wheels, simulator_sdists)] == [1, 1, 1, 1],
        f"dist/ holds one wheel and one sdist of the provider and of the simulator: {os.listdir(dist)}",
    )
    wheel, sdist = wheels[0], sdists[0]
    names, metadata, entry_points = wheel_contents(wheel)
    check(f"{PACKAGE}/py.typed" in names, "the wheel holds py.typed")
    check(f"{PACKAGE}/get_provider_info.py" in names, "the wheel holds get_provider_info.py")
    check(any(n.endswith(".dist-info/licenses/LICENSE") for n in names), "the wheel holds the LICENSE")
    check(
        not any(n.startswith(("tests/", "docs/", "example_dags/")) for n in names), "the wheel holds no tests"
    )
    check(
        "apache_airflow_provider" in entry_points,
        "the wheel declares the apache_airflow_provider entry point",
    )
    check(
        not any(n.startswith(f"{SIMULATOR_PACKAGE}/") or "/simulator/" in n for n in names),
        "the provider's wheel holds no simulator",
    )
    check(
        "console_scripts" not in entry_points and "pytest11" not in entry_points,
        "the provider's wheel declares no command and no pytest plugin",
    )
    check("License-Expression: Apache-2.0" in metadata, "the metadata says Apache-2.0")
    airflow_floor = next(
        requirement
        for requirement in tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
        if requirement.startswith("apache-airflow>=")
    )
    check(f"Requires-Dist: {airflow_floor}" in metadata, f"the metadata requires {airflow_floor}")
    with tarfile.open(sdist) as archive:
        members = {"/".join(m.split("/")[1:]) for m in archive.getnames()}
    for needed in (
        "LICENSE",
        "README.md",
        "CHANGELOG.md",
        "docs/conf.py",
        "example_dags",
        "tests/conftest.py",
    ):
        check(any(m == needed or m.startswith(needed + "/") for m in members), f"the sdist holds {needed}")
    check(not any(m.startswith("docs/_build") for m in members), "the sdist holds no docs build")

    simulator_wheel = simulator_wheels[0]
    names, metadata, entry_points = wheel_contents(simulator_wheel)
    for needed in ("__init__.py", "__main__.py", "pytest_plugin.py", "py.typed"):
        check(f"{SIMULATOR_PACKAGE}/{needed}" in names, f"the simulator's wheel holds {needed}")
    check(
        any(n.endswith(".dist-info/licenses/LICENSE") for n in names),
        "the simulator's wheel holds the LICENSE",
    )
    check(
        not any(n.startswith(f"{PACKAGE}/") for n in names), "the simulator's wheel holds no provider module"
    )
    check(
        "learnifier-simulator = learnifier_simulator.__main__:main" in entry_points,
        "the simulator's wheel declares the learnifier-simulator command",
    )
    check("[pytest11]" in entry_points, "the simulator's wheel declares its pytest plugin (pytest11)")
    requires = [line for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    check(any("cryptography" in line for line in requires), "the simulator's metadata requires cryptography")
    check(
        not any("airflow" in line for line in requires),
        f"the simulator requires neither the provider nor Airflow: {requires}",
    )
    return wheel, simulator_wheel


def documented_imports(package: str) -> dict[str, set[str]]:
    """``module -> names`` of every import of ``package`` in example DAGs, README and docs."""
    sources: list[tuple[str, str]] = []
    for path in sorted((REPO / "example_dags").glob("*.py")):
        sources.append((str(path.relative_to(REPO)), path.read_text()))
    fence = re.compile(r"```python\n(.*?)```", re.DOTALL)
    for path in [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]:
        if "_build" in path.parts:
            continue
        for block in fence.findall(path.read_text()):
            sources.append((str(path.relative_to(REPO)), block))
    imports: dict[str, set[str]] = {}
    for origin, source in sources:
        try:
            tree = ast.parse(source)
        except SyntaxError:
            check(False, f"the Python in {origin} parses")
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(package):
                imports.setdefault(node.module or "", set()).update(alias.name for alias in node.names)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith(package):
                        imports.setdefault(alias.name, set())
    return imports


def airflow_json(airflow: str, env: dict[str, str], *args: str) -> list[dict[str, object]]:
    result = subprocess.run(
        [airflow, *args, "--output", "json"], env=env, capture_output=True, text=True, timeout=300
    )
    if result.returncode:
        print(result.stdout[-3000:], result.stderr[-3000:], sep="\n")
        return []
    value = json.loads(result.stdout)
    return value if isinstance(value, list) else [value]


def install_alone(tmp: str, wheel: Path, *extra: str) -> tuple[Path, str]:
    """Install ``wheel`` (and ``extra`` requirements), pinned, into a new virtualenv in ``tmp``."""
    venv = Path(tmp) / "venv"
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    pip = [python, "-m", "pip", "install", "--quiet", "--constraint", str(CONSTRAINTS), str(wheel), *extra]
    subprocess.run(pip, check=True, cwd=tmp)
    print(f"  installed {wheel.name} alone in {time.monotonic() - started:.0f} s", flush=True)
    return venv, python


def check_installed(wheel: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="learnifier-check-dist-") as tmp:
        venv, python = install_alone(tmp, wheel)
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PYTHON"))},
            "AIRFLOW_HOME": str(Path(tmp) / "airflow-home"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "ERROR",
        }
        location = subprocess.run(
            [python, "-c", f"import {PACKAGE}, pathlib; print(pathlib.Path({PACKAGE}.__file__).parent)"],
            cwd=tmp,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        check(location.startswith(str(venv)), f"the package is imported from the virtualenv ({location})")
        check((Path(location) / "py.typed").exists(), "py.typed is installed")

        airflow = str(venv / "bin" / "airflow")
        providers = airflow_json(airflow, env, "providers", "list")
        ours = [p for p in providers if p.get("package_name") == DISTRIBUTION]
        check(len(ours) == 1, "'airflow providers list' shows the provider")
        hooks = airflow_json(airflow, env, "providers", "hooks")
        check(
            any(h.get("connection_type") == CONN_TYPE and h.get("class") == HOOK_CLASS for h in hooks),
            f"'airflow providers hooks' shows {HOOK_CLASS} for the {CONN_TYPE} connection type",
        )
        behaviours = airflow_json(airflow, env, "providers", "behaviours")
        check(
            any(b.get("field_behaviours") == CONN_TYPE for b in behaviours),
            "'airflow providers behaviours' shows the connection form's field behaviour",
        )
        widgets = airflow_json(airflow, env, "providers", "widgets")
        widget_names = {str(w.get("connection_parameter_name")) for w in widgets}
        expected = {f"extra__{CONN_TYPE}__{name}" for name in ("timeout", "verify", "max_retries")}
        check(
            expected <= widget_names, "'airflow providers widgets' shows the connection form's extra fields"
        )

        check_documented_imports(python, PACKAGE, cwd=tmp, env=env)
        absent = subprocess.run(
            [python, "-c", f"import {SIMULATOR_PACKAGE}"], cwd=tmp, env=env, capture_output=True
        )
        check(absent.returncode != 0, "the simulator is not importable where only the provider is installed")


def check_documented_imports(python: str, package: str, cwd: str, env: dict[str, str]) -> None:
    """Check that every documented import of ``package`` resolves with the interpreter ``python``."""
    imports = documented_imports(package)
    code = (
        "import importlib, importlib.util, json, sys\n"
        "def found(loaded, module, name):\n"
        "    # As `from module import name` does: an attribute, else a submodule of a package.\n"
        "    if hasattr(loaded, name):\n"
        "        return True\n"
        "    spec = hasattr(loaded, '__path__') and importlib.util.find_spec(f'{module}.{name}')\n"
        "    return bool(spec)\n"
        "missing = []\n"
        "for module, names in json.loads(sys.argv[1]).items():\n"
        "    try:\n"
        "        loaded = importlib.import_module(module)\n"
        "    except ImportError as err:\n"
        "        missing.append(f'{module}: {err}'); continue\n"
        "    missing += [f'{module}.{n}' for n in names if not found(loaded, module, n)]\n"
        "print('\\n'.join(missing))\n"
    )
    result = subprocess.run(
        [python, "-c", code, json.dumps({m: sorted(n) for m, n in imports.items()})],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
    )
    count = sum(len(n) or 1 for n in imports.values())
    missing = result.stdout.strip()
    check(
        result.returncode == 0 and not missing and count > 0,
        f"the {count} documented imports from {len(imports)} {package} modules resolve"
        + (f"; missing: {missing}" if missing else "")
        + (f"; {result.stderr[-2000:]}" if result.returncode else ""),
    )


SIMULATOR_SMOKE_TEST = """
import json, ssl, urllib.request
from learnifier_simulator import LearnifierSimulator

with LearnifierSimulator(seed="demo") as sim:
    request = urllib.request.Request(sim.base_url + "/orgunits")
    request.add_header("Authorization", "Basic " + __import__("base64").b64encode(
        f"{sim.key}:{sim.secret}".encode()).decode())
    context = ssl.create_default_context(cafile=sim.ca_file)
    with urllib.request.urlopen(request, context=context, timeout=30) as answer:
        print(json.load(answer)["orgUnits"][0]["id"])
"""


def check_simulator_installed(wheel: Path) -> None:
    """Install the simulator's wheel alone (and pytest) into a clean virtualenv and use it."""
    with tempfile.TemporaryDirectory(prefix="learnifier-check-dist-simulator-") as tmp:
        venv, python = install_alone(tmp, wheel, "pytest")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PYTHON"))}

        def run(*command: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                list(command), cwd=tmp, env=env, capture_output=True, text=True, timeout=120
            )

        airflow = run(python, "-c", "import airflow")
        check(airflow.returncode != 0, "the simulator's wheel installs without Airflow")
        served = run(python, "-c", SIMULATOR_SMOKE_TEST)
        check(
            served.returncode == 0 and served.stdout.strip().isdigit(),
            "the installed simulator serves the API over HTTPS"
            + (f"; {served.stderr[-2000:]}" if served.returncode else ""),
        )
        for label, command in (
            ("learnifier-simulator --help", [str(venv / "bin" / "learnifier-simulator"), "--help"]),
            ("python -m learnifier_simulator --help", [python, "-m", SIMULATOR_PACKAGE, "--help"]),
        ):
            helped = run(*command)
            check(helped.returncode == 0 and "--seed" in helped.stdout, f"'{label}' runs")
        fixtures = run(python, "-m", "pytest", "--fixtures", "-p", "no:cacheprovider")
        check(
            "learnifier_conn" in fixtures.stdout and "learnifier_simulator" in fixtures.stdout,
            "pytest finds the simulator's fixtures through its entry point",
        )
        check_documented_imports(python, SIMULATOR_PACKAGE, cwd=tmp, env=env)


def main() -> int:
    dist = Path(sys.argv[1] if len(sys.argv) > 1 else "dist").resolve()
    print(f"checking the distributions in {dist}", flush=True)
    wheel, simulator_wheel = check_archives(dist)
    check_installed(wheel)
    check_simulator_installed(simulator_wheel)
    if failures:
        print(f"check-dist: {len(failures)} check(s) failed", file=sys.stderr)
        return 1
    print("check-dist: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
