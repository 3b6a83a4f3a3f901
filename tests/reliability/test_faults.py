"""Fault injection: the enrollment workflow and the progress report, run by Airflow against a faulty API.

Each case runs a DAG of ``tests/dags/reliability_faults.py`` through real Airflow task execution
(``dag.test()``: Airflow schedules the task, and again after each failed attempt, up to the
task's ``retries``) against a simulator that injects one kind of fault at the rate below, then
all of them at once:

============ ==============================================================================
errors       10% of requests answered 500, 502 or 503, without applying them
rate-limit   5% answered 429 with ``Retry-After: 0``
drops        2% of connections closed without an answer, half before and half after the
             simulator applied the request
slow         1% answered after 2 s, with the connection's read timeout at 1 s (the request is
             applied when the answer is sent, after the client gave up)
garbage      2% of GETs answered 200 with a truncated JSON body or an HTML page
all          all of the above together
============ ==============================================================================

The connection's extras make the hook's backoff tiny (``backoff_factor`` 0.01 s) and, where
answers are slowed down, its read timeout 1 s (10 s elsewhere); nothing is mocked. Each case
asserts the exact end state in the simulator (every person a user once, a participant once,
activated once; the report complete and equal to the state), and records one line of figures
(see ``figures.py``), printed at the end of the session.
"""

from __future__ import annotations

import csv
import random
import time
import uuid
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from learnifier_simulator import FaultConfig, LearnifierSimulator
from learnifier_simulator import seed as sim_seed
from learnifier_simulator.models import Participant, Project, User
from tests.dags.reliability_faults import ENROLL_RETRIES, REPORT_RETRIES
from tests.reliability.figures import Figure, record

CONNECTION_VARIABLE = "AIRFLOW_CONN_LEARNIFIER_DEFAULT"
READ_TIMEOUT = 1.0
SLOW_SECONDS = 2.0
#: The read timeout of the cases without slow answers: long, so that a loaded machine cannot
#: turn an ordinary answer into a timeout there.
PATIENT_READ_TIMEOUT = 10.0
ROSTER_SIZE = 1000
REPORT_PROJECTS = 4
REPORT_PARTICIPANTS_PER_PROJECT = 250

ERRORS = {"error_rate": 0.10}
RATE_LIMITS = {"rate_limit_rate": 0.05, "retry_after": 0}
DROPS = {"drop_rate": 0.02, "drop_after_apply_share": 0.5}
SLOW = {"slow_rate": 0.01, "slow_seconds": SLOW_SECONDS}
GARBAGE = {"garbage_rate": 0.02}

# A thousand people per case through real Airflow task execution: minutes, so a stage of its own
# (make test-faults).
pytestmark = pytest.mark.faults

#: case: (fault rates, the fault kinds that must be injected, the faults in words)
CASES: dict[str, tuple[dict[str, Any], tuple[str, ...], str]] = {
    "errors": (ERRORS, ("error",), "10% 500/502/503"),
    "rate-limit": (RATE_LIMITS, ("rate_limit",), "5% 429 with Retry-After: 0"),
    "drops": (DROPS, ("drop_before", "drop_after"), "2% dropped connections (half after applying)"),
    "slow": (SLOW, ("slow",), f"1% answers after {SLOW_SECONDS:g} s, read timeout {READ_TIMEOUT:g} s"),
    "garbage": (GARBAGE, ("garbage",), "2% of GETs: 200 with a truncated or HTML body"),
    "all": (
        {**ERRORS, **RATE_LIMITS, **DROPS, **SLOW, **GARBAGE},
        ("error", "rate_limit", "drop_before", "drop_after", "slow", "garbage"),
        "all of the above at once",
    ),
}
#: A different seed per case and workflow, fixed so that a run can be reproduced.
SEEDS = {case: number for number, case in enumerate(CASES, start=71)}


def cases() -> list[Any]:
    """The cases as parameters."""
    return [pytest.param(case, id=case) for case in CASES]


def extras(case: str) -> dict[str, Any]:
    """The connection's extras: real retries with a tiny backoff, and a 1 s read timeout where
    answers are slowed down beyond it."""
    rates, _, _ = CASES[case]
    read_timeout = READ_TIMEOUT if rates.get("slow_rate") else PATIENT_READ_TIMEOUT
    return {"timeout": [5, read_timeout], "backoff_factor": 0.01, "max_retries": 5}


