"""LearnifierHook against the simulator over real sockets: the API contract, HTTPS policy, errors, retries."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest

from airflow_provider_learnifier.exceptions import (
    LearnifierActivationError,
    LearnifierAuthError,
    LearnifierConflictError,
    LearnifierConnectionError,
    LearnifierError,
    LearnifierNotFoundError,
    LearnifierRateLimitError,
    LearnifierRefusedError,
    LearnifierResponseError,
    LearnifierServerError,
    LearnifierValidationError,
)
from airflow_provider_learnifier.hooks.learnifier import (
    LearnifierHook,
)
from learnifier_simulator import LearnifierSimulator
from tests.openapi_contract import validate_all

SPEC_OPERATION_COUNT = 34


def _api_exchanges(simulator: LearnifierSimulator):
    return [exchange for exchange in simulator.exchanges if exchange.operation is not None]


# ---------------------------------------------------------------------------------------- headers


def test_authorization_header_is_the_documented_basic_value(make_hook):
    with LearnifierSimulator(key="Aladdin", secret="open sesame", seed="demo") as simulator:
        make_hook(simulator).list_org_units()
        (exchange,) = simulator.exchanges
    assert exchange.headers["Authorization"] == "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
    assert "X-Authentication" not in exchange.headers


def test_requests_send_json_utf8_and_name_the_package(sim, make_hook):
    from airflow_provider_learnifier import __version__

    make_hook(sim).create_org_unit(display_name="Åsa Öberg AB", external_id="åsa")
    (exchange,) = sim.exchanges
    assert exchange.headers["Content-Type"] == "application/json"
    assert exchange.headers["Accept"] == "application/json"
    assert exchange.headers["User-Agent"] == f"airflow-provider-learnifier/{__version__}"
    assert json.loads(exchange.body.decode("utf-8")) == {"displayName": "Åsa Öberg AB", "externalId": "åsa"}


# ---------------------------------------------------------------------------------------- the API


def test_every_operation_round_trips_and_matches_the_spec(sim, make_hook, openapi_spec):
    """Call all 34 operations; every request and answer must validate against openapi.json."""
    hook = make_hook(sim)

    designs = hook.list_course_designs()
    assert designs and all("id" in design for design in designs)
    org_units = hook.list_org_units()
    org_id = hook.create_org_unit(display_name="Test Org", external_id="test-org", country="se")["ouId"]
    assert hook.get_org_unit(org_id)["name"] == "Test Org"
    assert hook.get_org_unit_by_external_id("test-org")["id"] == org_id
    hook.update_org_unit(org_id, display_name="Test Org Renamed")
    assert len(hook.list_org_units()) == len(org_units) + 1

    project = hook.create_project(org_id, name="Course", design_id=designs[0]["id"], external_id="course-1")
    project_id = project["id"]
    assert hook.get_project(org_id, project_id)["name"] == "Course"
    assert hook.get_project_by_external_id("course-1")["id"] == project_id
    assert hook.update_project(org_id, project_id, name="Course v2")["name"] == "Course v2"
    assert [p["id"] for p in hook.list_projects(org_id)] == [project_id]
    assert isinstance(hook.list_team_members(org_id, project_id), list)

    user_id = hook.create_user(
        primary_email="ada@example.com", external_id="emp-1", first_name="Ada", home_org=org_id
    )
    hook.update_user(user_id, last_name="Lovelace")
    assert hook.get_user(user_id)["lastName"] == "Lovelace"
    assert hook.get_user_by_external_id("emp-1")["id"] == user_id
    assert user_id in [user["id"] for user in hook.list_users()]
    assert hook.get_user_picture(user_id)

    participant_id = hook.add_participant(org_id, project_id, user_id=user_id, external_id="part-1")
    assert participant_id
    hook.activate_participant(org_id, project_id, participant_id)
    assert hook.create_login_link(org_id, project_id, participant_id).startswith("http")
    assert str(hook.get_participation_by_external_id("part-1")["id"]) == participant_id
    (participant,) = hook.list_participants(org_id, project_id)
    assert participant["activated"] is True
    assert [p["projectId"] for p in hook.list_user_participations(user_id)] == [project_id]
    hook.delete_participant(org_id, project_id, participant_id)
    assert hook.list_participants(org_id, project_id) == []
    hook.delete_project(org_id, project_id)

    group_id = hook.create_user_group(org_id, name="Engineers")
    assert hook.get_user_group(org_id, group_id)["name"] == "Engineers"
    assert [g["name"] for g in hook.list_user_groups(org_id)] == ["Engineers"]
    hook.add_user_group_member(org_id, group_id, user_id)
    assert [u["id"] for u in hook.list_user_group_members(org_id, group_id)] == [user_id]
    hook.remove_user_group_member(org_id, group_id, user_id)
    assert hook.list_user_group_members(org_id, group_id) == []
    global_groups = hook.list_global_user_groups()
    assert global_groups
    assert isinstance(hook.list_global_user_group_members(global_groups[0]["id"]), list)

    exchanges = _api_exchanges(sim)
    validate_all(openapi_spec, exchanges)
    assert len({exchange.operation for exchange in exchanges}) == SPEC_OPERATION_COUNT
    assert all(exchange.status < 300 for exchange in exchanges)


def test_iter_users_streams_every_page(sim, make_hook, openapi_spec):
    hook = make_hook(sim)
    before = [user["id"] for user in hook.list_users()]
    created = [hook.create_user(primary_email=f"user{n}@example.com") for n in range(7)]
    sim.clear_exchanges()

    streamed = [user["id"] for user in hook.iter_users(page_size=3)]

    assert streamed == before + created
    pages = [exchange for exchange in sim.exchanges if exchange.operation == ("GET", "/users")]
    assert [exchange.query["offset"] for exchange in pages][:2] == [["0"], ["3"]]
    assert len(pages) == len(streamed) // 3 + 1
    validate_all(openapi_spec, pages)


def test_create_user_group_reads_the_spec_list_answer(sim, make_hook):
    hook = make_hook(sim)
    org_id = hook.list_org_units()[0]["id"]
    group_id = hook.create_user_group(org_id, name="Managers")
    assert hook.get_user_group(org_id, group_id)["name"] == "Managers"


# ---------------------------------------------------------------------------------------- path values


@pytest.mark.parametrize(
    "bad_id", ["", ".", "a/b", "..", "a..b", "a b", "tab\there", "line\nbreak", "nul\x00", "back\\slash"]
)
def test_unsafe_ids_are_refused_before_any_request(sim, make_hook, bad_id):
    hook = make_hook(sim)
    with pytest.raises(ValueError, match="user_id"):
        hook.get_user(bad_id)
    with pytest.raises(ValueError, match="project_id"):
        hook.list_participants("1", bad_id)
    assert sim.exchanges == []


def test_other_characters_are_percent_encoded(sim, make_hook):
    hook = make_hook(sim)
    for user_id in ("é", "%2F", "a?b#c"):
        with pytest.raises(LearnifierNotFoundError):
            hook.get_user(user_id)
    assert [exchange.path for exchange in sim.exchanges] == [
        "/users/%C3%A9",
        "/users/%252F",
        "/users/a%3Fb%23c",
    ]


def test_add_participant_takes_exactly_one_way_to_name_the_user(sim, make_hook):
    hook = make_hook(sim)
    with pytest.raises(ValueError, match="exactly one of email and user_id"):
        hook.add_participant(1001, 2001)
    with pytest.raises(ValueError, match="exactly one of email and user_id"):
        hook.add_participant(1001, 2001, email="a@example.com", user_id="u-1")
    assert sim.exchanges == []


def test_numeric_ids_given_as_text_are_sent_as_numbers(sim, make_hook):
    hook = make_hook(sim)
    parent = str(hook.list_org_units()[0]["id"])
    org_id = hook.create_org_unit(display_name="Child", parent=parent)["ouId"]
    hook.update_org_unit(org_id, parent=parent)
    bodies = [json.loads(exchange.body) for exchange in sim.exchanges if exchange.method in ("POST", "PATCH")]
    assert [body["parent"] for body in bodies] == [int(parent), int(parent)]


def test_settings_and_session_are_made_once_across_threads(sim, make_hook):
    from concurrent.futures import ThreadPoolExecutor

    hook = make_hook(sim)
    with ThreadPoolExecutor(max_workers=16) as pool:
        sessions = list(pool.map(lambda _: hook.session, range(64)))
    assert len({id(session) for session in sessions}) == 1
    hook.close()
    assert hook.session is not sessions[0]
    assert hook.list_org_units()


def test_non_id_values_are_refused(sim, make_hook):
    hook = make_hook(sim)
    with pytest.raises(ValueError, match="org_id must be a string or an integer"):
        hook.get_org_unit(None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="external_id must be a non-empty string"):
        hook.get_user_by_external_id("")
    with pytest.raises(ValueError, match="page_size"):
        list(hook.iter_users(page_size=0))
    assert sim.exchanges == []


# ---------------------------------------------------------------------------------------- typed errors


def test_wrong_secret_is_an_auth_error(sim, make_hook, monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_LEARNIFIER_WRONG",
        json.dumps(
            {
                "conn_type": "learnifier",
                "host": sim.base_url,
                "login": sim.key,
                "password": "not-the-secret",
                "extra": {"verify": sim.ca_file},
            }
        ),
    )
    with pytest.raises(LearnifierAuthError, match=r"list_org_units: GET /orgunits answered 401") as caught:
        LearnifierHook("learnifier_wrong").list_org_units()
    assert caught.value.status == 401
    assert "check the API key and secret" in str(caught.value)


def test_forbidden_is_an_auth_error(sim, make_hook):
    sim.inject(status=403, path="/coursedesigns")
    with pytest.raises(LearnifierAuthError, match="403"):
        make_hook(sim).list_course_designs()


def test_not_found_names_method_path_and_status(sim, make_hook):
    with pytest.raises(LearnifierNotFoundError) as caught:
        make_hook(sim).get_org_unit(987654)
    error = caught.value
    assert (error.operation, error.method, error.path, error.status) == (
        "get_org_unit",
        "GET",
        "/orgunits/987654",
        404,
    )
    assert str(error).startswith("Learnifier get_org_unit: GET /orgunits/987654 answered 404")


def test_duplicate_user_is_a_conflict_carrying_the_existing_id(sim, make_hook):
    hook = make_hook(sim)
    user_id = hook.create_user(primary_email="dup@example.com", external_id="dup-1")
    with pytest.raises(LearnifierConflictError) as by_email:
        hook.create_user(primary_email="DUP@example.com")
    with pytest.raises(LearnifierConflictError) as by_external_id:
        hook.create_user(primary_email="other@example.com", external_id="dup-1")
    assert by_email.value.existing_id == user_id
    assert by_external_id.value.existing_id == user_id
    assert f"already exists as {user_id}" in str(by_email.value)


def test_duplicate_participant_is_a_conflict_carrying_the_existing_participant(sim, make_hook):
    hook = make_hook(sim)
    project = _new_project(hook)
    participant_id = hook.add_participant(project["orgId"], project["id"], email="twice@example.com")
    with pytest.raises(LearnifierConflictError) as caught:
        hook.add_participant(project["orgId"], project["id"], email="twice@example.com")
    assert caught.value.existing_id == participant_id


def test_invalid_input_is_a_validation_error_naming_the_field(sim, make_hook):
    hook = make_hook(sim)
    org_id = hook.list_org_units()[0]["id"]
    with pytest.raises(LearnifierValidationError) as caught:
        hook.create_project(org_id, name="No such design", design_id=999999)
    assert caught.value.status == 422
    assert caught.value.field == "designId"
    assert "field 'designId'" in str(caught.value)


def test_bad_request_is_a_validation_error(sim, make_hook):
    sim.inject(status=400, path="/orgunits", method="POST")
    with pytest.raises(LearnifierValidationError, match="400"):
        make_hook(sim).create_org_unit(display_name="x")


def test_refused_activation_carries_learnifiers_failures(sim, make_hook):
    hook = make_hook(sim)
    project = _new_project(hook)
    user_id = hook.create_user(primary_email="locked@example.com", hard_lock=True)
    participant_id = hook.add_participant(project["orgId"], project["id"], user_id=user_id)
    with pytest.raises(LearnifierActivationError) as caught:
        hook.activate_participant(project["orgId"], project["id"], participant_id)
    assert caught.value.status == 406
    assert caught.value.failures and all("message" in failure for failure in caught.value.failures)
    assert caught.value.failures[0]["message"] in str(caught.value)


def test_deleting_a_project_with_participants_is_refused(sim, make_hook):
    hook = make_hook(sim)
    project = _new_project(hook)
    hook.add_participant(project["orgId"], project["id"], email="stays@example.com")
    with pytest.raises(LearnifierRefusedError) as caught:
        hook.delete_project(project["orgId"], project["id"])
    assert not isinstance(caught.value, LearnifierActivationError)
    assert caught.value.status == 406


def test_resolve_project_by_ids_or_by_external_id_within_its_org_unit(sim, make_hook):
    hook = make_hook(sim)
    org_id = hook.list_org_units()[0]["id"]
    design_id = hook.list_course_designs()[0]["id"]
    other_org = hook.create_org_unit(display_name="Elsewhere")["ouId"]
    project = hook.create_project(org_id, name="Found", design_id=design_id, external_id="found-2026")

    assert hook.resolve_project(org_id=org_id, project_id=project["id"]) == project
    assert hook.resolve_project(external_id="found-2026") == project
    assert hook.resolve_project(org_id=str(org_id), external_id="found-2026") == project
    with pytest.raises(ValueError, match=f"belongs to organization unit {org_id}, not to org_id"):
        hook.resolve_project(org_id=other_org, external_id="found-2026")
    with pytest.raises(ValueError, match="needs its org_id"):
        hook.resolve_project(project_id=project["id"])
    for arguments in ({}, {"org_id": org_id}, {"project_id": project["id"], "external_id": "found-2026"}):
        with pytest.raises(ValueError, match="either by org_id and project_id, or by external_id"):
            hook.resolve_project(**arguments)
    with pytest.raises(
        LearnifierNotFoundError, match="no project with the external id 'no-such-project' \\("
    ):
        hook.resolve_project(external_id="no-such-project")
    with pytest.raises(
        LearnifierNotFoundError, match=f"'no-such-project' \\(wanted in organization unit {org_id}\\)"
    ):
        hook.resolve_project(external_id="no-such-project", org_id=org_id)


def test_calls_into_airflow_from_many_threads_take_turns(sim, make_hook, mocker):
    """Airflow 3.0's in-process task runner breaks when two threads call into it at once."""
    inside, overlaps, masked = [0], [], []
    guard = threading.Lock()

    def mask_secret(value: str) -> None:
        with guard:
            inside[0] += 1
            overlaps.append(inside[0])
        time.sleep(0.005)  # long enough for another thread to arrive
        masked.append(value)
        with guard:
            inside[0] -= 1

    mocker.patch("airflow_provider_learnifier.hooks._transport.redaction.mask_secret", mask_secret)
    hook = make_hook(sim)
    project = _new_project(hook)
    participants = [
        hook.add_participant(project["orgId"], project["id"], email=f"turns{n}@example.com") for n in range(8)
    ]
    for participant_id in participants:
        hook.activate_participant(project["orgId"], project["id"], participant_id)

    with ThreadPoolExecutor(max_workers=8) as pool:
        links = list(
            pool.map(lambda pid: hook.create_login_link(project["orgId"], project["id"], pid), participants)
        )

    assert set(links) <= set(masked) and len(set(links)) == 8
    assert max(overlaps) == 1


