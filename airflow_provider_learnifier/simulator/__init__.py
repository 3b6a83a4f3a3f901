"""A local simulator of Learnifier's Admin API, for tests, demos and DAG development without an account.

It serves all operations of Learnifier's OpenAPI description from an in-memory account over real
HTTP(S) on a loopback address, with HTTP Basic authentication, latency and injectable faults,
and records every exchange for contract tests (``record=False`` or ``max_exchanges=N`` for long
runs; requests are counted either way). It needs no Airflow::

    from airflow_provider_learnifier.simulator import LearnifierSimulator

    with LearnifierSimulator() as sim:
        print(sim.base_url, sim.ca_file)

``LearnifierSimulator(variants=SpecVariants.all(seed))`` varies its answers, per request and at
random, in every way Learnifier's spec permits (short pages, unknown members, ids as strings, any
2xx, optional members left out, shuffled lists): see :mod:`~airflow_provider_learnifier.simulator.variants`.

Run it on its own with ``python -m airflow_provider_learnifier.simulator`` (or
``learnifier-simulator``); the demo data's ids are in :mod:`~airflow_provider_learnifier.simulator.seed`.
"""

from __future__ import annotations

from airflow_provider_learnifier.simulator.faults import FaultConfig
from airflow_provider_learnifier.simulator.messages import ApiError
from airflow_provider_learnifier.simulator.recording import Exchange, HeaderMap
from airflow_provider_learnifier.simulator.runner import LearnifierSimulator
from airflow_provider_learnifier.simulator.state import SimulatorState
from airflow_provider_learnifier.simulator.variants import SpecVariants

__all__ = [
    "ApiError",
    "Exchange",
    "FaultConfig",
    "HeaderMap",
    "LearnifierSimulator",
    "SimulatorState",
    "SpecVariants",
]
