"""Benchmark 6: twenty asset watchers of one course, and the requests they cost per poll interval.

Twenty ``LearnifierCompletionEventTrigger`` instances watch the same project with the same
connection and poll interval (half of them with another ``min_share``), as twenty assets of
twenty DAGs would. Ours: Airflow 3.3's triggerer runs them as one shared stream (its
``SharedStreamManager``, driven here as the triggerer drives it: the key from
``shared_stream_key()``, one poll for the group, each trigger's ``filter_shared_stream``). The
baseline: each trigger runs its own ``run()`` poll loop, as every Airflow before 3.3 does. Both
run for the same number of poll intervals in one event loop against a simulator in its own
process; measured: requests to Learnifier per poll interval, for all twenty together.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as common
from _common import DEMO_ORG_UNIT_ID, DEMO_PROJECT_ID, Metric, Report, SimulatorProcess

WATCHERS = 20


def make_triggers(poll_interval: float) -> list[Any]:
    from airflow_provider_learnifier.triggers.events import LearnifierCompletionEventTrigger

    return [
        LearnifierCompletionEventTrigger(
            org_id=DEMO_ORG_UNIT_ID,
            project_id=DEMO_PROJECT_ID,
            min_share=1.0 if number % 2 else 0.5,
            poll_interval=poll_interval,
        )
        for number in range(WATCHERS)
    ]


async def _watch(shared: bool, poll_interval: float, intervals: int) -> None:
    triggers = make_triggers(poll_interval)

    async def drain(events: Any) -> None:
        async for _ in events:
            pass

    if shared:
        from airflow.triggers.shared_stream import SharedStreamManager

        manager = SharedStreamManager()
        streams = [
            trigger.filter_shared_stream(
                manager.subscribe(trigger_id=number, trigger=trigger, key=trigger.shared_stream_key())
            )
            for number, trigger in enumerate(triggers)
        ]
    else:
        streams = [trigger.run() for trigger in triggers]
    tasks = [asyncio.create_task(drain(stream)) for stream in streams]
    # Half an interval past the last one, so that its polls are in and the next ones are not.
    await asyncio.sleep(poll_interval * (intervals - 0.5))
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    if shared:
        await manager.stop_all()


def requests_per_interval(
    server: SimulatorProcess, shared: bool, poll_interval: float, intervals: int
) -> float:
    server.clear()
    asyncio.run(_watch(shared, poll_interval, intervals))
    polls = sum(count for operation, count in server.api_requests().items() if "participants" in operation)
    return polls / intervals


def main() -> None:
    options = common.parser(__doc__.splitlines()[0], runs=3, quick_runs=1).parse_args()
    started = time.perf_counter()
    common.isolate_airflow()
    from airflow_provider_learnifier.version_compat import AIRFLOW_VERSION

    poll_interval, intervals = (0.5, 6) if options.quick else (1.0, 10)
    runs = common.runs_of(options)
    report = Report(
        "event_watchers",
        f"7. {WATCHERS} completion watchers of one project",
        options.quick,
        runs,
        parameters={"watchers": WATCHERS, "poll_interval": poll_interval, "intervals": intervals},
    )
    if AIRFLOW_VERSION.release < (3, 3, 0):
        report.notes.append(f"Airflow {AIRFLOW_VERSION}: no shared streams before 3.3; nothing to compare.")
        report.emit(options, started)
        return
    with SimulatorProcess(latency=0.005) as server:
        os.environ["AIRFLOW_CONN_LEARNIFIER_DEFAULT"] = server.connection_json()
        samples = common.alternate(
            {
                "shared": lambda: requests_per_interval(server, True, poll_interval, intervals),
                "standalone": lambda: requests_per_interval(server, False, poll_interval, intervals),
            },
            runs,
        )
    ours, baseline = common.median(samples["shared"]), common.median(samples["standalone"])
    report.add(
        Metric(
            f"requests per poll interval, {WATCHERS} watchers of one project",
            "req",
            ours,
            baseline,
            "each trigger polls on its own (Airflow < 3.3)",
            common.ratio("lower", ours, baseline),
            "x fewer",
            "1 per interval",
            ours <= 1.0,
            samples={side: [round(v, 2) for v in values] for side, values in samples.items()},
        )
    )
    report.notes.append(
        "Ours is Airflow 3.3's SharedStreamManager driven as the triggerer drives it, not a whole triggerer; "
        "the first poll of each side also reads the project once (not counted: not a participants list)."
    )
    report.emit(options, started)


if __name__ == "__main__":
    main()
