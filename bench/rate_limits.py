"""Benchmark 6: bulk enrollment under a server rate limit, the rate gate against today's gate.

``LearnifierEnrollOperator`` enrolls and activates N new people (300; 60 in quick mode) in the
demo project of a simulator that waits 20 ms before each answer and allows R API requests per
second (a token bucket holding one second's worth unless said otherwise; beyond it 429 with
``Retry-After`` in whole seconds), for each R and each ``max_concurrency``. Three more cases:

- *four processes, one account*: four OS processes, each enrolling 200 people (quick: 30) with
  its own hook and gate, into one account limited to R = 50/s, started at the same moment;
- *four processes, the limit split*: the same, with the connection's ``max_requests_per_second``
  set to R / 4, as the hook guide tells an account shared by a pool of four task slots to do (the
  cross-process signal the gate's own learning lacks);
- *a small bucket*: one enrollment against R = 50/s whose bucket holds only 5 requests;
- the 300-people runs at R = 100/s are the *short job* (about 900 requests, 9 s).

The rate is measured by the server: the requests it admitted over the time from the first
request it saw to the last. The baseline is the gate as it was before this change (a copy of its
algorithm in ``bench/_baseline_rate_gate.py``), run alternately with ours in the same process.
Per run: the achieved rate over R, the share of requests answered 429, the people who failed,
and for the four processes how much later the slowest finished than the fastest.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as common
from _common import DEMO_ORG_UNIT_ID, DEMO_PROJECT_ID, Metric, Report, SimulatorProcess, StubTaskInstance

LATENCY = 0.020
TARGET_RATE_SHARE = 0.85
TARGET_REFUSED_SHARE = 0.05
#: Four processes sharing one account: the total rate, and the slowest over the fastest.
TARGET_SHARED_RATE_SHARE = 0.90
TARGET_SHARED_SPREAD = 1.5
SHARED_PROCESSES = 4
SHARED_LIMIT = 50.0
SMALL_BUCKET = 5.0
SIDES = ("gate", "today's gate")
CASES = ("limits", "small-bucket", "shared", "shared-split")


def roster(count: int, run: str) -> list[dict[str, Any]]:
    """``count`` people who are not in the account yet."""
    return [
        {"email": f"rl{run}-{n}@acme.example", "external_id": f"rl-{run}-{n:05d}", "first_name": f"R{n}"}
        for n in range(count)
    ]


@contextlib.contextmanager
def gate_of(side: str) -> Iterator[None]:
    """Make the hook use our gate, or today's (``bench/_baseline_rate_gate.py``), meanwhile."""
    import _baseline_rate_gate

    from airflow_provider_learnifier.hooks import rate_gate

    ours = rate_gate.RateGate
    rate_gate.RateGate = ours if side == "gate" else _baseline_rate_gate.RateGate  # type: ignore[misc]
    try:
        yield
    finally:
        rate_gate.RateGate = ours  # type: ignore[misc]


def run_operator(people: list[dict[str, Any]], concurrency: int, side: str) -> dict[str, Any]:
    """Enroll ``people`` through the connection in the environment; the summary and the seconds."""
    from airflow_provider_learnifier.operators.participants import LearnifierEnrollOperator

    with gate_of(side):
        operator = LearnifierEnrollOperator(
            task_id="enroll",
            roster=people,
            org_id=DEMO_ORG_UNIT_ID,
            project_id=DEMO_PROJECT_ID,
            max_concurrency=concurrency,
            max_failures=len(people),
        )
        began = time.perf_counter()
        summary = operator.execute({"ti": StubTaskInstance()})
        return {"seconds": time.perf_counter() - began, "failed": summary["counts"]["failed"]}


def figures(counts: dict[str, float], failed: int, rate_limit: float | None) -> dict[str, Any]:
    """The run's figures, as the server measured them (from its first request to its last)."""
    total = counts["admitted"] + counts["refused"]
    return {
        "seconds": counts["seconds"],
        "admitted": counts["admitted"],
        "refused": counts["refused"],
        "rate": counts["admitted"] / counts["seconds"] if counts["seconds"] else 0.0,
        "refused_share": counts["refused"] / total if total else 0.0,
        "failed": failed,
    }


def enroll(
    people: list[dict[str, Any]],
    rate_limit: float | None,
    concurrency: int,
    side: str,
    burst: float | None = None,
) -> dict[str, Any]:
    """Enroll ``people`` against a simulator allowing ``rate_limit`` requests/s; the figures of the run."""
    with SimulatorProcess(latency=LATENCY, rate_limit=rate_limit or 1e9, rate_limit_burst=burst) as sim:
        os.environ["AIRFLOW_CONN_LEARNIFIER_DEFAULT"] = sim.connection_json()
        run = run_operator(people, concurrency, side)
        return figures(sim.rate_limit_counts(), run["failed"], rate_limit)