def fault_config(case: str, offset: int = 0) -> FaultConfig:
    rates, _, _ = CASES[case]
    return FaultConfig(**rates, seed=SEEDS[case] + offset)


def _state(dag_run: Any) -> str:
    state = dag_run.state
    return getattr(state, "value", state)


def _finish(
    figure: Figure,
    sim: LearnifierSimulator,
    hook_waits: list[Any],
    dag_run: Any,
    task_id: str,
    started: float,
) -> None:
    figure.seconds = time.monotonic() - started
    figure.requests = sim.request_count
    figure.injected = sim.fault_counts
    figure.hook_retries = len(hook_waits)
    figure.attempts = dag_run.get_task_instance(task_id).try_number


def _check_injected(case: str, sim: LearnifierSimulator, *, scripted: bool = False) -> None:
    """The case tested what it says: each kind of fault it configures was met.

    :param scripted: garbage was scripted (the enrollment sends too few GETs for 2% to meet one).
    """
    _, kinds, _ = CASES[case]
    if scripted:
        kinds = tuple("scripted" if kind == "garbage" else kind for kind in kinds)
    counts = sim.fault_counts
    missing = [kind for kind in kinds if not counts.get(kind)]
    assert not missing, f"no {', '.join(missing)} fault was injected (faults: {counts})"


# ---------------------------------------------------------------------- enrollment


def roster_rows() -> list[dict[str, str]]:
    """1,000 people, with names that need UTF-8 and CSV quoting."""
    rows = []
    for n in range(ROSTER_SIZE):
        first = "Zoë" if n % 7 == 0 else f"Person{n}"
        last = "O'Brien, Jr." if n % 11 == 0 else "Tester"
        rows.append(
            {
                "email": f"person{n:04d}@example.com",
                "external_id": f"hr-{n:04d}",
                "first_name": first,
                "last_name": last,
            }
        )
    return rows