def test_server_error_after_retries(sim, make_hook, no_sleep):
    sim.inject(status=502, times=3, path="/orgunits")
    with pytest.raises(LearnifierServerError, match="502"):
        make_hook(sim, max_retries=2).list_org_units()
    assert len(sim.exchanges) == 3
    assert no_sleep.call_count == 2


def test_internal_server_error_is_retried_for_reads_only(sim, make_hook, no_sleep):
    hook = make_hook(sim)
    sim.inject(status=500, path="/orgunits", method="GET")
    assert hook.list_org_units()
    sim.inject(status=500, path="/orgunits", method="POST")
    with pytest.raises(LearnifierServerError, match="500"):
        hook.create_org_unit(display_name="Once")
    assert [(exchange.method, exchange.status) for exchange in sim.exchanges] == [
        ("GET", 500),
        ("GET", 200),
        ("POST", 500),
    ]
    assert no_sleep.call_count == 1


def test_rate_limit_after_retries_carries_retry_after(sim, make_hook, no_sleep):
    sim.inject(status=429, times=2, retry_after=2, path="/orgunits")
    with pytest.raises(LearnifierRateLimitError) as caught:
        make_hook(sim, max_retries=1).list_org_units()
    assert caught.value.retry_after == 2
    assert [call.args[0] for call in no_sleep.call_args_list] == [pytest.approx(2, abs=0.5)]


