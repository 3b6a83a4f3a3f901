"""HTTP behaviour: authentication, request bodies, routing, encoding, keep-alive and recording."""

from __future__ import annotations

import base64
import http.client
import json
import socket
import ssl
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import pytest
import requests

from learnifier_simulator import HeaderMap, LearnifierSimulator, seed
from learnifier_simulator.server import SimulatorRequestHandler
from tests.simulator.client import ApiClient, error_body

if TYPE_CHECKING:
    from collections.abc import Iterator

ORG = f"/orgunits/{seed.DEMO_ORG_UNIT_ID}"


@pytest.fixture
def raw(sim: LearnifierSimulator) -> Iterator[http.client.HTTPSConnection]:
    """A keep-alive connection to ``sim`` without any client-side help."""
    context = ssl.create_default_context(cafile=sim.ca_file)
    connection = http.client.HTTPSConnection("127.0.0.1", sim.port, context=context, timeout=10)
    yield connection
    connection.close()


def basic(key: str, secret: str) -> str:
    """Return an HTTP Basic ``Authorization`` header value."""
    return "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode()


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": basic("sim-key", "wrong")},
        {"Authorization": basic("wrong", "sim-secret")},
        {"Authorization": "Basic not base64!"},
        {"Authorization": "Bearer sim-secret"},
    ],
    ids=["none", "wrong-secret", "wrong-key", "malformed", "other-scheme"],
)
def test_requests_without_the_right_credentials_are_unauthorized(
    api: ApiClient, headers: dict[str, str]
) -> None:
    api.session.auth = None

    response = api.get("/orgunits", headers=headers, expect=401)

    assert error_body(response)["code"] == 401
    assert response.headers["WWW-Authenticate"] == 'Basic realm="Learnifier"'


def test_the_deprecated_x_authentication_header_is_refused(api: ApiClient) -> None:
    api.session.auth = None

    response = api.get("/orgunits", headers={"X-Authentication": "sim-key:sim-secret"}, expect=401)

    assert "X-Authentication" in error_body(response)["message"]


def test_unauthorized_writes_change_nothing(api: ApiClient, sim: LearnifierSimulator) -> None:
    api.session.auth = ("sim-key", "wrong")

    api.post("/orgunits", json={"displayName": "Intruder"}, expect=401)

    assert len(sim.state.list_org_units()) == 1


@pytest.mark.parametrize(
    ("data", "content_type", "message"),
    [
        (b'{"displayName": "X"}', "text/plain", "Content-Type"),
        (b'{"displayName": "X"}', None, "Content-Type"),
        (b'{"displayName": "X"}', "application/json; charset=latin-1", "UTF-8"),
        (b'{"displayName": "X"', "application/json", "not valid JSON"),
        ('{"displayName": "Ærø"}'.encode("latin-1"), "application/json", "not valid UTF-8"),
        (b'["displayName"]', "application/json", "JSON object"),
        (b'{"displayName": NaN}', "application/json", "not valid JSON"),
        (b"", "application/json", "required"),
    ],
    ids=["text-plain", "no-type", "latin-1", "truncated", "not-utf8", "array", "nan", "empty"],
)
def test_malformed_bodies_are_bad_requests(
    api: ApiClient, sim: LearnifierSimulator, data: bytes, content_type: str | None, message: str
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}

    response = api.post("/orgunits", data=data, headers=headers, expect=400, valid_request=False)

    assert message in error_body(response)["message"]
    assert len(sim.state.list_org_units()) == 1


def test_a_charset_parameter_is_fine(api: ApiClient) -> None:
    api.post(
        "/orgunits",
        data=json.dumps({"displayName": "Ærø Ltd"}).encode(),
        headers={"Content-Type": "application/json; charset=UTF-8"},
        expect=200,
    )


def test_null_members_count_as_absent(api: ApiClient) -> None:
    missing = api.post("/orgunits", json={"displayName": None}, expect=422, valid_request=False)
    api.patch(ORG, json={"externalId": None, "displayName": "Acme Inc"}, expect=201, valid_request=False)

    assert error_body(missing)["field"] == "displayName"
    assert api.get(ORG).json()["externalId"] == seed.DEMO_ORG_UNIT_EXTERNAL_ID


