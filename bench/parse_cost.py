"""Benchmark 1: what importing all our operators and sensors adds to a DAG file's parse.

In a fresh interpreter each time: ``import airflow.sdk`` and ``from airflow.sdk import
BaseOperator`` (what any DAG file pays), then the clock runs while our public operator and
sensor modules are imported (every ``operators/*.py`` and ``sensors/*.py`` not starting with
``_``, found on disk, so new ones count as they land). The baseline does the same for
``HttpOperator`` from the HTTP provider. Each side reports the milliseconds and the number of
new entries in ``sys.modules``.

Bytecode is cached (in a private ``PYTHONPYCACHEPREFIX``, warmed by a first, unmeasured run of
each side), as for a provider installed from a wheel; the cost without a cache (an editable
install under ``PYTHONDONTWRITEBYTECODE``, as in this repository's CI) is reported as well.

A final run with an import profiler attributes the cost: the self and cumulative time of each
module imported, and who imported it. ``-X importtime`` cannot do this here, because the
lazy names of ``airflow.providers.common.compat.sdk`` are imported with ``importlib.import_module``, which
``-X importtime`` does not see.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as common
from _common import REPO, Metric, Report

PACKAGE = "airflow_provider_learnifier"
HTTP_OPERATOR_MODULE = "airflow.providers.http.operators.http"
TARGET_MS = 20.0
TARGET_MODULES = 15

#: Runs in the fresh interpreter: the DAG file's floor, then the timed imports; prints JSON.
CHILD = r"""
import importlib, json, sys, time
t0 = time.perf_counter()
import airflow.sdk
from airflow.sdk import BaseOperator
floor_ms = (time.perf_counter() - t0) * 1000
modules = sys.argv[1:]
before = set(sys.modules)
t1 = time.perf_counter()
for name in modules:
    importlib.import_module(name)
added_ms = (time.perf_counter() - t1) * 1000
new = sorted(set(sys.modules) - before)
print(json.dumps({"floor_ms": floor_ms, "added_ms": added_ms, "modules": new}))
"""

#: The same, under an import profiler that times every module's execution (nested imports included).
PROFILER = r"""
import importlib, importlib.abc, json, sys, time

class _TimedLoader:
    def __init__(self, loader, name, records, stack):
        self._loader, self._name, self._records, self._stack = loader, name, records, stack
    def __getattr__(self, attribute):
        return getattr(self._loader, attribute)
    def create_module(self, spec):
        return self._loader.create_module(spec)
    def exec_module(self, module):
        parent = self._stack[-1][0] if self._stack else None
        self._stack.append([self._name, 0.0])
        start = time.perf_counter()
        try:
            self._loader.exec_module(module)
        finally:
            total = time.perf_counter() - start
            _, children = self._stack.pop()
            if self._stack:
                self._stack[-1][1] += total
            self._records.append({"module": self._name, "self_ms": (total - children) * 1000,
                                  "cumulative_ms": total * 1000, "imported_by": parent})

class _TimingFinder(importlib.abc.MetaPathFinder):
    def __init__(self):
        self.records, self.stack, self.busy = [], [], False
    def find_spec(self, name, path, target=None):
        if self.busy:
            return None
        self.busy = True
        try:
            for finder in sys.meta_path:
                if finder is self or not hasattr(finder, "find_spec"):
                    continue
                spec = finder.find_spec(name, path, target)
                if spec is not None:
                    break
            else:
                return None
        finally:
            self.busy = False
        if spec.loader is not None and hasattr(spec.loader, "exec_module"):
            spec.loader = _TimedLoader(spec.loader, name, self.records, self.stack)
        return spec

import airflow.sdk
from airflow.sdk import BaseOperator
finder = _TimingFinder()
sys.meta_path.insert(0, finder)
start = time.perf_counter()
for name in sys.argv[1:]:
    importlib.import_module(name)
