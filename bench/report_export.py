"""Benchmark 3: exporting participant progress to CSV: rows per second, and peak memory.

The simulator holds an account of U users and P projects of 500 participants each (200 x 500
= 100,000 rows; quick mode: 20 x 100), each project's participants drawn from the users, as in
a company whose staff take several courses. Each export runs in a fresh subprocess, so that its
peak resident memory (``VmHWM``) is its own; the simulator runs in yet another process.

- ours: ``LearnifierProgressReportOperator`` writing every project of the org unit to CSV,
  with its default ``user_lookup="auto"`` (users fetched one by one until one page's worth was,
  then a scan), with ``user_lookup="get"`` (each distinct user fetched once, bounded cache) and
  with ``user_lookup="scan"`` (all users read once, paged);
- baseline: the same hook and the same rows, but loaded into memory first (all users, then
  every project's participants into one list of dicts) and written with ``csv.DictWriter`` at
  the end, the way such an export is usually written.

Each side exports two sizes (P/4 and P projects); the target is that our peak memory does not
grow with the number of projects.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as common
from _common import DEMO_ORG_UNIT_ID, Metric, Report, SimulatorProcess

FIRST_BULK_PROJECT_ID = 10_001
#: How much the peak may grow from the small to the large export and still count as flat.
FLAT_TOLERANCE = 0.10
SIDES = ("ours_auto", "ours_get", "ours_scan", "baseline")
OURS = ("ours_auto", "ours_get", "ours_scan")
#: The default path's rows per second, as a share of the baseline's.
TARGET_DEFAULT_RATE = 0.9
SIDE_NAMES = {
    "ours_auto": "operator, user_lookup=auto (default)",
    "ours_get": "operator, user_lookup=get",
    "ours_scan": "operator, user_lookup=scan",
    "baseline": "load everything, then write",
}


# ---------------------------------------------------------------------- in the export subprocess


def _export(side: str, projects: int, path: str) -> dict[str, Any]:
    """Export the first ``projects`` bulk projects; return rows, seconds and memory figures."""
    from airflow_provider_learnifier.hooks.learnifier import LearnifierHook
    from airflow_provider_learnifier.operators.reporting import COLUMNS, LearnifierProgressReportOperator

    project_ids = [FIRST_BULK_PROJECT_ID + n for n in range(projects)]
    floor = common.rss_mib()
    began = time.perf_counter()
    if side in OURS:
        operator = LearnifierProgressReportOperator(
            task_id="report",
            path=path,
            org_id=DEMO_ORG_UNIT_ID,
            project_ids=project_ids,
            user_lookup=side.removeprefix("ours_"),
        )
        rows = operator.execute({})["rows"]
    else:
        rows = _load_then_write(LearnifierHook(), project_ids, path, COLUMNS)
    seconds = time.perf_counter() - began
    return {
        "rows": rows,
        "seconds": seconds,
        "floor_mib": floor,
        "peak_mib": common.peak_rss_mib(),
        "bytes": os.path.getsize(path),
    }


def _load_then_write(hook: Any, project_ids: list[int], path: str, columns: tuple[str, ...]) -> int:
    """The baseline: everything in memory (users, then all rows as dicts), CSV written at the end."""
    import csv

    from airflow_provider_learnifier.operators.reporting import utc_iso
    from airflow_provider_learnifier.progress import completion_share

    with hook:
        users = {user["id"]: user for user in hook.iter_users()}
        rows = []
        for project_id in project_ids:
            project = hook.get_project(DEMO_ORG_UNIT_ID, project_id)
            for participant in hook.list_participants(DEMO_ORG_UNIT_ID, project_id):
                user = users.get(participant.get("userId"), {})
                rows.append(
                    {
                        "project_id": str(project["id"]),
                        "project_name": project.get("name"),
                        "project_external_id": project.get("externalId"),
                        "org_id": str(project["orgId"]),
                        "participant_id": str(participant["id"]),
                        "user_id": participant.get("userId"),
                        "user_external_id": user.get("externalId"),
                        "user_email": user.get("primaryEmail"),
                        "participation_external_id": participant.get("externalId"),
                        "activated": "true" if participant.get("activated") else "false",
                        "activities_completed": participant.get("activitiesCompleted") or 0,
                        "activities_total": participant.get("activitiesTotal") or 0,
                        "completion_share": completion_share(participant),
                        "first_access": utc_iso(participant.get("firstAccess")),
                        "last_access": utc_iso(participant.get("lastAccess")),
                        "expiration": utc_iso(participant.get("expiration")),
                        "in_error": "true" if participant.get("inError") else "false",
                        "error_message": participant.get("errorMessage"),
                    }
                )
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(columns))
        writer.writeheader()
        writer.writerows(rows)
    return len(rows)


# ---------------------------------------------------------------------- in the benchmark process


def run_export(sim: SimulatorProcess, side: str, projects: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="learnifier-bench-report-") as directory:
        env = dict(os.environ)
        env["AIRFLOW_CONN_LEARNIFIER_DEFAULT"] = sim.connection_json()
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        result = subprocess.run(
            [sys.executable, __file__, "--child", side, str(projects), str(Path(directory) / "report.csv")],
            capture_output=True,
            text=True,
            env=env,
            timeout=1800,
            check=False,
        )
        sim.clear()
    if result.returncode != 0:
        raise RuntimeError(f"the {side} export of {projects} project(s) failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        side, projects, path = sys.argv[2], int(sys.argv[3]), sys.argv[4]
        print(json.dumps(_export(side, projects, path)))
        return
    options = common.parser(__doc__.split("\n", 1)[0], runs=3).parse_args()
    started = time.perf_counter()
    runs = common.runs_of(options)
    common.isolate_airflow()
    if options.quick:
        large, per_project, users = 20, 100, 500
    else:
        large, per_project, users = 200, 500, 5000
    small = large // 4
    report = Report(
        "report_export",
        "3. Report export",
        options.quick,
        runs,
        parameters={
            "projects": [small, large],
            "participants_per_project": per_project,
            "users_in_account": users,
            "format": "csv",
            "latency_ms": 0,
            "tls": True,
        },
    )
    populate = {"projects": large, "participants": per_project, "users": users}
    results: dict[tuple[str, int], list[dict[str, Any]]] = {}
    with SimulatorProcess(latency=0.0, populate=populate) as sim:
        for run in range(runs):
            for size in (small, large):
                order = SIDES if run % 2 == 0 else tuple(reversed(SIDES))
                for side in order:
                    results.setdefault((side, size), []).append(run_export(sim, side, size))

    def med(side: str, size: int, key: str) -> float:
        return common.median(r[key] for r in results[(side, size)])

    rate = {side: common.median(r["rows"] / r["seconds"] for r in results[(side, large)]) for side in SIDES}
    for side in OURS:
        share = common.ratio("higher", rate[side], rate["baseline"])
        default = side == "ours_auto"
        report.add(
            Metric(
                f"rows per second, {large} x {per_project} rows, {SIDE_NAMES[side]}",
                "rows/s",
                rate[side],
                rate["baseline"],
                SIDE_NAMES["baseline"],
                share,
                "x the baseline's rate",
                target=f">= {TARGET_DEFAULT_RATE}x the baseline" if default else "",
                met=(share is not None and share >= TARGET_DEFAULT_RATE) if default else None,
                samples={
                    s: [round(r["rows"] / r["seconds"], 1) for r in results[(s, large)]]
                    for s in (side, "baseline")
                },
            )
        )
    for side in OURS:
        peak_small, peak_large = med(side, small, "peak_mib"), med(side, large, "peak_mib")
        base_small, base_large = med("baseline", small, "peak_mib"), med("baseline", large, "peak_mib")
        growth = peak_large / peak_small - 1
        report.add(
            Metric(
                f"peak RSS, {large} projects, {SIDE_NAMES[side]}",
                "MiB",
                peak_large,
                base_large,
                SIDE_NAMES["baseline"],
                common.ratio("lower", peak_large, base_large),
                "x less",
            )
        )
        report.add(
            Metric(
                f"peak RSS growth from {small} to {large} projects, {SIDE_NAMES[side]}",
                "%",
                100 * growth,
                100 * (base_large / base_small - 1),
                SIDE_NAMES["baseline"],
                target=f"flat: <= {FLAT_TOLERANCE:.0%}",
                met=growth <= FLAT_TOLERANCE,
                samples={
                    f"{s} {size}": [round(r["peak_mib"], 1) for r in results[(s, size)]]
                    for s in (side, "baseline")
                    for size in (small, large)
                },
            )
        )
    for side in SIDES:
        for size in (small, large):
            key = f"{side}_{size}"
            report.details[key] = {
                "rows": results[(side, size)][0]["rows"],
                "seconds": med(side, size, "seconds"),
                "peak_mib": med(side, size, "peak_mib"),
                "import_floor_mib": med(side, size, "floor_mib"),
                "above_floor_mib": common.median(
                    r["peak_mib"] - r["floor_mib"] for r in results[(side, size)]
                ),
            }
    report.notes.append(
        "Peak RSS above the import floor (Airflow and the provider loaded), small / large: "
        + "; ".join(
            f"{SIDE_NAMES[side]} {report.details[f'{side}_{small}']['above_floor_mib']:.0f} / "
            f"{report.details[f'{side}_{large}']['above_floor_mib']:.0f} MiB"
            for side in SIDES
        )
        + "."
    )
    report.emit(options, started)


if __name__ == "__main__":
    main()
