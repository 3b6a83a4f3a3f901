"""Users (conflicts, paging, updates, pictures) and user groups."""

from __future__ import annotations

import pytest

from learnifier_simulator import LearnifierSimulator, seed
from tests.simulator.client import ApiClient, error_body

ORG = f"/orgunits/{seed.DEMO_ORG_UNIT_ID}"
GROUP = f"{ORG}/usergroups/{seed.DEMO_USER_GROUP_ID}"
ADMIN = f"/users/{seed.DEMO_ADMIN_USER_ID}"


def create_user(api: ApiClient, email: str, **fields: object) -> str:
    """Create a user and return its id."""
    return api.post("/users", json={"primaryEmail": email, **fields}, expect=200).json()["userId"]


def test_user_conflicts_answer_the_existing_user_id(api: ApiClient) -> None:
    by_email = api.post("/users", json={"primaryEmail": seed.DEMO_ADMIN_EMAIL.title()}, expect=409)
    by_external_id = api.post(
        "/users",
        json={"primaryEmail": "x@acme.example", "externalId": seed.DEMO_ADMIN_EXTERNAL_ID},
        expect=409,
    )

    assert by_email.json()["userId"] == seed.DEMO_ADMIN_USER_ID
    assert by_external_id.json()["userId"] == seed.DEMO_ADMIN_USER_ID
    assert error_body(by_email)["code"] == 409
    assert len(api.get("/users").json()) == 1


def test_user_body_errors(api: ApiClient) -> None:
    wrong_type = api.post(
        "/users", json={"primaryEmail": "a@acme.example", "hardLock": "yes"}, expect=422, valid_request=False
    )
    unknown_org = api.post("/users", json={"primaryEmail": "a@acme.example", "homeOrg": 999}, expect=422)
    bad_email = api.post("/users", json={"primaryEmail": "nobody"}, expect=422)

    assert [error_body(r)["field"] for r in (wrong_type, unknown_org, bad_email)] == [
        "hardLock",
        "homeOrg",
        "primaryEmail",
    ]


def test_users_are_paged_in_creation_order(api: ApiClient) -> None:
    created = [create_user(api, f"user{n}@acme.example") for n in range(6)]
    everyone = [seed.DEMO_ADMIN_USER_ID, *created]

    first = api.get("/users", params={"limit": 3})
    last = api.get("/users", params={"limit": 3, "offset": 6})
    beyond = api.get("/users", params={"offset": 10})

    assert [u["id"] for u in first.json()] == everyone[:3]
    assert (first.headers["X-Limit"], first.headers["X-Offset"], first.headers["X-Size"]) == ("3", "0", "3")
    assert first.headers["X-More"] == "true"
    assert [u["id"] for u in last.json()] == everyone[6:]
    assert last.headers["X-More"] == "false"
    assert beyond.json() == []
    assert [u["id"] for u in api.get("/users").json()] == everyone


@pytest.mark.parametrize("params", [{"limit": -1}, {"offset": "two"}, {"limit": "1.5"}, {"limit": ""}])
def test_invalid_paging_is_a_bad_request(api: ApiClient, params: dict[str, object]) -> None:
    response = api.get("/users", params=params, expect=400, valid_request=False)

    assert error_body(response)["field"] == next(iter(params))


def test_user_updates_and_their_conflicts(api: ApiClient) -> None:
    user_id = create_user(api, "grace@acme.example", externalId="grace")

    taken_email = api.patch(
        f"/users/{user_id}", json={"primaryEmail": seed.DEMO_ADMIN_EMAIL.upper()}, expect=409
    )
    taken_external_id = api.patch(
        f"/users/{user_id}", json={"externalId": seed.DEMO_ADMIN_EXTERNAL_ID}, expect=409
    )
    api.patch(f"/users/{user_id}", json={"primaryEmail": "GRACE@acme.example", "hardLock": True}, expect=201)
    api.patch("/users/7d5b1c2e-0000-4000-8000-000000000000", json={"firstName": "Nobody"}, expect=404)

    assert error_body(taken_email)["field"] == "primaryEmail"
    assert error_body(taken_external_id)["field"] == "externalId"
    user = api.get(f"/users/{user_id}").json()
    assert (user["primaryEmail"], user["hardLock"], user["locked"]) == ("GRACE@acme.example", True, True)


