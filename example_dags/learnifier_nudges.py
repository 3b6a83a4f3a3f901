"""
Daily reminders for those who fall behind, and the at-risk page for their managers.

**learnifier_nudges** runs every day. It selects the participants of the organization unit's
courses who were activated a week ago or more and never opened the course (`not_started`), and
those whose access ends within 14 days (`expiring`), and mails each a reminder with the course's
stable link (never a login link) through the SMTP connection `smtp_default`: once per person,
course, state and milestone, however often the DAG runs, reruns or retries. It also writes the
day's progress report with each participant's states and the at-risk page
(`learnifier-at-risk-<date>.html`, one self-contained file) that managers open from the report
folder. See the nudges and reporting guides.

**Settings.** The `org_id` param names the organization unit (its default, 1001, is the Learnifier
simulator's `demo` seed, `make demo`); `report_dir` is where reports and pages go, `ledger_dir` the
reminders' ledger (keep it for as long as reminders must not repeat). A run that would send more
than 200 mails is refused and sends none (`max_nudges`). The connections are `learnifier_default`
and `smtp_default`.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Param

from airflow_provider_learnifier.operators.nudges import LearnifierNudgeOperator
from airflow_provider_learnifier.operators.reporting import LearnifierProgressReportOperator

#: Who to remind, in which courses: the one selection the reminders and the page share.
SELECTOR = [
    {"org_id": "{{ params.org_id }}", "states": {"not_started": {"days": 7}, "expiring": {"days": 14}}}
]

with DAG(
    dag_id="learnifier_nudges",
    description="Remind those who have not started or whose access expires; write the at-risk page",
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["learnifier", "example"],
    params={
        "org_id": Param("1001", type="string", description="Id of the organization unit."),
        "report_dir": Param("/tmp/learnifier-reports", minLength=1, description="Reports and pages."),
        "ledger_dir": Param("/tmp/learnifier-nudges", minLength=1, description="The reminders' ledger."),
    },
):
    # [START howto_operator_learnifier_nudges]
    LearnifierNudgeOperator(
        task_id="nudge",
        selector=SELECTOR,
        ledger_path="{{ params.ledger_dir }}",  # what was sent: reruns and retries never repeat a mail
        smtp_conn_id="smtp_default",  # or deliver=<callable> to hand reminders to your own system
        max_nudges=200,  # a run that would send more is refused, and sends nothing
    )
    LearnifierProgressReportOperator(
        task_id="at_risk_page",
        path="{{ params.report_dir }}/learnifier-at-risk-{{ dag_run.run_after | ds }}.csv",
        org_id="{{ params.org_id }}",
        states=SELECTOR,  # each participant's states, in the CSV and on the page
        html_path="{{ params.report_dir }}/learnifier-at-risk-{{ dag_run.run_after | ds }}.html",
    )
    # [END howto_operator_learnifier_nudges]
