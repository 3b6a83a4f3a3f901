"""Benchmark 9: selecting and nudging participants across many courses: requests, time and peak memory.

The simulator holds C courses of P participants each (50 x 2,000 = 100,000; quick mode: 5 x 200),
drawn from U users, activated in January 2025, some having completed activities (and so having
accessed the course), their access expiring a year after activation. As of the run's logical date
(28 December 2025) that gives people who never started, who stalled, whose access expires within
14 days, and who completed. Each side runs in a fresh subprocess, so that its peak resident
memory (``VmHWM``) is its own; the simulator runs in yet another process.

- ours: ``LearnifierProgressReportOperator`` with ``states`` (not started, stalled, expiring, in
  error, completed, for every course of the org unit) and the at-risk page (``html_path``): the
  report a manager gets, with each participant's states;
- nudge: ``LearnifierNudgeOperator`` reminding everyone not started (7 days) or expiring (14
  days) by mail, through a real SMTP server on loopback (``aiosmtpd``, in the benchmark's own
  process), its ledger in a fresh temporary directory, without ``max_nudges``;
- baseline: the report operator without states or page: the plain progress report, which reads
  the same data.

What must hold: selecting and nudging send exactly one participant listing per course (states are
computed from the listing; no request per participant), the nudges mail each selected reminder
once, and the selection costs little time and memory on top of the plain report.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as common
from _common import DEMO_ORG_UNIT_ID, Metric, Report, SimulatorProcess

FIRST_BULK_PROJECT_ID = 10_001
#: The run's logical date: the bulk participants' states are read as of it.
AS_OF = datetime(2025, 12, 28, tzinfo=timezone.utc)
#: The states the selection looks for, with their default parameters.
STATES = {"not_started": {}, "stalled": {}, "expiring": {}, "in_error": {}, "completed": {}}
#: The nudges' selector: the example DAG's (learnifier_nudges).
NUDGE_STATES = {"not_started": {"days": 7}, "expiring": {"days": 14}}
SIDES = ("ours", "nudge", "baseline")
SIDE_NAMES = {
    "ours": "report with states and the at-risk page",
    "nudge": "nudge operator, mails to a loopback SMTP server",
    "baseline": "plain progress report",
}
#: The participant listing's operation, as the simulator counts it (in lower case).
LISTING = "get /orgunits/{orgid}/projects/{projectid}/participants"
#: Targets: one listing per course; the selection adds at most this share of the plain report's
#: time, and at most this much peak memory (MiB) above it.
TARGET_TIME_RATIO = 2.0
TARGET_EXTRA_MIB = 50.0


# ---------------------------------------------------------------------- in the subprocess


def _nudge(courses: int, directory: str) -> dict[str, Any]:
    from airflow_provider_learnifier.operators.nudges import LearnifierNudgeOperator

    floor = common.rss_mib()
    began = time.perf_counter()
    summary = LearnifierNudgeOperator(
        task_id="nudge",
        selector=[
            {
                "org_id": str(DEMO_ORG_UNIT_ID),
                "project_ids": [str(FIRST_BULK_PROJECT_ID + n) for n in range(courses)],
                "states": NUDGE_STATES,
            }
        ],
        ledger_path=str(Path(directory) / "ledger"),
        max_nudges=None,
    ).execute({"logical_date": AS_OF})
    return {
        "rows": summary["participants"],
        "states": summary["by_state"],
        "sent": summary["sent"],
        "selected": summary["selected"],
        "seconds": time.perf_counter() - began,
        "floor_mib": floor,
        "peak_mib": common.peak_rss_mib(),
        "page_bytes": 0,
    }


def _run(side: str, courses: int, directory: str) -> dict[str, Any]:
    from airflow_provider_learnifier.operators.reporting import LearnifierProgressReportOperator

    if side == "nudge":
        return _nudge(courses, directory)
    project_ids = [FIRST_BULK_PROJECT_ID + n for n in range(courses)]
    extra: dict[str, Any] = {}
    if side == "ours":
        extra = {
            "states": [{"org_id": str(DEMO_ORG_UNIT_ID), "states": STATES}],
            "html_path": str(Path(directory) / "at-risk.html"),
        }
    floor = common.rss_mib()
    began = time.perf_counter()
    summary = LearnifierProgressReportOperator(
        task_id="report",
        path=str(Path(directory) / "report.csv"),
        org_id=DEMO_ORG_UNIT_ID,
        project_ids=project_ids,
        **extra,
    ).execute({"logical_date": AS_OF})
    seconds = time.perf_counter() - began
    return {
        "rows": summary["rows"],
        "states": summary.get("states", {}),
        "seconds": seconds,
        "floor_mib": floor,
        "peak_mib": common.peak_rss_mib(),
        "page_bytes": os.path.getsize(extra["html_path"]) if side == "ours" else 0,
    }


# ---------------------------------------------------------------------- in the benchmark process


def listings_of(result: dict[str, Any]) -> int:
    """How many participant listings a side sent."""
    return sum(count for operation, count in result["requests"].items() if operation.lower() == LISTING)


def run_side(sim: SimulatorProcess, side: str, courses: int) -> dict[str, Any]:
    sim.clear()
    with (
        tempfile.TemporaryDirectory(prefix="learnifier-bench-nudges-") as directory,
        _mail_server() as (mails, smtp_connection),
    ):
        env = dict(os.environ)
        env["AIRFLOW_CONN_LEARNIFIER_DEFAULT"] = sim.connection_json()
        env["AIRFLOW_CONN_SMTP_DEFAULT"] = smtp_connection
        result = subprocess.run(
            [sys.executable, __file__, "--child", side, str(courses), directory],
            capture_output=True,
            text=True,
            env=env,
            timeout=1800,
            check=False,
        )
    if result.returncode != 0:
        raise RuntimeError(f"the {side} run over {courses} course(s) failed:\n{result.stderr[-3000:]}")
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    figures["requests"] = sim.api_requests()
    figures["mails"] = len(mails)
    return figures


@contextlib.contextmanager
def _mail_server() -> Iterator[tuple[list[int], str]]:
    """A real SMTP server on loopback (aiosmtpd) in this process: yield its mails' list and connection."""
    import socket

    from aiosmtpd.controller import Controller

    received: list[int] = []

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            received.append(len(envelope.rcpt_tos))
            return "250 Message accepted"

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    extra = {"disable_ssl": True, "disable_tls": True, "from_email": "training@acme.example", "timeout": 30}
    try:
        yield received, json.dumps({"conn_type": "smtp", "host": "127.0.0.1", "port": port, "extra": extra})
    finally:
        controller.stop()


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        print(json.dumps(_run(sys.argv[2], int(sys.argv[3]), sys.argv[4])))
        return
    parser = common.parser(__doc__.split("\n", 1)[0], runs=3)
    parser.add_argument(
        "--no-nudge", action="store_true", help="only the report sides (the nudges take longest)"
    )
    options = parser.parse_args()
    sides = tuple(side for side in SIDES if not (options.no_nudge and side == "nudge"))
    started = time.perf_counter()
    runs = common.runs_of(options)
    common.isolate_airflow()
    courses, per_course, users = (5, 200, 500) if options.quick else (50, 2000, 5000)
    report = Report(
        "nudges",
        "9. Selecting and nudging participants by state",
        options.quick,
        runs,
        parameters={
            "courses": courses,
            "participants_per_course": per_course,
            "users_in_account": users,
            "as_of": AS_OF.isoformat(),
            "states": sorted(STATES),
            "latency_ms": 0,
            "tls": True,
        },
    )
    results: dict[str, list[dict[str, Any]]] = {side: [] for side in SIDES}
    populate = {"projects": courses, "participants": per_course, "users": users}
    with SimulatorProcess(latency=0.0, populate=populate) as sim:
        for run in range(runs):
            for side in sides if run % 2 == 0 else tuple(reversed(sides)):
                results[side].append(run_side(sim, side, courses))

    def med(side: str, key: str) -> float:
        return common.median(r[key] for r in results[side])

    listings = {side: common.median(listings_of(r) / courses for r in results[side]) for side in sides}
    for side in [side for side in sides if side != "baseline"]:
        report.add(
            Metric(
                f"participant listings per course, {courses} x {per_course} participants, {SIDE_NAMES[side]}",
                "requests",
                listings[side],
                listings["baseline"],
                SIDE_NAMES["baseline"],
                target="exactly 1",
                met=all(listings_of(r) == courses for r in results[side]),
                samples={s: [listings_of(r) for r in results[s]] for s in (side, "baseline")},
            )
        )
    nudged = results["nudge"]
    if nudged:
        report.add(
            Metric(
                "mails the SMTP server received, per reminder selected",
                "mails",
                common.median(r["mails"] for r in nudged),
                common.median(r["selected"] for r in nudged),
                "reminders selected",
                target="one mail per reminder",
                met=all(r["mails"] == r["sent"] == r["selected"] for r in nudged),
                samples={"mails": [r["mails"] for r in nudged], "selected": [r["selected"] for r in nudged]},
            )
        )
    time_ratio = med("ours", "seconds") / med("baseline", "seconds")
    report.add(
        Metric(
            f"time, {courses * per_course:,} participants",
            "s",
            med("ours", "seconds"),
            med("baseline", "seconds"),
            SIDE_NAMES["baseline"],
            time_ratio,
            "x the baseline's time",
            target=f"<= {TARGET_TIME_RATIO}x the baseline",
            met=time_ratio <= TARGET_TIME_RATIO,
            samples={side: [round(r["seconds"], 2) for r in results[side]] for side in sides},
        )
    )
    extra = med("ours", "peak_mib") - med("baseline", "peak_mib")
    report.add(
        Metric(
            f"peak RSS, {courses * per_course:,} participants",
            "MiB",
            med("ours", "peak_mib"),
            med("baseline", "peak_mib"),
            SIDE_NAMES["baseline"],
            common.ratio("lower", med("ours", "peak_mib"), med("baseline", "peak_mib")),
            "x less",
            target=f"<= the baseline + {TARGET_EXTRA_MIB:.0f} MiB",
            met=extra <= TARGET_EXTRA_MIB,
            samples={side: [round(r["peak_mib"], 1) for r in results[side]] for side in sides},
        )
    )
    for key, unit, what in (("seconds", "s", "time"), ("peak_mib", "MiB", "peak RSS")) if nudged else ():
        report.add(
            Metric(
                f"{what}, {SIDE_NAMES['nudge']}, {common.median(r['mails'] for r in nudged):,.0f} mails",
                unit,
                med("nudge", key),
                med("baseline", key),
                SIDE_NAMES["baseline"],
                med("nudge", key) / med("baseline", key),
                "x the baseline's",
                samples={side: [round(r[key], 2) for r in results[side]] for side in ("nudge", "baseline")},
            )
        )
    ours = results["ours"][0]
    report.details = {
        "rows": ours["rows"],
        "states": ours["states"],
        "page_kib": round(ours["page_bytes"] / 1024, 1),
        "requests_ours": ours["requests"],
        "requests_baseline": results["baseline"][0]["requests"],
    }
    if nudged:
        report.details |= {
            "requests_nudge": nudged[0]["requests"],
            "mails": nudged[0]["mails"],
            "nudged_by_state": nudged[0]["states"],
        }
    report.notes.append(
        f"States found as of {AS_OF.date()}: "
        + ", ".join(f"{name} {count:,}" for name, count in ours["states"].items())
        + f"; the at-risk page is {ours['page_bytes'] / 1024:.0f} KiB (at most 200 people listed per course)."
    )
    if nudged:
        report.notes.append(
            f"The nudges mailed {nudged[0]['mails']:,} reminder(s) ("
            + ", ".join(f"{name} {count:,}" for name, count in nudged[0]["states"].items())
            + f"); their requests: {nudged[0]['requests']}."
        )
    report.emit(options, started)


if __name__ == "__main__":
    main()
