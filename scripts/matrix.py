"""The Airflow version matrix: what ``make matrix`` and ``make matrix-lock`` run.

For each Airflow version (2.11, 3.0, the latest 3.1 and 3.2, and the newest 3.x, each pinned by
``constraints/airflow-VERSION-py3.11.txt``) ``run`` builds a virtualenv under ``.matrix/`` (once,
until the constraints, their ``.in`` file or a ``pyproject.toml`` change), installs what the ``.in``
file lists (the Airflow version, and packages it needs around it) pinned by the constraints, this
package with its ``[test]`` extra and the simulator (both editable), runs the test suite there, and runs
one example DAG end to end
(``airflow dags test``) against a local Learnifier simulator. The newest version's constraints are
the main development environment's, so it uses ``.venv`` as it is. ``--example-only VERSION``
skips a version's tests; ``--smoke VERSION`` runs only its smoke tests (what differs most between
Airflow lines: the provider registration, the connection form, the compatibility module).
``--deployment VERSION`` also runs the real-deployment tests there (``tests/integration``: an
Airflow 3 started on loopback runs the enrollment and the event-driven example DAGs), instead of
``airflow dags test`` of the one example DAG, which they cover.

``lock`` resolves ``constraints/airflow-VERSION-py3.11.in`` plus the ``[test]`` extra in a
throwaway virtualenv and writes what was installed to ``constraints/airflow-VERSION-py3.11.txt``.

Only the standard library is imported here: the script runs under any of the environments.

Usage::

    python scripts/matrix.py run [--example-only VERSION]... [--smoke VERSION]... [--deployment VERSION]...
                                 VERSION...
    python scripts/matrix.py lock VERSION...
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
PY_TAG = f"py{sys.version_info.major}.{sys.version_info.minor}"
MATRIX_DIR = REPO / ".matrix"
MAIN_VENV = REPO / ".venv"
MAIN_CONSTRAINTS = REPO / "constraints" / f"airflow-3.3.2-{PY_TAG}.txt"
#: The example DAG run end to end on every version; its defaults match the simulator's demo seed.
EXAMPLE_DAG = os.environ.get("MATRIX_EXAMPLE_DAG", "learnifier_quickstart")
#: What pytest runs in each environment: the unit and DAG tests; not the benchmarks, the demo and the
#: long suites, which run in the development environment (each in its own CI stage).
PYTEST_ARGS = shlex.split(
    os.environ.get(
        "MATRIX_PYTEST_ARGS",
        "tests -q -p no:cacheprovider -n auto -m 'not demo and not bench and not faults and not crashes'"
        " --ignore=tests/bench --ignore=tests/reliability --ignore=tests/integration",
    )
)
#: What pytest runs on a ``--smoke`` version: the tests of what the UI and the providers manager see.
SMOKE_PYTEST_ARGS = [
    "tests/test_connection_form.py",
    "tests/test_get_provider_info.py",
    "tests/test_version_compat.py",
    "-q",
    "-p",
    "no:cacheprovider",
]

#: What pytest runs on a ``--deployment`` version: the tests that start a real Airflow deployment
#: (api-server, scheduler, dag-processor, triggerer) on loopback and drive the example DAGs.
DEPLOYMENT_PYTEST_ARGS = ["tests/integration", "-q", "-ra", "-p", "no:cacheprovider"]

#: The provider with its test extra and the simulator that its tests run against, from this tree.
EDITABLE_INSTALL = ("--editable", ".[test]", "--editable", "./simulator")
OUR_DISTRIBUTIONS = ("airflow-provider-learnifier", "learnifier-simulator")


def say(message: str) -> None:
    print(f"[matrix] {message}", flush=True)


def constraints_file(version: str) -> Path:
    return REPO / "constraints" / f"airflow-{version}-{PY_TAG}.txt"


def venv_dir(version: str) -> Path:
    if constraints_file(version) == MAIN_CONSTRAINTS:
        return MAIN_VENV
    return MATRIX_DIR / f"airflow-{version}"


def run(command: list[str | Path], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(part) for part in command], check=True, text=True, **kwargs)


def pip(venv: Path, *args: str | Path) -> None:
    run([venv / "bin" / "python", "-m", "pip", "--quiet", *args], cwd=REPO)


#: uv, when ``make matrix`` gives it (``LEARNIFIER_UV``): it installs the pinned environments from
#: one shared cache, several times faster than pip; without it, pip does.
UV = os.environ.get("LEARNIFIER_UV")


def install(venv: Path, *args: str | Path) -> None:
    """``pip install ARGS`` into ``venv``, by uv when there is one."""
    if UV:
        run([UV, "pip", "install", "--quiet", "--python", venv / "bin" / "python", *args], cwd=REPO)
    else:
        pip(venv, "install", *args)


def requirements_file(version: str) -> Path:
    """What the version's constraints were resolved from: Airflow, its upper bounds, extra packages."""
    return REPO / "constraints" / f"airflow-{version}-{PY_TAG}.in"


