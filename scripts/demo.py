"""Run the example DAGs against a local Learnifier simulator: what ``make demo`` does.

1. Starts the simulator with its ``demo`` seed over HTTPS, and points
   ``AIRFLOW_CONN_LEARNIFIER_DEFAULT`` at it (with the simulator's CA as ``verify``).
2. Runs each example DAG of ``example_dags/`` with ``airflow dags test``, one after the other,
   on a throwaway ``AIRFLOW_HOME`` (SQLite): the quickstart, the enrollment (which waits for the
   course to be completed), the login links for those it enrolled (into an outbox folder in the
   Airflow home), the offboarding (for real), a new hire's onboarding (which waits for them to
   complete it), a team's move to an org unit of its own, last year's course run closed, the daily
   progress report and its summary.
3. While a completion sensor waits, lets the enrolled people take the course: once the DAG's
   ``enroll`` task has finished, each time the sensor (then its trigger) reads the project's
   participants, two more of them (the new hire, in the onboarding course) complete it in the
   simulator, so the wait ends on its own after a few checks (see :class:`CourseProgress`).
4. Prints where the reports are and the summary of the last one (saying whom the offboarding
   removed since the enrollment), and exits 0; or, when a DAG fails, the end of its log, and
   exits 1.

The simulator is stopped and the Airflow home removed on exit: on success, on failure, on
Ctrl-C (exit 130) and on SIGTERM (exit 143). The reports and each DAG run's log are kept, in a new
temporary directory or the one given with ``--output``.

Usage::

    python scripts/demo.py [--output DIR] [--verbose]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from learnifier_simulator import LearnifierSimulator

if TYPE_CHECKING:
    from collections.abc import Callable

REPO = Path(__file__).resolve().parent.parent
EXAMPLE_DAGS = REPO / "example_dags"

#: Seconds between the completion sensors' checks in the demo.
POLL_INTERVAL = 1.0
#: The longest a command of the demo may take: the examples' sensors wait weeks, the demo does not.
RUN_TIMEOUT = 600.0
#: The example DAGs that write reports: each run gets the demo's report folder as ``report_dir``.
WRITES_REPORTS = {"learnifier_enrollment", "learnifier_participant_completion", "learnifier_progress_report"}

#: The example DAG runs, in order, with the configuration of each run.
RUNS: list[tuple[str, dict[str, Any]]] = [
    ("learnifier_quickstart", {}),
    ("learnifier_enrollment", {"poll_interval": POLL_INTERVAL}),
    ("learnifier_login_links", {}),  # for the enrollment's participants, see main()
    ("learnifier_offboarding", {"apply": True}),
    ("learnifier_participant_completion", {"poll_interval": POLL_INTERVAL}),
    ("learnifier_org_unit_move", {}),
    ("learnifier_close_course", {}),
    ("learnifier_progress_report", {}),
    ("learnifier_progress_summary", {}),
]
#: learnifier_enrollment's project (its default), whose participants the demo lets complete the course.
ENROLLMENT_PROJECT = "acme-security-awareness-2026"
#: learnifier_participant_completion's project and new hire (its defaults): the demo lets them complete it.
ONBOARDING_PROJECT = "acme-onboarding-2026"
NEW_HIRE = "E1009"


class DemoFailed(Exception):
    """A step of the demo failed; the message says which."""


def say(message: str) -> None:
    print(message, flush=True)


class CourseProgress:
    """Let a project's participants take the course while a completion sensor waits for them.

    Each time the project's participants are read after ``enrolled()`` became true (the enroll
    task has finished: the reads are the sensor's first check, then its trigger's), the next
    ``per_check`` of them complete the course in the simulator. So the sensor sees the completed
    share grow check after check and finishes on its own. Reads while enrolling (the enroll
    operator reads the participants too) change nothing, even when everyone enrolled so far is
    activated. Nothing depends on timing: the simulator records each request before answering it,
    and a check always answers from the state before the progress it causes, so a check after
    the enrollment can never be missed nor see progress made before the enrollment ended.

    :param simulator: the running simulator (in this process).
    :param project_external_id: the project's external id.
    :param enrolled: tells whether the enrollment has finished.
    :param per_check: how many participants complete the course per check.
    """

    def __init__(
        self,
        simulator: LearnifierSimulator,
        project_external_id: str,
        enrolled: Callable[[], bool],
        per_check: int = 2,
    ) -> None:
        self.simulator = simulator
        self.project_external_id = project_external_id
        self.enrolled = enrolled
        self.per_check = per_check
        self.completed: list[str] = []
        #: How many reads of the project's participants were looked at (enrolled or not yet).
        self.reads_seen = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="course-progress", daemon=True)

    def __enter__(self) -> CourseProgress:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        seen = 0
        project: dict[str, Any] | None = None
        while not self._stop.wait(0.05):
            exchanges = self.simulator.exchanges
            new, seen = exchanges[seen:], len(exchanges)
            project = project or self._project()
            if project is None:
                continue
            path = f"/orgunits/{project['orgId']}/projects/{project['id']}/participants"
            for exchange in new:
                if exchange.method == "GET" and exchange.path == path:
                    if self.enrolled():
                        self._one_check(project)
                    self.reads_seen += 1

    def _project(self) -> dict[str, Any] | None:
        for project in self.simulator.state.snapshot()["projects"]:
            if project.get("externalId") == self.project_external_id:
                return project
        return None

    def _participants(self, project: dict[str, Any]) -> list[dict[str, Any]]:
        return self.simulator.state.list_participants(str(project["orgId"]), str(project["id"]))

    def _one_check(self, project: dict[str, Any]) -> None:
        participants = self._participants(project)
        pending = [p for p in participants if p["activitiesCompleted"] < p["activitiesTotal"]]
        if not pending:
            return
        for participant in sorted(pending, key=lambda p: int(p["id"]))[: self.per_check]:
            self.simulator.advance_progress(participant_id=participant["id"], complete=True)
            self.completed.append(str(participant["id"]))
        done = sum(p["activitiesCompleted"] >= p["activitiesTotal"] for p in self._participants(project))
        name, total = project["name"], len(participants)
        say(f"    [demo] {done} of {total} participants of {name!r} have completed the course")


def task_succeeded(airflow_home: str, dag_id: str, task_id: str) -> Callable[[], bool]:
    """Return a test of whether ``dag_id``'s ``task_id`` has succeeded, in the demo's Airflow database."""
    database = Path(airflow_home) / "airflow.db"

    def succeeded() -> bool:
        try:
            with sqlite3.connect(f"{database.as_uri()}?mode=ro", uri=True, timeout=5) as connection:
                row = connection.execute(
                    "SELECT 1 FROM task_instance WHERE dag_id = ? AND task_id = ? AND state = 'success'",
                    (dag_id, task_id),
                ).fetchone()
        except sqlite3.OperationalError:
            return False  # not migrated yet, or busy: ask again at the next read
        return row is not None

    return succeeded


def participant_count(simulator: LearnifierSimulator, project_external_id: str) -> tuple[str, int]:
    """The project's name and how many participants it has now."""
    (project,) = [
        p for p in simulator.state.snapshot()["projects"] if p.get("externalId") == project_external_id
    ]
    return project["name"], len(simulator.state.list_participants(str(project["orgId"]), str(project["id"])))