def test_success_with_a_body_that_is_not_json_is_retried_then_a_response_error(sim, make_hook, no_sleep):
    hook = make_hook(sim, max_retries=2)
    sim.inject(status=200, body=b"<html>maintenance</html>", path="/orgunits")
    assert hook.list_org_units()
    sim.inject(status=200, times=3, body=b'{"orgUnits": [', path="/orgunits")
    with pytest.raises(LearnifierResponseError, match="not JSON"):
        hook.list_org_units()
    assert no_sleep.call_count == 3


def test_success_with_the_wrong_json_shape_is_a_response_error(sim, make_hook):
    hook = make_hook(sim)
    sim.inject(status=200, body=b'{"not": "a list"}', path="/coursedesigns")
    with pytest.raises(LearnifierResponseError, match="where a JSON array was expected"):
        hook.list_course_designs()
    sim.inject(status=200, body=b'[{"name": "ok"}, "not an object"]', path="/coursedesigns")
    with pytest.raises(LearnifierResponseError, match="where a JSON object was expected"):
        hook.list_course_designs()
    sim.inject(status=200, body=b'{"name": "no ids"}', path="/extproject")
    with pytest.raises(LearnifierResponseError, match="without id, orgId"):
        hook.get_project_by_external_id("anything")
    sim.inject(status=200, body=b'{"userId": null}', path="/users", method="POST")
    with pytest.raises(LearnifierResponseError, match="without a usable userId"):
        hook.create_user(primary_email="x@example.com")


