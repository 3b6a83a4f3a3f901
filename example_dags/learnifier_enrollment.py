"""
Enroll an HR roster in a Learnifier course, wait until they complete it, and report their progress.

The roster is a CSV file: an export from the HR system, one person per row, with an
`external_id` (the employee number), an `email`, names and a `locale`. Other columns (such as
`department`) are ignored. The DAG

1. **upsert_users**: creates a Learnifier user for everyone on the roster who has none, and
   updates the names, email and locale of those who have one (found by external id, else email);
2. **create_project**: finds the course project by its external id, or creates it from the
   course design;
3. **enroll**: adds everyone on the roster to the project and activates them (people already in
   it are left as they are, so a rerun changes nothing);
4. **newly_activated**, **send_login_links**: makes a single-use login link for each person the
   run activated, and hands it at once to the welcome mail (`deliver_login_link`). Links are
   credentials: they stay out of XCom and out of the logs;
5. **wait_for_completion**: waits, deferred to the triggerer so that no worker slot is held,
   until `min_completed_share` of the activated participants have completed the course;
6. **write_report**: writes one CSV row per participant with their progress.

Every step is idempotent: running the DAG again with the same roster changes nothing, and a
roster with new people enrolls just them.

**Settings.** The run's params name the organization unit, the course design, the project and
the files; their defaults match the Learnifier simulator's `demo` seed (`make demo`). For a
deployment, pass `roster` (path or URL of the HR export) and `report_dir` (a directory or object
store prefix) with each run, or change their defaults. Login links go to the folder
`learnifier-outbox` under AIRFLOW_HOME, standing in for the pickup folder of a mail relay: replace
`deliver_login_link` with your own delivery. The connection is `learnifier_default`. Written for
Airflow 3 (the Task SDK, `airflow.sdk`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pendulum
from airflow.sdk import DAG, Param, task

from airflow_provider_learnifier.operators.participants import (
    LearnifierEnrollOperator,
    LearnifierLoginLinkOperator,
)
from airflow_provider_learnifier.operators.projects import LearnifierCreateProjectOperator
from airflow_provider_learnifier.operators.reporting import LearnifierProgressReportOperator
from airflow_provider_learnifier.operators.users import LearnifierUpsertUsersOperator
from airflow_provider_learnifier.sensors.projects import LearnifierProjectCompletionSensor

# [START howto_connection_learnifier]
#: The Airflow connection to Learnifier, of type ``learnifier``: create it in the UI, as the
#: environment variable ``AIRFLOW_CONN_LEARNIFIER_DEFAULT``, or in a secrets backend.
#: Operators take the connection id when the DAG is parsed, so it is a constant, not a param.
LEARNIFIER_CONN_ID = "learnifier_default"
# [END howto_connection_learnifier]

#: The example roster shipped next to this file, standing in for an HR export.
EXAMPLE_ROSTER = Path(__file__).parent / "data" / "acme_roster_2026-01.csv"
AIRFLOW_HOME = os.environ.get("AIRFLOW_HOME") or os.path.expanduser("~/airflow")
#: Where reports go unless the ``report_dir`` param says otherwise: under AIRFLOW_HOME, never next
#: to the DAG files.
DEFAULT_REPORT_DIR = os.path.join(AIRFLOW_HOME, "learnifier-reports")
#: Where ``deliver_login_link`` puts the login links: the folder a mail relay sends welcome mails
#: from (and empties), one file per participant, readable by its owner only.
LOGIN_LINK_OUTBOX = Path(AIRFLOW_HOME) / "learnifier-outbox"

#: The roster and the report directory, resolved when a task runs: the run's param, else the default.
ROSTER = "{{ params.roster or example_roster }}"
REPORT_DIR = "{{ params.report_dir or default_report_dir }}"


def deliver_login_link(participant_id: str, link: str) -> None:
    """Hand a participant's login link to the welcome mail, at once: it expires in minutes.

    Here the link goes into the mail relay's outbox folder; replace this with your own delivery (an
    email, a chat message). A link is a credential: never print or log it. The login link
    operator calls this from several threads at once, one link each.
    """
    LOGIN_LINK_OUTBOX.mkdir(mode=0o700, parents=True, exist_ok=True)
    message = LOGIN_LINK_OUTBOX / f"participant-{participant_id}.txt"
    partial = message.with_suffix(".partial")
    with os.fdopen(
        os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w", encoding="utf-8"
    ) as handle:
        handle.write(link + "\n")
    partial.replace(message)  # the relay never picks up half a message


with DAG(
    dag_id="learnifier_enrollment",
    description="Enroll an HR roster in a Learnifier course, wait for completion, report progress",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["learnifier", "example"],
    user_defined_macros={"example_roster": str(EXAMPLE_ROSTER), "default_report_dir": DEFAULT_REPORT_DIR},
    params={
        "org_external_id": Param(
            "acme", type="string", description="External id of the organization unit the course runs in."
        ),
        "design_name": Param(
            "Security Awareness", type="string", description="Name of the course design the project uses."
        ),
        "project_external_id": Param(
            "acme-security-awareness-2026",
            type="string",
            description="External id of the course project: found by it, or created with it.",
        ),
        "project_name": Param(
            "Acme Security Awareness 2026", type="string", description="Name of a project created by the run."
        ),
        "roster": Param(
            None,
            type=["null", "string"],
            description="Path or URL of the roster CSV. Empty: the example roster shipped with this DAG.",
        ),
        "report_dir": Param(
            None,
            type=["null", "string"],
            description="Directory or object store prefix of the report. Empty: learnifier-reports "
            "under AIRFLOW_HOME.",
        ),
        "poll_interval": Param(
            30 * 60,
            type="number",
            exclusiveMinimum=0,
            description="Seconds between two completion checks. A course runs for weeks, so every "
            "30 minutes is plenty.",
        ),
        "min_completed_share": Param(
            1.0,
            type="number",
            exclusiveMinimum=0,
            maximum=1,
            description="Share of the activated participants that must complete before the report.",
        ),
    },
):
    # [START howto_operator_learnifier_upsert_users]
    upsert_users = LearnifierUpsertUsersOperator(
        task_id="upsert_users",
        users=ROSTER,  # a CSV path or URL, a JSON text, or a list of dicts from XCom
        match_by=("external_id", "email"),
        learnifier_conn_id=LEARNIFIER_CONN_ID,
    )
    # [END howto_operator_learnifier_upsert_users]

    # [START howto_operator_learnifier_create_project]
    create_project = LearnifierCreateProjectOperator(
        task_id="create_project",
        name="{{ params.project_name }}",
        org_external_id="{{ params.org_external_id }}",
        design_name="{{ params.design_name }}",
        external_id="{{ params.project_external_id }}",  # reused when it exists: reruns are safe
        learnifier_conn_id=LEARNIFIER_CONN_ID,
    )
    # [END howto_operator_learnifier_create_project]

    # [START howto_operator_learnifier_enroll]
    enroll = LearnifierEnrollOperator(
        task_id="enroll",
        roster=ROSTER,
        project_external_id="{{ params.project_external_id }}",
        activate=True,
        create_missing_users=False,  # upsert_users made them, with their names and locales
        learnifier_conn_id=LEARNIFIER_CONN_ID,
    )
    # [END howto_operator_learnifier_enroll]

    # [START howto_operator_learnifier_login_links]
    @task
    def newly_activated(enrollment: dict[str, Any]) -> list[str]:
        """The participant ids of the people this run activated: each needs a login link to start."""
        return [enrollment["participant_ids"][person] for person in enrollment["activated"]]

    send_login_links = LearnifierLoginLinkOperator(
        task_id="send_login_links",
        participant_ids=newly_activated(enroll.output),
        project_external_id="{{ params.project_external_id }}",
        on_link=deliver_login_link,  # gets (participant_id, link) as each link is made
        push_links=False,  # the default: links are credentials, and XCom is stored unencrypted
        learnifier_conn_id=LEARNIFIER_CONN_ID,
    )
    # [END howto_operator_learnifier_login_links]

    # [START howto_sensor_learnifier_project_completion]
    wait_for_completion = LearnifierProjectCompletionSensor(
        task_id="wait_for_completion",
        project_external_id="{{ params.project_external_id }}",
        min_completed_share="{{ params.min_completed_share }}",
        deferrable=True,  # waits in the triggerer: no worker slot is held for weeks
        poll_interval="{{ params.poll_interval }}",
        timeout=30 * 24 * 3600,  # a course runs for weeks; then the task fails
        learnifier_conn_id=LEARNIFIER_CONN_ID,
    )
    # [END howto_sensor_learnifier_project_completion]

    write_report = LearnifierProgressReportOperator(
        task_id="write_report",
        path=REPORT_DIR + "/{{ params.project_external_id }}-progress.csv",
        project_external_ids="{{ params.project_external_id }}",
        learnifier_conn_id=LEARNIFIER_CONN_ID,
    )

    [upsert_users, create_project] >> enroll >> wait_for_completion >> write_report