def participant_ids(simulator: LearnifierSimulator, project_external_id: str) -> list[str]:
    """The ids of the project's participants now."""
    (project,) = [
        p for p in simulator.state.snapshot()["projects"] if p.get("externalId") == project_external_id
    ]
    return [
        str(p["id"]) for p in simulator.state.list_participants(str(project["orgId"]), str(project["id"]))
    ]


def run_logged(
    command: list[str], env: dict[str, str], log: Path, verbose: bool, timeout: float = RUN_TIMEOUT
) -> float:
    """Run ``command``, its output into ``log`` (and the terminal with ``verbose``); return the seconds.

    :raises DemoFailed: when it fails, or is still running after ``timeout`` seconds (then killed).
    """
    started = time.monotonic()
    try:
        if verbose:
            say(f"$ {' '.join(command)}")
            result = subprocess.run(command, env=env, check=False, timeout=timeout)
        else:
            with log.open("w", encoding="utf-8") as output:
                result = subprocess.run(
                    command, env=env, stdout=output, stderr=subprocess.STDOUT, check=False, timeout=timeout
                )
    except subprocess.TimeoutExpired:
        raise DemoFailed(f"{' '.join(command[1:])} took more than {timeout:.0f} s (log: {log})") from None
    if result.returncode:
        if not verbose:
            lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
            say("\n".join(lines[-60:]))
        raise DemoFailed(f"{' '.join(command[1:])} exited {result.returncode} (log: {log})")
    return time.monotonic() - started