def test_every_error_is_a_learnifier_error_and_an_airflow_exception():
    from airflow.providers.common.compat.sdk import AirflowException

    for error_class in (
        LearnifierAuthError,
        LearnifierNotFoundError,
        LearnifierConflictError,
        LearnifierValidationError,
        LearnifierActivationError,
        LearnifierRateLimitError,
        LearnifierServerError,
        LearnifierConnectionError,
        LearnifierResponseError,
    ):
        assert issubclass(error_class, LearnifierError)
        assert issubclass(error_class, AirflowException)


# ---------------------------------------------------------------------------------------- retries


def test_retry_after_seconds_is_honoured(sim, make_hook, no_sleep):
    sim.inject(status=503, times=2, retry_after=7, path="/orgunits", method="GET")
    assert make_hook(sim).list_org_units()
    assert [call.args[0] for call in no_sleep.call_args_list] == [7, 7]
    assert [exchange.status for exchange in sim.exchanges] == [503, 503, 200]


def test_retry_after_http_date_is_honoured(sim, make_hook, no_sleep):
    when = datetime.now(timezone.utc) + timedelta(seconds=30)
    sim.inject(status=429, retry_after=format_datetime(when, usegmt=True), path="/orgunits")
    assert make_hook(sim).list_org_units()
    (call,) = no_sleep.call_args_list
    assert 25 <= call.args[0] <= 30