def test_unknown_routes_and_methods(api: ApiClient, sim: LearnifierSimulator) -> None:
    not_found = api.session.get(f"{sim.base_url}/nowhere", verify=sim.ca_file)
    trailing_slash = api.session.get(f"{sim.base_url}/orgunits/", verify=sim.ca_file)
    typo_path = api.session.post(
        f"{sim.base_url}{ORG}/projects/2001/participants/$3001/activate", verify=sim.ca_file
    )
    wrong_method = api.session.put(f"{sim.base_url}/orgunits", json={}, verify=sim.ca_file)

    assert [r.status_code for r in (not_found, trailing_slash, typo_path)] == [404, 404, 404]
    error_body(not_found)
    assert wrong_method.status_code == 405
    assert wrong_method.headers["Allow"] == "GET, POST"
    assert error_body(wrong_method)["code"] == 405
    # "$3001" is no participant id: the activate route answers 404 for it.
    assert [exchange.operation for exchange in sim.exchanges] == [
        None,
        None,
        ("POST", "/orgunits/{orgid}/projects/{projectid}/participants/${participantId}/activate"),
        None,
    ]


def test_answers_are_utf8_json_without_nulls(api: ApiClient, sim: LearnifierSimulator) -> None:
    user_id = api.post(
        "/users", json={"primaryEmail": "asa@acme.example", "displayName": "Åsa Öberg"}, expect=200
    ).json()["userId"]

    response = api.get(f"/users/{user_id}")

    assert response.headers["Content-Type"] == "application/json"
    assert "Åsa Öberg".encode() in response.content
    assert response.json()["displayName"] == "Åsa Öberg"

    def values(node: Any) -> Iterator[Any]:
        yield node
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else []
        for child in children:
            yield from values(child)

    assert None not in list(values(sim.state.snapshot()))


def test_keep_alive_serves_many_requests_on_one_connection(raw: http.client.HTTPSConnection) -> None:
    headers = {"Authorization": basic("sim-key", "sim-secret")}
    raw.request("GET", "/orgunits", headers=headers)
    raw.getresponse().read()
    first_socket = raw.sock

    for _ in range(30):
        raw.request(
            "POST",
            "/users",
            body=b'{"firstName": "A"}',
            headers={**headers, "Content-Type": "application/json"},
        )
        response = raw.getresponse()
        response.read()
        assert response.status == 200

    assert raw.sock is first_socket


def test_answers_are_sent_without_nagle_delays(
    raw: http.client.HTTPSConnection, sim: LearnifierSimulator
) -> None:
    """With Nagle's algorithm on, each answer on a kept-alive connection would stall some 40 ms on
    the client's delayed ACK: the server's end of every connection has TCP_NODELAY set."""
    raw.request("GET", "/orgunits", headers={"Authorization": basic("sim-key", "sim-secret")})
    raw.getresponse().read()

    connections = list(sim._server._connections)
    assert connections
    assert all(c.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) for c in connections)