def enroll_from_processes(
    count: int, people: int, side: str, run: str, max_requests_per_second: float | None = None
) -> dict[str, Any]:
    """``count`` OS processes enrolling ``people`` each into one account at once; the figures.

    :param max_requests_per_second: the connection's extra of that name in every process, if any.
    """
    with contextlib.ExitStack() as stack:
        sim = stack.enter_context(SimulatorProcess(latency=LATENCY, rate_limit=SHARED_LIMIT))
        connection = json.loads(sim.connection_json())
        if max_requests_per_second is not None:
            connection["extra"]["max_requests_per_second"] = max_requests_per_second
        env = dict(os.environ, AIRFLOW_CONN_LEARNIFIER_DEFAULT=json.dumps(connection))
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        children = [
            subprocess.Popen(
                [sys.executable, __file__, "--child", side, str(people), f"{run}p{n}"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stack.enter_context(tempfile.TemporaryFile("w+")),
                text=True,
                env=env,
            )
            for n in range(count)
        ]
        results = []
        try:
            for child in children:  # each has imported Airflow and warmed up its hook
                if not _says_ready(child):
                    raise RuntimeError(f"an enrolling process failed to start:\n{_errors(child)}")
            # Measured from the job's first request: the warm-ups' requests are not counted.
            sim.restart_rate_limit()
            for child in children:
                child.stdin.write("go\n")  # type: ignore[union-attr]
                child.stdin.flush()  # type: ignore[union-attr]
            for child in children:
                out, _ = child.communicate(timeout=1800)
                if child.returncode != 0:
                    raise RuntimeError(f"an enrolling process failed:\n{_errors(child)}")
                results.append(json.loads(out.strip().splitlines()[-1]))
        finally:
            # One failed or ran out of time: the others are stopped, not left enrolling.
            for child in children:
                if child.poll() is None:
                    child.kill()
                    child.communicate()
        counts = sim.rate_limit_counts()
    result = figures(counts, sum(r["failed"] for r in results), SHARED_LIMIT)
    durations = [r["seconds"] for r in results]
    result["process_seconds"] = durations
    result["spread"] = max(durations) / min(durations)
    return result


def _says_ready(child: subprocess.Popen[str]) -> bool:
    """Read the child's output up to its "ready" line; ``False`` if it ended first."""
    assert child.stdout is not None
    return any(line.strip() == "ready" for line in child.stdout)


def _errors(child: subprocess.Popen[str]) -> str:
    """The end of what a child process wrote to its standard error (a temporary file)."""
    assert child.stderr is not None
    child.stderr.seek(0)
    return child.stderr.read()[-3000:]


def child(side: str, people: int, run: str) -> dict[str, Any]:
    """One of the processes sharing an account: warm up, say so, enroll at the common start, report."""
    run_operator(roster(1, f"{run}warm"), 1, side)  # imports and the TLS context, before the start
    print("ready", flush=True)
    sys.stdin.readline()  # "go": every process starts at once
    return run_operator(roster(people, run), 8, side)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        logging.getLogger("airflow.task.hooks").setLevel(logging.ERROR)
        side, people, run = sys.argv[2], int(sys.argv[3]), sys.argv[4]
        print(json.dumps(child(side, people, run)))
        return
    arguments = common.parser(__doc__.split("\n", 1)[0], runs=3)
    arguments.add_argument("--people", type=int, default=None, help="people to enroll per run")
    arguments.add_argument("--limits", type=float, nargs="+", default=None, help="the rate limits R")
    arguments.add_argument(
        "--cases",
        nargs="+",
        choices=CASES,
        default=list(CASES),
        help="which cases to run (default all): the enrollments at each R, the small bucket, the "
        "processes sharing an account",
    )
    options = arguments.parse_args()
    started = time.perf_counter()
    runs = common.runs_of(options)
    common.isolate_airflow()
    # The hook's warning for each 429 would drown the figures.
    logging.getLogger("airflow.task.hooks").setLevel(logging.ERROR)
    people_count = options.people or (60 if options.quick else 300)
    shared_people = 30 if options.quick else 200
    limits = tuple(options.limits or ((50.0,) if options.quick else (20.0, 100.0, 500.0)))
    concurrencies = (8, 32)
    report = Report(
        "rate_limits",
        "6. Bulk enrollment under a rate limit",
        options.quick,
        runs,
        parameters={
            "people": people_count,
            "latency_ms": LATENCY * 1000,
            "rate_limits": list(limits),
            "max_concurrency": list(concurrencies),
            "burst": "R",
            "shared_account": f"{SHARED_PROCESSES} x {shared_people} people, R = {SHARED_LIMIT:.0f}/s",
            "shared_account_split": f"the same, max_requests_per_second {SHARED_LIMIT / SHARED_PROCESSES:g}",
            "small_bucket": f"R = {SHARED_LIMIT:.0f}/s, bucket {SMALL_BUCKET:.0f}",
            "tls": True,
            "measured_by": "the server, from its first request to its last",
        },
    )
    run_number = iter(range(10_000))
    unlimited = {
        concurrency: enroll(roster(people_count, f"u{next(run_number)}"), None, concurrency, "gate")["rate"]
        for concurrency in concurrencies
    }
    report.details["unlimited_rate"] = unlimited
    all_failed = dict.fromkeys(SIDES, 0)

    def compare(label: str, side_run: Any, target: float, reachable: float, limit: float) -> dict[str, Any]:
        results = common.alternate({side: functools.partial(side_run, side) for side in SIDES}, runs)
        ours, base = (common.median(r["rate"] for r in results[side]) / limit for side in SIDES)
        report.add(
            Metric(
                f"{label}: admitted rate / R",
                "x R",
                ours,
                base,
                "today's gate",
                common.ratio("higher", ours, base),
                "x today's",
                f">= {target}x R"
                + (f" (or x the unlimited rate {reachable:.0f}/s)" if reachable < limit else ""),
                min(r["rate"] for r in results["gate"]) / reachable >= target,
                samples={
                    side: [round(r["rate"] / limit, 3) for r in values] for side, values in results.items()
                },
            )
        )
        refused, refused_base = (common.median(r["refused_share"] for r in results[side]) for side in SIDES)
        report.add(
            Metric(
                f"{label}: share of requests answered 429",
                "%",
                100 * refused,
                100 * refused_base,
                "today's gate",
                None,
                "",
                f"<= {TARGET_REFUSED_SHARE:.0%}",
                max(r["refused_share"] for r in results["gate"]) <= TARGET_REFUSED_SHARE,
                samples={
                    side: [round(100 * r["refused_share"], 2) for r in values]
                    for side, values in results.items()
                },
            )
        )
        for side, values in results.items():
            all_failed[side] += sum(r["failed"] for r in values)
        return results

    for limit in limits if "limits" in options.cases else ():
        for concurrency in concurrencies:

            def side_run(side: str, limit: float = limit, concurrency: int = concurrency) -> dict[str, Any]:
                return enroll(roster(people_count, f"{next(run_number)}"), limit, concurrency, side)

            reachable = min(limit, unlimited[concurrency])
            short = " (the short job)" if limit == 100.0 and not options.quick else ""
            results = compare(
                f"R = {limit:.0f}/s, max_concurrency {concurrency}{short}",
                side_run,
                TARGET_RATE_SHARE if short or options.quick else 0.95,
                reachable,
                limit,
            )
            report.details[f"R{limit:.0f}_c{concurrency}"] = results

    def small_bucket(side: str) -> dict[str, Any]:
        return enroll(roster(people_count, f"{next(run_number)}"), SHARED_LIMIT, 8, side, burst=SMALL_BUCKET)

    if "small-bucket" in options.cases:
        report.details["small_bucket"] = compare(
            f"R = {SHARED_LIMIT:.0f}/s, a bucket of {SMALL_BUCKET:.0f}, max_concurrency 8",
            small_bucket,
            TARGET_RATE_SHARE,
            SHARED_LIMIT,
            SHARED_LIMIT,
        )

    def shared_case(key: str, label: str, side_run: Any) -> None:
        results = compare(label, side_run, TARGET_SHARED_RATE_SHARE, SHARED_LIMIT, SHARED_LIMIT)
        report.details[key] = results
        ours, base = (common.median(r["spread"] for r in results[side]) for side in SIDES)
        report.add(
            Metric(
                f"{label}: slowest process's time / fastest's",
                "x",
                ours,
                base,
                "today's gate",
                common.ratio("lower", ours, base),
                "x closer",
                f"<= {TARGET_SHARED_SPREAD}x",
                max(r["spread"] for r in results["gate"]) <= TARGET_SHARED_SPREAD,
                samples={side: [round(r["spread"], 2) for r in values] for side, values in results.items()},
            )
        )

    def shared(side: str) -> dict[str, Any]:
        return enroll_from_processes(SHARED_PROCESSES, shared_people, side, f"s{next(run_number)}")

    def shared_split(side: str) -> dict[str, Any]:
        share = SHARED_LIMIT / SHARED_PROCESSES
        return enroll_from_processes(SHARED_PROCESSES, shared_people, side, f"t{next(run_number)}", share)

    label = f"{SHARED_PROCESSES} processes, one account, R = {SHARED_LIMIT:.0f}/s"
    if "shared" in options.cases:
        shared_case("shared_account", label, shared)
    if "shared-split" in options.cases:
        split_label = f"{label}, max_requests_per_second R / {SHARED_PROCESSES}"
        shared_case("shared_account_split", split_label, shared_split)
    report.add(
        Metric(
            "people failed, all runs",
            "people",
            all_failed["gate"],
            all_failed["today's gate"],
            "today's gate",
            None,
            "",
            "0",
            all_failed["gate"] == 0,
        )
    )
    report.notes.append(
        "Targets are judged on the worst run of ours (min rate, max 429 share, max spread), "
        "the table's figures are medians."
    )
    report.emit(options, started)


if __name__ == "__main__":
    main()
