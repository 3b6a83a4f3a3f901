"""``iter_users`` reads ``GET /users`` to its end under every paging the spec permits, or fails.

The server here is written from the spec alone, not from our simulator: it may use a smaller
limit than asked (``X-Limit``, "the limit that was used"), says ``X-More``, or sends no paging
headers at all. Hostile variants contradict themselves.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_learnifier.exceptions import LearnifierResponseError
from airflow_provider_learnifier.hooks.learnifier import LearnifierHook
from tests.reliability.servers import Answer, RecordingServer, SeenRequest

USERS = [{"id": f"user-{n:03d}", "primaryEmail": f"u{n}@example.com"} for n in range(23)]


def users_server(
    *, cap: int, headers: bool = True, users: list[dict[str, Any]] = USERS
) -> Callable[[SeenRequest], Answer]:
    """Answer ``GET /users`` as the spec allows: at most ``cap`` users a page, whatever was asked."""

    def answer(seen: SeenRequest) -> Answer:
        query = parse_qs(urlsplit(seen.path).query)
        limit = min(int(query.get("limit", ["5000"])[0]), cap)
        offset = int(query.get("offset", ["0"])[0])
        page = users[offset : offset + limit]
        paging = {
            "X-Limit": str(limit),
            "X-Offset": str(offset),
            "X-Size": str(len(page)),
            "X-More": "true" if offset + limit < len(users) else "false",
        }
        return Answer(
            200, {"Content-Type": "application/json"} | (paging if headers else {}), json.dumps(page).encode()
        )

    return answer


@pytest.fixture
def serve(monkeypatch) -> Iterator[Callable[[Callable[[SeenRequest], Answer]], RecordingServer]]:
    servers: list[RecordingServer] = []

    def start(answer: Callable[[SeenRequest], Answer]) -> RecordingServer:
        server = RecordingServer(answer).__enter__()
        servers.append(server)
        connection = {
            "conn_type": "learnifier",
            "host": server.base_url,
            "login": "paging-key",
            "password": "paging-secret",
            "extra": {"max_retries": 0},
        }
        monkeypatch.setenv("AIRFLOW_CONN_LEARNIFIER_PAGING", json.dumps(connection))
        return server

    yield start
    for server in servers:
        server.__exit__(None, None, None)


def _ids(hook: LearnifierHook, page_size: int) -> list[str]:
    with hook:
        return [user["id"] for user in hook.iter_users(page_size=page_size)]


def test_a_server_that_pages_by_less_than_asked_is_read_to_the_end(serve):
    server = serve(users_server(cap=5))
    assert _ids(LearnifierHook("learnifier_paging"), page_size=500) == [user["id"] for user in USERS]
    offsets = [parse_qs(urlsplit(seen.path).query)["offset"] for seen in server.requests_seen]
    assert offsets == [["0"], ["5"], ["10"], ["15"], ["20"]], "each page starts after the users received"


def test_without_paging_headers_an_empty_page_ends_the_listing(serve):
    server = serve(users_server(cap=10, headers=False))
    assert _ids(LearnifierHook("learnifier_paging"), page_size=500) == [user["id"] for user in USERS]
    assert len(server.requests_seen) == 4, "three pages of users, then the empty one"


@given(
    count=st.integers(min_value=0, max_value=40),
    cap=st.integers(min_value=1, max_value=12),
    page_size=st.integers(min_value=1, max_value=15),
    headers=st.booleans(),
)
def test_every_user_is_listed_once_whatever_the_paging(serve, count, cap, page_size, headers):
    users = USERS[:count] + [{"id": f"extra-{n}"} for n in range(max(0, count - len(USERS)))]
    serve(users_server(cap=cap, headers=headers, users=users))
    assert _ids(LearnifierHook("learnifier_paging"), page_size=page_size) == [user["id"] for user in users]


def _hostile(headers: dict[str, str], users: list[dict[str, Any]]) -> Callable[[SeenRequest], Answer]:
    return lambda seen: Answer(
        200, {"Content-Type": "application/json"} | headers, json.dumps(users).encode()
    )


@pytest.mark.parametrize(
    ("headers", "users", "problem"),
    [
        ({"X-More": "true"}, [], "X-More says there are more users, but the page is empty"),
        ({"X-More": "maybe"}, USERS[:2], "X-More header"),
        ({"X-Offset": "7", "X-More": "false"}, USERS[:2], "X-Offset is 7"),
        ({"X-Size": "5", "X-More": "false"}, USERS[:2], "X-Size says 5"),
        ({"X-Limit": "1", "X-More": "false"}, USERS[:2], "more than its X-Limit 1"),
        # A server that ignores offset answers the same page forever.
        ({"X-More": "true"}, USERS[:2], "only users already listed"),
        ({}, USERS[:2], "only users already listed"),
    ],
)
def test_a_listing_that_cannot_be_read_to_its_end_fails(serve, headers, users, problem):
    serve(_hostile(headers, users))
    with pytest.raises(LearnifierResponseError, match=r"could not be read to its end|header") as raised:
        _ids(LearnifierHook("learnifier_paging"), page_size=2)
    assert problem in str(raised.value)
