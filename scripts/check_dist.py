"""Check the built distributions as a user gets them: what ``make check-dist`` runs.

Given ``dist/`` (from ``make dist``), it checks that

- the wheel holds ``py.typed``, the provider's modules and the license, and the sdist the
  docs, tests, example DAGs, license and changelog;
- the wheel, installed alone (no source tree on ``sys.path``) into a clean virtualenv with the
  pinned Airflow, registers the provider with Airflow: ``airflow providers list`` shows it,
  ``airflow providers hooks`` the hook of the ``learnifier`` connection type, and
  ``airflow providers behaviours`` / ``widgets`` its connection form;
- every ``airflow_provider_learnifier`` import that the example DAGs, the README and the docs show
  resolves in that environment.
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

REPO = Path(__file__).resolve().parent.parent
CONSTRAINTS = REPO / "constraints" / "airflow-3.3.2-py3.11.txt"
PACKAGE = "airflow_provider_learnifier"
DISTRIBUTION = "airflow-provider-learnifier"
CONN_TYPE = "learnifier"
HOOK_CLASS = f"{PACKAGE}.hooks.learnifier.LearnifierHook"

failures: list[str] = []


def check(condition: bool, what: str) -> None:
    print(f"  {'ok  ' if condition else 'FAIL'} {what}", flush=True)
    if not condition:
        failures.append(what)


def check_archives(dist: Path) -> Path:
    wheels = sorted(dist.glob("*.whl"))
    sdists = sorted(dist.glob("*.tar.gz"))
    check(len(wheels) == 1 and len(sdists) == 1, f"dist/ holds one wheel and one sdist: {os.listdir(dist)}")
    wheel, sdist = wheels[0], sdists[0]
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        metadata = next((archive.read(n).decode() for n in names if n.endswith(".dist-info/METADATA")), "")
        entry_points = next((archive.read(n).decode() for n in names if n.endswith("entry_points.txt")), "")
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
    check("License-Expression: Apache-2.0" in metadata, "the metadata says Apache-2.0")
    check("Requires-Dist: apache-airflow>=2.11.0" in metadata, "the metadata requires apache-airflow>=2.11.0")
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
    return wheel


def documented_imports() -> dict[str, set[str]]:
    """``module -> names`` of every import of the package in example DAGs, README and docs."""
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
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(PACKAGE):
                imports.setdefault(node.module or "", set()).update(alias.name for alias in node.names)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith(PACKAGE):
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


def check_installed(wheel: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="learnifier-check-dist-") as tmp:
        venv = Path(tmp) / "venv"
        started = time.monotonic()
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        python = str(venv / "bin" / "python")
        subprocess.run(
            [python, "-m", "pip", "install", "--quiet", "--constraint", str(CONSTRAINTS), str(wheel)],
            check=True,
            cwd=tmp,
        )
        print(f"  installed the wheel alone in {time.monotonic() - started:.0f} s", flush=True)
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

        imports = documented_imports()
        code = (
            "import importlib, json, sys\n"
            "missing = []\n"
            "for module, names in json.loads(sys.argv[1]).items():\n"
            "    try:\n"
            "        loaded = importlib.import_module(module)\n"
            "    except ImportError as err:\n"
            "        missing.append(f'{module}: {err}'); continue\n"
            "    missing += [f'{module}.{n}' for n in names if not hasattr(loaded, n)]\n"
            "print('\\n'.join(missing))\n"
        )
        result = subprocess.run(
            [python, "-c", code, json.dumps({m: sorted(n) for m, n in imports.items()})],
            cwd=tmp,
            env=env,
            capture_output=True,
            text=True,
        )
        count = sum(len(n) or 1 for n in imports.values())
        missing = result.stdout.strip()
        check(
            result.returncode == 0 and not missing,
            f"the {count} documented imports from {len(imports)} modules resolve"
            + (f"; missing: {missing}" if missing else "")
            + (f"; {result.stderr[-2000:]}" if result.returncode else ""),
        )


def main() -> int:
    dist = Path(sys.argv[1] if len(sys.argv) > 1 else "dist").resolve()
    print(f"checking the distributions in {dist}", flush=True)
    wheel = check_archives(dist)
    check_installed(wheel)
    if failures:
        print(f"check-dist: {len(failures)} check(s) failed", file=sys.stderr)
        return 1
    print("check-dist: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