def test_a_burst_of_connections_is_accepted_at_once(
    sim: LearnifierSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The listen backlog holds a burst of 64 connections that the server has not accepted yet.

    A short backlog (socketserver's default is 5) drops the rest of the burst, and clients retry
    them only after seconds: with accepting held back, their connects would time out.
    """
    server = sim._server
    assert server is not None
    accepting = threading.Event()
    get_request = server.get_request

    def held_back_get_request() -> Any:
        accepting.wait(30)
        return get_request()

    monkeypatch.setattr(server, "get_request", held_back_get_request)
    connections: list[socket.socket] = []
    try:
        for _ in range(64):
            connections.append(socket.create_connection(("127.0.0.1", sim.port), timeout=5))
    finally:
        accepting.set()
        for connection in connections:
            connection.close()

    assert len(connections) == 64


def test_chunked_bodies_are_read(raw: http.client.HTTPSConnection, sim: LearnifierSimulator) -> None:
    headers = {"Authorization": basic("sim-key", "sim-secret"), "Content-Type": "application/json"}

    raw.request(
        "POST",
        "/orgunits",
        body=iter([b'{"displayName": ', b'"Chunky"}']),
        headers=headers,
        encode_chunked=True,
    )
    response = raw.getresponse()

    assert response.status == 200
    assert json.loads(response.read()) == {"ouId": 1002}
    assert sim.exchanges[-1].body == b'{"displayName": "Chunky"}'


def test_a_bad_chunk_size_is_a_bad_request(raw: http.client.HTTPSConnection) -> None:
    raw.putrequest("POST", "/orgunits")
    raw.putheader("Authorization", basic("sim-key", "sim-secret"))
    raw.putheader("Content-Type", "application/json")
    raw.putheader("Transfer-Encoding", "chunked")
    raw.endheaders(b"zz\r\n{}\r\n0\r\n\r\n")
    response = raw.getresponse()

    assert response.status == 400
    assert response.getheader("Connection") == "close"
    assert "chunk" in json.loads(response.read())["message"]


def test_exchanges_are_recorded_in_full(api: ApiClient, sim: LearnifierSimulator) -> None:
    api.post(
        "/orgunits",
        json={"displayName": "Globex"},
        params={"trace": ["a", "b"]},
        expect=200,
        valid_request=False,
    )
    api.get("/extorgunit", params={"extid": "nope"}, expect=404)

    recorded, not_found = sim.exchanges

    assert (recorded.method, recorded.path, recorded.query) == ("POST", "/orgunits", {"trace": ["a", "b"]})
    assert recorded.operation == ("POST", "/orgunits")
    assert recorded.headers["content-type"] == recorded.headers["CONTENT-TYPE"] == "application/json"
    assert recorded.headers["authorization"] == basic("sim-key", "sim-secret")
    assert recorded.request_json() == {"displayName": "Globex"}
    assert recorded.status == 200
    assert recorded.response_json() == {"ouId": 1002}
    assert recorded.response_headers["content-length"] == str(len(recorded.response_body))
    assert (recorded.control, recorded.fault, recorded.dropped) == (False, None, False)
    assert not_found.operation == ("GET", "/extorgunit")
    assert not_found.status == 404

    sim.clear_exchanges()
    assert sim.exchanges == []


def test_header_maps_are_case_insensitive_and_read_only() -> None:
    headers = HeaderMap([("Content-Type", "application/json"), ("Accept", "a"), ("accept", "b")])

    assert headers["content-type"] == "application/json"
    assert headers["ACCEPT"] == "a, b"
    assert list(headers) == ["Content-Type", "Accept"]
    assert "x-missing" not in headers
    assert not hasattr(headers, "__setitem__")


def test_concurrent_writes_get_distinct_ids(sim: LearnifierSimulator) -> None:
    def create(n: int) -> str:
        with requests.Session() as session:
            response = session.post(
                f"{sim.base_url}/users",
                json={"primaryEmail": f"u{n}@acme.example"},
                auth=(sim.key, sim.secret),
                verify=sim.ca_file,
                timeout=10,
            )
            return response.json()["userId"]

    with ThreadPoolExecutor(max_workers=8) as pool:
        ids = list(pool.map(create, range(40)))

    assert len(set(ids)) == 40
    assert len(sim.state.list_users(limit=100, offset=0)[0]) == 41


def test_each_answer_is_written_at_once(
    raw: http.client.HTTPSConnection, sim: LearnifierSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Status, headers and body in one write: one TLS record, one system call, one GIL release."""
    writes: list[bytes] = []
    setup = SimulatorRequestHandler.setup

    def counting_setup(handler: SimulatorRequestHandler) -> None:
        setup(handler)
        write = handler.wfile.write

        def counted(data: bytes) -> int:
            writes.append(bytes(data))
            return write(data)

        handler.wfile.write = counted  # type: ignore[method-assign,assignment]

    monkeypatch.setattr(SimulatorRequestHandler, "setup", counting_setup)
    headers = {"Authorization": basic("sim-key", "sim-secret")}
    for path in ("/orgunits", f"{ORG}/projects/999", f"/users/{seed.DEMO_ADMIN_USER_ID}"):
        raw.request("GET", path, headers=headers)
        response = raw.getresponse()
        body = response.read()
        assert writes[-1].endswith(b"\r\n\r\n" + body)

    assert len(writes) == 3
    assert writes[0].startswith(b"HTTP/1.1 200 OK\r\n")
    assert writes[1].startswith(b"HTTP/1.1 404 Not Found\r\n")
