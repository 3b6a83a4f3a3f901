"""Benchmark 2: bulk enrollment throughput, and the hook's overhead over a bare ``requests.Session``.

**With latency.** ``LearnifierEnrollOperator`` (default ``max_concurrency=8``) enrolls and
activates N new people (1,000; 40 in quick mode) in the demo project of a simulator that waits
20 ms before each answer, as a remote SaaS would. For each person it creates the user, adds the
participant and activates it; it also reads the project, its participants and the account's
users once. Against:

(a) the way it is done today: a sequential loop of ``HttpHook.run`` calls from the HTTP
    provider, sending the same requests (the simulator counts every operation on both sides,
    and the run checks that the counts are equal);
(b) the concurrency bound: API requests x latency / max_concurrency, the time no client can
    beat at that concurrency.

Each run gets a fresh simulator process, so every side starts from the same state.

**Without latency.** Sequential ``LearnifierHook.get_project`` calls against ``GET`` of the same
URL with a bare keep-alive ``requests.Session`` (same credentials, same TLS), in short
alternating blocks, against one simulator: the calls per second of each, and the median ratio
of adjacent blocks (the load of a shared machine swings more between runs than between
neighbouring blocks).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as common
from _common import DEMO_ORG_UNIT_ID, DEMO_PROJECT_ID, Metric, Report, SimulatorProcess, StubTaskInstance

LATENCY = 0.020
MAX_CONCURRENCY = 8
TARGET_SPEEDUP = 6.0
TARGET_BOUND_RATIO = 1.25
TARGET_OVERHEAD_SHARE = 0.90
#: A rerun reads the project, its participants and the account's users: a few pages, no writes.
TARGET_RERUN_READS = 10
HTTP_CONN_ID = "bench_http"


def roster(count: int, run: int) -> list[dict[str, Any]]:
    """``count`` people who are not in the account yet."""
    return [
        {
            "email": f"new{run}-{n}@acme.example",
            "external_id": f"new-{run}-{n:05d}",
            "first_name": f"New{n}",
            "last_name": "Hire",
        }
        for n in range(count)
    ]


def enroll_with_operator(people: list[dict[str, Any]]) -> dict[str, Any]:
    """Run the operator as a task would (``execute``); return seconds, counts and summary."""
    from airflow_provider_learnifier.operators.participants import LearnifierEnrollOperator

    def operator() -> LearnifierEnrollOperator:
        return LearnifierEnrollOperator(
            task_id="enroll",
            roster=people,
            org_id=DEMO_ORG_UNIT_ID,
            project_id=DEMO_PROJECT_ID,
            max_concurrency=MAX_CONCURRENCY,
        )

    with SimulatorProcess(latency=LATENCY) as sim:
        os.environ["AIRFLOW_CONN_LEARNIFIER_DEFAULT"] = sim.connection_json()
        cpu, server_cpu, began = time.process_time(), sim.cpu_seconds(), time.perf_counter()
        summary = operator().execute({"ti": StubTaskInstance()})
        seconds = time.perf_counter() - began
        cpu, server_cpu = time.process_time() - cpu, sim.cpu_seconds() - server_cpu
        counts = sim.api_requests()
        state = sim.call("state")
        # The same roster again, as a retried or re-run task would: everyone is enrolled already.
        sim.clear()
        operator().execute({"ti": StubTaskInstance()})
        rerun = sim.api_requests()
    expected = len(people)
    if summary["counts"]["enrolled"] != expected or summary["counts"]["activated"] != expected:
        raise RuntimeError(f"the operator did not enroll and activate everyone: {summary['counts']}")
    return {
        "seconds": seconds,
        "requests": counts,
        "rerun_requests": rerun,
        "state": state,
        "cpu": cpu,
        "server_cpu": server_cpu,
    }


def enroll_with_http_hook(people: list[dict[str, Any]]) -> dict[str, Any]:
    """The same requests, one after another, each through ``HttpHook.run`` (a new session each)."""
    from airflow.providers.http.hooks.http import HttpHook

    org, project = DEMO_ORG_UNIT_ID, DEMO_PROJECT_ID
    participants = f"/orgunits/{org}/projects/{project}/participants"
    with SimulatorProcess(latency=LATENCY) as sim:
        os.environ[f"AIRFLOW_CONN_{HTTP_CONN_ID.upper()}"] = json.dumps(
            {
                "conn_type": "http",
                "host": "127.0.0.1",
                "port": sim.port,
                "schema": "https",
                "login": sim.key,
                "password": sim.secret,
                "extra": {"verify": sim.ca_file},
            }
        )
        get = HttpHook(method="GET", http_conn_id=HTTP_CONN_ID)
        post = HttpHook(method="POST", http_conn_id=HTTP_CONN_ID)
        cpu, server_cpu, began = time.process_time(), sim.cpu_seconds(), time.perf_counter()
        # The reads the operator makes first: the project, its participants, the account's users.
        get.run(f"/orgunits/{org}/projects/{project}").json()
        get.run(participants).json()
        offset = 0
        while True:
            page = get.run("/users", data={"limit": 500, "offset": offset}).json()
            offset += len(page)
            if len(page) < 500:
                break
        for person in people:
            user = post.run(
                "/users",
                json={
                    "primaryEmail": person["email"],
                    "externalId": person["external_id"],
                    "firstName": person["first_name"],
                    "lastName": person["last_name"],
                    "homeOrg": org,
                },
            ).json()
            added = post.run(participants, json={"userid": user["userId"]})
            participant_id = added.headers["Location"].rstrip("/").rsplit("/", 1)[-1]
            post.run(f"{participants}/{participant_id}/activate")
        seconds = time.perf_counter() - began
        cpu, server_cpu = time.process_time() - cpu, sim.cpu_seconds() - server_cpu
        counts = sim.api_requests()
        state = sim.call("state")
    return {"seconds": seconds, "requests": counts, "state": state, "cpu": cpu, "server_cpu": server_cpu}


def calls_per_second(calls: int, blocks: int) -> dict[str, list[float]]:
    """Sequential GETs of one project: the hook against a bare session, alternating blocks."""
    import requests

    from airflow_provider_learnifier.hooks.learnifier import LearnifierHook

    rates: dict[str, list[float]] = {"hook": [], "bare": []}
    with SimulatorProcess(latency=0.0) as sim:
        os.environ["AIRFLOW_CONN_LEARNIFIER_DEFAULT"] = sim.connection_json()
        hook = LearnifierHook()
        bare = requests.Session()
        bare.trust_env = False
        bare.verify = sim.ca_file
        bare.auth = (sim.key, sim.secret)
        bare.headers["Accept"] = "application/json"
        url = f"{sim.base_url}/orgunits/{DEMO_ORG_UNIT_ID}/projects/{DEMO_PROJECT_ID}"

        def with_hook() -> None:
            hook.get_project(DEMO_ORG_UNIT_ID, DEMO_PROJECT_ID)

        def with_session() -> None:
            response = bare.get(url, timeout=(10, 60))
            response.raise_for_status()
            response.json()

        for call in (with_hook, with_session):  # connect, handshake and warm up
            for _ in range(20):
                call()
        per_block = max(1, calls // blocks)
        for block in range(blocks):
            order = (("hook", with_hook), ("bare", with_session))
            for side, call in order if block % 2 == 0 else reversed(order):
                began = time.perf_counter()
                for _ in range(per_block):
                    call()
                rates[side].append(per_block / (time.perf_counter() - began))
                sim.clear()
        hook.close()
        bare.close()
    return rates


def round_trip_ms(calls: int) -> float:
    """The median time of one ``get_project`` call, one at a time, with the benchmark's latency."""
    from airflow_provider_learnifier.hooks.learnifier import LearnifierHook

    with SimulatorProcess(latency=LATENCY) as sim:
        os.environ["AIRFLOW_CONN_LEARNIFIER_DEFAULT"] = sim.connection_json()
        with LearnifierHook() as hook:
            times = []
            for _ in range(calls + 5):
                began = time.perf_counter()
                hook.get_project(DEMO_ORG_UNIT_ID, DEMO_PROJECT_ID)
                times.append(1000 * (time.perf_counter() - began))
    return common.median(times[5:])


