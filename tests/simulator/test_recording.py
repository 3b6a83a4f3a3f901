"""Recording exchanges: off, bounded or full; and request counts, which are kept either way."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import pytest
import requests

from learnifier_simulator import Exchange, HeaderMap, LearnifierSimulator, seed
from learnifier_simulator.recording import ExchangeLog

if TYPE_CHECKING:
    from collections.abc import Iterator

ORG = f"/orgunits/{seed.DEMO_ORG_UNIT_ID}"
PROJECT = f"{ORG}/projects/{seed.DEMO_PROJECT_ID}"
GET_PROJECT = ("GET", "/orgunits/{orgid}/projects/{projectid}")
LIST_ORG_UNITS = ("GET", "/orgunits")
ADD_USER = ("POST", "/users")


@pytest.fixture
def session() -> Iterator[requests.Session]:
    with requests.Session() as client:
        client.auth = ("sim-key", "sim-secret")
        yield client


def get(session: requests.Session, sim: LearnifierSimulator, path: str, **kwargs: Any) -> requests.Response:
    return session.get(f"{sim.base_url}{path}", verify=sim.ca_file, timeout=10, **kwargs)


def test_by_default_everything_is_recorded_and_counted(
    sim: LearnifierSimulator, session: requests.Session
) -> None:
    for _ in range(3):
        get(session, sim, PROJECT)
    get(session, sim, "/orgunits")

    assert (sim.record, sim.max_exchanges) == (True, None)
    assert len(sim.exchanges) == 4
    assert sim.request_count == 4
    assert sim.request_counts == {GET_PROJECT: 3, LIST_ORG_UNITS: 1}


def test_without_recording_requests_are_only_counted(session: requests.Session) -> None:
    with LearnifierSimulator(record=False) as sim:
        for _ in range(5):
            assert get(session, sim, PROJECT).status_code == 200
        created = session.post(
            f"{sim.base_url}/users", json={"firstName": "A"}, verify=sim.ca_file, timeout=10
        )

        assert created.status_code == 200
        assert sim.record is False
        assert sim.exchanges == []
        assert sim.request_count == 6
        assert sim.request_counts == {GET_PROJECT: 5, ADD_USER: 1}


def test_recording_can_be_switched_while_running(session: requests.Session) -> None:
    with LearnifierSimulator(record=False) as sim:
        get(session, sim, "/orgunits")
        sim.record = True
        get(session, sim, PROJECT)
        sim.record = False
        get(session, sim, "/orgunits")

        assert [exchange.path for exchange in sim.exchanges] == [PROJECT]
        assert sim.request_count == 3


def test_a_bounded_log_keeps_the_newest_exchanges(session: requests.Session) -> None:
    with LearnifierSimulator(max_exchanges=3) as sim:
        for n in range(1, 8):
            get(session, sim, "/extorgunit", params={"extid": f"unit-{n}"})

        assert sim.max_exchanges == 3
        assert [exchange.query["extid"] for exchange in sim.exchanges] == [["unit-5"], ["unit-6"], ["unit-7"]]
        assert sim.request_count == 7


def test_a_zero_bound_keeps_nothing(session: requests.Session) -> None:
    with LearnifierSimulator(max_exchanges=0) as sim:
        get(session, sim, "/orgunits")

        assert sim.exchanges == []
        assert sim.request_count == 1


@pytest.mark.parametrize("bound", [-1, True])
def test_invalid_bounds_are_refused(bound: int) -> None:
    with pytest.raises(ValueError, match="max_exchanges"):
        LearnifierSimulator(max_exchanges=bound)


def test_counts_cover_every_api_request_but_not_the_simulators_own(
    sim: LearnifierSimulator, session: requests.Session
) -> None:
    get(session, sim, "/nowhere")
    get(session, sim, "/orgunits", auth=("sim-key", "wrong"))
    sim.inject(503, path="/orgunits")
    get(session, sim, "/orgunits")
    sim.inject(drop="before", path="/orgunits")
    with pytest.raises(requests.ConnectionError):
        get(session, sim, "/orgunits")
    get(session, sim, "/_simulator/state")
    session.post(f"{sim.base_url}/_simulator/advance", verify=sim.ca_file, timeout=10)

    assert sim.request_count == 4
    assert sim.request_counts == {LIST_ORG_UNITS: 3}
    assert len(sim.exchanges) == 6


def test_clearing_exchanges_keeps_counts_and_resetting_counts_keeps_exchanges(
    sim: LearnifierSimulator, session: requests.Session
) -> None:
    get(session, sim, "/orgunits")
    sim.clear_exchanges()
    get(session, sim, PROJECT)

    assert len(sim.exchanges) == 1
    assert sim.request_count == 2

    sim.reset_request_counts()

    assert (sim.request_count, sim.request_counts) == (0, {})
    assert len(sim.exchanges) == 1


def test_counts_are_exact_under_concurrency() -> None:
    with LearnifierSimulator(tls=False, record=False) as sim:

        def client() -> None:
            with requests.Session() as own:
                for _ in range(25):
                    own.get(f"{sim.base_url}{PROJECT}", auth=(sim.key, sim.secret), timeout=10)

        threads = [threading.Thread(target=client) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        assert sim.request_count == 200
        assert sim.request_counts == {GET_PROJECT: 200}


def test_counts_and_exchanges_over_the_control_api(
    session: requests.Session,
) -> None:
    with LearnifierSimulator(max_exchanges=2) as sim:
        get(session, sim, "/orgunits")
        session.post(f"{sim.base_url}/users", json={"firstName": "Å"}, verify=sim.ca_file, timeout=10)
        get(session, sim, "/nowhere")
        get(session, sim, f"/users/{seed.DEMO_ADMIN_USER_ID}/pic", params={"key": sim.key})
        counts = get(session, sim, "/_simulator/requests").json()
        recorded = get(session, sim, "/_simulator/exchanges").json()
        unauthenticated = get(session, sim, "/_simulator/requests", auth=("sim-key", "wrong"))

    assert counts == {
        "total": 4,
        "byOperation": {"GET /orgunits": 1, "POST /users": 1, "GET /users/{userid}/pic?key={APIKEY}": 1},
    }
    # Bounded to 2, and the control request for the counts took one of the places.
    assert (recorded["recording"], recorded["maxExchanges"]) == (True, 2)
    [picture] = recorded["exchanges"]
    assert picture["operation"] == "GET /users/{userid}/pic?key={APIKEY}"
    assert picture["status"] == 200
    assert picture["responseBody"].startswith("<") and picture["responseBody"].endswith(" bytes>")
    assert unauthenticated.status_code == 401


def test_recorded_exchanges_over_the_control_api_have_readable_bodies_and_no_credentials(
    sim: LearnifierSimulator, session: requests.Session
) -> None:
    session.post(f"{sim.base_url}/users", json={"firstName": "Åsa"}, verify=sim.ca_file, timeout=10)
    sim.inject(200, body=b"<html>down</html>", path="/orgunits")
    get(session, sim, "/orgunits")
    get(session, sim, "/_simulator/state")

    answer = get(session, sim, "/_simulator/exchanges")

    created, garbled = answer.json()["exchanges"]
    assert created["method"] == "POST"
    assert created["requestBody"] == {"firstName": "Åsa"}
    assert set(created["responseBody"]) == {"userId"}
    assert (created["fault"], created["query"]) == (None, {})
    assert (garbled["fault"], garbled["responseBody"]) == ("scripted", "<html>down</html>")
    assert garbled["requestBody"] is None
    assert "sim-secret" not in answer.text
    assert "Authorization" not in answer.text


def test_the_log_itself_keeps_nothing_while_recording_is_off() -> None:
    log = ExchangeLog(record=False)
    exchange = Exchange("GET", "/orgunits", {}, HeaderMap(), b"", 200, HeaderMap(), b"{}", LIST_ORG_UNITS)

    log.append(exchange)
    log.record = True
    log.append(exchange)

    assert log.snapshot() == [exchange]
    assert (log.request_count, log.request_counts()) == (2, {LIST_ORG_UNITS: 2})