def test_a_retry_after_too_long_to_wait_is_raised_at_once(sim, make_hook, no_sleep):
    sim.inject(status=429, retry_after=3600, path="/orgunits")
    with pytest.raises(LearnifierRateLimitError) as caught:
        make_hook(sim).list_org_units()
    assert caught.value.retry_after == 3600
    assert no_sleep.call_count == 0


def test_backoff_doubles_with_jitter(sim, make_hook, no_sleep):
    sim.inject(status=504, times=4, path="/orgunits")
    assert make_hook(sim, max_retries=4, backoff_factor=1).list_org_units()
    waits = [call.args[0] for call in no_sleep.call_args_list]
    for wait, step in zip(waits, (1, 2, 4, 8), strict=True):
        assert step / 2 <= wait <= step


def test_post_that_reached_the_server_is_not_repeated_on_502(sim, make_hook, no_sleep):
    sim.inject(status=502, path="/users", method="POST")
    with pytest.raises(LearnifierServerError):
        make_hook(sim).create_user(primary_email="once@example.com")
    assert len(sim.exchanges) == 1
    assert no_sleep.call_count == 0


def test_post_is_retried_on_503_with_retry_after(sim, make_hook, no_sleep):
    sim.inject(status=503, retry_after=1, path="/users", method="POST")
    user_id = make_hook(sim).create_user(primary_email="later@example.com")
    assert [exchange.status for exchange in sim.exchanges] == [503, 200]
    assert [call.args[0] for call in no_sleep.call_args_list] == [1]
    assert user_id


