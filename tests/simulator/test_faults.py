"""Injected faults: random ones from FaultConfig, and scripted ones from inject()."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests

from learnifier_simulator import FaultConfig, LearnifierSimulator, seed
from learnifier_simulator.faults import RateLimiter
from tests.openapi_contract import validate_all
from tests.simulator.client import ApiClient, error_body

ORG = f"/orgunits/{seed.DEMO_ORG_UNIT_ID}"


def user_exists(sim: LearnifierSimulator, external_id: str) -> bool:
    """Tell from the state whether a user with ``external_id`` exists."""
    return any(user.get("externalId") == external_id for user in sim.state.snapshot()["users"])


def post_user(api: ApiClient, external_id: str) -> requests.Response:
    """Create a user directly, without asserting the outcome."""
    return api.session.post(
        f"{api.simulator.base_url}/users",
        json={"externalId": external_id},
        verify=api.simulator.ca_file,
        timeout=10,
    )


def test_errors_answer_without_applying_the_request(
    api: ApiClient, sim: LearnifierSimulator, openapi_spec: dict[str, Any]
) -> None:
    sim.faults = FaultConfig(error_rate=1.0, error_statuses=(500, 502, 503))

    statuses = {post_user(api, f"u{n}").status_code for n in range(12)}

    assert statuses == {500, 502, 503}
    assert not any(user_exists(sim, f"u{n}") for n in range(12))
    assert sim.fault_counts == {"error": 12}
    assert {exchange.fault for exchange in sim.exchanges} == {"error"}
    validate_all(openapi_spec, sim.exchanges)


def test_rate_limits_carry_retry_after(api: ApiClient, sim: LearnifierSimulator) -> None:
    sim.faults = FaultConfig(rate_limit_rate=1.0, retry_after=7)

    response = api.get("/orgunits", expect=429)

    assert response.headers["Retry-After"] == "7"
    assert error_body(response)["code"] == 429
    assert sim.fault_counts == {"rate_limit": 1}


def test_drops_before_applying_lose_the_request(api: ApiClient, sim: LearnifierSimulator) -> None:
    sim.faults = FaultConfig(drop_rate=1.0)

    with pytest.raises(requests.ConnectionError):
        post_user(api, "dropped")

    assert not user_exists(sim, "dropped")
    assert sim.fault_counts == {"drop_before": 1}
    [exchange] = sim.exchanges
    assert (exchange.dropped, exchange.fault, exchange.response_body) == (True, "drop_before", b"")


def test_drops_after_applying_keep_the_change(api: ApiClient, sim: LearnifierSimulator) -> None:
    sim.faults = FaultConfig(drop_rate=1.0, drop_after_apply_share=1.0)

    with pytest.raises(requests.ConnectionError):
        post_user(api, "applied")

    assert user_exists(sim, "applied")
    assert sim.fault_counts == {"drop_after": 1}


def test_the_drop_share_splits_drops(api: ApiClient, sim: LearnifierSimulator) -> None:
    sim.faults = FaultConfig(drop_rate=1.0, drop_after_apply_share=0.5, seed=3)

    for n in range(20):
        with pytest.raises(requests.ConnectionError):
            post_user(api, f"u{n}")

    counts = sim.fault_counts
    assert counts["drop_before"] + counts["drop_after"] == 20
    assert counts["drop_before"] > 2 and counts["drop_after"] > 2
    assert sum(user_exists(sim, f"u{n}") for n in range(20)) == counts["drop_after"]


def test_slow_answers_wait(api: ApiClient, sim: LearnifierSimulator) -> None:
    sim.faults = FaultConfig(slow_rate=1.0, slow_seconds=0.05)

    started = time.perf_counter()
    api.get("/orgunits")

    assert time.perf_counter() - started >= 0.05
    assert sim.fault_counts == {"slow": 1}


def test_garbage_answers_gets_with_bodies_that_are_not_json(api: ApiClient, sim: LearnifierSimulator) -> None:
    sim.faults = FaultConfig(garbage_rate=1.0)

    answers = [api.session.get(f"{sim.base_url}/orgunits", verify=sim.ca_file) for _ in range(10)]
    created = post_user(api, "unaffected")

    assert {answer.status_code for answer in answers} == {200}
    for answer in answers:
        with pytest.raises(ValueError):
            answer.json()
    assert {answer.headers["Content-Type"].split(";")[0] for answer in answers} == {
        "application/json",
        "text/html",
    }
    assert created.status_code == 200
    assert sim.fault_counts == {"garbage": 10}


def test_faults_are_deterministic_for_a_seed() -> None:
    def statuses(fault_seed: int) -> list[int]:
        config = FaultConfig(error_rate=0.3, rate_limit_rate=0.2, seed=fault_seed)
        with LearnifierSimulator(seed=None, tls=False, faults=config) as sim, requests.Session() as session:
            return [
                session.get(f"{sim.base_url}/coursedesigns", auth=(sim.key, sim.secret)).status_code
                for _ in range(20)
            ]

    first = statuses(11)

    assert statuses(11) == first
    assert statuses(12) != first
    assert {200, 429} <= set(first) and set(first) & {500, 502, 503}


def test_faults_can_be_changed_while_running(api: ApiClient, sim: LearnifierSimulator) -> None:
    sim.faults = FaultConfig(error_rate=1.0, error_statuses=(502,))
    api.get("/orgunits", expect=502)

    sim.faults = FaultConfig()

    api.get("/orgunits")
    assert sim.faults == FaultConfig()


def test_the_simulators_own_routes_meet_no_faults(api: ApiClient, sim: LearnifierSimulator) -> None:
    sim.faults = FaultConfig(error_rate=1.0)
    sim.inject(status=500)

    state = api.session.get(f"{sim.base_url}/_simulator/state", verify=sim.ca_file)

    assert state.status_code == 200
    assert sim.fault_counts == {}


@pytest.mark.parametrize(
    "config",
    [
        {"error_rate": 1.5},
        {"drop_after_apply_share": -0.1},
        {"error_rate": 0.6, "drop_rate": 0.6},
        {"error_statuses": ()},
        {"slow_seconds": -1},
    ],
)
def test_invalid_fault_configs_are_refused(config: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        FaultConfig(**config)


def test_scripted_statuses_apply_in_order_then_stop(api: ApiClient, sim: LearnifierSimulator) -> None:
    sim.inject(status=503, times=2, retry_after=2)
    sim.inject(status=429, retry_after="Wed, 21 Oct 2015 07:28:00 GMT")

    first, second = api.get("/orgunits", expect=503), api.get("/orgunits", expect=503)
    third = api.get("/orgunits", expect=429)
    api.get("/orgunits")

    assert first.headers["Retry-After"] == second.headers["Retry-After"] == "2"
    assert third.headers["Retry-After"] == "Wed, 21 Oct 2015 07:28:00 GMT"
    assert sim.fault_counts == {"scripted": 3}


def test_scripted_faults_match_method_and_path_prefix(api: ApiClient, sim: LearnifierSimulator) -> None:
    sim.inject(status=500, method="post", path="/users", body=b'{"code": 500, "message": "custom"}')

    api.get("/users")
    api.post(f"{ORG}/usergroups", json={"name": "G"}, expect=200)
    refused = api.post("/users", json={"externalId": "later"}, expect=500)
    api.post("/users", json={"externalId": "later"}, expect=200)

    assert refused.json() == {"code": 500, "message": "custom"}
    assert [exchange.fault for exchange in sim.exchanges] == [None, None, "scripted", None]


def test_scripted_drops_before_and_after(api: ApiClient, sim: LearnifierSimulator) -> None:
    sim.inject(drop="before", path="/users")
    sim.inject(drop="after", path="/users")

    with pytest.raises(requests.ConnectionError):
        post_user(api, "lost")
    with pytest.raises(requests.ConnectionError):
        post_user(api, "kept")
    retried = post_user(api, "kept")

    assert not user_exists(sim, "lost")
    assert user_exists(sim, "kept")
    assert retried.status_code == 409
    assert retried.json()["userId"] == sim.state.user_by_external_id("kept")["id"]


def test_an_echo_fault_repeats_the_credentials_without_applying_the_request(
    api: ApiClient, sim: LearnifierSimulator
) -> None:
    sim.inject(status=400, method="POST", path="/users", echo_credentials=True)

    refused = api.post("/users", json={"externalId": "echoed"}, expect=400)

    authorization = refused.request.headers["Authorization"]
    token = authorization.removeprefix("Basic ")
    assert f"Authorization: {authorization}" in refused.json()["message"]
    assert f"key={sim.key} secret={sim.secret}" in refused.json()["message"]
    assert refused.json()["field"] == sim.key
    assert "\\/" in refused.text or "/" not in refused.json()["message"]  # every "/" escaped
    assert refused.headers["X-Echo-Authorization"] == authorization
    assert refused.headers["Location"].startswith(f"https://{sim.key}:{sim.secret}@elsewhere.example/")
    assert token.rstrip("=") in refused.headers["Location"].replace("%2B", "+").replace("%2F", "/")
    assert not user_exists(sim, "echoed")


@pytest.mark.parametrize(
    "arguments",
    [{"drop": "during"}, {"times": 0}, {"status": 42}, {"echo_credentials": True, "body": b"{}"}],
    ids=["drop", "times", "status", "echo-with-body"],
)
def test_invalid_injections_are_refused(sim: LearnifierSimulator, arguments: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        sim.inject(**arguments)


def test_a_rate_limit_admits_its_burst_then_refuses_with_whole_seconds(mocker) -> None:
    clock = mocker.Mock(return_value=100.0)
    limiter = RateLimiter(4, burst=2, clock=clock)
    assert [limiter.take() for _ in range(2)] == [None, None]
    refusal = limiter.take()
    assert refusal is not None and refusal.status == 429
    assert refusal.headers["Retry-After"] == "1"
    clock.return_value = 100.25  # one token back
    assert limiter.take() is None
    assert limiter.take() is not None
    assert limiter.counts == {"admitted": 3, "refused": 2}


def test_a_slow_rate_limit_says_how_many_seconds_to_wait(mocker) -> None:
    clock = mocker.Mock(return_value=0.0)
    limiter = RateLimiter(0.25, burst=1, clock=clock)
    assert limiter.take() is None
    refusal = limiter.take()
    assert refusal is not None and refusal.headers["Retry-After"] == "4"


def test_the_simulator_rate_limit_answers_429_over_http(api: ApiClient, sim: LearnifierSimulator) -> None:
    sim.rate_limit = 0.5  # one request, then a 429 for two seconds
    api.get("/orgunits")
    refused = api.get("/orgunits", expect=429)
    assert refused.headers["Retry-After"] == "2"
    assert error_body(refused)["code"] == 429
    assert sim.rate_limit_counts == {"admitted": 1, "refused": 1}
    sim.rate_limit = None
    api.get("/orgunits")