def read_summary(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def print_table(rows: list[dict[str, str]]) -> None:
    header = ("project", "participants", "activated", "completed", "completion")
    table = [header] + [
        (
            row["project_name"],
            row["participants"],
            row["activated"],
            row["completed"],
            f"{float(row['completion_share']):.0%}",
        )
        for row in rows
    ]
    widths = [max(len(line[column]) for line in table) for column in range(len(header))]
    for number, line in enumerate(table):
        cells = [line[0].ljust(widths[0])] + [
            cell.rjust(width) for cell, width in zip(line[1:], widths[1:], strict=True)
        ]
        say("  " + "  ".join(cells))
        if number == 0:
            say("  " + "  ".join("-" * width for width in widths))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--output", type=Path, help="where to keep the reports and logs (default: a new temp dir)"
    )
    parser.add_argument("--verbose", action="store_true", help="show Airflow's output as the DAGs run")
    args = parser.parse_args(argv)
    output = (args.output or Path(tempfile.mkdtemp(prefix="learnifier-demo-"))).resolve()
    reports, logs = output / "reports", output / "logs"
    reports.mkdir(parents=True, exist_ok=True)
    logs.mkdir(parents=True, exist_ok=True)
    airflow = str(Path(sys.executable).with_name("airflow"))

    with (
        tempfile.TemporaryDirectory(prefix="learnifier-demo-airflow-") as airflow_home,
        LearnifierSimulator(seed="demo") as simulator,
    ):
        say(f"Learnifier simulator at {simulator.base_url} (CA {simulator.ca_file})")
        say(f"Airflow home (removed at the end): {airflow_home}")
        # Airflow settings of the calling shell stay out: the demo's Airflow is its own.
        inherited = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "LEARNIFIER_"))}
        env = {
            **inherited,
            "AIRFLOW_HOME": airflow_home,
            "AIRFLOW__CORE__DAGS_FOLDER": str(EXAMPLE_DAGS),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "AIRFLOW_CONN_LEARNIFIER_DEFAULT": simulator.connection_json(),
        }
        seconds = run_logged([airflow, "db", "migrate"], env, logs / "db-migrate.log", args.verbose)
        # Store the DAGs and their assets as a DAG processor would: `dags test` of Airflow 3.0 does
        # not, and then refuses the report's asset outlet as unknown.
        seconds += run_logged(
            [airflow, "dags", "reserialize"], env, logs / "dags-reserialize.log", args.verbose
        )
        say(f"Airflow database ready ({seconds:.0f} s)")
        enrolled = task_succeeded(airflow_home, "learnifier_enrollment", "enroll")
        new_hire_enrolled = task_succeeded(airflow_home, "learnifier_participant_completion", "enroll")
        removed = 0
        with (
            CourseProgress(simulator, ENROLLMENT_PROJECT, enrolled) as progress,
            CourseProgress(simulator, ONBOARDING_PROJECT, new_hire_enrolled, per_check=1) as onboarding,
        ):
            for dag_id, conf in RUNS:
                say(f"Running {dag_id}{f' with {json.dumps(conf)}' if conf else ''} ...")
                command = [airflow, "dags", "test", dag_id]
                if dag_id in WRITES_REPORTS:
                    conf = {**conf, "report_dir": str(reports)}
                if dag_id == "learnifier_login_links":  # links are credentials: kept in the Airflow home
                    outbox = str(Path(airflow_home) / "learnifier-outbox")
                    conf = {
                        **conf,
                        "participant_ids": participant_ids(simulator, ENROLLMENT_PROJECT),
                        "outbox": outbox,
                    }
                if conf:
                    command += ["--conf", json.dumps(conf)]
                if dag_id == "learnifier_offboarding":
                    enrollment_name, before = participant_count(simulator, ENROLLMENT_PROJECT)
                seconds = run_logged(command, env, logs / f"{dag_id}.log", args.verbose)
                say(f"  {dag_id}: success ({seconds:.0f} s)")
                if dag_id == "learnifier_offboarding":
                    removed = before - participant_count(simulator, ENROLLMENT_PROJECT)[1]
        if not progress.completed:
            raise DemoFailed("the enrollment's completion sensor never checked the project")
        if not onboarding.completed:
            raise DemoFailed("the new hire's completion sensor never checked the onboarding project")

    enrollment_report = reports / f"{ENROLLMENT_PROJECT}-progress.csv"
    training_record = reports / "training-records" / f"{NEW_HIRE}-{ONBOARDING_PROJECT}.json"
    summaries = sorted(reports.glob("learnifier-progress-*-summary.csv"))
    daily = sorted(set(reports.glob("learnifier-progress-*.csv")) - set(summaries))
    if not enrollment_report.is_file() or not training_record.is_file() or not daily or not summaries:
        raise DemoFailed(f"the reports are missing from {reports}")
    say("\nReports:")
    say(f"  enrollment progress:    {enrollment_report}")
    say(f"  new hire's record:      {training_record}")
    say(f"  daily progress report:  {daily[-1]}")
    say(f"  completion per project: {summaries[-1]}")
    say(f"  logs of the DAG runs:   {logs}")
    say(f"\nCompletion per project ({summaries[-1].name}):")
    print_table(read_summary(summaries[-1]))
    if removed:
        say(
            f"\n  {enrollment_name!r} has {removed} participant(s) fewer than it had at the enrollment:"
            " learnifier_offboarding removed those who left the company (no longer on the roster)."
        )
    return 0


def _terminate(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _terminate)
    try:
        sys.exit(main())
    except DemoFailed as failed:
        print(f"demo failed: {failed}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("demo interrupted", file=sys.stderr)
        sys.exit(130)
