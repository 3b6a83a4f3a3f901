"""The contract checks themselves: they must accept what the spec allows and reject what it does not."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from learnifier_simulator import Exchange, HeaderMap
from tests.openapi_contract import find_operation, validate_all, validate_exchange

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED_SPEC = REPO_ROOT.parent / "shared" / "learnifier-api" / "openapi.json"

JSON_HEADERS = {"Content-Type": "application/json"}
USER_ID = "0b6f3c2e-6d4a-4f0e-9a57-3c1d2e8f7a01"
PARTICIPATION = {
    "id": 3001,
    "projectId": 2001,
    "userId": USER_ID,
    "activated": True,
    "projectName": "Onboarding",
}


def exchange(
    method: str,
    path: str,
    *,
    query: dict[str, list[str]] | None = None,
    body: Any = None,
    status: int | None = 200,
    response: Any = None,
    response_headers: dict[str, str] | None = None,
    raw_response: bytes | None = None,
    operation: tuple[str, str] | None = None,
    control: bool = False,
) -> Exchange:
    """Make an exchange; JSON ``body`` and ``response`` get a JSON content type."""
    if raw_response is None:
        raw_response = b"" if response is None else json.dumps(response).encode()
    headers = (
        response_headers if response_headers is not None else (JSON_HEADERS if response is not None else {})
    )
    return Exchange(
        method=method,
        path=path,
        query=query or {},
        headers=HeaderMap(JSON_HEADERS.items() if body is not None else ()),
        body=b"" if body is None else json.dumps(body).encode(),
        status=status,
        response_headers=HeaderMap(headers.items()),
        response_body=raw_response,
        operation=operation,
        control=control,
    )


def test_the_copy_of_the_spec_is_unedited() -> None:
    if not SHARED_SPEC.exists():
        pytest.skip(f"{SHARED_SPEC} is not available here")
    assert (REPO_ROOT / "tests" / "data" / "openapi.json").read_bytes() == SHARED_SPEC.read_bytes()


def test_typo_paths_match_the_real_participant_segment(openapi_spec: dict[str, Any]) -> None:
    operation = find_operation(openapi_spec, "POST", "/orgunits/1/projects/2/participants/3/activate")

    assert operation.key == (
        "POST",
        "/orgunits/{orgid}/projects/{projectid}/participants/${participantId}/activate",
    )


def test_the_picture_path_reads_its_key_as_a_query_parameter(openapi_spec: dict[str, Any]) -> None:
    picture = exchange(
        "GET",
        f"/users/{USER_ID}/pic",
        raw_response=b"\x89PNG\r\n\x1a\n",
        response_headers={"Content-Type": "image/png"},
    )
    with pytest.raises(AssertionError, match="'key' is missing"):
        validate_exchange(openapi_spec, picture)

    validate_exchange(openapi_spec, dataclasses.replace(picture, query={"key": ["k"]}))


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (exchange("GET", "/nowhere"), "matches no operation"),
        (exchange("PUT", "/orgunits"), "matches no operation"),
        (exchange("GET", "/extorgunit", response={"id": 1, "type": "CLIENT"}), "'extid' is missing"),
        (
            exchange("POST", "/orgunits", body={"externalId": "x"}, response={"ouId": 1}),
            "'displayName' is a required",
        ),
        (exchange("POST", "/orgunits", status=200, response={"ouId": 1}), "required request body is missing"),
        (
            exchange("POST", "/orgunits", body={"displayName": 5}, response={"ouId": 1}),
            "5 is not of type 'string'",
        ),
        (exchange("GET", "/orgunits", body={"a": 1}, response={"orgUnits": []}), "sends a body"),
        (exchange("GET", "/orgunits", status=201, response={"orgUnits": []}), "status 201 is not declared"),
        (exchange("GET", "/orgunits", response={"orgUnits": [{"id": "1"}]}), "'type' is a required property"),
        (exchange("GET", "/orgunits", raw_response=b"{", response_headers=JSON_HEADERS), "not UTF-8 JSON"),
        (exchange("GET", "/orgunits", response={"orgUnits": []}, response_headers={}), "Content-Type ''"),
        (exchange("PATCH", "/orgunits/1", body={}, status=201, response={"id": 1}), "declares no body"),
        (exchange("GET", "/users/u", response={"id": "not-a-uuid"}), "is not a 'uuid'"),
        (
            exchange("GET", "/orgunits/1", response={"id": 1, "type": "CLIENT", "name": None}),
            "None is not of type",
        ),
        (exchange("GET", "/coursedesigns", response=[{"name": "x"}]), "'locale' is a required property"),
        (
            exchange("GET", "/extproject", query={"extid": ["p"]}, response={"created": "2024-01-15 09:00"}),
            "is not a 'date-time'",
        ),
        (
            exchange("GET", f"/users/{USER_ID}/projectParticipations", response=PARTICIPATION),
            "is not of type 'array'",
        ),
        (
            exchange("GET", f"/users/{USER_ID}/pic", query={"key": ["k"]}, response={"not": "an image"}),
            "should be an image",
        ),
        (exchange("GET", "/orgunits", operation=("GET", "/users"), response={"orgUnits": []}), "recorded as"),
    ],
)
def test_violations_are_reported(openapi_spec: dict[str, Any], bad: Exchange, message: str) -> None:
    with pytest.raises(AssertionError, match=message):
        validate_exchange(openapi_spec, bad)


@pytest.mark.parametrize(
    "good",
    [
        exchange("GET", "/orgunits", response={"orgUnits": [{"id": 1, "type": "CLIENT"}]}),
        exchange("GET", f"/users/{USER_ID}/projectParticipations", response=[PARTICIPATION]),
        exchange(
            "POST",
            "/orgunits/1/projects",
            body={"name": "n", "designId": 1, "externalId": "e"},
            status=201,
            response={"id": 2},
        ),
        exchange(
            "GET", "/extorgunit", query={"extid": ["x"]}, status=404, response={"code": 404, "message": "no"}
        ),
        exchange("GET", "/orgunits", status=503, response={"code": 503, "message": "down"}),
        exchange("DELETE", "/orgunits/1/projects/2/participants/3", status=204),
        exchange("POST", "/users", body={"primaryEmail": "a@b.c"}, status=None),
    ],
    ids=[
        "list",
        "participations-quirk",
        "project-external-id",
        "declared-404",
        "default",
        "no-content",
        "dropped",
    ],
)
def test_conforming_exchanges_pass(openapi_spec: dict[str, Any], good: Exchange) -> None:
    validate_exchange(openapi_spec, good)


def test_invalid_requests_can_be_checked_for_their_answer_only(openapi_spec: dict[str, Any]) -> None:
    rejected = exchange(
        "POST", "/orgunits", body={}, status=422, response={"code": 422, "field": "displayName"}
    )

    validate_exchange(openapi_spec, rejected, validate_request=False)
    with pytest.raises(AssertionError, match="displayName"):
        validate_exchange(openapi_spec, rejected)


def test_validate_all_reports_every_failure_and_skips_control_routes(openapi_spec: dict[str, Any]) -> None:
    control = exchange("GET", "/_simulator/state", response={}, control=True)
    good = exchange("GET", "/orgunits", response={"orgUnits": []})
    validate_all(openapi_spec, [control, good])

    with pytest.raises(AssertionError, match=r"2 exchange\(s\)") as failure:
        validate_all(
            openapi_spec, [good, exchange("GET", "/nowhere"), exchange("GET", "/orgunits", status=201)]
        )
    assert "/nowhere" in str(failure.value)
    assert "status 201" in str(failure.value)


PROJECT = {"id": 2001, "orgId": 1001, "name": "Onboarding", "status": "NEW"}


@pytest.mark.parametrize(
    "varied",
    [
        exchange("GET", "/orgunits/1/projects/2001", status=202, response=PROJECT),
        exchange("PATCH", "/orgunits/1", body={}, status=204),
        exchange("GET", "/orgunits/1/projects/2001", response=PROJECT | {"id": "2001", "orgId": "1001"}),
        exchange("GET", "/orgunits/1/projects/2001", response=PROJECT | {"note": None, "x-vendorField": 1}),
        exchange(
            "GET", "/orgunits", response={"orgUnits": [{"id": "1", "type": "CLIENT", "parentId": None}]}
        ),
    ],
    ids=["other-2xx", "no-content", "string-ids", "null-and-extra", "nested"],
)
def test_spec_variants_are_accepted_only_when_asked(openapi_spec: dict[str, Any], varied: Exchange) -> None:
    validate_exchange(openapi_spec, varied, spec_variants=True)
    with pytest.raises(AssertionError):
        validate_exchange(openapi_spec, varied)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (
            exchange("GET", "/orgunits/1/projects/2001", response=PROJECT | {"id": "p-1"}),
            "'p-1' is not valid",
        ),
        (exchange("GET", "/orgunits/1", response={"id": None, "type": "CLIENT"}), "None is not valid"),
        (exchange("GET", "/orgunits/1/projects/2001", response=PROJECT | {"name": 5}), "5 is not valid"),
        (exchange("GET", "/orgunits/1/projects/2001", status=302, response=PROJECT), "302 is not declared"),
        (
            exchange("GET", "/orgunits/1/projects/2001", status=204),
            "declares a body, but the answer has none",
        ),
    ],
)
def test_spec_variants_still_reject_what_the_spec_forbids(
    openapi_spec: dict[str, Any], bad: Exchange, message: str
) -> None:
    with pytest.raises(AssertionError, match=message):
        validate_exchange(openapi_spec, bad, spec_variants=True)
