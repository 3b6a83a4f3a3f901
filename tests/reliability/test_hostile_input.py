"""Hostile and bad input: ids, roster rows, connections and API answers that must be refused cleanly.

Each case expects a clear error that names the problem, no change to the simulator's state (or
none beyond the good rows), and no credential in the error, in the log records (``caplog``) or
in what was written to stdout and stderr (``capfd``: Airflow's structlog task logs go to
stdout). Tests that run a DAG see the error as Airflow runs and logs the task.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import socket
from collections.abc import Iterator
from typing import Any
from unittest import mock
from urllib.parse import quote

import pytest

from airflow_provider_learnifier.exceptions import (
    LearnifierConnectionError,
    LearnifierInputError,
    LearnifierNotFoundError,
    LearnifierResponseError,
    LearnifierServerError,
)
from airflow_provider_learnifier.hooks.learnifier import LearnifierHook
from airflow_provider_learnifier.operators.participants import (
    LearnifierEnrollOperator,
    LearnifierLoginLinkOperator,
)
from airflow_provider_learnifier.operators.reporting import LearnifierProgressReportOperator
from learnifier_simulator import LearnifierSimulator
from learnifier_simulator import seed as sim_seed
from tests.reliability.servers import PNG, Answer, RecordingServer, SeenRequest

CONNECTION_VARIABLE = "AIRFLOW_CONN_LEARNIFIER_DEFAULT"
KEY = "hostile-key-7d41"
SECRET = "hostile-s3cret-Qx9v"
BASIC = base64.b64encode(f"{KEY}:{SECRET}".encode()).decode("ascii")
CREDENTIALS = (SECRET, BASIC)
#: Retry once, at once: enough to see whether a request is repeated.
FAST = {"max_retries": 1, "backoff_factor": 0.001}
ORG, PROJECT = sim_seed.DEMO_ORG_UNIT_ID, sim_seed.DEMO_PROJECT_ID
PROJECT_EXTERNAL_ID = sim_seed.DEMO_PROJECT_EXTERNAL_ID
PARTICIPANTS_PATH = f"/orgunits/{ORG}/projects/{PROJECT}/participants"
HTML_PAGE = b"<!DOCTYPE html><html><body><h1>502 Bad Gateway</h1><p>nginx</p></body></html>"


# ---------------------------------------------------------------------- fixtures and checks


@pytest.fixture
def sim(monkeypatch: pytest.MonkeyPatch) -> Iterator[LearnifierSimulator]:
    """A simulator with distinctive credentials, and the default connection pointing at it."""
    with LearnifierSimulator(key=KEY, secret=SECRET, seed="demo") as simulator:
        monkeypatch.setenv(CONNECTION_VARIABLE, simulator.connection_json(FAST))
        yield simulator


@pytest.fixture(scope="module")
def shared_sim() -> Iterator[LearnifierSimulator]:
    """One simulator for the many id cases, which change nothing."""
    with (
        LearnifierSimulator(key=KEY, secret=SECRET, seed="demo") as simulator,
        pytest.MonkeyPatch.context() as patch,
    ):
        patch.setenv(CONNECTION_VARIABLE, simulator.connection_json(FAST))
        yield simulator


@pytest.fixture
def leak_check(caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]) -> Any:
    """``leak_check(*texts, forbidden=CREDENTIALS)``: assert no forbidden string is in the texts, the
    log records or stdout/stderr so far; return all of that text."""
    caplog.set_level(logging.INFO)

    def check(*texts: object, forbidden: tuple[str, ...] = CREDENTIALS) -> str:
        out, err = capfd.readouterr()
        everything = "\n".join([*(str(text) for text in texts), caplog.text, out, err])
        for secret in forbidden:
            assert secret not in everything, f"a credential ({secret[:4]}...) leaked"
        return everything

    return check


def state_counts(sim: LearnifierSimulator) -> tuple[int, int]:
    snapshot = sim.state.snapshot()
    return len(snapshot["users"]), len(snapshot["participants"])


def context() -> dict[str, Any]:
    return {"ti": mock.MagicMock()}


# ---------------------------------------------------------------------- ids


REFUSED_IDS = [
    pytest.param("a/b", "a slash", id="slash"),
    pytest.param("../users", "a slash", id="traversal"),
    pytest.param("..", "'..'", id="dot-dot"),
    pytest.param("a\\b", "a slash", id="backslash"),
    pytest.param("a b", "white space", id="space"),
    pytest.param("\t1", "white space", id="tab"),
    pytest.param("1\n2", "white space", id="newline"),
    pytest.param("1\u00a02", "white space", id="no-break-space"),
    pytest.param("1\x002", "control characters", id="nul"),
    pytest.param("1\x7f", "control characters", id="del"),
    pytest.param("", "must not be empty", id="empty"),
    # A lone dot is a dot segment: URL normalization removes it, and the request goes elsewhere.
    pytest.param(
        ".",
        "",
        id="dot",
    ),
]

HOOK_CALLS = {
    "get_user": lambda hook, value: hook.get_user(value),
    "activate_participant": lambda hook, value: hook.activate_participant(ORG, PROJECT, value),
    "delete_participant": lambda hook, value: hook.delete_participant(ORG, PROJECT, value),
    "delete_project": lambda hook, value: hook.delete_project(ORG, value),
}


@pytest.mark.parametrize("call", list(HOOK_CALLS))
@pytest.mark.parametrize(("value", "problem"), REFUSED_IDS)
def test_unsafe_ids_are_refused_before_any_request(shared_sim, call, value, problem, leak_check):
    before = shared_sim.request_count
    with pytest.raises(ValueError) as caught:
        HOOK_CALLS[call](LearnifierHook(), value)
    message = str(caught.value)
    assert problem in message
    if value:
        assert repr(value) in message, "the error must name the id"
    assert shared_sim.request_count == before, "a request was sent"
    leak_check(message)


ENCODED_IDS = ["%2F", "a%2Fb", "%2e%2e", "%00", "ü-ñ", "\u202e1", "a?b=c", "a#b", "a;b", "😀"]


@pytest.mark.parametrize("value", ENCODED_IDS)
def test_odd_ids_reach_the_api_as_one_percent_encoded_segment(shared_sim, value, leak_check):
    before = len(shared_sim.exchanges)
    with pytest.raises(LearnifierNotFoundError) as caught:
        LearnifierHook().get_user(value)
    (exchange,) = shared_sim.exchanges[before:]
    assert exchange.path == "/users/" + quote(value, safe="")
    assert exchange.query == {}, "part of the id became a query string"
    assert caught.value.path == exchange.path
    assert caught.value.status == 404
    leak_check(caught.value)


def test_an_odd_id_in_a_write_changes_nothing(sim, leak_check):
    hook = LearnifierHook()
    participant_id = hook.add_participant(ORG, PROJECT, email="stays@example.com")
    before = state_counts(sim)
    for value in (f"%2E%2E%2F{participant_id}", f"{participant_id}%00", f"{participant_id}?x=1"):
        with pytest.raises(LearnifierNotFoundError):
            hook.delete_participant(ORG, PROJECT, value)
    assert state_counts(sim) == before
    leak_check()


@pytest.mark.parametrize(
    "value",
    [
        "../1",
        "a/b",
        "a b",
        "1\x00",
        pytest.param("."),
    ],
)
def test_the_login_link_operator_refuses_unsafe_participant_ids(sim, value, leak_check):
    operator = LearnifierLoginLinkOperator(
        task_id="links", participant_ids=[value], org_id=ORG, project_id=PROJECT
    )
    with pytest.raises((LearnifierInputError, ValueError)) as caught:
        operator.execute(context())
    assert repr(value) in str(caught.value)
    assert not [e for e in sim.exchanges if "loginlink" in e.path], "a login link was requested"
    leak_check(caught.value)


def test_the_enroll_operator_refuses_an_unsafe_org_id(sim, leak_check):
    operator = LearnifierEnrollOperator(
        task_id="enroll", roster=[{"email": "a@example.com"}], org_id="1001/../1002", project_id=PROJECT
    )
    with pytest.raises(LearnifierInputError, match=re.escape("'1001/../1002'")) as caught:
        operator.execute(context())
    assert sim.request_count == 0
    leak_check(caught.value)


def test_the_report_operator_refuses_an_unsafe_project_id(sim, tmp_path, leak_check):
    report = tmp_path / "report.csv"
    operator = LearnifierProgressReportOperator(
        task_id="report", path=str(report), org_id=ORG, project_ids=["2001/../2002"]
    )
    with pytest.raises(ValueError, match=re.escape("'2001/../2002'")) as caught:
        operator.execute({})
    assert not list(tmp_path.iterdir()), "a report or temporary file was written"
    assert not [e for e in sim.exchanges if "2002" in e.path]
    leak_check(caught.value)


# ---------------------------------------------------------------------- roster rows


BAD_ROSTERS = {
    "missing email": ([{"first_name": "Nobody", "department": "Sales"}], "has no email or external_id"),
    "malformed email": ([{"email": "not-an-email"}], "'not-an-email' is not a valid email address"),
    "email without domain dot": ([{"email": "a@localhost"}], "'a@localhost' is not a valid email address"),
    "duplicate email": (
        [{"email": "dup@example.com"}, {"email": "DUP@example.com"}],
        "repeats the email 'DUP@example.com' of row 1",
    ),
    "duplicate external id": (
        [{"external_id": "e1", "email": "a1@example.com"}, {"external_id": "e1", "email": "a2@example.com"}],
        "repeats the external_id 'e1' of row 1",
    ),
    "not an object": (["just text"], "not an object"),
    "email of the wrong type": ([{"email": ["a@example.com"]}], "email must be text"),
    "unsafe user id": ([{"user_id": "../users"}], "user_id '../users' is not a valid Learnifier id"),
}


@pytest.mark.parametrize("name", list(BAD_ROSTERS))
def test_bad_roster_rows_fail_the_task_before_anything_changes(sim, name, leak_check):
    rows, problem = BAD_ROSTERS[name]
    before = state_counts(sim)
    operator = LearnifierEnrollOperator(
        task_id="enroll", roster=rows, project_external_id="acme-onboarding-2024"
    )
    with pytest.raises(LearnifierInputError) as caught:
        operator.execute(context())
    assert problem in str(caught.value)
    assert re.search(r"\(row \d+\)", str(caught.value)), "the error must name the row"
    assert sim.request_count == 0, "nothing may be read or changed before the roster is checked"
    assert state_counts(sim) == before
    leak_check(caught.value)


def test_with_max_failures_bad_rows_are_reported_and_only_good_rows_enrolled(sim, leak_check):
    rows = [
        {"email": "good1@example.com"},
        {"email": "broken"},
        {"first_name": "No Identifier"},
        {"email": "GOOD1@example.com"},
        {"email": "good2@example.com", "external_id": "hr-good-2"},
    ]
    users_before = state_counts(sim)[0]
    operator = LearnifierEnrollOperator(
        task_id="enroll", roster=rows, project_external_id="acme-onboarding-2024", max_failures=3
    )
    summary = operator.execute(context())
    assert [failure["row"] for failure in summary["failed"]] == [2, 3, 4]
    assert summary["enrolled"] == ["good1@example.com", "hr-good-2"]
    users = sim.state.snapshot()["users"]
    assert len(users) == users_before + 2
    assert {u["primaryEmail"] for u in users} >= {"good1@example.com", "good2@example.com"}
    leak_check(json.dumps(summary))


HUGE = {
    "first_name": {"email": "huge1@example.com", "first_name": "A" * 1_000_000},
    "email": {"email": "b" * 100_000 + "@example.com"},
    "external_id": {"email": "huge3@example.com", "external_id": "x" * 100_000},
}


@pytest.mark.parametrize("field", list(HUGE))
def test_huge_roster_fields_are_refused_naming_the_field(sim, field, leak_check):
    rows = [{"email": "fine@example.com"}, HUGE[field]]
    before = state_counts(sim)
    operator = LearnifierEnrollOperator(
        task_id="enroll", roster=rows, project_external_id="acme-onboarding-2024"
    )
    try:
        with pytest.raises(LearnifierInputError) as caught:
            operator.execute(context())
    finally:
        state_after = state_counts(sim)
    message = str(caught.value)
    assert "(row 2)" in message and field in message
    assert len(message) < 2_000, "the error must not repeat the huge value"
    assert sim.request_count == 0 and state_after == before
    leak_check(message)


def test_control_characters_in_a_row_cannot_forge_log_lines(sim, leak_check):
    rows = [{"email": "x@example.com\n[2026-01-01] INFO - forged line"}]
    operator = LearnifierEnrollOperator(
        task_id="enroll", roster=rows, project_external_id="acme-onboarding-2024"
    )
    with pytest.raises(LearnifierInputError) as caught:
        operator.execute(context())
    assert "\n[2026-01-01] INFO - forged line" not in str(caught.value)
    leak_check(caught.value)


# ---------------------------------------------------------------------- connections


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _connection(sim: LearnifierSimulator, **changes: Any) -> str:
    connection = json.loads(sim.connection_json(FAST))
    extra = connection["extra"] | changes.pop("extra", {})
    return json.dumps(connection | changes | {"extra": extra})


def _other_ca_bundle() -> str:
    import certifi

    return certifi.where()


CONNECTIONS = {
    "missing secret": (lambda sim: _connection(sim, password=None), ValueError, "it has no API secret"),
    "missing key": (lambda sim: _connection(sim, login=""), ValueError, "it has no API key"),
    "wrong scheme": (
        lambda sim: _connection(sim, host=sim.base_url.replace("https://", "ftp://")),
        ValueError,
        "not a ftp:// URL",
    ),
    "non-loopback http": (
        lambda sim: _connection(sim, host="http://learnifier.example.com"),
        ValueError,
        "plain http:// is refused for 'learnifier.example.com'",
    ),
    "bad CA path": (
        lambda sim: _connection(sim, extra={"verify": "/nonexistent/learnifier-ca.pem"}),
        ValueError,
        "the CA bundle '/nonexistent/learnifier-ca.pem' does not exist",
    ),
    "verification off": (
        lambda sim: _connection(sim, extra={"verify": False}),
        ValueError,
        "cannot turn certificate verification off",
    ),
    "CA that did not sign the server": (
        lambda sim: _connection(sim, extra={"verify": _other_ca_bundle()}),
        LearnifierConnectionError,
        "failed TLS verification",
    ),
    "credentials in the host": (
        lambda sim: _connection(sim, host=sim.base_url.replace("https://", f"https://{KEY}:{SECRET}@")),
        ValueError,
        "must not contain credentials",
    ),
    "credentials in a host without hostname": (
        lambda sim: _connection(sim, host=f"https://{KEY}:{SECRET}@"),
        ValueError,
        "must not contain credentials",
    ),
    "port out of range": (
        lambda sim: _connection(sim, host="https://127.0.0.1:99999"),
        ValueError,
        "99999",
    ),
}


@pytest.mark.parametrize(
    ("make", "error", "text"), [pytest.param(*case, id=name) for name, case in CONNECTIONS.items()]
)
def test_unusable_connections_fail_with_a_clear_error_and_no_secret(
    sim, monkeypatch, hook_waits, make, error, text, leak_check
):
    monkeypatch.setenv(CONNECTION_VARIABLE, make(sim))
    with pytest.raises(error) as caught:
        LearnifierHook().list_org_units()
    message = str(caught.value)
    assert text in message
    if error is ValueError:
        assert "Learnifier connection 'learnifier_default' is not usable" in message
    assert sim.request_count == 0, "no request may reach the API"
    assert not hook_waits, "a connection problem must not be retried"
    leak_check(message)


@pytest.mark.parametrize(
    ("make", "text"),
    [
        pytest.param(
            lambda sim: _connection(sim, password=None), "it has no API secret", id="missing secret"
        ),
        pytest.param(
            lambda sim: _connection(sim, host=sim.base_url.replace("https://", f"https://{KEY}:{SECRET}@")),
            "must not contain credentials",
            id="credentials in the host",
        ),
        pytest.param(
            lambda sim: _connection(sim, extra={"verify": _other_ca_bundle()}),
            "failed TLS verification",
            id="CA that did not sign the server",
        ),
    ],
)
def test_a_task_with_an_unusable_connection_fails_and_logs_no_secret(
    sim, monkeypatch, run_dag, make, text, leak_check
):
    monkeypatch.setenv(CONNECTION_VARIABLE, make(sim))
    dag_run = run_dag("reliability_hostile_enroll", {"roster": [{"email": "a@example.com"}]})
    assert getattr(dag_run.state, "value", dag_run.state) == "failed"
    logs = leak_check()
    assert text in logs, "the task log must say what is wrong"
    assert state_counts(sim) == (1, 0)


# ---------------------------------------------------------------------- API answers


@pytest.fixture
def api_server(monkeypatch: pytest.MonkeyPatch) -> Any:
    """``api_server(answer)``: a plain-HTTP loopback 'Learnifier' answering with ``answer``, and the
    default connection pointing at it."""
    servers: list[RecordingServer] = []

    def start(answer: Any) -> RecordingServer:
        server = RecordingServer(answer).__enter__()
        servers.append(server)
        connection = {"conn_type": "learnifier", "host": server.base_url, "login": KEY, "password": SECRET}
        monkeypatch.setenv(CONNECTION_VARIABLE, json.dumps(connection | {"extra": FAST}))
        return server

    yield start
    for server in servers:
        server.__exit__(None, None, None)


def test_an_html_error_page_is_a_server_error_without_the_page(api_server, hook_waits, leak_check):
    server = api_server(lambda seen: Answer(502, {"Content-Type": "text/html"}, HTML_PAGE))
    with pytest.raises(LearnifierServerError) as caught:
        LearnifierHook().list_participants(ORG, PROJECT)
    message = str(caught.value)
    assert message.startswith(f"Learnifier list_participants: GET {PARTICIPANTS_PATH} answered 502")
    assert "nginx" not in message
    assert len(server.requests_seen) == 2, "a GET is retried (max_retries=1)"
    logs = leak_check(message)
    assert "nginx" not in logs


def test_an_html_error_page_for_a_post_is_not_repeated(api_server, leak_check):
    server = api_server(lambda seen: Answer(500, {"Content-Type": "text/html"}, HTML_PAGE))
    with pytest.raises(LearnifierServerError, match="answered 500") as caught:
        LearnifierHook().create_user(primary_email="once@example.com")
    assert len(server.requests_seen) == 1
    leak_check(caught.value)


def test_an_html_page_with_200_is_a_response_error_naming_its_type(api_server, leak_check):
    api_server(lambda seen: Answer(200, {"Content-Type": "text/html; charset=utf-8"}, HTML_PAGE))
    with pytest.raises(LearnifierResponseError) as caught:
        LearnifierHook().list_participants(ORG, PROJECT)
    message = str(caught.value)
    assert "not JSON" in message and "text/html" in message and "nginx" not in message
    leak_check(message)


@pytest.mark.parametrize(
    ("path", "call"),
    [
        ("/orgunits", lambda hook: hook.list_org_units()),
        (PARTICIPANTS_PATH, lambda hook: hook.list_participants(ORG, PROJECT)),
        ("/extproject", lambda hook: hook.get_project_by_external_id("acme-onboarding-2024")),
    ],
)
def test_an_empty_body_with_200_is_a_response_error(sim, path, call, leak_check):
    sim.inject(200, method="GET", path=path, body=b"")
    with pytest.raises(LearnifierResponseError) as caught:
        call(LearnifierHook())
    assert caught.value.path == path
    leak_check(caught.value)


def test_an_enrollment_whose_participant_list_is_empty_fails_and_changes_nothing(sim, leak_check):
    sim.inject(200, method="GET", path=PARTICIPANTS_PATH, body=b"")
    before = state_counts(sim)
    operator = LearnifierEnrollOperator(
        task_id="enroll", roster=[{"email": "a@example.com"}], project_external_id="acme-onboarding-2024"
    )
    with pytest.raises(LearnifierResponseError, match="list_participants"):
        operator.execute(context())
    assert state_counts(sim) == before
    leak_check()


WRONG_TYPES = [
    pytest.param(
        "GET",
        "/coursedesigns",
        b'{"designs": []}',
        lambda hook: hook.list_course_designs(),
        id="object where a list is due",
    ),
    pytest.param(
        "GET",
        "/orgunits",
        b'{"orgUnits": {"id": 1}}',
        lambda hook: hook.list_org_units(),
        id="wrapped object where a list is due",
    ),
    pytest.param(
        "POST", "/users", b"[1, 2]", lambda hook: hook.create_user(primary_email="t@example.com"), id="list"
    ),
    pytest.param(
        "POST",
        "/users",
        b"{}",
        lambda hook: hook.create_user(primary_email="t@example.com"),
        id="no userId",
    ),
    pytest.param(
        "POST",
        "/users",
        b'{"userId": null}',
        lambda hook: hook.create_user(primary_email="t@example.com"),
        id="null userId",
    ),
    pytest.param(
        "POST",
        "/users",
        b'{"userId": {"id": 1}}',
        lambda hook: hook.create_user(primary_email="t@example.com"),
        id="object userId",
    ),
]


@pytest.mark.parametrize(("method", "path", "body", "call"), WRONG_TYPES)
def test_answers_of_the_wrong_type_are_response_errors(sim, method, path, body, call, leak_check):
    sim.inject(200, method=method, path=path, body=body)
    with pytest.raises(LearnifierResponseError) as caught:
        call(LearnifierHook())
    assert caught.value.path == path
    leak_check(caught.value)


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (PARTICIPANTS_PATH, b'["a", 1, null]'),
        ("/users", b'[{"id": "u1"}, "x"]'),
        ("/extproject", b'{"id": 2001}'),
    ],
    ids=["participants that are not objects", "users that are not objects", "project without orgId"],
)
def test_an_enrollment_fed_malformed_answers_fails_with_a_response_error(sim, path, body, leak_check):
    sim.inject(200, method="GET", path=path, body=body)
    before = state_counts(sim)
    operator = LearnifierEnrollOperator(
        task_id="enroll", roster=[{"email": "a@example.com"}], project_external_id="acme-onboarding-2024"
    )
    try:
        with pytest.raises(LearnifierResponseError):
            operator.execute(context())
    finally:
        assert state_counts(sim) == before
    leak_check()


# ---------------------------------------------------------------------- redirects


@pytest.fixture
def other_host() -> Iterator[RecordingServer]:
    """Another host (127.0.0.2) that serves a picture and records what it is sent."""
    with RecordingServer(
        lambda seen: Answer(200, {"Content-Type": "image/png"}, PNG), host="127.0.0.2"
    ) as server:
        yield server


def _redirect_to(other: RecordingServer, status: int = 302) -> Any:
    def answer(seen: SeenRequest) -> Answer:
        return Answer(status, {"Location": f"{other.base_url}/landing{seen.path.split('?')[0]}"})

    return answer


def test_the_picture_follows_a_redirect_without_the_authorization_header(api_server, other_host, leak_check):
    api = api_server(_redirect_to(other_host))
    picture = LearnifierHook().get_user_picture("u1")
    assert picture == PNG
    (to_api,) = api.requests_seen
    assert to_api.headers.get("Authorization") == f"Basic {BASIC}", "the API itself gets the credentials"
    (to_other,) = other_host.requests_seen
    assert to_other.path == "/landing/users/u1/pic"
    assert "Authorization" not in to_other.headers
    assert SECRET not in json.dumps(to_other.headers) and BASIC not in json.dumps(to_other.headers)
    leak_check()


@pytest.mark.parametrize(
    ("status", "call"),
    [
        (302, lambda hook: hook.get_user("u1")),
        (301, lambda hook: hook.list_participants(ORG, PROJECT)),
        (307, lambda hook: hook.create_user(primary_email="r@example.com")),
        (308, lambda hook: hook.activate_participant(ORG, PROJECT, 3001)),
        (303, lambda hook: hook.delete_participant(ORG, PROJECT, 3001)),
    ],
    ids=["get_user 302", "list_participants 301", "create_user 307", "activate 308", "delete 303"],
)
def test_other_calls_do_not_follow_redirects(api_server, other_host, status, call, leak_check):
    api_server(_redirect_to(other_host, status))
    with pytest.raises(LearnifierResponseError) as caught:
        call(LearnifierHook())
    assert f"an unexpected redirect to {other_host.netloc}, not followed" in str(caught.value)
    assert caught.value.status == status
    assert other_host.requests_seen == [], "the request (and its Authorization) went to the other host"
    leak_check(caught.value)


def test_a_failed_picture_download_does_not_reveal_the_api_key(monkeypatch, leak_check):
    connection = {"conn_type": "learnifier", "host": f"http://127.0.0.1:{_free_port()}", "login": KEY}
    monkeypatch.setenv(CONNECTION_VARIABLE, json.dumps(connection | {"password": SECRET, "extra": FAST}))
    with pytest.raises(LearnifierConnectionError) as caught:
        LearnifierHook().get_user_picture("u1")
    leak_check(caught.value, forbidden=(*CREDENTIALS, KEY))