def fingerprint(version: str) -> str:
    digest = hashlib.sha256()
    for path in (
        constraints_file(version),
        requirements_file(version),
        REPO / "pyproject.toml",
        REPO / "simulator" / "pyproject.toml",
    ):
        if path.exists():
            digest.update(path.read_bytes())
    return digest.hexdigest()


def ensure_venv(version: str) -> Path:
    """Build (or reuse) the version's virtualenv with the pinned Airflow and this package."""
    venv = venv_dir(version)
    if venv == MAIN_VENV:
        if not (venv / "bin" / "airflow").exists():
            raise SystemExit("the main environment .venv is missing: run 'make venv' first")
        return venv
    constraints = constraints_file(version)
    if not constraints.exists():
        raise SystemExit(
            f"no {constraints.relative_to(REPO)}: run 'make matrix-lock MATRIX_VERSIONS={version}'"
        )
    stamp = venv / ".installed"
    if stamp.exists() and stamp.read_text() == fingerprint(version):
        return venv
    shutil.rmtree(venv, ignore_errors=True)
    run([sys.executable, "-m", "venv", venv])
    if not UV:
        pip(venv, "install", "--upgrade", "pip")
    # The .in file too: it may add packages the Airflow version needs around it (such as the FAB
    # provider on 3.0), which the constraints pin but do not install.
    requirements = requirements_file(version)
    extra: list[str | Path] = ["--requirement", requirements] if requirements.exists() else []
    install(venv, "--constraint", constraints, *extra, *EDITABLE_INSTALL)
    stamp.write_text(fingerprint(version))
    return venv


def run_tests(venv: Path, pytest_args: list[str], env: dict[str, str] | None = None) -> bool:
    command = [str(venv / "bin" / "python"), "-m", "pytest", *pytest_args]
    return subprocess.run(command, cwd=REPO, env=os.environ | (env or {})).returncode == 0


def run_example(venv: Path) -> bool:
    """Run the example DAG with the version's own interpreter (see ``example`` below)."""
    command = [str(venv / "bin" / "python"), str(Path(__file__).resolve()), "example", EXAMPLE_DAG]
    return subprocess.run(command, cwd=REPO).returncode == 0


def command_run(args: argparse.Namespace) -> int:
    results = []
    for version in args.versions:
        say(f"Airflow {version}: start")
        started = time.monotonic()
        timings = []
        ok = True
        try:
            venv = ensure_venv(version)
        except subprocess.CalledProcessError as failed:
            say(f"Airflow {version}: installing failed: {failed}")
            results.append((version, False, "install failed"))
            continue
        timings.append(f"install {time.monotonic() - started:.0f} s")
        if version not in args.example_only:
            smoke = version in args.smoke
            step = time.monotonic()
            tests_ok = run_tests(venv, SMOKE_PYTEST_ARGS if smoke else PYTEST_ARGS)
            ok = ok and tests_ok
            label = "smoke tests" if smoke else "tests"
            timings.append(f"{label} {time.monotonic() - step:.0f} s {'ok' if tests_ok else 'FAILED'}")
        if version in args.deployment:
            step = time.monotonic()
            deployment_ok = run_tests(venv, DEPLOYMENT_PYTEST_ARGS, {"LEARNIFIER_INTEGRATION": "1"})
            ok = ok and deployment_ok
            timings.append(
                f"deployment tests {time.monotonic() - step:.0f} s {'ok' if deployment_ok else 'FAILED'}"
            )
        if version in args.deployment:
            # The deployment tests ran the example DAGs end to end through a real scheduler and
            # triggerer already: `airflow dags test` would only repeat a smaller part of that.
            timings.append("example DAG: in the deployment tests")
        else:
            step = time.monotonic()
            example_ok = run_example(venv)
            ok = ok and example_ok
            timings.append(f"example DAG {time.monotonic() - step:.0f} s {'ok' if example_ok else 'FAILED'}")
        say(f"Airflow {version}: {'passed' if ok else 'FAILED'} in {time.monotonic() - started:.0f} s")
        results.append((version, ok, ", ".join(timings)))
    say("summary:")
    for version, ok, detail in results:
        say(f"  Airflow {version:8} {'passed' if ok else 'FAILED':7} {detail}")
    return 0 if all(ok for _, ok, _ in results) else 1


