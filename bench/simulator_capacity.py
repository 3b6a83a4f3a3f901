"""Benchmark 5: how many requests per second the simulator serves on loopback.

Two client processes of four threads, each thread with its own keep-alive connection
(``http.client``, much lighter than ``requests``, so that the clients are not the limit), send
``GET /orgunits/{org}/projects/{project}`` (authenticated, a small JSON answer) for a fixed time.
The baseline is the standard library's threading HTTP server answering a fixed JSON body with
the same keep-alive and TLS set-up: the most any thread-per-connection Python server does on
this machine, so the ratio tells what the simulator's own work (routing, authentication,
the state's lock, JSON, recording each exchange) costs.

Every other benchmark's figure can be read against this one: a client cannot go faster than
the test bench serves.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as common
from _common import DEMO_ORG_UNIT_ID, DEMO_PROJECT_ID, Metric, Report, SimulatorProcess

CLIENT_PROCESSES = 2
THREADS_PER_PROCESS = 4


def client_process(url: str, ca_file: str | None, authorization: str, threads: int) -> None:
    """``--client`` mode: keep-alive ``http.client`` connections; count answers between "go" and "stop"."""
    import http.client
    import ssl
    from urllib.parse import urlsplit

    target = urlsplit(url)
    context = ssl.create_default_context(cafile=ca_file) if target.scheme == "https" else None
    headers = {"Authorization": authorization, "Accept": "application/json"}
    counts = [0] * threads
    failures = [0] * threads
    ready = threading.Barrier(threads + 1)
    go = threading.Event()
    stop = threading.Event()

    def connection() -> http.client.HTTPConnection:
        if context is not None:
            return http.client.HTTPSConnection(target.hostname, target.port, context=context, timeout=30)
        return http.client.HTTPConnection(target.hostname, target.port, timeout=30)

    def get(client: http.client.HTTPConnection) -> int:
        client.request("GET", target.path, headers=headers)
        response = client.getresponse()
        response.read()
        return response.status

    def worker(index: int) -> None:
        client = connection()
        get(client)  # connect and handshake before the clock
        ready.wait()
        go.wait()
        while not stop.is_set():
            if get(client) == 200:
                counts[index] += 1
            else:
                failures[index] += 1
        client.close()

    workers = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(threads)]
    for thread in workers:
        thread.start()
    ready.wait()
    print("ready", flush=True)
    sys.stdin.readline()
    go.set()
    sys.stdin.readline()
    stop.set()
    for thread in workers:
        thread.join(timeout=30)
    print(json.dumps({"answers": sum(counts), "failures": sum(failures)}), flush=True)


def serve_rate(server: SimulatorProcess, *, seconds: float) -> dict[str, float]:
    """Requests per second that the client processes get from ``server`` in ``seconds``."""
    import base64

    url = f"{server.base_url}/orgunits/{DEMO_ORG_UNIT_ID}/projects/{DEMO_PROJECT_ID}"
    authorization = "Basic " + base64.b64encode(f"{server.key}:{server.secret}".encode()).decode()
    command = [sys.executable, __file__, "--client", url, server.ca_file or "", authorization]
    clients = [
        subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for _ in range(CLIENT_PROCESSES)
    ]
    try:
        for client in clients:
            if client.stdout is None or client.stdout.readline().strip() != "ready":
                raise RuntimeError("a client process did not start")
        server_cpu = server.cpu_seconds()
        began = time.perf_counter()
        for client in clients:
            assert client.stdin is not None
            client.stdin.write("go\n")
            client.stdin.flush()
        time.sleep(seconds)
        for client in clients:
            assert client.stdin is not None
            client.stdin.write("stop\n")
            client.stdin.flush()
        elapsed = time.perf_counter() - began
        server_cpu = server.cpu_seconds() - server_cpu
        results = [json.loads(client.communicate(timeout=60)[0]) for client in clients]
    finally:
        for client in clients:
            if client.poll() is None:
                client.kill()
                client.wait()
    failures = sum(result["failures"] for result in results)
    if failures:
        raise RuntimeError(f"{failures} request(s) failed")
    answers = sum(result["answers"] for result in results)
    return {"rate": answers / elapsed, "server_cpu_share": server_cpu / elapsed}


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--client":
        url, ca_file, authorization = sys.argv[2:5]
        client_process(url, ca_file or None, authorization, THREADS_PER_PROCESS)
        return
    options = common.parser(__doc__.split("\n", 1)[0], runs=3).parse_args()
    started = time.perf_counter()
    runs = common.runs_of(options)
    threads = CLIENT_PROCESSES * THREADS_PER_PROCESS
    seconds = 2.0 if options.quick else 8.0
    report = Report(
        "simulator_capacity",
        "5. Simulator capacity",
        options.quick,
        runs,
        parameters={
            "client_processes": CLIENT_PROCESSES,
            "client_threads": threads,
            "seconds_per_run": seconds,
            "request": "GET one project",
        },
    )
    for tls in (True, False):
        scheme = "HTTPS" if tls else "HTTP"
        samples: dict[str, list[dict[str, float]]] = {"simulator": [], "trivial": []}
        for run in range(runs):
            order = ("simulator", "trivial") if run % 2 == 0 else ("trivial", "simulator")
            for side in order:
                # Each sample gets a fresh server, so recorded exchanges do not pile up.
                with SimulatorProcess(tls=tls, trivial=side == "trivial") as server:
                    samples[side].append(serve_rate(server, seconds=seconds))
                    if side == "simulator":
                        server.clear()
        ours = common.median(s["rate"] for s in samples["simulator"])
        baseline = common.median(s["rate"] for s in samples["trivial"])
        report.add(
            Metric(
                f"requests served per second, {scheme}, {threads} keep-alive clients",
                "req/s",
                ours,
                baseline,
                "stdlib threading server, fixed answer",
                ours / baseline if baseline else None,
                "x of the trivial server",
                samples={side: [round(s["rate"], 1) for s in values] for side, values in samples.items()},
            )
        )
        cpu_us = {
            side: [1e6 * s["server_cpu_share"] / s["rate"] for s in values if s["rate"]]
            for side, values in samples.items()
        }
        ours_cpu, baseline_cpu = common.median(cpu_us["simulator"]), common.median(cpu_us["trivial"])
        report.add(
            Metric(
                f"server CPU per request, {scheme}",
                "us",
                ours_cpu,
                baseline_cpu,
                "stdlib threading server, fixed answer",
                ours_cpu / baseline_cpu if baseline_cpu else None,
                "x the trivial server's",
                samples={side: [round(v, 1) for v in values] for side, values in cpu_us.items()},
            )
        )
        report.details[f"server_cores_{scheme.lower()}"] = common.median(
            s["server_cpu_share"] for s in samples["simulator"]
        )
    report.notes.append(
        f"{CLIENT_PROCESSES} client processes and the server share the machine's {os.cpu_count()} cores; "
        "the simulator process used "
        + ", ".join(f"{v:.2f} core(s) with {k.rsplit('_', 1)[1].upper()}" for k, v in report.details.items())
        + " (one request thread runs at a time: the GIL caps it at 1 core)."
    )
    report.emit(options, started)


if __name__ == "__main__":
    main()