total_ms = (time.perf_counter() - start) * 1000
sys.meta_path.remove(finder)
print(json.dumps({"total_ms": total_ms, "records": finder.records}))
"""


def our_modules() -> list[str]:
    """Our public operator and sensor modules, found on disk (not imported)."""
    names = []
    for package in ("operators", "sensors"):
        for path in sorted((REPO / PACKAGE / package).glob("*.py")):
            if not path.name.startswith("_"):
                names.append(f"{PACKAGE}.{package}.{path.stem}")
    return names


def child_env(pycache: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(pycache)
    env["PYTHONPATH"] = str(REPO)
    return env


def run_child(code: str, modules: list[str], env: dict[str, str]) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-c", code, *modules],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=300,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"importing {modules} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def forget_our_bytecode(pycache: Path) -> None:
    """Remove the cached bytecode of our package only (Airflow's stays warm)."""
    shutil.rmtree(pycache / REPO.relative_to(REPO.anchor) / PACKAGE, ignore_errors=True)


def attribute(profile: dict[str, Any], ours: list[str]) -> list[dict[str, Any]]:
    """The profile's records, most expensive first, each with the first module of ours on its import path."""
    by_name = {record["module"]: record for record in profile["records"]}

    def culprit(name: str | None) -> str | None:
        seen = set()
        while name is not None and name not in seen:
            seen.add(name)
            if name.startswith(PACKAGE):
                return name
            name = by_name.get(name, {}).get("imported_by")
        return None

    rows = []
    for record in profile["records"]:
        rows.append(
            {
                **record,
                "ours": record["module"].startswith(PACKAGE),
                "pulled_in_by": record["module"]
                if record["module"].startswith(PACKAGE)
                else culprit(record["imported_by"]),
            }
        )
    rows.sort(key=lambda row: row["self_ms"], reverse=True)
    return rows


def main() -> None:
    options = common.parser(__doc__.split("\n", 1)[0], runs=15, quick_runs=3).parse_args()
    started = time.perf_counter()
    runs = common.runs_of(options)
    common.isolate_airflow()
    ours = our_modules()
    theirs = [HTTP_OPERATOR_MODULE]
    report = Report(
        "parse_cost",
        "1. DAG-parse cost",
        options.quick,
        runs,
        parameters={"our_modules": ours, "baseline_modules": theirs, "bytecode": "cached"},
    )
    pycache = Path(tempfile.mkdtemp(prefix="learnifier-bench-pycache-"))
    try:
        env = child_env(pycache)
        for modules in (ours, theirs):  # warm the bytecode cache (and Airflow's home), unmeasured
            run_child(CHILD, modules, env)
        operators = [name for name in ours if ".operators." in name]
        sensors = [name for name in ours if ".sensors." in name]
        samples = common.alternate(
            {
                "ours": lambda: run_child(CHILD, ours, env),
                "http": lambda: run_child(CHILD, theirs, env),
                "operators only": lambda: run_child(CHILD, operators, env),
                "sensors only": lambda: run_child(CHILD, sensors, env),
            },
            runs,
        )
        cold = []
        if not options.quick:
            for _ in range(min(runs, 5)):
                forget_our_bytecode(pycache)
                cold.append(run_child(CHILD, ours, {**env, "PYTHONDONTWRITEBYTECODE": "1"}))
        # Sources may have changed since the warm-up (a shared tree): warm again, then profile.
        run_child(CHILD, ours, env)
        profile = run_child(PROFILER, ours, env)
    finally:
        shutil.rmtree(pycache, ignore_errors=True)

    parts = {side: samples.pop(side) for side in ("operators only", "sensors only")}
    ms = {side: [s["added_ms"] for s in values] for side, values in samples.items()}
    counts = {side: [len(s["modules"]) for s in values] for side, values in samples.items()}
    ours_ms, http_ms = common.median(ms["ours"]), common.median(ms["http"])
    ours_n, http_n = common.median(counts["ours"]), common.median(counts["http"])
    report.add(
        Metric(
            "import time added on top of airflow.sdk + BaseOperator",
            "ms",
            ours_ms,
            http_ms,
            "HttpOperator",
            common.ratio("lower", ours_ms, http_ms),
            "x less",
            f"<= {TARGET_MS:.0f} ms",
            ours_ms <= TARGET_MS,
            samples={side: [round(v, 2) for v in values] for side, values in ms.items()},
        )
    )
    report.add(
        Metric(
            "modules added",
            "modules",
            ours_n,
            http_n,
            "HttpOperator",
            common.ratio("lower", ours_n, http_n),
            "x fewer",
            f"<= {TARGET_MODULES}",
            ours_n <= TARGET_MODULES,
            samples={side: [float(v) for v in values] for side, values in counts.items()},
        )
    )
    new_modules = samples["ours"][-1]["modules"]
    own = [name for name in new_modules if name.startswith(PACKAGE)]
    foreign = [name for name in new_modules if not name.startswith(PACKAGE)]
    report.add(
        Metric(
            "of which modules of other packages (Airflow, its providers, ...)",
            "modules",
            float(len(foreign)),
            float(counts["http"][-1]),
            "HttpOperator",
        )
    )
    for side, values in parts.items():
        report.add(
            Metric(
                f"{side}: import time added",
                "ms",
                common.median(s["added_ms"] for s in values),
                samples={"ours": [round(s["added_ms"], 2) for s in values]},
            )
        )
        report.add(
            Metric(f"{side}: modules added", "modules", common.median(len(s["modules"]) for s in values))
        )
    if cold:
        cold_ms = common.median(s["added_ms"] for s in cold)
        report.add(
            Metric(
                "import time added, our bytecode not cached (editable install, PYTHONDONTWRITEBYTECODE)",
                "ms",
                cold_ms,
                samples={"ours": [round(s["added_ms"], 2) for s in cold]},
            )
        )
    report.details["floor_ms"] = common.median(s["floor_ms"] for values in samples.values() for s in values)
    report.details["our_new_modules"] = own
    report.details["foreign_new_modules"] = foreign
    rows = attribute(profile, ours)
    report.details["profile_total_ms"] = profile["total_ms"]
    report.details["profile"] = rows
    report.notes.append(
        f"`import airflow.sdk` + BaseOperator (the floor every DAG file pays, not counted): "
        f"{report.details['floor_ms']:.0f} ms."
    )
    report.notes.append(
        f"Our modules added: {len(own)}; other packages' modules added: {', '.join(foreign)}."
    )
    top = [row for row in rows if row["self_ms"] >= 0.5][:12]
    report.notes.append(
        "Import profile (self time, profiled run, slower than the measured ones): "
        + "; ".join(
            f"{row['module']} {row['self_ms']:.1f} ms"
            + ("" if row["ours"] else f" (via {row['pulled_in_by'] or row['imported_by']})")
            for row in top
        )
        + "."
    )
    report.emit(options, started)


if __name__ == "__main__":
    main()
