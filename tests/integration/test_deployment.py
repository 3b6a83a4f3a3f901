"""A real Airflow 3 deployment on loopback runs the example enrollment DAG against the simulator.

The test starts the simulator (HTTPS, with a secret made for this run) in this process, and
Airflow's api-server, scheduler, dag-processor and triggerer with the LocalExecutor and **one**
worker slot, on a throwaway AIRFLOW_HOME with SQLite. The connection is given as the
environment variable ``AIRFLOW_CONN_LEARNIFIER_DEFAULT``. DAGs come from two bundles parsed in
place: ``example_dags/`` and ``tests/integration/dags/``.

Through the REST API (``/api/v2`` with a JWT from ``/auth/token``) it triggers
``learnifier_enrollment`` (example_dags/learnifier_enrollment.py: upsert the roster's users,
create the project, enroll and activate everyone, wait for completion with a deferrable sensor,
write a report). While the sensor is deferred, it runs ``learnifier_login_links``
(example_dags/learnifier_login_links.py, for the participants the enrollment activated) and
``deployment_login_links``, which need the one worker slot: they can only run if the sensor does
not hold it. Then it lets every participant complete the course in the simulator, and waits for
the run. It asserts:

- the run succeeded, every task with it;
- the sensor was ``deferred`` with a Learnifier trigger picked up by the triggerer, its trigger
  log (``...attempt=1.log.trigger.<id>.log``) shows the polls, and another DAG's tasks ran on
  the single worker slot meanwhile;
- the simulator's final state is right: the roster's users, each a participant once, activated
  once, all activities completed; two login links made per participant (one by
  ``learnifier_login_links``, delivered to its outbox folder, one by ``deployment_login_links``);
  the report written;
- no file under the logs folder, and no component output, holds the API secret, its base64
  HTTP Basic value, a login link or a participant's access link, while the deliberately logged
  links appear as ``***``.

Every process it started is stopped at the end, on failure too.
"""

from __future__ import annotations

import csv
import re
import time
from pathlib import Path
from typing import Any

from learnifier_simulator import LearnifierSimulator
from learnifier_simulator import seed as sim_seed
from scripts.airflow_deployment import AirflowDeployment
from tests.integration import SUMMARY_LINES
from tests.integration.checks import (
    ENROLLMENT_DAG_ID,
    ENROLLMENT_PROJECT,
    EXAMPLE_DAGS,
    SENSOR_TASK,
    TRIGGER_CLASSPATH,
    all_text,
    api_credentials,
    leaks,
    read_roster,
    users_by_id,
)
from tests.integration.checks import project_participants as _participants

IT_DAGS = Path(__file__).parent / "dags"
DAG_ID = ENROLLMENT_DAG_ID
LINKS_DAG_ID = "deployment_login_links"
EXAMPLE_LINKS_DAG_ID = "learnifier_login_links"
PROJECT_EXTERNAL_ID = ENROLLMENT_PROJECT
#: The whole test should take under three minutes; these bound each wait.
DEADLINE_SECONDS = 150


def _project_participants(sim: LearnifierSimulator) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    return _participants(sim, PROJECT_EXTERNAL_ID)