def test_unknown_users(api: ApiClient) -> None:
    api.get(f"/users/{seed.DEMO_ADMIN_USER_ID.upper()}", expect=404)  # ids are case-sensitive
    api.get("/extuser", params={"extid": "nobody"}, expect=404)
    api.get("/extuser", expect=400, valid_request=False)
    api.get("/users/nobody/projectParticipations", expect=404)
    assert api.get(f"{ADMIN}/projectParticipations").json() == []


def test_pictures_need_the_api_key_in_the_query(api: ApiClient, sim: LearnifierSimulator) -> None:
    api.session.auth = None  # the key is enough: no HTTP Basic authentication
    picture = api.get(f"{ADMIN}/pic", params={"key": sim.key})
    wrong_key = api.get(f"{ADMIN}/pic", params={"key": "wrong"}, expect=401)
    no_key = api.get(f"{ADMIN}/pic", expect=401, valid_request=False)
    api.get("/users/nobody/pic", params={"key": sim.key}, expect=404)

    assert picture.content.startswith(b"\x89PNG\r\n\x1a\n")
    assert error_body(wrong_key)["field"] == "key"
    assert error_body(no_key)["field"] == "key"


def test_user_groups(api: ApiClient) -> None:
    other_org = api.post("/orgunits", json={"displayName": "Globex"}, expect=200).json()["ouId"]
    [created] = api.post(
        f"{ORG}/usergroups", json={"name": "Engineers", "parent": seed.DEMO_USER_GROUP_ID}, expect=200
    ).json()

    foreign_parent = api.post(
        f"/orgunits/{other_org}/usergroups", json={"name": "X", "parent": seed.DEMO_USER_GROUP_ID}, expect=422
    )
    missing_name = api.post(
        f"{ORG}/usergroups", json={"parent": seed.DEMO_USER_GROUP_ID}, expect=422, valid_request=False
    )
    api.get(f"/orgunits/{other_org}/usergroups/{seed.DEMO_USER_GROUP_ID}", expect=404)
    api.get(f"{ORG}/usergroups/999", expect=404)
    api.get("/orgunits/999/usergroups", expect=404)

    assert error_body(foreign_parent)["field"] == "parent"
    assert error_body(missing_name)["field"] == "name"
    assert api.get(f"{ORG}/usergroups/{created['groupId']}").json() == {
        "groupId": created["groupId"],
        "name": "Engineers",
        "parent": seed.DEMO_USER_GROUP_ID,
    }
    assert api.get(f"/orgunits/{other_org}/usergroups").json() == []
    assert api.get(GROUP).json()["globalId"] == seed.DEMO_GLOBAL_USER_GROUP_ID


def test_user_group_members(api: ApiClient) -> None:
    user_id = create_user(api, "grace@acme.example")

    api.post(f"{GROUP}/members", json={"uuid": user_id}, expect=200)
    api.post(f"{GROUP}/members", json={"uuid": user_id}, expect=200)  # harmless the second time
    unknown = api.post(f"{GROUP}/members", json={"uuid": "7d5b1c2e-0000-4000-8000-000000000000"}, expect=404)
    missing = api.post(f"{GROUP}/members", json={}, expect=422, valid_request=False)
    members = [u["id"] for u in api.get(f"{GROUP}/members").json()]
    global_members = [
        u["id"] for u in api.get(f"/globalusergroups/{seed.DEMO_GLOBAL_USER_GROUP_ID}/members").json()
    ]
    removed = api.delete(f"{GROUP}/members/{user_id}", expect=200)
    api.delete(f"{GROUP}/members/{user_id}", expect=404)

    error_body(unknown)
    assert error_body(missing)["field"] == "uuid"
    assert members == global_members == [seed.DEMO_ADMIN_USER_ID, user_id]
    assert removed.content == b""
    assert [u["id"] for u in api.get(f"{GROUP}/members").json()] == [seed.DEMO_ADMIN_USER_ID]
    api.get("/globalusergroups/999/members", expect=404)
