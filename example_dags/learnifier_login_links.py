"""
Send new participants of a Learnifier course their login link, handed at once to the welcome mail.

A login link is a single-use credential that expires in minutes. **send_login_links** makes one
for each participant of the `participant_ids` param (say, those a run of `learnifier_enrollment`
activated: its `enroll` result maps each person to their participant id) and hands it, as it is
made, to `deliver_login_link`; the links stay out of XCom and out of the logs. Here the delivery
writes each link into the `outbox` folder, as the pickup folder of a mail relay would get it:
replace it with your own (an email, a chat message). See `docs/guides/enrollment.md`.
"""

from __future__ import annotations

import os
from pathlib import Path

import pendulum
from airflow.sdk import DAG, Param, get_current_context

from airflow_provider_learnifier.operators.participants import LearnifierLoginLinkOperator


# [START howto_operator_learnifier_login_links_delivery]
def deliver_login_link(participant_id: str, link: str) -> None:
    """Put one link in the outbox, readable by its owner only. Called from several threads at once."""
    outbox = Path(get_current_context()["params"]["outbox"])
    outbox.mkdir(mode=0o700, parents=True, exist_ok=True)
    partial = outbox / f"participant-{participant_id}.partial"
    with os.fdopen(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as handle:
        handle.write(link + "\n")  # never print or log a link
    partial.replace(partial.with_suffix(".txt"))  # the relay never picks up half a message


# [END howto_operator_learnifier_login_links_delivery]

with DAG(
    dag_id="learnifier_login_links",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    doc_md=__doc__,
    tags=["learnifier", "example"],
    params={
        "project_external_id": Param("acme-security-awareness-2026", description="The course project."),
        "participant_ids": Param([], type="array", description="The participants to send a link to."),
        # No default: links are credentials, so where they go is chosen, never assumed.
        "outbox": Param(type="string", minLength=1, description="The mail relay's pickup folder."),
    },
):
    # [START howto_operator_learnifier_login_links]
    send_login_links = LearnifierLoginLinkOperator(
        task_id="send_login_links",
        participant_ids="{{ params.participant_ids | join(',') }}",
        project_external_id="{{ params.project_external_id }}",
        on_link=deliver_login_link,  # gets (participant_id, link) as each link is made
        push_links=False,  # the default: links are credentials, and XCom is stored unencrypted
        learnifier_conn_id="learnifier_default",
    )
    # [END howto_operator_learnifier_login_links]
