"""Benchmark 4: many deferred completion triggers polling Learnifier in one event loop.

N ``LearnifierParticipantCompletedTrigger`` instances (500; quick mode 100), each waiting for
its own participant (named by participation external id, ``GET /extparticipation``), run in one
asyncio event loop as in a triggerer, against a simulator with 20 ms latency, polling every
few seconds (5 s; quick mode 2 s) and all started at once (the worst case: their polls come
in bursts). Nobody completes, so they poll for the whole window. Measured:

- event-loop lag: a probe task sleeps 10 ms again and again; lag is how late it wakes up
  (p50, p99), sampled over the window;
- CPU seconds per poll: the process's CPU time (loop and worker threads) over the window,
  divided by the polls made in it;
- memory per trigger: resident memory after every trigger has polled once, minus before they
  were created (after one trigger has already polled, so that imports and worker threads are
  not counted), divided by N.

Each run of each side is a fresh interpreter, so that one run's heap does not serve the next.

The baseline is the same trigger with the same check, except that it calls the synchronous
hook on the event loop instead of in a worker thread: the usual way a trigger is first written.
The probe alone in an idle loop gives the machine's floor.

The simulator's CA is a single certificate, whereas ``verify=true`` against the real Learnifier
loads the system's whole CA bundle into every new TLS connection's SSL context: a third run of
our trigger verifies with a bundle of that size (the system's CAs plus the simulator's), to show
what a trigger costs in production.

**Memory, triggers idle between polls.** Growth of RSS per trigger after 150 and after 1,000
triggers (quick mode 50 and 150) polling every 60 s have each polled once, with the system-size
bundle: against the same with the connection kept open between polls, as the trigger did before
it closed it for any wait of 5 s or more.

**At scale.** The same run of our trigger with the system-size bundle, at 5,000 triggers (quick
mode 300) polling every 30 s (quick mode 4 s) over a 30 s window (quick mode 4 s), against
its figures at N in the same run: event-loop lag p99, memory (RSS growth) per trigger, and the
polls per second achieved over those asked (N / (interval + latency)).
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, ClassVar

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as common
from _common import Metric, Report, SimulatorProcess

LATENCY = 0.020
PROBE_INTERVAL = 0.010
TARGET_P99_MS = 50.0
#: Memory per trigger after this many triggers have polled once, and its target.
MEMORY_COUNTS = (150, 1000)
MEMORY_TARGET_KIB = 100.0


def trigger_classes() -> tuple[type, type]:
    """Our trigger, and the baseline that polls on the loop, both counting their polls."""
    from airflow.providers.common.compat.connection import get_async_connection

    from airflow_provider_learnifier.completion import SUCCESS, TIMEOUT
    from airflow_provider_learnifier.triggers.base import _PrefetchedConnectionHook
    from airflow_provider_learnifier.triggers.participants import LearnifierParticipantCompletedTrigger

    class CountingCheck:
        """Delegates to the trigger's check, and notes which trigger polled."""

        def __init__(self, check: Any, index: int, polled: list[int]) -> None:
            self.check, self.index, self.polled = check, index, polled

        def __call__(self, hook: Any) -> Any:
            status = self.check(hook)
            self.polled[self.index] += 1
            return status

        def describe(self) -> str:
            return str(self.check.describe())

        def gone(self, hook: Any) -> str | None:
            return self.check.gone(hook)  # type: ignore[no-any-return]

    class Ours(LearnifierParticipantCompletedTrigger):
        polled: ClassVar[list[int]] = []

        def __init__(self, index: int, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.index = index

        def make_check(self) -> Any:
            return CountingCheck(super().make_check(), self.index, self.polled)

    class OnTheLoop(Ours):
        """The same polling, but the synchronous hook runs on the event loop."""

        async def run(self) -> AsyncIterator[Any]:
            check = self.make_check()
            connection = await get_async_connection(self.learnifier_conn_id)
            hook = _PrefetchedConnectionHook(connection)
            try:
                while True:
                    status = check(hook)  # blocks the loop for the whole HTTP round trip
                    if status.done:
                        yield self._event(SUCCESS, status.message, status)
                        return
                    remaining = self.end_time - time.time()
                    if remaining <= 0:
                        yield self._event(TIMEOUT, status.message, status)
                        return
                    await asyncio.sleep(min(self.poll_interval, remaining))
            finally:
                hook.close()

    return Ours, OnTheLoop


async def probe(samples: list[float], stop: asyncio.Event) -> None:
    """Sleep ``PROBE_INTERVAL`` again and again; record how late each wake-up is."""
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        began = loop.time()
        await asyncio.sleep(PROBE_INTERVAL)
        samples.append(max(0.0, loop.time() - began - PROBE_INTERVAL))


async def idle_lag(seconds: float) -> list[float]:
    samples: list[float] = []
    stop = asyncio.Event()
    task = asyncio.create_task(probe(samples, stop))
    await asyncio.sleep(seconds)
    stop.set()
    await task
    return samples


async def load(
    kind: type, count: int, poll_interval: float, window: float, warmup_limit: float
) -> dict[str, Any]:
    """Run ``count`` triggers of ``kind``; measure lag, CPU per poll and memory per trigger."""

    async def drive(trigger: Any) -> Any:
        async for event in trigger.run():
            return event
        return None

    end_time = time.time() + 3600
    # One trigger first, so that imports, the worker threads and the TLS set-up are not counted per trigger.
    kind.polled = [0]
    first = asyncio.create_task(
        drive(kind(0, participation_external_id="bench-0", poll_interval=60, end_time=end_time))
    )
    while kind.polled[0] == 0:
        if first.done():  # it ended without polling: say why rather than wait for ever
            raise RuntimeError(f"the first trigger ended without polling: {first.result()!r}")
        await asyncio.sleep(0.01)
    first.cancel()
    await asyncio.gather(first, return_exceptions=True)

    kind.polled = [0] * count
    memory_before = common.rss_mib()
    triggers = [
        kind(n, participation_external_id=f"bench-{n}", poll_interval=poll_interval, end_time=end_time)
        for n in range(count)
    ]
    tasks = [asyncio.create_task(drive(trigger)) for trigger in triggers]
    began = time.perf_counter()
    while min(kind.polled) == 0:
        if time.perf_counter() - began > warmup_limit:
            raise RuntimeError(f"only {sum(1 for p in kind.polled if p)} of {count} triggers polled in time")
        await asyncio.sleep(0.05)
    memory_after = common.rss_mib()

    samples: list[float] = []
    stop = asyncio.Event()
    polls_before, cpu_before, window_began = sum(kind.polled), time.process_time(), time.perf_counter()
    probing = asyncio.create_task(probe(samples, stop))
    await asyncio.sleep(window)
    stop.set()
    await probing
    elapsed = time.perf_counter() - window_began
    polls, cpu = sum(kind.polled) - polls_before, time.process_time() - cpu_before
    for task in tasks:
        task.cancel()
    failed = [
        r
        for r in await asyncio.gather(*tasks, return_exceptions=True)
        if r is not None and not isinstance(r, asyncio.CancelledError)
    ]
    if failed:
        raise RuntimeError(f"{len(failed)} trigger(s) failed, e.g. {failed[0]!r}")
    return {
        "lag_ms": [1000 * s for s in samples],
        "polls": polls,
        "polls_per_second": polls / elapsed,
        "cpu_per_poll_ms": 1000 * cpu / polls if polls else float("nan"),
        "memory_per_trigger_kib": 1024 * (memory_after - memory_before) / count,
    }


def run_side(side: str, count: int, poll_interval: float, window: float) -> dict[str, Any]:
    """One run of one side, in a fresh interpreter: memory figures must not inherit another run's heap."""
    with SimulatorProcess(latency=LATENCY, populate={"demo_participants": count}) as sim:
        connection = sim.connection_json(full_trust_store=side.endswith("_full_trust_store"))
        env = dict(os.environ, AIRFLOW_CONN_LEARNIFIER_DEFAULT=connection)
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        kind = side.removesuffix("_full_trust_store")
        command = [sys.executable, __file__, "--child", kind, str(count), str(poll_interval), str(window)]
        result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=1800, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"the {side} run failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def child(side: str, count: int, poll_interval: float, window: float) -> dict[str, Any]:
    ours_kind, loop_kind = trigger_classes()
    if side == "unshared":
        # How the hook connected before: urllib3 made a TLS context, loading the bundle, per connection.
        from requests.adapters import HTTPAdapter

        from airflow_provider_learnifier.hooks._transport import session

        def unshared_adapter(ssl_context: Any, *, proxy: Any = None, **kwargs: Any) -> HTTPAdapter:
            return HTTPAdapter(**kwargs)  # the benchmark uses no proxy

        session.WatchedAdapter = unshared_adapter  # type: ignore[assignment,misc]
    if side == "keepalive":
        # How the trigger waited before: its hook kept the TLS connection open between polls.
        from airflow_provider_learnifier.triggers import base

        base.KEEP_ALIVE_SECONDS = float("inf")  # type: ignore[misc]
    kind = ours_kind if side in ("ours", "unshared", "keepalive") else loop_kind
    return asyncio.run(load(kind, count, poll_interval, window, warmup_limit=max(120.0, count * 0.2)))


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        side, count, poll_interval, window = (
            sys.argv[2],
            int(sys.argv[3]),
            float(sys.argv[4]),
            float(sys.argv[5]),
        )
        print(json.dumps(child(side, count, poll_interval, window)))
        return
    options = common.parser(__doc__.split("\n", 1)[0], runs=3).parse_args()
    started = time.perf_counter()
    runs = common.runs_of(options)
    common.isolate_airflow()
    count, poll_interval, window = (100, 2.0, 4.0) if options.quick else (500, 5.0, 20.0)
    scale_count, scale_interval, scale_window = (300, 4.0, 4.0) if options.quick else (5000, 30.0, 30.0)
    report = Report(
        "triggerer",
        "4. Triggerer load",
        options.quick,
        runs,
        parameters={
            "triggers": count,
            "poll_interval_s": poll_interval,
            "window_s": window,
            "latency_ms": LATENCY * 1000,
            "tls": True,
            "probe_interval_ms": PROBE_INTERVAL * 1000,
            "trigger": "LearnifierParticipantCompletedTrigger(participation_external_id=...)",
            "scale_triggers": scale_count,
            "scale_poll_interval_s": scale_interval,
            "scale_window_s": scale_window,
        },
    )
    results = common.alternate(
        {
            "ours": lambda: run_side("ours", count, poll_interval, window),
            "on_loop": lambda: run_side("on_loop", count, poll_interval, window),
            "ours_full_trust_store": lambda: run_side("ours_full_trust_store", count, poll_interval, window),
            "unshared_full_trust_store": lambda: run_side(
                "unshared_full_trust_store", count, poll_interval, window
            ),
        },
        runs,
    )
    # Memory after N triggers (the sensors' default poll interval, 60 s) have each polled once.
    memory_counts = (50, 150) if options.quick else MEMORY_COUNTS
    memory = {
        n: common.alternate(
            {
                side: functools.partial(run_side, f"{side}_full_trust_store", n, 60.0, 1.0)
                for side in ("ours", "keepalive")
            },
            runs,
        )
        for n in memory_counts
    }
    # One run at scale: it takes minutes, and its figures are far from any target's edge.
    at_scale = run_side("ours_full_trust_store", scale_count, scale_interval, scale_window)
    idle = asyncio.run(idle_lag(min(window, 5.0)))

    def per_run(side: str, function: Any) -> list[float]:
        return [function(r) for r in results[side]]

    for name, share in (("p50", 0.50), ("p99", 0.99)):
        ours = common.median(per_run("ours", lambda r, s=share: common.percentile(r["lag_ms"], s)))
        base = common.median(per_run("on_loop", lambda r, s=share: common.percentile(r["lag_ms"], s)))
        report.add(
            Metric(
                f"event-loop lag {name}, {count} triggers",
                "ms",
                ours,
                base,
                "same trigger, hook called on the loop",
                common.ratio("lower", ours, base),
                "x less",
                f"< {TARGET_P99_MS:.0f} ms" if name == "p99" else "",
                ours < TARGET_P99_MS if name == "p99" else None,
                samples={
                    side: [round(common.percentile(r["lag_ms"], share), 2) for r in results[side]]
                    for side in results
                },
            )
        )
    for key, label, unit, better in (
        ("cpu_per_poll_ms", "CPU per poll", "ms", "lower"),
        ("polls_per_second", "polls per second achieved", "polls/s", "higher"),
        ("memory_per_trigger_kib", "memory per trigger", "KiB", "lower"),
    ):
        ours = common.median(per_run("ours", lambda r, k=key: r[k]))
        base = common.median(per_run("on_loop", lambda r, k=key: r[k]))
        report.add(
            Metric(
                label,
                unit,
                ours,
                base,
                "same trigger, hook called on the loop",
                common.ratio(better, ours, base),
                "x less" if better == "lower" else "x more",
                samples={side: [round(r[key], 3) for r in results[side]] for side in ("ours", "on_loop")},
            )
        )
    for key, label, unit, target in (
        (
            "memory_per_trigger_kib",
            "memory per trigger, verifying with a system-size CA bundle",
            "KiB",
            100.0,
        ),
        ("cpu_per_poll_ms", "CPU per poll, verifying with a system-size CA bundle", "ms", None),
    ):
        ours = common.median(per_run("ours_full_trust_store", lambda r, k=key: r[k]))
        base = common.median(per_run("unshared_full_trust_store", lambda r, k=key: r[k]))
        report.add(
            Metric(
                label,
                unit,
                ours,
                base,
                "a TLS context per connection (the hook before)",
                common.ratio("lower", ours, base),
                "x less",
                target="" if target is None else f"<= {target:.0f} {unit}",
                met=None if target is None else ours <= target,
                samples={
                    side: [round(r[key], 3) for r in results[f"{side}_full_trust_store"]]
                    for side in ("ours", "unshared")
                },
            )
        )
    p99_bundle = common.median(
        per_run("ours_full_trust_store", lambda r: common.percentile(r["lag_ms"], 0.99))
    )
    report.notes.append(
        "With a system-size CA bundle (what `verify=true` loads against the real Learnifier; the other lines "
        "verify with the simulator's one-certificate CA) all the hooks share one TLS context per bundle: "
        f"event-loop lag p99 {p99_bundle:.1f} ms."
    )
    asked = {"small": count / (poll_interval + LATENCY), "scale": scale_count / (scale_interval + LATENCY)}
    small_runs = results["ours_full_trust_store"]
    for label, unit, better, target, ours, base in (
        (
            "event-loop lag p99",
            "ms",
            "lower",
            f"< {TARGET_P99_MS:.0f} ms",
            common.percentile(at_scale["lag_ms"], 0.99),
            common.median(common.percentile(r["lag_ms"], 0.99) for r in small_runs),
        ),
        (
            "memory (RSS growth) per trigger",
            "KiB",
            "lower",
            "<= 100 KiB",
            at_scale["memory_per_trigger_kib"],
            common.median(r["memory_per_trigger_kib"] for r in small_runs),
        ),
        (
            "polls per second achieved / asked",
            "x asked",
            "higher",
            "",
            at_scale["polls_per_second"] / asked["scale"],
            common.median(r["polls_per_second"] for r in small_runs) / asked["small"],
        ),
    ):
        report.add(
            Metric(
                f"{scale_count} triggers, system-size CA bundle: {label}",
                unit,
                ours,
                base,
                f"the same at {count} triggers",
                common.ratio(better, ours, base),
                "x less" if better == "lower" else "x more",
                target,
                (ours < TARGET_P99_MS if unit == "ms" else ours <= 100.0) if target else None,
            )
        )
    for n, results_n in memory.items():
        ours, base = (
            common.median(r["memory_per_trigger_kib"] for r in results_n[side])
            for side in ("ours", "keepalive")
        )
        report.add(
            Metric(
                f"{n} triggers polling every 60 s, system-size CA bundle: memory (RSS growth) per trigger",
                "KiB",
                ours,
                base,
                "the connection kept open between polls (before)",
                common.ratio("lower", ours, base),
                "x less",
                f"< {MEMORY_TARGET_KIB:.0f} KiB",
                max(r["memory_per_trigger_kib"] for r in results_n["ours"]) < MEMORY_TARGET_KIB,
                samples={
                    side: [round(r["memory_per_trigger_kib"], 1) for r in values]
                    for side, values in results_n.items()
                },
            )
        )
    report.details["at_scale"] = {key: value for key, value in at_scale.items() if key != "lag_ms"}
    report.notes.append(
        f"{scale_count} triggers polling every {scale_interval:g} s ask for {asked['scale']:.0f} polls/s and "
        f"made {at_scale['polls_per_second']:.0f}; CPU per poll {at_scale['cpu_per_poll_ms']:.2f} ms."
    )
    report.details["idle_loop_lag_ms"] = {
        "p50": common.percentile([1000 * s for s in idle], 0.5),
        "p99": common.percentile([1000 * s for s in idle], 0.99),
    }
    report.details["expected_polls_per_second"] = count / (poll_interval + LATENCY)
    report.notes.append(
        f"Idle loop, probe alone: lag p50 {report.details['idle_loop_lag_ms']['p50']:.2f} ms, "
        f"p99 {report.details['idle_loop_lag_ms']['p99']:.2f} ms. "
        f"{count} triggers polling every {poll_interval:g} s ask for about "
        f"{report.details['expected_polls_per_second']:.0f} polls/s."
    )
    report.emit(options, started)


if __name__ == "__main__":
    main()
