"""DAGs that wait for a Learnifier project with LearnifierProjectCompletionSensor, in each mode.

Params name the project and the thresholds, so every sensor argument is rendered from a template.
``*_by_external_id`` DAGs name the project by ``params.project_external_id``, the others by
``params.org_id`` and ``params.project_id``; ``*_timeout`` DAGs give up after 1 s.
"""

from __future__ import annotations

import datetime

import pendulum

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2
    from airflow import DAG

from airflow_provider_learnifier.sensors.projects import LearnifierProjectCompletionSensor

PARAMS = {
    "org_id": 1001,
    "project_id": 2001,
    "project_external_id": "acme-onboarding-2024",
    "min_completed_share": 1.0,
    "min_share": 1.0,
}
BY_IDS = {"org_id": "{{ params.org_id }}", "project_id": "{{ params.project_id }}"}
BY_EXTERNAL_ID = {"project_external_id": "{{ params.project_external_id }}"}
POKE = {"mode": "poke", "deferrable": False, "poke_interval": 0.2}
RESCHEDULE = {"mode": "reschedule", "deferrable": False, "poke_interval": 0.5}
DEFERRABLE = {"deferrable": True, "poke_interval": 0.2}

DAGS = {
    "sensors_project_poke": (BY_IDS, POKE, 30.0),
    "sensors_project_reschedule_by_external_id": (BY_EXTERNAL_ID, RESCHEDULE, 30.0),
    "sensors_project_reschedule_timeout": (BY_IDS, RESCHEDULE, 1.0),
    "sensors_project_deferrable": (BY_IDS, DEFERRABLE, 30.0),
    "sensors_project_deferrable_by_external_id": (BY_EXTERNAL_ID, DEFERRABLE, 30.0),
    "sensors_project_deferrable_timeout": (BY_IDS, DEFERRABLE, 1.0),
    "sensors_project_poke_soft_fail": (BY_IDS, {**POKE, "soft_fail": True}, 30.0),
    "sensors_project_deferrable_soft_fail": (BY_IDS, {**DEFERRABLE, "soft_fail": True}, 30.0),
    "sensors_project_deferrable_soft_fail_timeout": (BY_IDS, {**DEFERRABLE, "soft_fail": True}, 1.0),
    "sensors_project_poke_without_never_completing": (
        BY_IDS,
        {**POKE, "count_never_completing": False},
        30.0,
    ),
    "sensors_project_deferrable_retry": (
        BY_IDS,
        {**DEFERRABLE, "retries": 1, "retry_delay": datetime.timedelta(0)},
        3600.0,
    ),
}

for dag_id, (names, mode, timeout) in DAGS.items():
    with DAG(
        dag_id=dag_id,
        schedule=None,
        start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
        catchup=False,
        params=PARAMS,
        tags=["learnifier", "test"],
    ):
        LearnifierProjectCompletionSensor(
            task_id="wait",
            **names,
            min_completed_share="{{ params.min_completed_share }}",
            min_share="{{ params.min_share }}",
            **mode,
            timeout=timeout,
        )
