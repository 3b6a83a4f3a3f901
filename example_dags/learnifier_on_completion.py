"""
Issue a certificate record whenever someone completes the onboarding course: an event-driven DAG.

The asset `learnifier_onboarding_completions` is watched by a `LearnifierCompletionEventTrigger`
in the triggerer (Airflow 3): it polls the course's participants and fires one asset event per
participant who newly completes it (people who had completed before it started watching are not
handed over). Each event schedules this DAG; **write_certificates** writes one record per
completion, `certificates/<dedupe key>.json`, for HR's system to pick up.

Each completion comes at least once: after a triggerer crash, the last ones may come again. A
record is named by the event's `dedupe_key` and never rewritten, so a repeat changes nothing.

**Settings.** The project is `LEARNIFIER_EXAMPLE_PROJECT` (default `acme-onboarding-2026`, as in
the learnifier_participant_completion example), polled every `LEARNIFIER_EXAMPLE_POLL_INTERVAL`
seconds (default 300); records go to the Airflow Variable `learnifier_report_dir`, else
`learnifier-reports` under AIRFLOW_HOME. The connection is `learnifier_default`.
"""

from __future__ import annotations

import json
import os
from typing import Any
from urllib.parse import quote

import pendulum
from airflow.sdk import DAG, Asset, AssetWatcher, ObjectStoragePath, task

from airflow_provider_learnifier.triggers.events import LearnifierCompletionEventTrigger

PROJECT = os.environ.get("LEARNIFIER_EXAMPLE_PROJECT", "acme-onboarding-2026")
POLL_INTERVAL = float(os.environ.get("LEARNIFIER_EXAMPLE_POLL_INTERVAL", 300))
DEFAULT_REPORT_DIR = os.path.join(
    os.environ.get("AIRFLOW_HOME") or os.path.expanduser("~/airflow"), "learnifier-reports"
)

# [START howto_trigger_learnifier_completion_event]
COMPLETIONS = Asset(
    name="learnifier_onboarding_completions",
    watchers=[
        AssetWatcher(
            name="learnifier_onboarding_completions",
            trigger=LearnifierCompletionEventTrigger(
                project_external_id=PROJECT, poll_interval=POLL_INTERVAL
            ),
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
        from airflow.sdk import Variable

        folder = ObjectStoragePath(Variable.get("learnifier_report_dir", DEFAULT_REPORT_DIR)) / "certificates"
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