def command_example(args: argparse.Namespace) -> int:
    """Run one example DAG with ``airflow dags test`` against a simulator (in the version's venv)."""
    from learnifier_simulator import LearnifierSimulator

    airflow = str(Path(sys.executable).with_name("airflow"))
    with (
        tempfile.TemporaryDirectory(prefix="learnifier-matrix-") as airflow_home,
        LearnifierSimulator(seed="demo") as simulator,
    ):
        env = {
            **os.environ,
            "AIRFLOW_HOME": airflow_home,
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "example_dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "AIRFLOW__METRICS__TIMER_UNIT_CONSISTENCY": "True",
            "AIRFLOW_CONN_LEARNIFIER_DEFAULT": simulator.connection_json(),
        }
        migrate = subprocess.run([airflow, "db", "migrate"], env=env, capture_output=True, text=True)
        if migrate.returncode:
            print(migrate.stdout[-5000:], migrate.stderr[-5000:], sep="\n")
            return 1
        dag_test = subprocess.run(
            [airflow, "dags", "test", args.dag_id], env=env, capture_output=True, text=True
        )
        output = dag_test.stdout + dag_test.stderr
        succeeded = dag_test.returncode == 0 and "state=success" in output
        if not succeeded:
            print(output[-20000:])
            return 1
        projects = simulator.state.snapshot()["projects"]
        say(f"example DAG {args.dag_id}: success; the simulator holds {len(projects)} project(s)")
    return 0


def command_lock(args: argparse.Namespace) -> int:
    for version in args.versions:
        source = requirements_file(version)
        if not source.exists():
            raise SystemExit(f"no {source.relative_to(REPO)} to resolve")
        started = time.monotonic()
        with tempfile.TemporaryDirectory(prefix="learnifier-lock-") as tmp:
            venv = Path(tmp) / "venv"
            run([sys.executable, "-m", "venv", venv])
            pip(venv, "install", "--upgrade", "pip")
            pip(venv, "install", "--requirement", source, *EDITABLE_INSTALL)
            frozen = run(
                [venv / "bin" / "python", "-m", "pip", "freeze", "--exclude-editable"],
                capture_output=True,
            ).stdout.splitlines()
        pins = sorted(
            (line for line in frozen if line and not line.lower().startswith(OUR_DISTRIBUTIONS)),
            key=str.lower,
        )
        header = [
            f"# Pinned versions for Airflow {version} on Python {PY_TAG[2:]}: an environment of the",
            f"# version matrix (make matrix). Resolved from {source.name} plus the [test] extra;",
            "# regenerate with 'make matrix-lock'.",
        ]
        constraints_file(version).write_text("\n".join([*header, *pins]) + "\n")
        say(f"locked Airflow {version}: {len(pins)} pins in {time.monotonic() - started:.0f} s")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser("run", help="install, test and run the example DAG per version")
    run_parser.add_argument("versions", nargs="+")
    run_parser.add_argument(
        "--example-only",
        action="append",
        default=[],
        metavar="VERSION",
        help="only run the example DAG on this version (its tests run elsewhere, e.g. 'make test')",
    )
    run_parser.add_argument(
        "--smoke",
        action="append",
        default=[],
        metavar="VERSION",
        help="run only the smoke tests (provider info, connection form, compatibility) and the "
        "example DAG on this version",
    )
    run_parser.add_argument(
        "--deployment",
        action="append",
        default=[],
        metavar="VERSION",
        help="also run the real-deployment tests (tests/integration) on this Airflow 3 version; they "
        "run the example DAGs end to end, so `airflow dags test` of the example DAG is left out there",
    )
    lock_parser = commands.add_parser("lock", help="resolve and write a version's constraints file")
    lock_parser.add_argument("versions", nargs="+")
    example_parser = commands.add_parser("example", help="run one example DAG (inside a matrix venv)")
    example_parser.add_argument("dag_id")
    args = parser.parse_args()
    if PY_TAG != "py3.11":
        raise SystemExit(f"the matrix's constraints are for Python 3.11, not {PY_TAG[2:]}")
    handler = {"run": command_run, "lock": command_lock, "example": command_example}[args.command]
    return handler(args)


if __name__ == "__main__":
    sys.exit(main())