def write_roster(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def enrollment_problems(snapshot: dict[str, Any], rows: list[dict[str, str]]) -> list[str]:
    """What is wrong with the simulator's state after enrolling ``rows``: nothing, when each person
    is one user with the roster's fields, one participant of the demo project, activated once."""
    problems = []
    users = snapshot["users"]
    by_email = Counter((user.get("primaryEmail") or "").casefold() for user in users)
    by_external_id = Counter(user.get("externalId") for user in users if user.get("externalId"))
    duplicated = sorted(
        [email for email, count in by_email.items() if email and count > 1]
        + [external_id for external_id, count in by_external_id.items() if count > 1]
    )
    if duplicated:
        problems.append(f"{len(duplicated)} duplicate user(s), e.g. {duplicated[:3]}")
    if len(users) != len(rows) + 1:
        problems.append(f"{len(users)} users, expected {len(rows) + 1} (the roster and the seeded admin)")

    user_of = {user.get("externalId"): user for user in users}
    wrong_users = [
        row["external_id"]
        for row in rows
        if (user := user_of.get(row["external_id"])) is None
        or user.get("primaryEmail") != row["email"]
        or user.get("firstName") != row["first_name"]
        or user.get("lastName") != row["last_name"]
    ]
    if wrong_users:
        problems.append(f"{len(wrong_users)} roster people without their user, e.g. {wrong_users[:3]}")

    participants = [p for p in snapshot["participants"] if p["projectId"] == sim_seed.DEMO_PROJECT_ID]
    per_user = Counter(p["userId"] for p in participants)
    wanted = {user["id"] for user in users if (user.get("externalId") or "").startswith("hr-")}
    if set(per_user) != wanted:
        too_many, too_few = len(set(per_user) - wanted), len(wanted - set(per_user))
        problems.append(f"participants are {too_many} user(s) too many and {too_few} too few")
    twice = [user_id for user_id, count in per_user.items() if count > 1]
    if twice:
        problems.append(f"{len(twice)} user(s) enrolled more than once")
    not_activated = [p["id"] for p in participants if not p.get("activated")]
    if not_activated:
        problems.append(f"{len(not_activated)} participant(s) not activated, e.g. {not_activated[:3]}")
    # Each activation sets lastActivation; firstActivation is kept from the first one.
    reactivated = [p["id"] for p in participants if p.get("firstActivation") != p.get("lastActivation")]
    if reactivated:
        problems.append(f"{len(reactivated)} participant(s) activated more than once, e.g. {reactivated[:3]}")
    return problems


def script_garbage_reads(sim: LearnifierSimulator) -> None:
    """Make sure the enrollment's few reads meet garbage: the first page of users arrives truncated,
    and the first participant list as an HTML page (both with status 200)."""
    sim.inject(
        200, method="GET", path="/users", body=b'[{"id": "0b6f3c2e-6d4a-4f0e-9a57-3c1d2e8f7a01", "prim'
    )
    participants = f"/orgunits/{sim_seed.DEMO_ORG_UNIT_ID}/projects/{sim_seed.DEMO_PROJECT_ID}/participants"
    sim.inject(
        200, method="GET", path=participants, body=b"<html><body><h1>502 Bad Gateway</h1></body></html>"
    )


@pytest.mark.parametrize("case", cases())
def test_enrollment_of_1000_people_under_faults(case, run_dag, hook_waits, monkeypatch, tmp_path):
    rows = roster_rows()
    roster = write_roster(tmp_path / "roster.csv", rows)
    _, kinds, words = CASES[case]
    scripted = "garbage" in kinds
    if scripted:
        words += "; scripted: the first user page truncated, the first participant list HTML"
    figure = Figure("enrollment", case, words, max_attempts=ENROLL_RETRIES + 1)
    with LearnifierSimulator(seed="demo", faults=fault_config(case), record=False) as sim:
        if scripted:
            script_garbage_reads(sim)
        monkeypatch.setenv(CONNECTION_VARIABLE, sim.connection_json(extras(case)))
        started = time.monotonic()
        dag_run = run_dag("reliability_enroll", {"roster": str(roster)})
        _finish(figure, sim, hook_waits, dag_run, "enroll", started)
        problems = [] if _state(dag_run) == "success" else [f"the run ended {_state(dag_run)}"]
        problems += enrollment_problems(sim.state.snapshot(), rows)
        if not problems:
            summary = dag_run.get_task_instance("enroll").xcom_pull(task_ids="enroll")
            if summary["counts"]["roster"] != ROSTER_SIZE or summary["failed"]:
                problems.append(f"the last attempt's summary is wrong: {summary['counts']}")
        figure.result = (
            f"ok: {ROSTER_SIZE} people each one user, one participant, activated once"
            if not problems
            else "; ".join(problems)
        )
        record(figure)
        _check_injected(case, sim, scripted=scripted)

    assert not problems, f"{case}: {figure.line()}"
    retry_after = fault_config(case).retry_after
    for seconds, what in hook_waits:
        if "answered 429" in what:
            assert seconds == retry_after, f"the hook did not wait the Retry-After of {retry_after} s: {what}"


# ---------------------------------------------------------------------- the progress report


def populate_report_account(sim: LearnifierSimulator) -> None:
    """Four projects of the demo org unit with 250 participants each, in every state a row can show.

    Added to the state directly (no requests, so no faults): 1,000 users, 90% of participants
    activated, some with progress, some completed, every 40th in error.
    """
    rng = random.Random(20260107)
    created = datetime(2025, 3, 3, 8, 0, tzinfo=timezone.utc)
    org_id = sim_seed.DEMO_ORG_UNIT_ID
    activities = sim_seed.ONBOARDING_ACTIVITIES
    users = [
        User(
            str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            created,
            primary_email=f"employee{n:04d}@acme.example",
            external_id=f"emp-{n:04d}",
            first_name=f"Employee{n}",
            home_org=org_id,
        )
        for n in range(REPORT_PROJECTS * REPORT_PARTICIPANTS_PER_PROJECT)
    ]
    records: list[Any] = list(users)
    participant_id = 500_001
    for index in range(REPORT_PROJECTS):
        project_id = 30_001 + index
        records.append(
            Project(
                project_id,
                org_id,
                sim_seed.ONBOARDING_DESIGN_ID,
                f'Course {index + 1}, "reliability"',
                created,
                activities,
                status="ACTIVATED",
                external_id=f"reliability-{index + 1}",
            )
        )
        start = index * REPORT_PARTICIPANTS_PER_PROJECT
        for user in users[start : start + REPORT_PARTICIPANTS_PER_PROJECT]:
            activated = rng.random() < 0.9
            completed = rng.randint(0, activities) if activated else 0
            first = created + timedelta(days=rng.randint(1, 30)) if activated else None
            in_error = participant_id % 40 == 0
            records.append(
                Participant(
                    participant_id,
                    project_id,
                    user.id,
                    activities,
                    external_id=f"rel-{participant_id}",
                    activated=activated,
                    activities_completed=completed,
                    first_activation=first,
                    last_activation=first,
                    expiration=first + timedelta(days=365) if first else None,
                    first_access=first + timedelta(hours=1) if first and completed else None,
                    last_access=first + timedelta(days=2) if first and completed else None,
                    in_error=in_error,
                    error_message="Licence expired" if in_error else None,
                )
            )
            participant_id += 1
    sim.state.add_records(*records)


def expected_report(snapshot: dict[str, Any]) -> dict[str, dict[str, str]]:
    """The CSV cells of every row the report must have, by participant id, from the state alone."""
    users = {user["id"]: user for user in snapshot["users"]}
    projects = {p["id"]: p for p in snapshot["projects"] if p["orgId"] == sim_seed.DEMO_ORG_UNIT_ID}
    rows = {}
    for part in snapshot["participants"]:
        project = projects.get(part["projectId"])
        if project is None:
            continue
        user = users[part["userId"]]
        in_error = bool(part.get("inError"))
        rows[str(part["id"])] = {
            "project_id": str(project["id"]),
            "project_name": project["name"],
            "org_id": str(project["orgId"]),
            "user_id": part["userId"],
            "user_external_id": user.get("externalId") or "",
            "user_email": user.get("primaryEmail") or "",
            "participation_external_id": part.get("externalId") or "",
            "activated": "true" if part["activated"] else "false",
            "activities_completed": str(part["activitiesCompleted"]),
            "activities_total": str(part["activitiesTotal"]),
            "in_error": "true" if in_error else "false",
            "error_message": (part.get("errorMessage") or "") if in_error else "",
        }
    return rows


def report_problems(path: Path, expected: dict[str, dict[str, str]]) -> list[str]:
    if not path.exists():
        return ["no report was written"]
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    problems = []
    by_participant = Counter(row["participant_id"] for row in rows)
    repeated = [pid for pid, count in by_participant.items() if count > 1]
    if repeated:
        problems.append(f"{len(repeated)} participant(s) reported more than once")
    missing = set(expected) - set(by_participant)
    extra = set(by_participant) - set(expected)
    if missing or extra:
        problems.append(f"{len(missing)} row(s) missing and {len(extra)} unexpected")
    wrong = [
        row["participant_id"]
        for row in rows
        if row["participant_id"] in expected
        and {name: row[name] for name in expected[row["participant_id"]]} != expected[row["participant_id"]]
    ]
    if wrong:
        problems.append(f"{len(wrong)} row(s) with wrong values, e.g. participant {wrong[0]}")
    leftovers = [p.name for p in path.parent.iterdir() if p.name.endswith(".tmp")]
    if leftovers:
        problems.append(f"temporary files left: {leftovers}")
    return problems


@pytest.mark.parametrize("case", cases())
def test_progress_report_of_1000_participants_under_faults(case, run_dag, hook_waits, monkeypatch, tmp_path):
    _, _, words = CASES[case]
    figure = Figure("report", case, words, max_attempts=REPORT_RETRIES + 1)
    report = tmp_path / "out" / "progress.csv"
    report.parent.mkdir()
    with LearnifierSimulator(seed="demo", record=False) as sim:
        populate_report_account(sim)
        expected = expected_report(sim.state.snapshot())
        assert len(expected) == REPORT_PROJECTS * REPORT_PARTICIPANTS_PER_PROJECT
        sim.faults = fault_config(case, offset=100)
        monkeypatch.setenv(CONNECTION_VARIABLE, sim.connection_json(extras(case)))
        started = time.monotonic()
        dag_run = run_dag("reliability_report", {"path": str(report), "org_id": sim_seed.DEMO_ORG_UNIT_ID})
        _finish(figure, sim, hook_waits, dag_run, "report", started)
        problems = [] if _state(dag_run) == "success" else [f"the run ended {_state(dag_run)}"]
        problems += report_problems(report, expected)
        if not problems:
            summary = dag_run.get_task_instance("report").xcom_pull(task_ids="report")
            activated = sum(row["activated"] == "true" for row in expected.values())
            if (summary["rows"], summary["activated"]) != (len(expected), activated):
                problems.append(f"the summary is wrong: {summary}")
        figure.result = (
            f"ok: all {len(expected)} rows, equal to the state" if not problems else "; ".join(problems)
        )
        record(figure)
        _check_injected(case, sim)

    assert not problems, f"{case}: {figure.line()}"
