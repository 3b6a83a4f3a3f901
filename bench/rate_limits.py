"""Benchmark 6: bulk enrollment under a server rate limit, with the hook's rate gate and without it.

``LearnifierEnrollOperator`` enrolls and activates N new people (300; 40 in quick mode) in the
demo project of a simulator that waits 20 ms before each answer and allows R API requests per
second (a token bucket holding one second's worth; beyond it 429 with ``Retry-After`` in whole
seconds), for each R and each ``max_concurrency``. Against the same run with the rate gate
turned off, which is how the hook behaved before it had one: each thread waits out its own
``Retry-After`` and nothing learns the rate.

Per run: the achieved rate (requests the server admitted per second of the run) over R, the
share of requests answered 429, and the people who failed. Where the client cannot reach R even
without a limit (too few threads for the latency), the rate is also given over what it reaches
against the same simulator without a limit, measured in the same run.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as common
from _common import DEMO_ORG_UNIT_ID, DEMO_PROJECT_ID, Metric, Report, SimulatorProcess, StubTaskInstance

LATENCY = 0.020
TARGET_RATE_SHARE = 0.85
TARGET_REFUSED_SHARE = 0.05


def roster(count: int, run: str) -> list[dict[str, Any]]:
    """``count`` people who are not in the account yet."""
    return [
        {"email": f"rl{run}-{n}@acme.example", "external_id": f"rl-{run}-{n:05d}", "first_name": f"R{n}"}
        for n in range(count)
    ]


def enroll(
    people: list[dict[str, Any]],
    rate_limit: float | None,
    concurrency: int,
    gate: bool,
    burst: float | None = None,
) -> dict[str, Any]:
    """Enroll ``people`` against a simulator allowing ``rate_limit`` requests/s; the figures of the run."""
    from airflow_provider_learnifier.hooks import learnifier, rate_gate
    from airflow_provider_learnifier.operators.participants import LearnifierEnrollOperator

    learnifier.RateGate = (
        rate_gate.RateGate if gate else functools.partial(rate_gate.RateGate, adaptive=False)
    )  # type: ignore[misc]
    try:
        with SimulatorProcess(latency=LATENCY, rate_limit=rate_limit, rate_limit_burst=burst) as sim:
            os.environ["AIRFLOW_CONN_LEARNIFIER_DEFAULT"] = sim.connection_json()
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
            seconds = time.perf_counter() - began
            if rate_limit:
                counts = sim.rate_limit_counts()
            else:
                counts = {"admitted": sum(sim.api_requests().values()), "refused": 0}
    finally:
        learnifier.RateGate = rate_gate.RateGate  # type: ignore[misc]
    failed = summary["counts"]["failed"]
    total = counts["admitted"] + counts["refused"]
    return {
        "seconds": seconds,
        "admitted": counts["admitted"],
        "refused": counts["refused"],
        "rate": counts["admitted"] / seconds,
        "refused_share": counts["refused"] / total if total else 0.0,
        "failed": failed,
    }


def main() -> None:
    arguments = common.parser(__doc__.split("\n", 1)[0], runs=1)
    arguments.add_argument("--people", type=int, default=None, help="people to enroll per run")
    arguments.add_argument("--limits", type=float, nargs="+", default=None, help="the rate limits R")
    arguments.add_argument(
        "--burst", type=float, default=None, help="requests the server's bucket holds (default: R)"
    )
    options = arguments.parse_args()
    started = time.perf_counter()
    runs = common.runs_of(options)
    common.isolate_airflow()
    # The hook's warning for each 429 would drown the figures.
    logging.getLogger("airflow.task.hooks").setLevel(logging.ERROR)
    people_count = options.people or (60 if options.quick else 300)
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
            "burst": options.burst or "R",
            "tls": True,
        },
    )
    run_number = iter(range(10_000))
    unlimited = {
        concurrency: enroll(roster(people_count, f"u{next(run_number)}"), None, concurrency, True)["rate"]
        for concurrency in concurrencies
    }
    report.details["unlimited_rate"] = unlimited
    all_failed = {"gate": 0, "no gate": 0}
    for limit in limits:
        for concurrency in concurrencies:

            def side(gate: bool, limit: float = limit, concurrency: int = concurrency) -> dict[str, Any]:
                people = roster(people_count, f"{next(run_number)}")
                return enroll(people, limit, concurrency, gate, options.burst)

            results = common.alternate(
                {"gate": functools.partial(side, True), "no gate": functools.partial(side, False)}, runs
            )
            reachable = min(limit, unlimited[concurrency])
            ours = common.median(r["rate"] for r in results["gate"]) / limit
            base = common.median(r["rate"] for r in results["no gate"]) / limit
            ours_reachable = ours * limit / reachable
            report.add(
                Metric(
                    f"R = {limit:.0f}/s, max_concurrency {concurrency}: admitted rate / R",
                    "x R",
                    ours,
                    base,
                    "rate gate off",
                    common.ratio("higher", ours, base),
                    "x the rate without the gate",
                    f">= {TARGET_RATE_SHARE}x R (or x the unlimited rate {reachable:.0f}/s)",
                    ours_reachable >= TARGET_RATE_SHARE,
                    samples={side: [round(r["rate"], 1) for r in values] for side, values in results.items()},
                )
            )
            refused = common.median(r["refused_share"] for r in results["gate"])
            refused_base = common.median(r["refused_share"] for r in results["no gate"])
            report.add(
                Metric(
                    f"R = {limit:.0f}/s, max_concurrency {concurrency}: share of requests answered 429",
                    "%",
                    100 * refused,
                    100 * refused_base,
                    "rate gate off",
                    None,
                    "",
                    f"<= {TARGET_REFUSED_SHARE:.0%}",
                    refused <= TARGET_REFUSED_SHARE,
                )
            )
            for side, values in results.items():
                all_failed[side] += sum(r["failed"] for r in values)
            if reachable < limit:
                report.notes.append(
                    f"At R = {limit:.0f}/s with max_concurrency {concurrency} the client reaches only "
                    f"{reachable:.0f} requests/s without any limit ({LATENCY * 1000:.0f} ms latency): with "
                    f"the gate it reached {ours_reachable:.2f}x that."
                )
            report.details[f"R{limit:.0f}_c{concurrency}"] = results
    report.add(
        Metric(
            "people failed, all runs",
            "people",
            all_failed["gate"],
            all_failed["no gate"],
            "rate gate off",
            None,
            "",
            "0",
            all_failed["gate"] == 0,
        )
    )
    report.emit(options, started)


if __name__ == "__main__":
    main()