def main() -> None:
    options = common.parser(__doc__.split("\n", 1)[0], runs=3).parse_args()
    started = time.perf_counter()
    runs = common.runs_of(options)
    common.isolate_airflow()
    people_count = 40 if options.quick else 1000
    calls, blocks = (400, 8) if options.quick else (4000, 40)
    report = Report(
        "enrollment",
        "2. Bulk enrollment",
        options.quick,
        runs,
        parameters={
            "people": people_count,
            "latency_ms": LATENCY * 1000,
            "max_concurrency": MAX_CONCURRENCY,
            "tls": True,
            "zero_latency_calls": calls,
            "zero_latency_blocks": blocks,
        },
    )
    run_number = iter(range(10_000))
    results = common.alternate(
        {
            "operator": lambda: enroll_with_operator(roster(people_count, next(run_number))),
            "http_hook": lambda: enroll_with_http_hook(roster(people_count, next(run_number))),
        },
        runs,
    )
    ours = common.median(r["seconds"] for r in results["operator"])
    loop = common.median(r["seconds"] for r in results["http_hook"])
    operator_requests = results["operator"][0]["requests"]
    requests_total = sum(operator_requests.values())
    bound = requests_total * LATENCY / MAX_CONCURRENCY
    same = all(r["requests"] == operator_requests for r in results["operator"] + results["http_hook"])
    speedup = loop / ours
    report.add(
        Metric(
            f"enroll + activate {people_count} new people, {LATENCY * 1000:.0f} ms latency",
            "s",
            ours,
            loop,
            "(a) sequential HttpHook.run loop",
            speedup,
            "x faster",
            f">= {TARGET_SPEEDUP:.0f}x faster than (a)",
            speedup >= TARGET_SPEEDUP,
            samples={side: [round(r["seconds"], 3) for r in values] for side, values in results.items()},
        )
    )
    report.add(
        Metric(
            f"same, against the concurrency bound ({requests_total} requests x {LATENCY * 1000:.0f} ms"
            f" / {MAX_CONCURRENCY})",
            "s",
            ours,
            bound,
            "(b) concurrency bound",
            ours / bound,
            "x the bound",
            f"<= {TARGET_BOUND_RATIO}x the bound",
            ours / bound <= TARGET_BOUND_RATIO,
        )
    )
    rerun = results["operator"][0]["rerun_requests"]
    rerun_writes = sum(count for operation, count in rerun.items() if not operation.startswith("GET "))
    rerun_reads = sum(rerun.values()) - rerun_writes
    report.details["rerun_requests_per_operation"] = rerun
    report.add(
        Metric(
            f"no-op rerun of the same {people_count} people: requests sent",
            "requests",
            rerun_reads + rerun_writes,
            requests_total,
            "the first run",
            requests_total / max(1, rerun_reads + rerun_writes),
            "x fewer",
            f"reads only, <= {TARGET_RERUN_READS}",
            rerun_writes == 0 and rerun_reads <= TARGET_RERUN_READS,
        )
    )
    report.notes.append(
        "The no-op rerun sent "
        + ", ".join(f"{count} x {operation}" for operation, count in sorted(rerun.items()))
        + f" ({rerun_reads} reads, {rerun_writes} writes)."
    )
    for side, values in results.items():
        report.details[f"{side}_client_cpu_ms_per_request"] = common.median(
            1000 * r["cpu"] / sum(r["requests"].values()) for r in values
        )
        report.details[f"{side}_simulator_cpu_ms_per_request"] = common.median(
            1000 * r["server_cpu"] / sum(r["requests"].values()) for r in values
        )
    report.notes.append(
        "CPU per API request (client / simulator): operator "
        f"{report.details['operator_client_cpu_ms_per_request']:.2f} / "
        f"{report.details['operator_simulator_cpu_ms_per_request']:.2f} ms, HttpHook loop "
        f"{report.details['http_hook_client_cpu_ms_per_request']:.2f} / "
        f"{report.details['http_hook_simulator_cpu_ms_per_request']:.2f} ms."
    )
    rtt = round_trip_ms(40 if options.quick else 200)
    report.add(
        Metric(
            f"one request's round trip at {LATENCY * 1000:.0f} ms latency, one at a time",
            "ms",
            rtt,
            samples={},
        )
    )
    report.details["bound_at_measured_round_trip_s"] = requests_total * rtt / 1000 / MAX_CONCURRENCY
    report.notes.append(
        f"At the measured round trip ({rtt:.1f} ms instead of {LATENCY * 1000:.0f} ms) the concurrency "
        f"bound would be {report.details['bound_at_measured_round_trip_s']:.2f} s; the operator took "
        f"{ours / report.details['bound_at_measured_round_trip_s']:.2f}x that."
    )
    report.details["api_requests_per_operation"] = operator_requests
    report.details["same_requests_on_both_sides"] = same
    if not same:
        report.notes.append(
            "The two sides did not send the same requests: "
            + "; ".join(json.dumps(r["requests"], sort_keys=True) for r in results["operator"][:1])
            + " vs "
            + "; ".join(json.dumps(r["requests"], sort_keys=True) for r in results["http_hook"][:1])
        )
    else:
        report.notes.append(
            f"Both sides sent the same {requests_total} API requests per run: "
            + ", ".join(f"{count} x {operation}" for operation, count in sorted(operator_requests.items()))
            + "."
        )

    rates = calls_per_second(calls, blocks)
    hook_rate, bare_rate = common.median(rates["hook"]), common.median(rates["bare"])
    # The load on a shared machine swings between blocks: compare each block with its neighbour.
    share = common.median(hook / bare for hook, bare in zip(rates["hook"], rates["bare"], strict=True))
    report.add(
        Metric(
            "sequential GET calls per second, 0 ms latency",
            "calls/s",
            hook_rate,
            bare_rate,
            "bare requests.Session",
            share,
            "x the bare session's rate (median of adjacent blocks)",
            f">= {TARGET_OVERHEAD_SHARE:.0%} of the bare session",
            share >= TARGET_OVERHEAD_SHARE,
            samples={side: [round(v, 1) for v in values] for side, values in rates.items()},
        )
    )
    report.emit(options, started)


if __name__ == "__main__":
    main()
