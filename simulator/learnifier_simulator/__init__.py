"""A local simulator of Learnifier's Admin API, for tests, demos and DAG development without an account.

It serves all operations of Learnifier's OpenAPI description from an in-memory account over real
HTTP(S) on a loopback address, with HTTP Basic authentication, latency and injectable faults,
and records every exchange for contract tests (``record=False`` or ``max_exchanges=N`` for long
runs; requests are counted either way). It needs no Airflow::

    from learnifier_simulator import LearnifierSimulator

    with LearnifierSimulator() as sim:
        print(sim.base_url, sim.ca_file)

``LearnifierSimulator(variants=SpecVariants.all(seed))`` varies its answers, per request and at
random, in every way Learnifier's spec permits (short pages, unknown members, ids as strings, any
2xx, optional members left out, shuffled lists): see :mod:`~learnifier_simulator.variants`.

Run it on its own with ``python -m learnifier_simulator`` (or
``learnifier-simulator``); the demo data's ids are in :mod:`~learnifier_simulator.seed`.
"""

from __future__ import annotations

from learnifier_simulator._version import __version__
from learnifier_simulator.faults import FaultConfig
from learnifier_simulator.messages import ApiError
from learnifier_simulator.recording import Exchange, HeaderMap
from learnifier_simulator.runner import LearnifierSimulator
from learnifier_simulator.state import SimulatorState
from learnifier_simulator.variants import SpecVariants

__all__ = [
    "ApiError",
    "Exchange",
    "FaultConfig",
    "HeaderMap",
    "LearnifierSimulator",
    "SimulatorState",
    "SpecVariants",
    "__version__",
]
