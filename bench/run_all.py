"""Run every benchmark, print the table, and (with ``--docs``) rewrite it in ``docs/benchmarks.md``.

Each benchmark runs in its own interpreter (``bench/<name>.py --json ...``), one after another,
so that they do not disturb each other, and in a process group of its own: when it ends (or runs
out of time, or the run is interrupted) every process it started is stopped with it.
``make bench`` runs them in full and rewrites the generated part of ``docs/benchmarks.md``
(between the ``bench:results`` markers; the text around it is kept); ``make bench-quick`` runs
the quick mode of each, as CI does, and writes nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as common
from _common import BENCH_DIR, REPO

#: The benchmarks, in the order of the results table (docs/benchmarks.md).
BENCHMARKS = (
    "parse_cost",
    "enrollment",
    "report_export",
    "triggerer",
    "simulator_capacity",
    "event_watchers",
    "rate_limits",
    "assignment_policy",
    "nudges",
)
START = "<!-- bench:results:start (written by `make bench`; edit outside these markers) -->"
END = "<!-- bench:results:end -->"

DEFAULT_DOC = """# Benchmarks

How fast the provider is next to the way the same work is done without it, and next to what
the machine and the API allow. Each benchmark measures its baseline in the same run and reports
the ratio; the figures are medians of several runs. `make bench` runs them all and rewrites the
results below; `make bench-quick` runs a small version of each (CI does, so they cannot rot).

{start}
{end}
"""


def run_benchmark(name: str, quick: bool, runs: int | None, out: Path, timeout: float) -> dict[str, Any]:
    command = [sys.executable, str(BENCH_DIR / f"{name}.py"), "--json", str(out)]
    if quick:
        command.append("--quick")
    if runs is not None:
        command += ["--runs", str(runs)]
    print(f"\n>>> {' '.join(command[1:])}", flush=True)
    began = time.perf_counter()
    process = subprocess.Popen(command, cwd=REPO, start_new_session=True)
    try:
        returncode = process.wait(timeout=timeout)
        failure = None if returncode == 0 else f"exited with {returncode}"
    except subprocess.TimeoutExpired:
        failure = f"took more than {timeout:.0f} s"
    finally:
        stop_group(process)
    seconds = time.perf_counter() - began
    if failure is None and out.exists():
        result = json.loads(out.read_text(encoding="utf-8"))
        result["wall_seconds"] = round(seconds, 1)
        return result
    return {"benchmark": name, "error": failure or "wrote no result", "wall_seconds": round(seconds, 1)}


def stop_group(process: subprocess.Popen[Any]) -> None:
    """Kill what is left of a benchmark's process group: its simulators and child processes too."""
    with contextlib.suppress(ProcessLookupError):  # the group is gone: nothing of it is left
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def verdict(metric: dict[str, Any]) -> str:
    if metric.get("met") is None:
        return ""
    return "met" if metric["met"] else "**NOT met**"


def results_markdown(results: list[dict[str, Any]], machine: dict[str, Any], quick: bool) -> str:
    """The generated part of the document: the machine, the table, and each benchmark's notes."""
    lines = [
        f"Measured {machine['date']} on {machine['cpu']}, {machine['cores']} cores, {machine['memory']} "
        f"({machine['os']}; load average at the start {machine['load_average']}; a shared machine, so "
        "the ratios, measured in the same run, matter more than the absolute figures).",
        "",
        f"Python {machine['python']}, Airflow {machine['airflow']} (Task SDK {machine['task_sdk']}), "
        f"HTTP provider {machine['http_provider']}, requests {machine['requests']}, urllib3 "
        f"{machine['urllib3']}, airflow-provider-learnifier {machine['provider']} at commit "
        f"{machine['commit']}."
        + (" **Quick mode: small sizes, not the reference figures.**" if quick else ""),
        "",
        "| # | measure | ours (median) | baseline (median) | ratio | target | |",
        "|---|---|---|---|---|---|---|",
    ]
    for result in results:
        title = result.get("title", result["benchmark"])
        number = title.split(".", 1)[0] if "." in title else ""
        if "error" in result:
            lines.append(f"| {number} | {result['benchmark']}: **failed** ({result['error']}) | | | | | |")
            continue
        for metric in result["metrics"]:
            ours = f"{common.fmt(metric['ours'])} {metric['unit']}"
            baseline = (
                f"{common.fmt(metric['baseline'])} {metric['unit']} ({metric['baseline_name']})"
                if metric.get("baseline") is not None
                else ""
            )
            ratio = f"{common.fmt(metric['ratio'])}{metric['ratio_label']}" if metric.get("ratio") else ""
            lines.append(
                f"| {number} | {metric['name']} | {ours} | {baseline} | {ratio} | {metric.get('target', '')} "
                f"| {verdict(metric)} |"
            )
    lines.append("")
    for result in results:
        if "error" in result:
            continue
        parameters = ", ".join(
            f"{key} {value}" for key, value in result["parameters"].items() if key != "our_modules"
        )
        lines.append(
            f"**{result['title']}** ({result['runs']} run(s) per side, {result['wall_seconds']:.0f} s; "
            f"{parameters})."
        )
        lines.append("")
        for note in result["notes"]:
            lines.append(f"- {note}")
        if result["notes"]:
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def rewrite(doc: Path, generated: str) -> None:
    """Replace the text between the markers of ``doc`` (creating it, or the markers, if missing)."""
    text = doc.read_text(encoding="utf-8") if doc.exists() else DEFAULT_DOC.format(start=START, end=END)
    if START not in text or END not in text:
        text = text.rstrip() + f"\n\n## Results\n\n{START}\n{END}\n"
    before, rest = text.split(START, 1)
    _, after = rest.split(END, 1)
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text(f"{before}{START}\n{generated}{END}{after}", encoding="utf-8")


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    options.add_argument("--quick", action="store_true", help="the quick mode of each benchmark (as in CI)")
    options.add_argument("--runs", type=int, default=None, help="override each benchmark's number of runs")
    options.add_argument("--only", nargs="+", choices=BENCHMARKS, default=None, help="run only these")
    options.add_argument("--docs", type=Path, default=None, help="rewrite the results in this document")
    options.add_argument("--json", type=Path, default=None, help="also write all results here as JSON")
    options.add_argument("--timeout", type=float, default=3600, help="seconds one benchmark may take")
    args = options.parse_args()
    began = time.perf_counter()
    machine = common.machine_info()
    results = []
    with tempfile.TemporaryDirectory(prefix="learnifier-bench-") as directory:
        for name in args.only or BENCHMARKS:
            results.append(
                run_benchmark(name, args.quick, args.runs, Path(directory) / f"{name}.json", args.timeout)
            )
    generated = results_markdown(results, machine, args.quick)
    print("\n" + generated)
    if args.json is not None:
        args.json.write_text(
            json.dumps({"machine": machine, "results": results}, indent=2) + "\n", encoding="utf-8"
        )
    if args.docs is not None:
        rewrite(args.docs, generated)
        print(f"Rewrote the results in {args.docs}")
    failed = [r["benchmark"] for r in results if "error" in r]
    print(
        f"All benchmarks took {time.perf_counter() - began:.0f} s"
        + (f"; FAILED: {', '.join(failed)}" if failed else "")
    )
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
