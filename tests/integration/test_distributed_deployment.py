"""A distributed Airflow 3 deployment (CeleryExecutor, PostgreSQL, Redis) runs the enrollment DAGs.

``make test-distributed`` (marked ``distributed``; ``make test`` and ``make test-integration`` skip
it). The test starts, on loopback, a throwaway PostgreSQL server as the metadata database and
Celery result backend, a throwaway Redis server as the Celery broker (``scripts/local_services.py``,
Debian's servers), the simulator (HTTPS, with a key and secret made for this run), and Airflow's
api-server, scheduler, dag-processor, triggerer and **two Celery workers** (``worker-a@<host>`` and
``worker-b@<host>``, one task at a time each) with ``scripts/airflow_deployment.py``. The
Learnifier connection is stored in the metadata database through the REST API, as a user would:
the workers and the triggerer read it through Airflow's execution API.

It triggers ``learnifier_enrollment`` (example_dags/) and waits for its sensor to defer to the
triggerer; while it waits, ``deployment_mapped_enrollment`` (tests/integration/dags/) enrolls the
roster in four courses, a mapped ``create_project`` and ``enroll`` task instance per course (two
``enroll`` instances wait for each other, so that both workers enroll at once). Then everyone
completes the example's course, and the sensor's trigger sees it. It asserts:

- both runs succeeded, every task instance with them; the sensor was deferred with a Learnifier
  trigger in the triggerer and resumed, not retried; its trigger log shows the polls;
- each worker ran task instances, the mapped ``enroll`` instances among them, told apart by the
  workers' own logs (``Executing workload in Celery``), each task instance by one worker, once
  (the sensor twice: before it deferred and when it resumed);
- the simulator's end state is exact: the roster's users, once each; in each of the five courses
  every one of them a participant once, activated once; the example's course completed; its
  report written;
- no task or trigger log, no component's output, no row of the PostgreSQL dump, no key or value
  left in Redis and no command Redis ran (``MONITOR``, message bodies decoded) holds the API
  secret or the base64 HTTP Basic value; the API key only in the connection's row of the dump;
  the database's and broker's passwords in no log.

Every process and folder it started or made is stopped and removed at the end, on failure too.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import csv
import json
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from scripts.airflow_deployment import AirflowDeployment
from scripts.local_services import PostgresServer, RedisServer
from tests.integration import SUMMARY_LINES
from tests.integration.checks import (
    ENROLLMENT_DAG_ID,
    ENROLLMENT_PROJECT,
    EXAMPLE_DAGS,
    SENSOR_TASK,
    TRIGGER_CLASSPATH,
    all_text,
    api_credentials,
    assert_roster_enrolled_once,
    leaks,
    project_participants,
    read_roster,
)

if TYPE_CHECKING:
    from learnifier_simulator import LearnifierSimulator

pytestmark = pytest.mark.distributed

IT_DAGS = Path(__file__).parent / "dags"
DAG_ID = ENROLLMENT_DAG_ID
MAPPED_DAG_ID = "deployment_mapped_enrollment"
PROJECT_EXTERNAL_ID = ENROLLMENT_PROJECT
WORKERS = ("worker-a", "worker-b")
#: Each wait's bound: generous, for a machine that others share; the waits end on events.
DEADLINE_SECONDS = 300
#: What the Celery task logs for each workload a worker takes, with the task instance's id.
WORKLOAD_LINE = re.compile(
    r"Executing workload in Celery: .*?\bti=TaskInstance\w*\(id=UUID\('([0-9a-f-]{36})'\)"
)


def test_enrollment_on_celery_workers_postgres_and_redis(
    simulator: LearnifierSimulator, tmp_path: Path
) -> None:
    # The DAG file uses the Task SDK (Airflow 3): imported here, not when the test is collected.
    from tests.integration.dags.deployment_mapped_enrollment import COURSES

    sim = simulator
    started = time.monotonic()
    seeded = sim.state.snapshot()
    roster = read_roster()
    home = tmp_path / "airflow-home"
    report_dir = home / "reports"
    with PostgresServer() as database, RedisServer() as broker:
        broker.start_monitor()
        deployment = AirflowDeployment(
            home,
            bundles={"learnifier-example-dags": EXAMPLE_DAGS, "learnifier-it-dags": IT_DAGS},
            env={},
            database_url=database.url,
            celery_broker_url=broker.url,
            celery_workers=WORKERS,
        )
        with deployment:
            deployment.wait_until_serving(DEADLINE_SECONDS)
            deployment.wait_until_workers_ready(DEADLINE_SECONDS)
            airflow_version = deployment.version()
            deployment.add_connection("learnifier_default", json.loads(sim.connection_json()))
            deployment.wait_for_dag(DAG_ID, DEADLINE_SECONDS)
            deployment.wait_for_dag(MAPPED_DAG_ID, DEADLINE_SECONDS)
            ours = [e for e in deployment.import_errors() if "learnifier" in str(e.get("filename", ""))]
            assert not ours, ours
            serving = time.monotonic()

            run_id = deployment.trigger(DAG_ID, {"report_dir": str(report_dir), "poll_interval": 2})
            waiting, sensor_states = deployment.wait_for_deferral(
                DAG_ID, run_id, SENSOR_TASK, DEADLINE_SECONDS
            )
            assert waiting["trigger"]["classpath"] == TRIGGER_CLASSPATH
            assert waiting["triggerer_job"]["job_type"] == "TriggererJob"

            # While the sensor waits in the triggerer, the workers enroll the roster in four courses.
            rendezvous = {"rendezvous_dir": str(tmp_path / "rendezvous")}
            mapped_run_id = deployment.trigger(MAPPED_DAG_ID, rendezvous)
            mapped_run = deployment.wait_for_run(MAPPED_DAG_ID, mapped_run_id, DEADLINE_SECONDS)
            mapped_instances = deployment.task_instance_list(MAPPED_DAG_ID, mapped_run_id)
            assert mapped_run["state"] == "success", mapped_instances
            assert deployment.task_instance(DAG_ID, run_id, SENSOR_TASK)["state"] == "deferred"

            project, _ = project_participants(sim, PROJECT_EXTERNAL_ID)
            sim.advance_progress(project_id=project["id"], complete=True)
            run = deployment.wait_for_run(DAG_ID, run_id, DEADLINE_SECONDS)
            instances = deployment.task_instance_list(DAG_ID, run_id)
            ran = time.monotonic()
        # Everything of Airflow is stopped: what it left in the database and the broker is final.
        dump = database.dump()
        redis_contents = repr(broker.dump())
        redis_commands = broker.monitored()
        database_password, broker_password = database.password, broker.password
    assert not deployment.stragglers(), "processes of the deployment are still running"

    # The runs.
    assert run["state"] == "success", instances
    assert {ti["state"] for ti in instances + mapped_instances} == {"success"}
    assert "deferred" in sensor_states
    (sensor,) = [ti for ti in instances if ti["task_id"] == SENSOR_TASK]
    assert sensor["try_number"] == 1, "the sensor was retried instead of resumed"
    assert sorted(ti["map_index"] for ti in mapped_instances if ti["task_id"] == "enroll") == list(
        range(len(COURSES))
    )
    logs = home / "logs"
    trigger_logs = list(logs.rglob(f"*task_id={SENSOR_TASK}*/*.log.trigger.*.log"))
    assert trigger_logs, sorted(str(p.relative_to(logs)) for p in logs.rglob("*.log"))
    trigger_text = "".join(p.read_text(errors="replace") for p in trigger_logs)
    assert "Learnifier project" in trigger_text and "completed" in trigger_text

    # Who ran what: each worker's log names the task instances it took.
    taken = {
        worker: WORKLOAD_LINE.findall(deployment.output(worker, tail=None))
        for worker in deployment.celery_workers()
    }
    by_id = {ti["id"]: ti for ti in instances + mapped_instances}
    runs_of = {
        ti_id: [w for w, ids in taken.items() for taken_id in ids if taken_id == ti_id] for ti_id in by_id
    }
    assert set().union(*map(set, taken.values())) == set(by_id), taken
    for ti_id, workers in runs_of.items():
        expected_runs = 2 if by_id[ti_id]["task_id"] == SENSOR_TASK else 1
        assert len(workers) == expected_runs, (by_id[ti_id]["task_id"], by_id[ti_id]["map_index"], workers)
    enroll_workers = {runs_of[ti["id"]][0] for ti in mapped_instances if ti["task_id"] == "enroll"}
    assert enroll_workers == set(taken), f"the mapped enroll tasks ran on {enroll_workers} only"

    # The simulator's end state.
    snapshot = sim.state.snapshot()
    assert sorted(user.get("externalId") for user in snapshot["users"]) == sorted(
        r["external_id"] for r in roster
    )
    for course in [PROJECT_EXTERNAL_ID, *COURSES]:
        assert_roster_enrolled_once(sim, course, roster)
    ours = {PROJECT_EXTERNAL_ID, *COURSES}
    assert len([p for p in snapshot["projects"] if p.get("externalId") in ours]) == len(ours)
    # Nothing else changed: the other projects and their participants are as seeded.
    our_ids = {p["id"] for p in snapshot["projects"] if p.get("externalId") in ours}
    assert [p for p in snapshot["projects"] if p["id"] not in our_ids] == seeded["projects"]
    assert [p for p in snapshot["participants"] if p["projectId"] not in our_ids] == seeded["participants"]
    _, participants = project_participants(sim, PROJECT_EXTERNAL_ID)
    assert all(p["activitiesCompleted"] == p["activitiesTotal"] for p in participants)
    with (report_dir / f"{PROJECT_EXTERNAL_ID}-progress.csv").open(encoding="utf-8", newline="") as handle:
        reported = sorted(row["user_external_id"] for row in csv.DictReader(handle))
    assert reported == sorted(row["external_id"] for row in roster)

    # No credential anywhere the deployment wrote.
    credentials = api_credentials(sim)
    passwords = {
        "the metadata database's password": database_password,
        "the broker's password": broker_password,
    }
    written = all_text(logs, deployment.output_dir)
    assert any("task_id=enroll" in str(path) for path in written), "no task logs were written"
    key = {"the API key": sim.key}
    found = leaks(written, credentials | passwords | key)
    found += leaks({"the PostgreSQL dump": dump, "binary columns of the dump": decoded(dump)}, credentials)
    found += leaks({"binary columns of the dump": decoded(dump)}, key)
    redis_text = redis_contents + redis_commands
    found += leaks({"Redis": redis_text, "message bodies in Redis": decoded(redis_text)}, credentials | key)
    assert not found, found
    # The connection is in the database, its password and extra encrypted. Its key (the login) is
    # on its row and on the audit log's record of its creation, which masks the password.
    rows_with_key = [line for line in dump.splitlines() if sim.key in line]
    (connection_row,) = [line for line in rows_with_key if line.split("\t")[1:2] == ["learnifier_default"]]
    audit = [line for line in rows_with_key if line is not connection_row]
    assert all('"learnifier_default"' in line and '"password": "***"' in line for line in audit), audit
    assert MAPPED_DAG_ID in dump and MAPPED_DAG_ID in decoded(redis_text), (
        "the dump or the broker saw no task"
    )

    SUMMARY_LINES.append(
        f"distributed: Airflow {airflow_version} on PostgreSQL, Redis and {len(WORKERS)} Celery workers "
        f"served after {serving - started:.0f} s; {DAG_ID} and {MAPPED_DAG_ID} ran in {ran - serving:.0f} s "
        f"({', '.join(f'{w}: {len(ids)} workloads' for w, ids in taken.items())}); "
        f"{time.monotonic() - started:.0f} s in all; the simulator handled {sim.request_count} requests; "
        f"{deployment.slow_answers} polls of the api-server went unanswered in time"
    )


def decoded(text: str) -> str:
    """Every base64 run and PostgreSQL hex ``bytea`` value in the text, decoded.

    Celery's Redis transport sends message bodies in base64; ``pg_dump`` writes binary columns in hex.
    """
    parts = []
    for run in re.findall(r"[A-Za-z0-9+/]{16,}={0,2}", text):
        with contextlib.suppress(binascii.Error, ValueError):
            parts.append(base64.b64decode(run + "=" * (-len(run) % 4)).decode("utf-8", errors="replace"))
    for run in re.findall(r"\\{1,2}x((?:[0-9a-f]{2})+)", text):
        parts.append(bytes.fromhex(run).decode("utf-8", errors="replace"))
    return "\n".join(parts)
