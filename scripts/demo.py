"""Run the example DAGs against a local Learnifier simulator: what ``make demo`` does.

1. Starts the simulator with its ``demo`` seed over HTTPS, and points
   ``AIRFLOW_CONN_LEARNIFIER_DEFAULT`` at it (with the simulator's CA as ``verify``).
2. Runs each example DAG of ``example_dags/`` with ``airflow dags test``, one after the other,
   on a throwaway ``AIRFLOW_HOME`` (SQLite): the quickstart, the enrollment (which waits for the
   course to be completed), the login links for those it enrolled (into an outbox folder in the
   Airflow home), the offboarding (for real), a new hire's onboarding (which waits for them to
   complete it), a team's move to an org unit of its own, last year's course run closed, the daily
   progress report and its summary, and (once weeks have passed for the participants, see
   :func:`fall_behind`) the daily reminders, mailed to a local SMTP server (:class:`Mailbox`), with
   the at-risk page.
3. While a completion sensor waits, lets the enrolled people take the course: once the DAG's
   ``enroll`` task has finished, each time the sensor (then its trigger) reads the project's
   participants, two more of them (the new hire, in the onboarding course) complete it in the
   simulator, so the wait ends on its own after a few checks (see :class:`CourseProgress`).
4. Runs the event-driven example, ``learnifier_on_completion``, which ``dags test`` cannot (its
   asset watcher runs in a triggerer): starts a small Airflow 3 on loopback (api-server,
   scheduler, dag-processor, triggerer; ``airflow_deployment.py``), with the connection's
   ``poll_interval`` extra at 1 second, enrolls three more new hires in the onboarding course
   with the provider's hook and lets them complete it one by one; each completion becomes an
   asset event, a DAG run and a certificate record. Then stops that Airflow (see
   :func:`run_event_driven`). About a minute.
5. Plans and applies the assignment policy of ``learnifier_assignment_policy`` (its courses are
   made in the simulator first) for January's HR export, then plans it again for March's (two
   left, one moved, one joined), and prints both plans (see :func:`run_assignment_policy`).
6. Prints where the reports are and the summary of the last one (saying whom the offboarding
   removed since the enrollment), and the certificates, and exits 0; or, when a DAG fails, the
   end of its log, and exits 1.

The simulator and the Airflow components are stopped and the Airflow homes removed on exit: on
success, on failure, on Ctrl-C (exit 130) and on SIGTERM (exit 143). The reports, the
certificates and each DAG run's log are kept, in a new temporary directory or the one given with
``--output``.

Usage::

    python scripts/demo.py [--output DIR] [--verbose]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from learnifier_simulator import LearnifierSimulator, seed

if TYPE_CHECKING:
    from collections.abc import Callable

REPO = Path(__file__).resolve().parent.parent
EXAMPLE_DAGS = REPO / "example_dags"

#: Seconds between the completion sensors' checks in the demo.
POLL_INTERVAL = 1.0
#: The longest a command of the demo may take: the examples' sensors wait weeks, the demo does not.
RUN_TIMEOUT = 600.0
#: The example DAGs that write reports: each run gets the demo's report folder as ``report_dir``.
WRITES_REPORTS = {
    "learnifier_enrollment",
    "learnifier_participant_completion",
    "learnifier_progress_report",
    "learnifier_nudges",
}

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
    ("learnifier_nudges", {}),  # after fall_behind(), its mails to the demo's SMTP server
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


# ---------------------------------------------------------------- the nudges example

#: The nudges example: its reminders go to a mail server the demo runs on loopback.
NUDGES_DAG = "learnifier_nudges"
#: The example's thresholds (its selector): activated this many days ago and never opened the
#: course is "not started"; access ending within this many days is "expiring".
NOT_STARTED_DAYS, EXPIRING_DAYS = 7, 14


class Mailbox:
    """A local SMTP server (``aiosmtpd``, on loopback) that keeps the messages it receives.

    Plain SMTP on loopback, as the provider allows (``disable_tls``/``disable_ssl``); the messages
    stay in this process (they hold course links, which are no credentials but are personal).
    """

    def __init__(self) -> None:
        self.recipients: list[list[str]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.recipients.append(list(envelope.rcpt_tos))
        return "250 Message accepted"

    def __enter__(self) -> Mailbox:
        from aiosmtpd.controller import Controller

        with socket.socket() as probe:  # a free port: aiosmtpd checks that it serves on the one given
            probe.bind(("127.0.0.1", 0))
            self.port = int(probe.getsockname()[1])
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._controller.stop()

    def connection_json(self) -> str:
        """The ``smtp_default`` connection to this server, as ``AIRFLOW_CONN_SMTP_DEFAULT``."""
        extra = {"disable_tls": True, "disable_ssl": True, "from_email": "training@acme.example"}
        return json.dumps({"conn_type": "smtp", "host": "127.0.0.1", "port": self.port, "extra": extra})


def fall_behind(simulator: LearnifierSimulator) -> tuple[int, int]:
    """Let time pass for the demo's participants before the nudges run, as if weeks had gone by.

    Those activated who never opened their course were activated ``NOT_STARTED_DAYS + 3`` days
    ago, but the first of them, who opened it once; those who started and did not finish see their
    access end in ``EXPIRING_DAYS - 9`` days.

    :return: how many now have not started, and how many are expiring.
    """
    from datetime import timedelta

    now = simulator.now()
    not_started = expiring = 0
    pending = [
        participant
        for participant in simulator.state.snapshot()["participants"]
        if participant.get("activated")
        and participant["activitiesCompleted"] < participant["activitiesTotal"]
    ]
    if pending:
        simulator.advance_progress(participant_id=pending[0]["id"], activities=1)
    for participant in simulator.state.snapshot()["participants"]:
        if (
            not participant.get("activated")
            or participant["activitiesCompleted"] >= participant["activitiesTotal"]
        ):
            continue
        if "firstAccess" not in participant and "lastAccess" not in participant:
            activated = now - timedelta(days=NOT_STARTED_DAYS + 3)
            simulator.set_participant_times(
                participant["id"], firstActivation=activated, lastActivation=activated
            )
            not_started += 1
        else:
            simulator.set_participant_times(
                participant["id"], expiration=now + timedelta(days=EXPIRING_DAYS - 9)
            )
            expiring += 1
    return not_started, expiring


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


# ---------------------------------------------------------------- the event-driven example

#: The event-driven example.
ON_COMPLETION_DAG = "learnifier_on_completion"
#: The connection's ``poll_interval`` extra while the event-driven example runs: its watcher polls
#: the onboarding course every second (300 s without it).
EVENT_POLL_INTERVAL = 1
#: New hires who join the onboarding course while the event-driven example runs, and complete it.
GRADUATES = (
    ("E1010", "alva.nyberg@acme.example"),
    ("E1011", "omar.haddad@acme.example"),
    ("E1012", "lina.sjoberg@acme.example"),
)
#: The longest each wait of the event-driven phase may take: Airflow starting, a certificate.
EVENTS_TIMEOUT = 180.0


def enroll_graduates(
    simulator: LearnifierSimulator, airflow_home: Path
) -> tuple[dict[str, Any], dict[str, str]]:
    """Enroll :data:`GRADUATES` in the onboarding course with the provider's hook (opened if missing).

    :return: the project, and each graduate's participant id by employee id.
    """
    # The hook runs in this process: on the demo's Airflow home and connection, not the shell's.
    for name in [name for name in os.environ if name.startswith("AIRFLOW")]:
        del os.environ[name]
    os.environ["AIRFLOW_HOME"] = str(airflow_home)
    os.environ["AIRFLOW_CONN_LEARNIFIER_DEFAULT"] = simulator.connection_json()
    from airflow_provider_learnifier.exceptions import LearnifierNotFoundError
    from airflow_provider_learnifier.hooks.learnifier import LearnifierHook

    with LearnifierHook() as hook:
        try:
            project = hook.get_project_by_external_id(ONBOARDING_PROJECT)
        except LearnifierNotFoundError:  # learnifier_participant_completion opens it, if it ran
            project = hook.create_project(
                seed.DEMO_ORG_UNIT_ID,
                name="Acme Onboarding 2026",
                design_id=seed.ONBOARDING_DESIGN_ID,
                external_id=ONBOARDING_PROJECT,
            )
        org_id, project_id = str(project["orgId"]), str(project["id"])
        enrolled = {}
        for employee_id, email in GRADUATES:
            participant_id = hook.add_participant(org_id, project_id, email=email, external_id=employee_id)
            if participant_id is None:
                raise DemoFailed(f"Learnifier did not say which participant {employee_id} became")
            hook.activate_participant(org_id, project_id, participant_id)
            enrolled[employee_id] = participant_id
    return project, enrolled


def run_event_driven(
    simulator: LearnifierSimulator, airflow_home: Path, certificates: Path, logs: Path
) -> list[dict[str, Any]]:
    """Run learnifier_on_completion on a real Airflow 3 while new hires complete the onboarding course.

    ``airflow dags test`` has no triggerer, and the example's asset watcher runs in one: this
    starts a small deployment on loopback (``airflow_deployment.py``: api-server, scheduler,
    dag-processor and triggerer, LocalExecutor, SQLite) in ``airflow_home/deployment``, its output
    in ``logs``, with the connection's ``poll_interval`` extra at :data:`EVENT_POLL_INTERVAL` and
    the Variable ``learnifier_certificate_dir`` at ``certificates``. It enrolls :data:`GRADUATES`,
    waits for the watcher's first two polls (the first is its baseline: the new hire who completed
    before is not handed over), then lets them complete the course one at a time, each once the
    certificate of the one before is written: Airflow 3.3.2's scheduler can leave an event that
    lands while it creates a run to the DAG's next run, which would never come here. Airflow is
    stopped on return, on failure, on Ctrl-C and on SIGTERM.

    :return: the certificate records.
    :raises DemoFailed: when Airflow does not start, a certificate does not come in time or comes
        twice, or a run fails.
    """
    say(f"Running {ON_COMPLETION_DAG} on Airflow (api-server, scheduler, dag-processor, triggerer) ...")
    started = time.monotonic()
    # This folder is on sys.path when the demo runs; imported here, as only this phase needs it.
    from airflow_deployment import AirflowDeployment, wait_until

    # Its bundle holds the example alone (a link to it), active from the start: the other examples
    # stay out of this Airflow, and a paused DAG's asset watcher would start only when the file is
    # parsed again after it is unpaused (every 30 s).
    bundle = airflow_home / "event-driven-dags"
    bundle.mkdir()
    (bundle / f"{ON_COMPLETION_DAG}.py").symlink_to(EXAMPLE_DAGS / f"{ON_COMPLETION_DAG}.py")
    deployment = AirflowDeployment(
        airflow_home / "deployment",
        bundles={"learnifier-event-driven-example": bundle},
        env={
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW_CONN_LEARNIFIER_DEFAULT": simulator.connection_json(
                extra={"poll_interval": EVENT_POLL_INTERVAL}
            ),
            "AIRFLOW_VAR_LEARNIFIER_CERTIFICATE_DIR": str(certificates),
            # The runs' logs are kept with the demo's; the rest of this Airflow goes at the end.
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(logs / "task-logs"),
        },
        output_dir=logs,
    )

    def written() -> list[dict[str, Any]]:
        files = sorted(certificates.glob("*.json")) if certificates.is_dir() else []
        return [json.loads(path.read_text(encoding="utf-8")) for path in files]

    earlier = len(simulator.exchanges)  # the requests of the DAG runs before
    try:
        with deployment:
            project, enrolled = enroll_graduates(simulator, airflow_home)
            path = f"/orgunits/{project['orgId']}/projects/{project['id']}/participants"

            def until(condition: Callable[[], Any], what: str) -> Any:
                def check() -> Any:
                    if deployment.crashed():
                        raise RuntimeError(f"an Airflow component exited:\n{deployment.diagnostics()}")
                    return condition()

                return wait_until(check, EVENTS_TIMEOUT, what)

            def polls() -> int:
                new = simulator.exchanges[earlier:]
                return sum(1 for exchange in new if exchange.method == "GET" and exchange.path == path)

            # No need to wait for the api-server first: the watcher polls on its own, and the
            # runs wait for it.
            until(lambda: polls() >= 2, "the completion watcher's first polls")
            say(f"    [demo] the watcher polls {project['name']!r} every {EVENT_POLL_INTERVAL} s")
            for number, (employee_id, participant_id) in enumerate(enrolled.items(), start=1):
                simulator.advance_progress(participant_id=participant_id, complete=True)
                say(f"    [demo] {employee_id} has completed {project['name']!r}")
                until(lambda number=number: len(written()) >= number, f"the certificate of {employee_id}")

            def settled() -> list[dict[str, Any]] | None:
                runs = deployment.dag_runs(ON_COMPLETION_DAG)
                return runs if all(run["state"] in ("success", "failed") for run in runs) else None

            runs = until(settled, f"the runs of {ON_COMPLETION_DAG} to finish")
    except (TimeoutError, RuntimeError, OSError) as error:  # OSError: requests' errors too
        raise DemoFailed(f"{ON_COMPLETION_DAG}: {error} (Airflow's output: {logs})") from None
    failed = [run["dag_run_id"] for run in runs if run["state"] != "success"]
    if failed:
        raise DemoFailed(f"{ON_COMPLETION_DAG}: the runs {failed} failed (Airflow's output: {logs})")
    records = written()
    certified = sorted(str(record["participation_external_id"]) for record in records)
    if certified != sorted(enrolled):
        raise DemoFailed(f"{ON_COMPLETION_DAG} certified {certified}, not each of {sorted(enrolled)} once")
    seconds = time.monotonic() - started
    wrote = f"{len(runs)} runs wrote {len(records)} certificates"
    say(f"  {ON_COMPLETION_DAG}: success, {wrote} ({seconds:.0f} s)")
    return records


def print_certificates(records: list[dict[str, Any]], certificates: Path) -> None:
    say(f"\nCertificates ({ON_COMPLETION_DAG}, one per completion its asset watcher saw):")
    for record in sorted(records, key=lambda record: str(record["participation_external_id"])):
        path = certificates / f"{quote(record['dedupe_key'], safe='')}.json"
        say(
            f"  {record['participation_external_id']} completed {record['project_external_id']!r} "
            f"(participant {record['participant_id']}): {path}"
        )


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
        Mailbox() as mailbox,
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
            "AIRFLOW_CONN_SMTP_DEFAULT": mailbox.connection_json(),
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
                if dag_id == NUDGES_DAG:  # the ledger of reminders sent goes with the Airflow home
                    conf = {**conf, "ledger_dir": str(Path(airflow_home) / "learnifier-nudges")}
                    behind = fall_behind(simulator)
                    say(f"    [demo] weeks pass: {behind[0]} have not started, {behind[1]} see access end")
                if conf:
                    command += ["--conf", json.dumps(conf)]
                if dag_id == "learnifier_offboarding":
                    enrollment_name, before = participant_count(simulator, ENROLLMENT_PROJECT)
                seconds = run_logged(command, env, logs / f"{dag_id}.log", args.verbose)
                say(f"  {dag_id}: success ({seconds:.0f} s)")
                if dag_id == "learnifier_offboarding":
                    removed = before - participant_count(simulator, ENROLLMENT_PROJECT)[1]
                if dag_id == NUDGES_DAG:
                    mails, port = len(mailbox.recipients), mailbox.port
                    say(f"  {NUDGES_DAG}: {mails} reminder mail(s) went out (SMTP on 127.0.0.1:{port})")
        if not progress.completed:
            raise DemoFailed("the enrollment's completion sensor never checked the project")
        if not onboarding.completed:
            raise DemoFailed("the new hire's completion sensor never checked the onboarding project")
        plans = run_assignment_policy(simulator, airflow, env, logs, reports / "plans", args.verbose)
        certificates = reports / "certificates"
        records = run_event_driven(simulator, Path(airflow_home), certificates, logs / "airflow-deployment")

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
    say(f"  certificates:           {certificates}")
    pages = sorted(reports.glob("learnifier-at-risk-*.html"))
    if not pages:
        raise DemoFailed(f"{NUDGES_DAG} wrote no at-risk page in {reports}")
    say(f"  at-risk page:           {pages[-1]}")
    say(f"  logs of the DAG runs:   {logs}")
    say(f"\nCompletion per project ({summaries[-1].name}):")
    print_table(read_summary(summaries[-1]))
    if removed:
        say(
            f"\n  {enrollment_name!r} has {removed} participant(s) fewer than it had at the enrollment:"
            " learnifier_offboarding removed those who left the company (no longer on the roster)."
        )
    print_certificates(records, certificates)
    print_plans(plans)
    return 0


# ---------------------------------------------------------------- the assignment policy

POLICY_DAG = "learnifier_assignment_policy"
#: The courses of example_dags/learnifier_assignment_policy.yaml, and their course designs.
POLICY_COURSES = {
    "acme-code-of-conduct-2026": seed.CODE_OF_CONDUCT_DESIGN_ID,
    "acme-sales-onboarding-2026": seed.ONBOARDING_DESIGN_ID,
    "acme-people-leaders-2026": seed.ONBOARDING_DESIGN_ID,
}
#: The HR exports the policy is planned for, and the day its relative dates (-90d) count from.
POLICY_ROSTERS = (
    ("January", EXAMPLE_DAGS / "data" / "acme_hr_2026-01.csv", "2026-01-31"),
    ("March", EXAMPLE_DAGS / "data" / "acme_hr_2026-03.csv", "2026-03-31"),
)


def run_assignment_policy(
    simulator: LearnifierSimulator, airflow: str, env: dict[str, str], logs: Path, plans: Path, verbose: bool
) -> list[tuple[str, dict[str, Any]]]:
    """Run the policy DAG for January (it only adds: plan, then apply), then plan March's export.

    March's plan removes people, so its DAG run would wait for a person's approval: the demo runs
    its ``plan`` task alone (``airflow tasks test``). Returns each month's full plan.
    """
    for external_id, design_id in POLICY_COURSES.items():
        simulator.state.add_project(
            str(seed.DEMO_ORG_UNIT_ID),
            {"designId": design_id, "name": external_id, "externalId": external_id},
        )
    result = []
    for month, roster, reference_date in POLICY_ROSTERS:
        folder = plans / month.lower()
        conf = {"roster": str(roster), "reference_date": reference_date, "plan_dir": str(folder)}
        if month == "January":
            say(f"Running {POLICY_DAG} for {month}'s HR export ...")
            command = [airflow, "dags", "test", POLICY_DAG, "--conf", json.dumps(conf)]
        else:
            say(f"Planning {POLICY_DAG} for {month}'s HR export ...")
            command = [airflow, "tasks", "test", POLICY_DAG, "plan", "--task-params", json.dumps(conf)]
        seconds = run_logged(command, env, logs / f"{POLICY_DAG}-{month.lower()}.log", verbose)
        say(f"  {POLICY_DAG} ({month}): success ({seconds:.0f} s)")
        written = sorted(folder.glob("*.json"))
        if not written:
            raise DemoFailed(f"{POLICY_DAG} wrote no plan into {folder}")
        result.append((month, json.loads(written[-1].read_text(encoding="utf-8"))))
    return result


def print_plans(plans: list[tuple[str, dict[str, Any]]]) -> None:
    """Print each plan the way the plan task logs it: a line per course, then who changes."""
    for month, plan in plans:
        say(f"\nAssignment plan for {month}'s HR export ({plan['plan_id']}):")
        for course in plan["courses"]:
            counts = course["counts"]
            say(
                f"  {course['name']:<28} add {counts['add']:>2}  activate {counts['activate']:>2}  "
                f"remove {counts['remove']:>2}  keep {counts['keep']:>2}"
            )
            people = course["people"]
            for mark, action in (("+", "add"), ("~", "activate"), ("-", "remove")):
                for person in people[action]:
                    say(f"      {mark} {person}")
        say(f"  {plan['unmatched']} row(s) match no course; {plan['invalid']} row(s) are invalid.")


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
