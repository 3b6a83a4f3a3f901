"""
Issue a certificate record whenever someone completes the onboarding course: an event-driven DAG.

The asset `learnifier_onboarding_completions` is watched by a `LearnifierCompletionEventTrigger`
in the triggerer (Airflow 3): it polls the course's participants and fires one asset event per
participant who newly completes it (people who had completed before it started watching are not
handed over). Each event schedules this DAG; **write_certificates** writes one record per
completion, `<dedupe key>.json`, for HR's system to pick up.

Each completion comes at least once: after a triggerer crash, the last ones may come again. A
record is named by the event's `dedupe_key` and never rewritten, so a repeat changes nothing.

**Settings.** The course is the project `acme-onboarding-2026` (the new hires' course of the
learnifier_participant_completion example), read through the connection `learnifier_default`
every `poll_interval` seconds, as that connection's extra says (60 when it says nothing). A run
made by an asset event has no params to say where records go: the Airflow Variable
`learnifier_certificate_dir` does (a folder, or an object storage URL such as
`s3://hr-inbox/certificates`), set for the deployment, e.g. `AIRFLOW_VAR_LEARNIFIER_CERTIFICATE_DIR`.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import pendulum
from airflow.sdk import DAG, Asset, AssetWatcher, ObjectStoragePath, Variable, task

from airflow_provider_learnifier.triggers.events import LearnifierCompletionEventTrigger

PROJECT = "acme-onboarding-2026"

# [START howto_trigger_learnifier_completion_event]
COMPLETIONS = Asset(
    name="learnifier_onboarding_completions",
    watchers=[
        AssetWatcher(
            name="learnifier_onboarding_completions",
            # Polls at the connection's poll_interval extra (every 60 s without one).
            trigger=LearnifierCompletionEventTrigger(project_external_id=PROJECT),
        )
    ],
)
# [END howto_trigger_learnifier_completion_event]

with DAG(
    dag_id="learnifier_on_completion",
    description="Write a certificate record for each completion of the onboarding course",
    schedule=[COMPLETIONS],
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    max_active_runs=1,  # one run at a time checks and writes records
    doc_md=__doc__,
    tags=["learnifier", "example"],
):

    @task
    def write_certificates(triggering_asset_events: Any = None) -> list[str]:
        """Write one certificate record per completion in the triggering events; skip existing ones."""
        folder = ObjectStoragePath(Variable.get("learnifier_certificate_dir"))
        folder.mkdir(parents=True, exist_ok=True)
        written = []
        for event in triggering_asset_events[COMPLETIONS]:
            completion = event.extra["payload"]
            path = folder / f"{quote(completion['dedupe_key'], safe='')}.json"
            if path.exists():
                print(f"Already issued: {path}")
                continue
            path.write_text(json.dumps(completion, indent=2) + "\n", encoding="utf-8")
            print(f"Participant {completion['participant_id']} completed {PROJECT}: certificate {path}")
            written.append(str(path))
        return written

    write_certificates()