def test_the_enrollment_dag_on_a_real_airflow_deployment(simulator, tmp_path):
    # The DAG file uses the Task SDK (Airflow 3): imported here, not when the test is collected.
    from tests.integration.dags.deployment_login_links import LOGGED_LINK_PREFIX

    sim = simulator
    started = time.monotonic()
    roster = read_roster()
    home = tmp_path / "airflow-home"
    deployment = AirflowDeployment(
        home,
        bundles={"learnifier-example-dags": EXAMPLE_DAGS, "learnifier-it-dags": IT_DAGS},
        env={
            "AIRFLOW_CONN_LEARNIFIER_DEFAULT": sim.connection_json(),
        },
    )
    with deployment:
        deployment.wait_until_serving()
        airflow_version = deployment.version()
        deployment.wait_for_dag(DAG_ID)
        deployment.wait_for_dag(LINKS_DAG_ID)
        deployment.wait_for_dag(EXAMPLE_LINKS_DAG_ID)
        ours = [e for e in deployment.import_errors() if "learnifier" in str(e.get("filename", ""))]
        assert not ours, ours
        report_dir = home / "reports"
        run_id = deployment.trigger(DAG_ID, {"report_dir": str(report_dir), "poll_interval": 2})

        # The sensor defers: its trigger is picked up by the triggerer.
        waiting, seen_sensor_states = deployment.wait_for_deferral(
            DAG_ID, run_id, SENSOR_TASK, DEADLINE_SECONDS
        )
        assert waiting["trigger"]["classpath"] == TRIGGER_CLASSPATH
        assert waiting["triggerer_job"]["job_type"] == "TriggererJob"

        # While it waits, other DAGs' tasks get the one worker slot: the welcome links for everyone
        # the enrollment activated, then the careless links DAG.
        enrolled = [str(p["id"]) for p in _project_participants(sim)[1]]
        welcome_run = deployment.trigger(
            EXAMPLE_LINKS_DAG_ID, {"participant_ids": enrolled, "outbox": str(home / "learnifier-outbox")}
        )
        welcome = deployment.wait_for_run(EXAMPLE_LINKS_DAG_ID, welcome_run, DEADLINE_SECONDS)
        assert welcome["state"] == "success", deployment.task_instances(EXAMPLE_LINKS_DAG_ID, welcome_run)
        links_run = deployment.trigger(LINKS_DAG_ID, {"project_external_id": PROJECT_EXTERNAL_ID})
        links = deployment.wait_for_run(LINKS_DAG_ID, links_run, DEADLINE_SECONDS)
        assert links["state"] == "success", deployment.task_instances(LINKS_DAG_ID, links_run)
        assert deployment.task_instance(DAG_ID, run_id, SENSOR_TASK)["state"] == "deferred"

        # The course is completed; the trigger's next poll sees it.
        _, participants = _project_participants(sim)
        sim.advance_progress(project_id=participants[0]["projectId"], complete=True)
        run = deployment.wait_for_run(DAG_ID, run_id, DEADLINE_SECONDS)
        task_states = deployment.task_instances(DAG_ID, run_id)
        sensor = deployment.task_instance(DAG_ID, run_id, SENSOR_TASK)
    duration = time.monotonic() - started
    SUMMARY_LINES.append(
        f"{duration:.0f} s: Airflow {airflow_version} started, {DAG_ID}, {EXAMPLE_LINKS_DAG_ID} and "
        f"{LINKS_DAG_ID} run, "
        f"everything stopped; the sensor was seen {' -> '.join(_distinct(seen_sensor_states))}; "
        f"the simulator handled {sim.request_count} requests"
    )

    # The run.
    assert run["state"] == "success", task_states
    assert set(task_states.values()) == {"success"}, task_states
    assert "deferred" in seen_sensor_states
    assert sensor["try_number"] == 1, "the sensor was retried instead of resumed"
    assert not deployment.stragglers(), "processes of the deployment are still running"

    # The trigger ran in the triggerer: its own log file, next to the task's, holds its polls.
    logs = home / "logs"
    trigger_logs = list(logs.rglob(f"*task_id={SENSOR_TASK}*/*.log.trigger.*.log"))
    assert trigger_logs, sorted(str(p.relative_to(logs)) for p in logs.rglob("*.log"))
    trigger_text = "".join(p.read_text(errors="replace") for p in trigger_logs)
    assert "Learnifier project" in trigger_text and "completed" in trigger_text

    # The simulator's final state.
    snapshot = sim.state.snapshot()
    users = {user.get("externalId"): user for user in snapshot["users"]}
    assert len(snapshot["users"]) == len(roster)  # the seeded admin is on the roster
    for row in roster:
        user = users[row["external_id"]]
        assert (user["primaryEmail"], user["firstName"], user["lastName"]) == (
            row["email"],
            row["first_name"],
            row["last_name"],
        )
    project, participants = _project_participants(sim)
    assert project["designId"] == sim_seed.SECURITY_AWARENESS_DESIGN_ID
    assert sorted(users_by_id(snapshot)[p["userId"]] for p in participants) == sorted(
        row["external_id"] for row in roster
    )
    for participant in participants:
        assert participant["activated"]
        assert participant["firstActivation"] == participant["lastActivation"], "activated twice"
        assert participant["activitiesCompleted"] == participant["activitiesTotal"]
    login_links = [
        e for e in sim.exchanges if e.path.endswith("/loginlink") and e.status is not None and e.status < 300
    ]
    assert len(login_links) == 2 * len(participants)  # learnifier_login_links' and deployment_login_links'
    outbox = sorted(path.name for path in (home / "learnifier-outbox").iterdir())
    assert outbox == sorted(f"participant-{p['id']}.txt" for p in participants)
    report = report_dir / f"{PROJECT_EXTERNAL_ID}-progress.csv"
    with report.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert sorted(r["user_external_id"] for r in rows) == sorted(row["external_id"] for row in roster)

    # No credential in the task and trigger logs (every file under the logs folder).
    forbidden = api_credentials(sim)
    links = {f"the login link {e.path}": e.response_json()["link"] for e in login_links}
    links |= {
        f"the access link of participant {p['id']}": p["accessLink"]
        for p in participants
        if p.get("accessLink")
    }
    link_pattern = re.compile(re.escape(sim.base_url) + r"/(login|access)/")
    log_files = all_text(logs)
    assert any("task_id=" in str(path) for path in log_files), "no task logs were written"
    found = leaks(log_files, forbidden | links)
    found += [f"a link in {path}" for path, text in log_files.items() if link_pattern.search(text)]
    assert not found, found
    # The careless on_link did log each link: masked in the task log.
    logged = [line for text in log_files.values() for line in text.splitlines() if LOGGED_LINK_PREFIX in line]
    assert len(logged) >= len(participants), "the login links DAG did not log its links"
    assert all("***" in line and not link_pattern.search(line) for line in logged), logged[:3]

    # The components' own output: the LocalExecutor copies task log lines to the scheduler's stdout,
    # where Airflow 3.3 does not mask what a task registered with mask_secret (see SECURITY.md). The
    # secret must not be there either: the provider never logs it, masked or not. A login link may
    # be there only on the lines the careless on_link wrote, never on a line of the provider's.
    outputs = all_text(deployment.output_dir)
    found = leaks(outputs, forbidden)
    found += [
        f"a link in {path}: {line[:120]}"
        for path, text in outputs.items()
        for line in text.splitlines()
        if link_pattern.search(line) and LOGGED_LINK_PREFIX not in line
    ]
    assert not found, found


def _distinct(states: list[str | None]) -> list[str]:
    """The states in order, each run of repeats once."""
    return [str(state) for n, state in enumerate(states) if n == 0 or states[n - 1] != state]
