"""TLS: certificates and host names always verified, with one shared TLS context per CA bundle."""

from __future__ import annotations

import pytest

from airflow_provider_learnifier.exceptions import LearnifierConnectionError
from learnifier_simulator import LearnifierSimulator


def _api_exchanges(simulator: LearnifierSimulator):
    return [exchange for exchange in simulator.exchanges if exchange.operation is not None]


def test_certificate_of_an_unknown_ca_fails_verification(sim, make_hook, no_sleep):
    hook = make_hook(sim, verify=True)  # the system CAs, which did not sign the simulator's certificate
    with pytest.raises(LearnifierConnectionError, match="failed TLS verification") as caught:
        hook.list_org_units()
    assert caught.value.reached_server is False
    assert no_sleep.call_count == 0
    assert _api_exchanges(sim) == []


def test_hooks_verifying_with_one_ca_bundle_share_one_tls_context(sim, make_hook):
    hooks = [make_hook(sim, f"learnifier_shared_{n}") for n in range(3)]
    for hook in hooks:
        assert hook.list_org_units()
    contexts = {id(hook.session.get_adapter(sim.base_url)._ssl_context) for hook in hooks}
    assert len(contexts) == 1


def test_a_certificate_from_another_ca_fails_with_the_shared_context(sim, make_hook, no_sleep, tmp_path):
    from learnifier_simulator.tls import create_certificates

    assert make_hook(sim).list_org_units()  # the simulator's CA, shared
    other_ca = create_certificates(tmp_path).ca_file
    with pytest.raises(LearnifierConnectionError, match="failed TLS verification"):
        make_hook(sim, "learnifier_other_ca", verify=str(other_ca)).list_org_units()


def test_a_certificate_for_another_host_name_fails_verification(make_hook, no_sleep):
    # The simulator's certificate names localhost, 127.0.0.1 and ::1, not 127.0.0.2.
    with LearnifierSimulator(seed="demo", host="127.0.0.2") as simulator:
        with pytest.raises(LearnifierConnectionError, match="failed TLS verification"):
            make_hook(simulator).list_org_units()
        assert _api_exchanges(simulator) == []