def test_post_dropped_after_the_server_applied_it_is_not_repeated(sim, make_hook, no_sleep):
    hook = make_hook(sim)
    sim.inject(drop="after", path="/users", method="POST")
    with pytest.raises(LearnifierConnectionError, match="got no answer after 1 attempt") as caught:
        hook.create_user(primary_email="applied@example.com", external_id="applied-1")
    assert caught.value.reached_server is True
    assert no_sleep.call_count == 0
    assert [u["id"] for u in hook.iter_users() if u.get("externalId") == "applied-1"] != []
    with pytest.raises(LearnifierConflictError):
        hook.create_user(primary_email="applied@example.com")


def test_get_dropped_is_retried(sim, make_hook, no_sleep):
    sim.inject(drop="before", path="/orgunits", method="GET")
    assert make_hook(sim).list_org_units()
    assert no_sleep.call_count == 1


def test_post_is_retried_when_the_connection_cannot_be_made(monkeypatch, no_sleep, tmp_path):
    with socket.socket() as placeholder:
        placeholder.bind(("127.0.0.1", 0))
        free_port = placeholder.getsockname()[1]
    monkeypatch.setenv(
        "AIRFLOW_CONN_LEARNIFIER_DOWN",
        json.dumps(
            {
                "conn_type": "learnifier",
                "host": f"http://127.0.0.1:{free_port}",
                "login": "key",
                "password": "s3cr3t-value",
                "extra": {"max_retries": 3},
            }
        ),
    )
    with pytest.raises(LearnifierConnectionError, match="got no answer after 4 attempt") as caught:
        LearnifierHook("learnifier_down").create_user(primary_email="x@example.com")
    assert caught.value.reached_server is False
    assert no_sleep.call_count == 3


def test_the_api_key_in_the_picture_query_is_redacted_from_errors(monkeypatch, no_sleep):
    with socket.socket() as placeholder:
        placeholder.bind(("127.0.0.1", 0))
        free_port = placeholder.getsockname()[1]
    monkeypatch.setenv(
        "AIRFLOW_CONN_LEARNIFIER_PIC",
        json.dumps(
            {
                "conn_type": "learnifier",
                "host": f"http://127.0.0.1:{free_port}",
                "login": "the-api-key-123",
                "password": "s3cr3t-value",
                "extra": {"max_retries": 1},
            }
        ),
    )
    with pytest.raises(LearnifierConnectionError) as caught:
        LearnifierHook("learnifier_pic").get_user_picture("u-1")
    assert "the-api-key-123" not in str(caught.value)
    assert "***" in str(caught.value)
    assert "the-api-key-123" not in str(no_sleep.call_args_list)


