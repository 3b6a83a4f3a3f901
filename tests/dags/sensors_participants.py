"""DAGs that wait for a Learnifier participant with LearnifierParticipantCompletedSensor, in each mode.

Params name the participant and the threshold, so every sensor argument is rendered from a
template. ``*_by_external_id`` DAGs name it by ``params.participation_external_id``, the others by
``params.participant_id`` in the project of ``params.org_id`` and ``params.project_id``;
``*_timeout`` DAGs give up after 1 s; ``*_never_completing_succeeds`` DAGs end the wait as done
for a participant who can never complete (``on_never_completing="succeed"``).
"""

from __future__ import annotations

import pendulum

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2
    from airflow import DAG

from airflow_provider_learnifier.sensors.participants import LearnifierParticipantCompletedSensor

PARAMS = {
    "org_id": 1001,
    "project_id": 2001,
    "participant_id": "3001",
    "participation_external_id": "person-0",
    "min_share": 1.0,
}
BY_IDS = {
    "participant_id": "{{ params.participant_id }}",
    "org_id": "{{ params.org_id }}",
    "project_id": "{{ params.project_id }}",
}
BY_EXTERNAL_ID = {"participation_external_id": "{{ params.participation_external_id }}"}
POKE = {"mode": "poke", "deferrable": False, "poke_interval": 0.2}
RESCHEDULE = {"mode": "reschedule", "deferrable": False, "poke_interval": 0.5}
DEFERRABLE = {"deferrable": True, "poke_interval": 0.2}
SUCCEED = {"on_never_completing": "succeed"}

DAGS = {
    "sensors_participant_poke": (BY_IDS, POKE, 30.0),
    "sensors_participant_poke_timeout": (BY_IDS, POKE, 1.0),
    "sensors_participant_reschedule_by_external_id": (BY_EXTERNAL_ID, RESCHEDULE, 30.0),
    "sensors_participant_reschedule": (BY_IDS, RESCHEDULE, 30.0),
    "sensors_participant_deferrable": (BY_IDS, DEFERRABLE, 30.0),
    "sensors_participant_poke_never_completing_succeeds": (BY_IDS, POKE | SUCCEED, 30.0),
    "sensors_participant_reschedule_never_completing_succeeds": (BY_IDS, RESCHEDULE | SUCCEED, 30.0),
    "sensors_participant_deferrable_never_completing_succeeds": (BY_IDS, DEFERRABLE | SUCCEED, 30.0),
    "sensors_participant_deferrable_by_external_id_never_completing_succeeds": (
        BY_EXTERNAL_ID,
        DEFERRABLE | SUCCEED,
        30.0,
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
        LearnifierParticipantCompletedSensor(
            task_id="wait",
            **names,
            min_share="{{ params.min_share }}",
            **mode,
            timeout=timeout,
        )