def test_read_timeout_applies(sim, make_hook):
    # The answer comes after 30 s: only the 0.3 s read timeout can end the request with ReadTimeout.
    hook = make_hook(sim, timeout=[5, 0.3], max_retries=0)
    sim.latency = 30.0
    with pytest.raises(LearnifierConnectionError, match="ReadTimeout"):
        hook.list_org_units()


# ---------------------------------------------------------------------------------------- secrets


def test_the_secret_is_never_logged_raised_or_shown(caplog, capsys, make_hook, no_sleep):
    secret = "Sup3r-S3cret-Value"
    with LearnifierSimulator(key="the-key", secret=secret, seed="demo") as simulator:
        hook = make_hook(simulator, max_retries=1)
        caplog.set_level(logging.DEBUG)
        errors: list[BaseException] = []
        simulator.inject(status=503, times=2, path="/orgunits")
        simulator.inject(status=401, path="/coursedesigns")
        simulator.inject(drop="after", path="/users", method="POST")
        for call in (
            hook.list_org_units,
            hook.list_course_designs,
            lambda: hook.get_user("missing"),
            lambda: hook.create_user(primary_email="a@example.com"),
        ):
            with pytest.raises(LearnifierError) as caught:
                call()
            errors.append(caught.value)
        basic_value = hook.settings.authorization.split()[1]
        printed = capsys.readouterr()
        logs = caplog.text + printed.out + printed.err
        shown = [
            logs,
            repr(hook),
            repr(hook.settings),
            repr(hook.session.auth),
            str(hook.session.__dict__),
        ]
        for error in errors:
            shown += [str(error), repr(error), repr(error.args), repr(vars(error))]
        for text in shown:
            assert secret not in text
            assert basic_value not in text
        assert "GET /orgunits answered 503; retry 1 of 1" in logs


# ---------------------------------------------------------------------------------------- test_connection


def test_test_connection_with_good_credentials(sim, make_hook):
    ok, message = make_hook(sim).test_connection()
    assert ok is True
    assert sim.base_url in message


def test_test_connection_with_bad_credentials_or_config_does_not_raise(sim, monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_LEARNIFIER_BAD",
        json.dumps(
            {
                "conn_type": "learnifier",
                "host": sim.base_url,
                "login": sim.key,
                "password": "nope-nope",
                "extra": {"verify": sim.ca_file},
            }
        ),
    )
    ok, message = LearnifierHook("learnifier_bad").test_connection()
    assert ok is False
    assert "401" in message and "check the API key and secret" in message
    assert "nope-nope" not in message

    monkeypatch.setenv(
        "AIRFLOW_CONN_LEARNIFIER_HTTP",
        json.dumps(
            {"conn_type": "learnifier", "host": "http://learnifier.com", "login": "k", "password": "s3cr3t!"}
        ),
    )
    ok, message = LearnifierHook("learnifier_http").test_connection()
    assert ok is False
    assert "plain http:// is refused" in message


def test_airflow_connections_test_command(sim, airflow_db, tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {
        **os.environ,
        "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
        "AIRFLOW_CONN_LEARNIFIER_DEFAULT": sim.connection_json(),
    }
    airflow_cli = str(Path(sys.executable).with_name("airflow"))
    result = subprocess.run(
        [airflow_cli, "connections", "test", "learnifier_default"],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Connection success!" in result.stdout
    assert sim.secret not in result.stdout + result.stderr


def _new_project(hook: LearnifierHook) -> dict:
    org_id = hook.list_org_units()[0]["id"]
    design_id = hook.list_course_designs()[0]["id"]
    return hook.create_project(org_id, name="Scratch", design_id=design_id)
